"""The shared pager and listing audit: a listing counts only when proven complete."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
import pytest

from syncd.connectors.paging import (
    Fetched,
    FetchResult,
    ListingAudit,
    OffsetPager,
    WholeListPager,
    as_fetched,
    decode_cursor,
    drift_tolerance,
    encode_cursor,
    int_id,
    page_number_fetch,
    paged,
    parse_link_next,
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


# -- page-number listings (PageSize + PageNumber, no overlap) -------------------------


class NumberedListing:
    """A PMS paging by 1-based page number, like Rent Manager.

    ``cap`` is the most records it sends per page whatever was asked (and
    it numbers its pages by that size); ``send_total`` announces the total,
    ``send_next`` says whether a next page follows (a ``Link: rel="next"``).
    """

    def __init__(
        self,
        count: int,
        *,
        send_total: bool = True,
        send_next: bool = True,
        cap: int | None = None,
        delay: float = 0.0,
    ) -> None:
        self.ids = list(range(1, count + 1))
        self.send_total = send_total
        self.send_next = send_next
        self.cap = cap
        self.delay = delay
        self.requests: list[tuple[int, int]] = []
        self.override: dict[int, Fetched] = {}
        self.in_flight = 0
        self.max_in_flight = 0

    async def fetch_page(self, number: int, size: int) -> Fetched:
        index = len(self.requests)
        self.requests.append((number, size))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await anyio.sleep(self.delay)
            if index in self.override:
                return self.override[index]
            size = min(size, self.cap) if self.cap else size
            start = (number - 1) * size
            records: list[RawRecord] = [{"ID": i} for i in self.ids[start : start + size]]
            return Fetched(
                records,
                len(self.ids) if self.send_total else None,
                (start + size < len(self.ids)) if self.send_next else None,
            )
        finally:
            self.in_flight -= 1


async def run_numbered(
    listing: NumberedListing,
    *,
    limit: int = 5,
    concurrency: int = 1,
    start: int = 0,
    offsets: list[tuple[int, int]] | None = None,
) -> tuple[list[Page], ListingProof | None]:
    audit = ListingAudit("tenants", key=int_id("ID"), ordered=False, start=start)
    fetch = page_number_fetch(listing.fetch_page)

    async def recorded(offset: int, limit: int) -> FetchResult:
        if offsets is not None:
            offsets.append((offset, limit))
        return await fetch(offset, limit)

    async with paged(
        lambda tg: OffsetPager(
            tg,
            model="tenants",
            fetch=recorded,
            audit=audit,
            limit=limit,
            concurrency=concurrency,
            overlap=False,
        )
    ) as pager:
        pages = [page async for page in pager]
    return pages, pager.proof


def numbered_ids(pages: list[Page]) -> list[int]:
    return [r["ID"] for page in pages for r in page.records]


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_page_number_listing_is_proven(concurrency: int) -> None:
    listing = NumberedListing(23)
    offsets: list[tuple[int, int]] = []
    pages, proof = await run_numbered(listing, concurrency=concurrency, offsets=offsets)
    assert numbered_ids(pages) == list(range(1, 24))
    assert sorted(listing.requests) == [(n, 5) for n in range(1, 6)]
    assert sorted(offset for offset, _ in offsets) == [0, 5, 10, 15, 20]
    assert proof == ListingProof(listed=23, start=0, announced=23, sweep_safe=True)
    assert pages[-1].cursor == "23"


async def test_page_number_prefetch_keeps_pages_in_flight() -> None:
    listing = NumberedListing(100, delay=0.01)
    pages, _ = await run_numbered(listing, limit=10, concurrency=3)
    assert numbered_ids(pages) == list(range(1, 101))
    assert listing.max_in_flight == 3


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_a_capped_page_size_keeps_offsets_on_page_boundaries(concurrency: int) -> None:
    listing = NumberedListing(30, cap=4)
    offsets: list[tuple[int, int]] = []
    pages, proof = await run_numbered(listing, limit=10, concurrency=concurrency, offsets=offsets)
    assert numbered_ids(pages) == list(range(1, 31))
    assert proof is not None and proof.sweep_safe
    # After the first page the pager steps by what the PMS sends, and every
    # offset it asks is a whole page of that size.
    assert offsets[0] == (0, 10)
    assert {limit for _, limit in offsets[1:]} == {4}
    assert all(offset % limit == 0 for offset, limit in offsets[1:])
    assert {size for _, size in listing.requests[1:]} == {4}


async def test_a_full_last_page_without_a_next_link_ends_the_listing() -> None:
    listing = NumberedListing(20, send_total=False)
    pages, proof = await run_numbered(listing, concurrency=4)
    assert numbered_ids(pages) == list(range(1, 21))
    # No page 5: page 4 was full but had no next link.
    assert listing.requests == [(1, 5), (2, 5), (3, 5), (4, 5)]
    assert proof is not None and proof.announced is None and proof.sweep_safe


async def test_without_total_or_link_a_full_page_is_followed_by_one_more() -> None:
    listing = NumberedListing(20, send_total=False, send_next=False)
    pages, _ = await run_numbered(listing)
    assert numbered_ids(pages) == list(range(1, 21))
    assert listing.requests[-1] == (5, 5)


async def test_a_short_page_with_a_next_link_fails() -> None:
    listing = NumberedListing(40, send_total=False)
    listing.override[2] = Fetched([{"ID": 11}, {"ID": 12}], None, True)
    with pytest.raises(IncompleteListing, match="yet the PMS says more pages follow"):
        await run_numbered(listing)


async def test_an_empty_page_with_a_next_link_fails() -> None:
    listing = NumberedListing(40, send_total=False)
    listing.override[1] = Fetched([], None, True)
    with pytest.raises(IncompleteListing, match="returned 0 records where 5"):
        await run_numbered(listing)


async def test_a_pms_ignoring_the_page_number_fails() -> None:
    listing = NumberedListing(100)
    first = [{"ID": i} for i in range(1, 6)]
    for index in range(1, 30):
        listing.override[index] = Fetched(first, 100, True)
    with pytest.raises(IncompleteListing, match=r"repeated 5 record\(s\) already listed"):
        await run_numbered(listing, concurrency=3)
    assert len(listing.requests) <= 5


async def test_page_number_fetch_maps_offsets_to_pages() -> None:
    listing = NumberedListing(23)
    fetch = page_number_fetch(listing.fetch_page)
    got = as_fetched(await fetch(10, 5))
    assert [r["ID"] for r in got.records] == [11, 12, 13, 14, 15]
    assert (got.total, got.more) == (23, True)
    assert listing.requests == [(3, 5)]


async def test_page_number_fetch_serves_an_unaligned_offset_from_two_pages() -> None:
    # A resume after the page size changed: offset 7 is no page boundary at 5.
    listing = NumberedListing(23)
    fetch = page_number_fetch(listing.fetch_page)
    got = as_fetched(await fetch(7, 5))
    assert [r["ID"] for r in got.records] == [8, 9, 10, 11, 12]
    assert got.more is True
    assert listing.requests == [(2, 5), (3, 5)]
    # Near the end: whatever is left.
    got = as_fetched(await fetch(21, 5))
    assert [r["ID"] for r in got.records] == [22, 23]
    assert got.more is False


async def test_a_resumed_listing_capped_by_the_pms_skips_nothing() -> None:
    # Page 2 of 10 is not page 2 of 4: the capped first page is fetched again.
    listing = NumberedListing(30, cap=4)
    pages, proof = await run_numbered(listing, limit=10, start=10)
    assert numbered_ids(pages) == list(range(11, 31))
    assert proof is not None and proof.start == 10 and proof.listed == 20


async def test_a_resumed_unaligned_listing_skips_nothing() -> None:
    listing = NumberedListing(30)
    pages, proof = await run_numbered(listing, limit=5, start=12)
    assert numbered_ids(pages) == list(range(13, 31))
    assert proof is not None and proof.listed == 18


def test_pages_that_cannot_overlap_need_an_unordered_audit() -> None:
    audit = ListingAudit("units", key=int_id("Id"), ordered=True)

    async def fetch(offset: int, limit: int) -> FetchResult:
        return [], None

    with pytest.raises(ValueError, match="unordered"):
        OffsetPager(
            None,  # type: ignore[arg-type]
            model="units",
            fetch=fetch,
            audit=audit,
            limit=5,
            concurrency=1,
            overlap=False,
        )


async def test_a_page_marked_last_ends_an_offset_listing_even_when_full() -> None:
    listing = Listing(20, send_total=False)
    real_fetch = listing.fetch

    async def marked(offset: int, limit: int) -> FetchResult:
        records, total = await real_fetch(offset, limit)
        return Fetched(records, total, offset + limit < 20)

    listing.fetch = marked  # type: ignore[method-assign,assignment]
    pages, proof = await run(listing)
    assert ids(pages) == list(range(1, 21))
    assert listing.offsets == [0, 4, 8, 12, 16]  # overlapping pages; none after 16
    assert proof is not None and proof.sweep_safe


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        (
            '<https://x.test/Tenants?PageNumber=2>; rel="next"',
            "https://x.test/Tenants?PageNumber=2",
        ),
        ("<https://x.test/a?p=2>; rel=next", "https://x.test/a?p=2"),
        ('<https://x.test/a?p=2>; REL="Next"', "https://x.test/a?p=2"),
        (
            '<https://x.test/a?p=1>; rel="prev", <https://x.test/a?p=3>; rel="next"',
            "https://x.test/a?p=3",
        ),
        ('<https://x.test/a?p=9>; rel="last next"', "https://x.test/a?p=9"),
        # A comma inside the target or a quoted parameter separates nothing.
        (
            '<https://x.test/a?f=A,B>; title="x, rel=next"; rel="next"',
            "https://x.test/a?f=A,B",
        ),
        ('<https://x.test/a?p=1>; rel="prev"', None),
        ('<https://x.test/a?p=1>; rel="nextpage"', None),
        ('garbage, <https://x.test/a?p=2>; rel="next"', "https://x.test/a?p=2"),
        ('<https://x.test/a?p=2>; rel="prev"; rel="next"', None),  # only the first rel counts
        ("<https://x.test/a?p=2", None),
    ],
)
def test_parse_link_next(header: str | None, expected: str | None) -> None:
    assert parse_link_next(header) == expected


def test_parse_link_next_resolves_a_relative_target() -> None:
    header = '</Tenants?PageNumber=3&PageSize=100>; rel="next"'
    assert (
        parse_link_next(header, base="https://co.api.example.com/Tenants?PageNumber=2")
        == "https://co.api.example.com/Tenants?PageNumber=3&PageSize=100"
    )


# -- whole lists per part (no paging) -------------------------------------------------


class Parts:
    """Whole lists per property: ``lists[part]``; ``gates`` hold a part's answer."""

    def __init__(self, lists: dict[str, list[RawRecord]]) -> None:
        self.lists = lists
        self.requests: list[str] = []
        self.gates: dict[str, anyio.Event] = {}
        self.done: list[str] = []
        self.fail: dict[str, Exception] = {}
        self.finished: dict[str, anyio.Event] = {}
        self.in_flight = 0
        self.max_in_flight = 0

    async def fetch(self, part: str) -> list[RawRecord]:
        self.requests.append(part)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            gate = self.gates.get(part)
            if gate is not None:
                await gate.wait()
            else:
                await anyio.lowlevel.checkpoint()
            if part in self.fail:
                raise self.fail[part]
            self.done.append(part)
            if part in self.finished:
                self.finished[part].set()
            return list(self.lists[part])
        finally:
            self.in_flight -= 1


