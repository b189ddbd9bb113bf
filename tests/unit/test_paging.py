"""The shared pager and listing audit: a listing counts only when proven complete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from syncd.connectors.paging import (
    ListingAudit,
    OffsetPager,
    decode_cursor,
    drift_tolerance,
    encode_cursor,
    int_id,
    paged,
)
from syncd.domain import ListingProof, Page, RawRecord
from syncd.errors import IncompleteListing, PMSServerError

Hook = Callable[["Listing", int, int], None]


class Listing:
    """A PMS listing in memory: records sorted by Id, answered by offset and limit.

    ``hooks`` run before the request with that index (0-based) is answered,
    so a test can change the data or the answer in the middle of a listing.
    """

    def __init__(self, count: int, *, send_total: bool = True, delay: float = 0.0) -> None:
        self.ids = list(range(1, count + 1))
        self.send_total = send_total
        self.delay = delay
        self.requests: list[tuple[int, int]] = []
        self.hooks: dict[int, Hook] = {}
        self.override: dict[int, tuple[list[RawRecord], int | None]] = {}
        self.in_flight = 0
        self.max_in_flight = 0

    def delete(self, *ids: int) -> None:
        for i in ids:
            self.ids.remove(i)

    def create(self, n: int) -> None:
        top = max(self.ids, default=0)
        self.ids.extend(range(top + 1, top + 1 + n))

    async def fetch(self, offset: int, limit: int) -> tuple[list[RawRecord], int | None]:
        index = len(self.requests)
        self.requests.append((offset, limit))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await anyio.sleep(self.delay)
            hook = self.hooks.get(index)
            if hook is not None:
                hook(self, offset, limit)
            if index in self.override:
                return self.override[index]
            records: list[RawRecord] = [{"Id": i} for i in self.ids[offset : offset + limit]]
            return records, len(self.ids) if self.send_total else None
        finally:
            self.in_flight -= 1

    @property
    def offsets(self) -> list[int]:
        return [offset for offset, _ in self.requests]


async def run(
    listing: Listing,
    *,
    limit: int = 5,
    concurrency: int = 1,
    ordered: bool = True,
    start: int = 0,
    last_key: Any = None,
    drift_records: int = 10,
    drift_share: float = 0.001,
) -> tuple[list[Page], ListingProof | None]:
    audit = ListingAudit(
        "units",
        key=int_id("Id"),
        ordered=ordered,
        start=start,
        last_key=last_key,
        drift_records=drift_records,
        drift_share=drift_share,
    )
    async with paged(
        lambda tg: OffsetPager(
            tg,
            model="units",
            fetch=listing.fetch,
            audit=audit,
            limit=limit,
            concurrency=concurrency,
        )
    ) as pager:
        pages = [page async for page in pager]
    return pages, pager.proof


def ids(pages: list[Page]) -> list[int]:
    return [r["Id"] for page in pages for r in page.records]


# -- complete listings ----------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_complete_listing_is_proven(concurrency: int) -> None:
    listing = Listing(23)
    pages, proof = await run(listing, concurrency=concurrency)
    assert ids(pages) == list(range(1, 24))
    # Consecutive pages overlap by one record: 5 asked, 4 new after the first.
    assert sorted(listing.offsets) == [0, 4, 8, 12, 16, 20]
    assert proof == ListingProof(listed=23, start=0, announced=23, sweep_safe=True)
    assert [p.cursor for p in pages][-1] == "23:23"


async def test_an_empty_listing_is_one_empty_page() -> None:
    pages, proof = await run(Listing(0))
    assert [(p.records, p.total) for p in pages] == [([], 0)]
    assert proof is not None and proof.listed == 0 and proof.sweep_safe


async def test_a_full_page_reaching_the_total_is_confirmed_by_one_more() -> None:
    listing = Listing(9)
    pages, proof = await run(listing, concurrency=4)
    assert ids(pages) == list(range(1, 10))
    # 0 and 4 cover the nine; the page at 8 proves nothing follows.
    assert sorted(listing.offsets) == [0, 4, 8]
    assert proof is not None and proof.sweep_safe


async def test_a_pms_under_counting_its_total_is_not_believed() -> None:
    listing = Listing(100)
    real_fetch = listing.fetch

    async def under(offset: int, limit: int) -> tuple[list[RawRecord], int | None]:
        records, total = await real_fetch(offset, limit)
        return records, (total or 0) - 50

    listing.fetch = under  # type: ignore[method-assign]
    with pytest.raises(IncompleteListing, match="listed 100 records, more than the 50"):
        await run(listing, concurrency=3)
    # It paged on past the announced 50 to the real end.
    assert max(listing.offsets) >= 96


async def test_prefetch_keeps_several_pages_in_flight() -> None:
    # Measured by requests in flight, not by elapsed time: a busy machine
    # slows both alike.
    listing = Listing(100, delay=0.01)
    pages, _ = await run(listing, limit=10, concurrency=3)
    assert ids(pages) == list(range(1, 101))
    assert listing.max_in_flight == 3


async def test_a_capped_page_size_steps_by_what_the_pms_sends() -> None:
    listing = Listing(20)
    real_fetch = listing.fetch

    async def capped(offset: int, limit: int) -> tuple[list[RawRecord], int | None]:
        return await real_fetch(offset, min(limit, 4))

    listing.fetch = capped  # type: ignore[method-assign]
    pages, proof = await run(listing, limit=10, concurrency=2)
    assert ids(pages) == list(range(1, 21))
    assert proof is not None and proof.sweep_safe
    assert {limit for _, limit in listing.requests[1:]} == {4}


# -- faults: empty, repeated, short pages -----------------------------------------


def _empty_zero(listing: Listing, index: int) -> None:
    listing.override[index] = ([], 0)


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_an_empty_page_in_the_middle_fails_the_listing(concurrency: int) -> None:
    listing = Listing(100)
    _empty_zero(listing, 5)  # the page at offset 20 (0, 4, 8, 12, 16, 20)
    with pytest.raises(IncompleteListing) as info:
        await run(listing, concurrency=concurrency)
    assert str(info.value) == (
        "page at offset 20 was empty; 21 of 100 announced (that page announced 0)"
    )
    assert info.value.offset == 20 and info.value.announced == 100


async def test_an_empty_page_contradicting_its_own_total_fails() -> None:
    listing = Listing(100)
    listing.override[3] = ([], 100)
    with pytest.raises(IncompleteListing, match=r"page at offset 12 was empty; 13 of 100"):
        await run(listing)


async def test_the_same_page_for_every_offset_fails_at_the_second_page() -> None:
    listing = Listing(1000)
    first = [{"Id": i} for i in range(1, 6)]
    for index in range(1, 50):
        listing.override[index] = (first, 1000)
    with pytest.raises(IncompleteListing, match="repeated records already listed") as info:
        await run(listing, concurrency=4)
    assert "5 of 1,000 announced" in str(info.value)
    assert "ignoring the offset" in str(info.value)
    # Bounded: the first page, then the prefetched ones; never paging on.
    assert len(listing.requests) <= 6


async def test_a_short_page_in_the_middle_fails() -> None:
    listing = Listing(40)
    listing.override[2] = ([{"Id": 9}, {"Id": 10}], 40)
    with pytest.raises(IncompleteListing, match="returned 2 records where 5 were asked"):
        await run(listing)


async def test_a_page_out_of_id_order_fails() -> None:
    listing = Listing(40)
    listing.override[1] = ([{"Id": 5}, {"Id": 7}, {"Id": 6}, {"Id": 8}, {"Id": 9}], 40)
    with pytest.raises(IncompleteListing, match=r"not in id order \(6 after 7\)"):
        await run(listing)


async def test_a_page_without_any_readable_id_fails() -> None:
    listing = Listing(40)
    listing.override[1] = ([{"Id": "x"}] * 5, 40)
    with pytest.raises(IncompleteListing, match="no record has a readable id"):
        await run(listing)


async def test_a_far_larger_announced_total_fails_at_once() -> None:
    # A mock announcing 17 million and answering the same 38 records.
    records = [{"Id": i} for i in range(1, 39)]
    listing = Listing(0)
    for index in range(100):
        listing.override[index] = (records, 17_000_000)
    with pytest.raises(IncompleteListing, match="38 of 17,000,000 announced"):
        await run(listing, limit=1000, concurrency=4)
    assert len(listing.requests) <= 6


# -- the announced total and drift ---------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "complete"), [(10, True), (11, False), (-10, True), (-11, False)]
)
async def test_a_total_off_by_the_tolerance_counts_beyond_it_fails(
    delta: int, complete: bool
) -> None:
    listing = Listing(100)
    real_fetch = listing.fetch

    async def wrong_total(offset: int, limit: int) -> tuple[list[RawRecord], int | None]:
        records, total = await real_fetch(offset, limit)
        return records, (total or 0) + delta

    listing.fetch = wrong_total  # type: ignore[method-assign]
    if complete:
        pages, proof = await run(listing, concurrency=3)
        assert ids(pages) == list(range(1, 101))
        assert proof is not None and proof.announced == 100 + delta
        assert proof.note is not None and "drift within tolerance" in proof.note
        # Fewer listed than announced: some records may have been missed.
        assert proof.sweep_safe is (delta < 0)
    else:
        with pytest.raises(IncompleteListing):
            await run(listing, concurrency=3)


@pytest.mark.parametrize(("deleted", "complete"), [(10, True), (11, False)])
async def test_deletions_while_listing_within_the_tolerance_realign(
    deleted: int, complete: bool
) -> None:
    listing = Listing(60)

    def delete_listed(listing: Listing, offset: int, limit: int) -> None:
        # Records already listed vanish: every later record moves up.
        listing.delete(*range(1, deleted + 1))

    listing.hooks[3] = delete_listed
    if not complete:
        with pytest.raises(IncompleteListing, match="listed 60 records, more than the 49"):
            await run(listing)
        return
    pages, proof = await run(listing)
    # Nothing skipped and nothing twice, despite the shift.
    assert ids(pages) == list(range(1, 61))
    assert proof is not None and proof.sweep_safe
    assert proof.note is not None and "realigned" in proof.note


async def test_deletions_ahead_of_the_listing_need_no_realignment() -> None:
    listing = Listing(60)
    listing.hooks[2] = lambda listing, offset, limit: listing.delete(50, 51)
    pages, proof = await run(listing)
    assert ids(pages) == [i for i in range(1, 61) if i not in (50, 51)]
    assert proof is not None and proof.sweep_safe and proof.note is not None
    assert "realigned" not in proof.note


async def test_records_created_while_listing_are_listed() -> None:
    listing = Listing(30)
    listing.hooks[2] = lambda listing, offset, limit: listing.create(7)
    pages, proof = await run(listing, concurrency=2)
    assert ids(pages) == list(range(1, 38))
    assert proof is not None and proof.sweep_safe and proof.announced == 37


async def test_a_gap_that_cannot_be_closed_fails() -> None:
    listing = Listing(100)
    # Every page after the first jumps far ahead: records "vanish" in bulk.
    for index in range(1, 40):
        listing.override[index] = ([{"Id": 1000 + index * 10 + k} for k in range(5)], 100)
    with pytest.raises(IncompleteListing, match="could not be aligned"):
        await run(listing)


async def test_pages_of_one_record_are_complete_but_not_sweep_safe() -> None:
    pages, proof = await run(Listing(4), limit=1)
    assert ids(pages) == [1, 2, 3, 4]
    assert proof is not None and not proof.sweep_safe


@pytest.mark.parametrize(
    ("total", "allowed"), [(0, 10), (100, 10), (20_000, 20), (1_000_000, 1_000)]
)
def test_drift_tolerance(total: int, allowed: int) -> None:
    assert drift_tolerance(total) == allowed


# -- without a total, unordered, resumed ----------------------------------------------


async def test_without_a_total_pages_one_by_one_until_a_short_page() -> None:
    listing = Listing(12, send_total=False, delay=0.001)
    pages, proof = await run(listing, concurrency=4)
    assert ids(pages) == list(range(1, 13))
    assert listing.offsets == [0, 4, 8]
    assert listing.max_in_flight == 1
    assert proof is not None and proof.announced is None and proof.sweep_safe


async def test_without_a_total_a_repeated_full_page_fails() -> None:
    listing = Listing(0, send_total=False)
    for index in range(10):
        listing.override[index] = ([{"Id": i} for i in range(1, 6)], None)
    with pytest.raises(IncompleteListing, match="repeated records already listed"):
        await run(listing)


async def test_unordered_listing_repeats_fail() -> None:
    listing = Listing(20)
    listing.override[1] = ([{"Id": 3}, {"Id": 30}, {"Id": 31}, {"Id": 32}, {"Id": 33}], 20)
    with pytest.raises(IncompleteListing, match=r"repeated 1 record\(s\) already listed"):
        await run(listing, ordered=False)


async def test_unordered_listing_is_sweep_safe_only_when_exact() -> None:
    pages, proof = await run(Listing(12), ordered=False)
    assert ids(pages) == list(range(1, 13))
    assert proof is not None and proof.sweep_safe
    listing = Listing(30)
    listing.hooks[2] = lambda listing, offset, limit: listing.create(1)
    _, proof = await run(listing, ordered=False)
    assert proof is not None and not proof.sweep_safe


async def test_resume_overlaps_the_last_stored_record() -> None:
    listing = Listing(23)
    pages, proof = await run(listing, start=10, last_key=10)
    assert ids(pages) == list(range(11, 24))
    assert listing.offsets[0] == 9
    assert proof is not None and proof.listed == 13 and proof.start == 10


async def test_resume_after_records_moved_realigns() -> None:
    listing = Listing(23)
    listing.delete(2, 3, 4)  # deleted between the crash and the resume
    pages, proof = await run(listing, start=10, last_key=10)
    assert ids(pages) == list(range(11, 24))
    assert proof is not None and proof.note is not None and "realigned" in proof.note


async def test_a_fetch_error_surfaces_after_the_earlier_pages() -> None:
    listing = Listing(40)
    received: list[Page] = []

    def fail(listing: Listing, offset: int, limit: int) -> None:
        raise PMSServerError("boom", status=500)

    listing.hooks[2] = fail
    audit = ListingAudit("units", key=int_id("Id"), ordered=True)
    with pytest.raises(PMSServerError):
        async with paged(
            lambda tg: OffsetPager(
                tg, model="units", fetch=listing.fetch, audit=audit, limit=5, concurrency=4
            )
        ) as pager:
            async for page in pager:
                received.append(page)
    assert ids(received) == list(range(1, 10))
    assert pager.proof is None


def test_cursors_round_trip() -> None:
    assert encode_cursor(15, 15) == "15:15"
    assert encode_cursor(3, None) == "3"
    assert decode_cursor("15:15") == (15, 15)
    assert decode_cursor("19000") == (19000, None)
    assert decode_cursor(None) == (0, None)
    assert decode_cursor("x") is None
    assert decode_cursor("-1") is None