def units(*numbers: int) -> list[RawRecord]:
    return [{"unitId": f"u-{n}"} for n in numbers]


def text_id(record: RawRecord) -> Any:
    value = record.get("unitId")
    return value if isinstance(value, str) and value else None


async def run_parts(
    parts: Parts, *, concurrency: int = 1, start: int = 0, batch: int = 0
) -> tuple[list[Page], ListingProof | None]:
    async with paged(
        lambda tg: WholeListPager(
            tg,
            model="units",
            parts=list(parts.lists),
            fetch_part=parts.fetch,
            key=text_id,
            concurrency=concurrency,
            start=start,
            batch=batch,
        )
    ) as pager:
        pages = [page async for page in pager]
    return pages, pager.proof


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_whole_lists_give_one_page_per_part_in_order(concurrency: int) -> None:
    parts = Parts({"p1": units(1, 2), "p2": [], "p3": units(3), "p4": units(4, 5, 6)})
    pages, proof = await run_parts(parts, concurrency=concurrency)
    assert [[r["unitId"] for r in p.records] for p in pages] == [
        ["u-1", "u-2"],
        [],
        ["u-3"],
        ["u-4", "u-5", "u-6"],
    ]
    assert [p.cursor for p in pages] == ["1", "2", "3", "4"]
    assert all(p.total is None for p in pages)
    assert proof == ListingProof(listed=6, start=0, announced=None, sweep_safe=True)


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_small_parts_share_a_page_up_to_the_batch(concurrency: int) -> None:
    parts = Parts({"p1": units(1, 2), "p2": [], "p3": units(3), "p4": units(4, 5, 6), "p5": []})
    pages, proof = await run_parts(parts, concurrency=concurrency, batch=3)
    assert [[r["unitId"] for r in p.records] for p in pages] == [
        ["u-1", "u-2", "u-3"],
        ["u-4", "u-5", "u-6"],
        [],
    ]
    # Each cursor resumes after the last part its page completes.
    assert [p.cursor for p in pages] == ["3", "4", "5"]
    assert proof == ListingProof(listed=6, start=0, announced=None, sweep_safe=True)


async def test_a_fault_inside_a_batch_hands_out_the_parts_before_it_first() -> None:
    parts = Parts({"p1": units(1), "p2": units(2), "p3": units(3)})
    parts.fail["p3"] = PMSServerError("HTTP 500")
    received: list[Page] = []
    with pytest.raises(PMSServerError):
        async with paged(
            lambda tg: WholeListPager(
                tg,
                model="units",
                parts=list(parts.lists),
                fetch_part=parts.fetch,
                key=text_id,
                batch=10,
            )
        ) as pager:
            async for page in pager:
                received.append(page)
    assert [[r["unitId"] for r in p.records] for p in received] == [["u-1", "u-2"]]
    assert received[0].cursor == "2"
    assert pager.proof is None


async def test_whole_lists_are_prefetched_but_handed_out_in_order() -> None:
    parts = Parts({f"p{i}": units(i) for i in range(1, 7)})
    # The first part answers only after the third has: order must still hold.
    parts.gates["p1"] = anyio.Event()
    third_done = parts.finished["p3"] = anyio.Event()
    received: list[str] = []

    async def consume(pager: WholeListPager[str]) -> None:
        async for page in pager:
            received.extend(r["unitId"] for r in page.records)

    make = partial(
        WholeListPager[str],
        model="units",
        parts=list(parts.lists),
        fetch_part=parts.fetch,
        key=text_id,
        concurrency=3,
    )
    async with paged(make) as pager, anyio.create_task_group() as tg:
        tg.start_soon(consume, pager)
        await third_done.wait()
        assert received == []
        parts.gates["p1"].set()
    assert received == [f"u-{i}" for i in range(1, 7)]
    assert parts.max_in_flight == 3
    assert pager.proof is not None and pager.proof.listed == 6


async def test_an_id_repeated_across_parts_fails() -> None:
    parts = Parts({"p1": units(1, 2), "p2": units(3), "p3": units(4, 2)})
    with pytest.raises(
        IncompleteListing, match=r"part 3 of 3 \('p3'\) repeated 1 record\(s\)"
    ) as e:
        await run_parts(parts, concurrency=2)
    assert "id u-2, listed in part 1" in str(e.value)


async def test_an_id_repeated_within_a_part_fails() -> None:
    parts = Parts({"p1": units(1, 1)})
    with pytest.raises(IncompleteListing, match="listed in itself"):
        await run_parts(parts)


async def test_a_part_without_readable_ids_fails() -> None:
    parts = Parts({"p1": units(1), "p2": [{"unitId": None}, {"name": "x"}]})
    with pytest.raises(IncompleteListing, match=r"part 2 of 2 \('p2'\): no record has a readable"):
        await run_parts(parts)


async def test_whole_lists_resume_at_the_cursor_part() -> None:
    parts = Parts({"p1": units(1), "p2": units(2), "p3": units(3)})
    start = decode_cursor("2")
    assert start is not None
    pages, proof = await run_parts(parts, start=start[0], concurrency=2)
    assert parts.requests == ["p3"]
    assert [p.cursor for p in pages] == ["3"]
    assert proof == ListingProof(listed=1, start=2, announced=None, sweep_safe=True)


async def test_no_parts_is_an_empty_proven_listing() -> None:
    pages, proof = await run_parts(Parts({}))
    assert pages == []
    assert proof == ListingProof(listed=0, start=0, announced=None, sweep_safe=True)


async def test_a_part_fetch_error_surfaces_after_the_earlier_parts() -> None:
    parts = Parts({"p1": units(1), "p2": units(2), "p3": units(3), "p4": units(4)})
    parts.fail["p3"] = PMSServerError("boom", status=500)
    received: list[Page] = []
    with pytest.raises(PMSServerError):
        async with paged(
            lambda tg: WholeListPager(
                tg,
                model="units",
                parts=list(parts.lists),
                fetch_part=parts.fetch,
                key=text_id,
                concurrency=4,
            )
        ) as pager:
            async for page in pager:
                received.append(page)
    assert [p.cursor for p in received] == ["1", "2"]
    assert pager.proof is None


async def test_whole_list_pages_cannot_be_read_after_the_block() -> None:
    parts = Parts({"p1": units(1), "p2": units(2)})
    async with paged(
        lambda tg: WholeListPager(
            tg, model="units", parts=list(parts.lists), fetch_part=parts.fetch, key=text_id
        )
    ) as pager:
        pass
    with pytest.raises(RuntimeError, match="after leaving"):
        await pager.__anext__()
