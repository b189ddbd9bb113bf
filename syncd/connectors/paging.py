"""Shared paging: a listing counts only when its pages prove it complete.

A PMS's silence is not evidence. An empty page in the middle of a listing,
a listing short of the total the PMS announced, a page that repeats records
already listed: each is a fault, raised as
:class:`~syncd.errors.IncompleteListing`, so the model run fails, nothing is
swept, no watermark moves and the next run tries again. Every connector
pages through :class:`ListingAudit` (and, for offset/limit APIs,
:class:`OffsetPager`), so the rule holds for every PMS alike:

1. **Each page agrees with itself.** A page that comes back empty, or
   shorter than the page size, while its own announced total says more
   records follow (beyond the drift tolerance), is a fault. (The first
   page may be short: the PMS caps the page size below what was asked, and
   later pages step by what it really sends.)
2. **No page repeats.** A page that brings no record not listed before
   while the listing has not reached its end (a PMS ignoring ``offset``
   answers the same page for every offset), or that repeats ids in an
   unordered listing, is a fault.
3. **The end agrees with the announcement.** Only a page shorter than the
   page size (or an empty one) ends a listing; a full page that reaches the
   announced total is followed by one more request, so a PMS that
   under-counts is caught rather than believed. An empty page ending the
   listing short of the total announced before, or a count of distinct
   records listed that differs from the last announced total by more than
   the drift tolerance, is a fault.

**Drift.** A PMS changes while it is listed: a record created or deleted
during the listing moves the total by one. The tolerance is
``max(drift_records, ceil(drift_share * total))`` records, by default
``max(10, 0.1 %)`` (20 of 20,000; 1,000 of 1,000,000). Within it the listing
counts as complete; beyond it, it does not.

**Id-ordered offset listings are proven gap-free.** Offset paging skips a
record whenever one before the current offset is deleted mid-listing (every
later record moves up one place). When the PMS sorts by a monotonic id
(Buildium's and Propertyware's ``orderby=Id``), consecutive pages overlap by
one record, and page *k+1* must start at or before page *k*'s last id. If it
starts after, records moved: the pager steps back (1, 2, 4 … positions)
until the pages meet again, then goes on from there. Records that existed
throughout the listing are then provably all listed, so a deletion sweep is
safe even after drift (``ListingProof.sweep_safe``). An unordered listing
is only sweep-safe when it is exact: every announced total the same and
equal to the records listed.

**Pages that cannot overlap.** A PMS paging by page number (Rent Manager's
``PageSize``/``PageNumber``) cannot be asked for a page starting on the
previous page's last record: :class:`OffsetPager` with ``overlap=False``
pages it through :func:`page_number_fetch`, audited as unordered
(duplicates across pages are caught by id; sweep-safe only when exact). A
page may say whether more follow (:class:`Fetched`, e.g. from a
``Link: <…>; rel="next"`` header read by :func:`parse_link_next`): a page
without a next link ends the listing even when full.

**Whole lists.** A PMS answering a whole list per part (ResMan: per
property, no paging) is listed by :class:`WholeListPager`, one page per
part, with ids checked not to repeat across parts.
"""

from __future__ import annotations

import collections
import itertools
import math
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import anyio
import anyio.abc
import structlog

from syncd.connectors.base import PageStream
from syncd.domain import ListingProof, Page, RawRecord
from syncd.errors import IncompleteListing

log = structlog.get_logger(__name__)

#: The key of a record in its listing (its PMS id), or None when unreadable.
KeyFn = Callable[[RawRecord], Any]


@dataclass(frozen=True, slots=True)
class Fetched:
    """One page as the PMS answered it.

    ``total`` is the size of the whole listing the PMS announced (None: it
    gave none); ``more`` says whether the PMS says more pages follow (True:
    e.g. a next link; False: this is the last page, even if full; None: it
    does not say).
    """

    records: list[RawRecord]
    total: int | None = None
    more: bool | None = None


#: What a fetch returns: a :class:`Fetched`, or the pair (records, total or None).
FetchResult = Fetched | tuple[list[RawRecord], int | None]

#: Fetches ``limit`` records at ``offset``.
FetchFn = Callable[[int, int], Awaitable[FetchResult]]

#: Fetches page ``number`` (1-based) of ``size`` records (see :func:`page_number_fetch`).
PageNumberFetchFn = Callable[[int, int], Awaitable[FetchResult]]

#: A part of a :class:`WholeListPager` listing (e.g. a property id).
PartT = TypeVar("PartT")

#: Default drift tolerance: at least this many records …
DRIFT_RECORDS = 10
#: … or this share of the announced total, whichever is larger.
DRIFT_SHARE = 0.001

# How far back a realignment may step, in pages: beyond this the PMS is not
# drifting but misbehaving.
_MAX_REALIGN_PAGES = 4


def as_fetched(result: FetchResult) -> Fetched:
    """A fetch's answer as a :class:`Fetched` (a (records, total) pair says nothing of more)."""
    if isinstance(result, Fetched):
        return result
    records, total = result
    return Fetched(records, total)


def drift_tolerance(total: int, *, records: int = DRIFT_RECORDS, share: float = DRIFT_SHARE) -> int:
    """How many records a listing of ``total`` may be off by and still count as complete."""
    return max(records, math.ceil(max(total, 0) * share))


def int_id(field: str) -> KeyFn:
    """A key function reading an integer id field (a bool or a string is unreadable)."""

    def key(record: RawRecord) -> int | None:
        value = record.get(field) if isinstance(record, dict) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return key


class _Shifted(Exception):
    """A page of an id-ordered listing starts after the previous page's last id."""


class ListingAudit:
    """Judges one listing page by page and, at its end, proves it complete or not.

    ``ordered``: the PMS sorts the listing by ``key`` ascending (keys must
    be comparable and never reused); pages then overlap by one record and
    boundaries are checked. ``start`` is the position a resumed listing
    starts at and ``last_key`` the last key listed before it (if known).
    """

    def __init__(
        self,
        model: str,
        *,
        key: KeyFn,
        ordered: bool,
        start: int = 0,
        last_key: Any = None,
        drift_records: int = DRIFT_RECORDS,
        drift_share: float = DRIFT_SHARE,
    ) -> None:
        self.model = model
        self.ordered = ordered
        self.start = start
        self.listed = 0
        self._key = key
        self._last_key = last_key
        self._seen: set[Any] = set()
        self._drift = (drift_records, drift_share)
        self._first_total: int | None = None
        self._last_total: int | None = None
        self._max_total = 0
        self._unverified: str | None = None
        self._realigned = 0

    @property
    def last_key(self) -> Any:
        """The largest key listed so far in an ordered listing (None before any)."""
        return self._last_key

    @property
    def position(self) -> int:
        """Records accounted for: the resume position plus the records listed since."""
        return self.start + self.listed

    def tolerance(self, total: int) -> int:
        """The drift allowed for a listing of ``total`` records."""
        return drift_tolerance(total, records=self._drift[0], share=self._drift[1])

    def unverified(self, reason: str) -> None:
        """Note that a boundary could not be checked: the listing is complete, not sweep-safe."""
        self._unverified = self._unverified or reason

    def realigned(self) -> None:
        """Count a realignment the pager made after records moved."""
        self._realigned += 1

    def admit(
        self,
        offset: int,
        records: Sequence[RawRecord],
        total: int | None,
        *,
        limit: int,
        overlap: bool,
        realigning: bool = False,
        more: bool | None = None,
    ) -> list[RawRecord]:
        """Check the page at ``offset``; return its records not listed before.

        ``overlap``: the page was asked to start on the previous page's last
        record. ``more``: the PMS says more pages follow (True), or that this
        is the last (False). Raises :class:`IncompleteListing`, or
        ``_Shifted`` when an overlapping page starts after the last key
        (records moved: realign). ``realigning`` pages may consist of
        records listed before.
        """
        n = len(records)
        where = f"page at offset {offset:,}"
        if total is not None:
            self._note_total(total)
        if more is True and n < limit:
            # A page cannot be both short (or empty) and followed by more.
            raise IncompleteListing(
                f"{where} returned {n:,} records where {limit:,} were asked, "
                "yet the PMS says more pages follow; " + self._progress(total),
                offset=offset,
                listed=self.position,
                announced=total,
            )
        if n == 0:
            announced = max(self._max_total, total or 0)
            if announced and self.position < announced - self.tolerance(announced):
                said = (
                    ""
                    if total is None or total == announced
                    else f" (that page announced {total:,})"
                )
                raise IncompleteListing(
                    f"{where} was empty; {self.position:,} of {announced:,} announced{said}",
                    offset=offset,
                    listed=self.position,
                    announced=announced,
                )
            return []
        if total is not None and n < limit and offset + n < total - self.tolerance(total):
            raise IncompleteListing(
                f"{where} returned {n:,} records where {limit:,} were asked, "
                f"yet {total:,} were announced",
                offset=offset,
                listed=self.position,
                announced=total,
            )
        keys = [self._key(r) for r in records]
        readable = [k for k in keys if k is not None]
        if not readable:
            raise IncompleteListing(
                f"{where}: no record has a readable id, so the listing cannot be verified",
                offset=offset,
                listed=self.position,
                announced=total,
            )
        if self.ordered:
            last = self._last_key
            fresh = self._admit_ordered(where, records, keys, readable, overlap=overlap)
            brings_new = last is None or readable[-1] > last
        else:
            fresh = self._admit_unordered(where, records, keys, readable)
            brings_new = True
        if not realigning and n >= limit and not brings_new:
            raise IncompleteListing(
                f"{where} repeated records already listed "
                f"(ids {readable[0]} to {readable[-1]}); "
                + self._progress(total)
                + "; the PMS may be ignoring the offset",
                offset=offset,
                listed=self.position,
                announced=total,
            )
        self.listed += len(fresh)
        return fresh

    def _admit_ordered(
        self,
        where: str,
        records: Sequence[RawRecord],
        keys: list[Any],
        readable: list[Any],
        *,
        overlap: bool,
    ) -> list[RawRecord]:
        for before, after in itertools.pairwise(readable):
            if not after > before:
                raise IncompleteListing(
                    f"{where} is not in id order ({after} after {before}); "
                    "an unsorted listing cannot be paged safely",
                )
        last = self._last_key
        if last is None:
            self._last_key = readable[-1]
            return list(records)
        if overlap and readable[0] > last:
            raise _Shifted
        fresh = [r for r, k in zip(records, keys, strict=True) if k is None or k > last]
        if readable[-1] > last:
            self._last_key = readable[-1]
        return fresh

    def _admit_unordered(
        self, where: str, records: Sequence[RawRecord], keys: list[Any], readable: list[Any]
    ) -> list[RawRecord]:
        repeated = [k for k in readable if k in self._seen]
        if len(set(readable)) != len(readable) or repeated:
            shown = repeated[0] if repeated else next(k for k in readable if readable.count(k) > 1)
            raise IncompleteListing(
                f"{where} repeated {max(len(repeated), 1):,} record(s) already listed "
                f"(e.g. id {shown}); " + self._progress(None),
            )
        self._seen.update(readable)
        return list(records)

    def _note_total(self, total: int) -> None:
        if self._first_total is None:
            self._first_total = total
        self._last_total = total
        self._max_total = max(self._max_total, total)

    def _progress(self, total: int | None) -> str:
        announced = total if total is not None else self._last_total
        if announced is None:
            return f"{self.position:,} listed"
        return f"{self.position:,} of {announced:,} announced"

    def finish(self) -> ListingProof:
        """The listing ended: prove it complete, or raise :class:`IncompleteListing`."""
        total = self._last_total
        got = self.position
        notes: list[str] = []
        sweep_safe = True
        if total is not None:
            allowed = self.tolerance(max(total, self._max_total))
            if abs(got - total) > allowed:
                verb = "short of" if got < total else "more than"
                raise IncompleteListing(
                    f"listed {got:,} records, {verb} the {total:,} announced "
                    f"(drift tolerance {allowed:,})",
                    listed=got,
                    announced=total,
                )
            if got != total or self._first_total != total:
                notes.append(
                    f"drift within tolerance: {got:,} listed, {self._first_total:,} announced "
                    f"first and {total:,} last"
                )
                # Records deleted after being listed make the count exceed the
                # total; a count below it means records may have been missed.
                if not self.ordered or got < total:
                    sweep_safe = False
        if self._unverified:
            notes.append(self._unverified)
            sweep_safe = False
        if self._realigned:
            notes.append(f"realigned {self._realigned} time(s) after records moved")
        return ListingProof(
            listed=self.listed,
            start=self.start,
            announced=total,
            sweep_safe=sweep_safe,
            note="; ".join(notes) or None,
        )


def encode_cursor(position: int, last_key: Any) -> str:
    """A resume cursor: the position after the last stored record, and its integer id."""
    if isinstance(last_key, int) and not isinstance(last_key, bool):
        return f"{position}:{last_key}"
    return str(position)


def decode_cursor(cursor: str | None) -> tuple[int, int | None] | None:
    """``(position, last id)`` from :func:`encode_cursor` (or a bare offset); None if unreadable."""
    if cursor is None:
        return (0, None)
    head, _, tail = cursor.partition(":")
    try:
        position = int(head)
        key = int(tail) if tail else None
    except ValueError:
        return None
    if position < 0:
        return None
    return (position, key)


def resume_from(cursor: str | None, *, model: str, vendor: str) -> tuple[int, int | None]:
    """``(position, last id)`` of a resume cursor; an unreadable one starts over (logged)."""
    parsed = decode_cursor(cursor)
    if parsed is None:
        # Starting over is always safe: the store upserts what it sees again.
        log.warning(f"{vendor}.cursor.invalid", model=model, cursor=cursor)
        return (0, None)
    return parsed


class _Slot:
    """One prefetched page, filled in by its fetch task."""

    __slots__ = ("done", "error", "fetched", "offset", "scope")

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.done = anyio.Event()
        self.fetched = Fetched([])
        self.error: Exception | None = None
        self.scope = anyio.CancelScope()


class TaskPageStream(PageStream):
    """A :class:`PageStream` whose prefetches run in a task group that :func:`paged` owns.

    ``closed`` is set when the ``paged()`` block is left; iterating after
    that is an error, as the task group is gone.
    """

    closed: bool = False


class OffsetPager(TaskPageStream):
    """The pages of one offset/limit listing, in order, each judged by a :class:`ListingAudit`.

    The first page is fetched by the consumer itself. When the PMS
    announces a total, later pages are fetched by tasks in ``tg``, at most
    ``concurrency`` pages ahead, and handed out in order; without a total,
    pages are fetched one by one until a short page (or one the PMS marks
    as the last, see :class:`Fetched`). In an ordered listing each page
    starts on the previous page's last record (see the module docstring).
    Each page's ``cursor`` resumes after its records.

    ``overlap=False`` is for a PMS whose pages cannot overlap (page-number
    paging, see :func:`page_number_fetch`); the ``audit`` must then be
    unordered. Every offset asked is then a multiple of the page size, as
    long as the listing starts at one (resumes keep that unless the page
    size changes between runs, which :func:`page_number_fetch` also
    handles).
    """

    def __init__(
        self,
        tg: anyio.abc.TaskGroup,
        *,
        model: str,
        fetch: FetchFn,
        audit: ListingAudit,
        limit: int,
        concurrency: int,
        overlap: bool = True,
    ) -> None:
        if not overlap and audit.ordered:
            # An ordered audit proves a listing gap-free only through the
            # overlap; without it, only an exact unordered count can.
            raise ValueError("pages that cannot overlap need an unordered ListingAudit")
        self._tg = tg
        self._model = model
        self._fetch = fetch
        self._audit = audit
        self._limit = max(1, limit)
        self._concurrency = max(1, concurrency)
        # The next page starts at this position (minus the overlap).
        self._covered = audit.start
        self._total: int | None = None
        self._started = False
        self._finished = False
        self._slots: collections.deque[_Slot] = collections.deque()
        self._scheduled = 0  # offset of the next slot to schedule
        self._proof: ListingProof | None = None
        self.closed = False

    @property
    def proof(self) -> ListingProof | None:
        """The audit's verdict once the pages are exhausted (None before)."""
        return self._proof

    @property
    def _overlap(self) -> int:
        # A page of one record cannot overlap and still make progress (and
        # an unordered listing never overlaps, see __init__).
        return 1 if self._audit.ordered and self._limit > 1 else 0

    def _next_offset(self) -> int:
        if self._audit.last_key is None:
            return self._covered
        return max(0, self._covered - self._overlap)

    async def __anext__(self) -> Page:
        if self.closed:
            raise RuntimeError("pages iterated after leaving their 'async with' block")
        while not self._finished:
            first = not self._started
            self._started = True
            offset = self._next_offset()
            if first:
                fetched = as_fetched(await self._fetch(offset, self._limit))
                self._maybe_capped(offset, fetched)
            else:
                fetched = await self._take(offset)
            page = await self._judge(offset, fetched)
            if page.records or first:
                return page
        raise StopAsyncIteration

    def _maybe_capped(self, offset: int, fetched: Fetched) -> None:
        n, total = len(fetched.records), fetched.total
        follow = fetched.more is True or (total is not None and offset + n < total)
        if 0 < n < self._limit and follow:
            # The PMS caps pages below what was asked: step by what it really
            # sends, or the prefetched offsets would skip records.
            log.warning(
                "pms.page_size.capped", model=self._model, requested=self._limit, received=n
            )
            self._limit = n

    async def _judge(self, offset: int, fetched: Fetched) -> Page:
        audit = self._audit
        records, total = fetched.records, fetched.total
        overlap = self._overlap > 0 and audit.last_key is not None
        if audit.ordered and audit.last_key is not None and not overlap:
            audit.unverified("pages of one record cannot be checked for records that moved")
        try:
            fresh = audit.admit(
                offset, records, total, limit=self._limit, overlap=overlap, more=fetched.more
            )
        except _Shifted:
            offset, fetched, fresh = await self._realign(offset)
            records, total = fetched.records, fetched.total
        if total is not None:
            self._total = total
        n = len(records)
        if n:
            self._covered = offset + n
        # Only a short page (or one the PMS marks as its last) ends a listing:
        # a full one reaching the announced total is followed by one more, so
        # a PMS that under-counts is caught.
        if n < self._limit or fetched.more is False:
            self._end()
        elif self._total is not None and not self._slots:
            # Ask for the next pages now, while the consumer works on this one.
            self._scheduled = self._next_offset()
            self._schedule()
        return Page(
            model=self._model,
            records=fresh,
            cursor=encode_cursor(self._covered, audit.last_key),
            total=total,
        )

    async def _realign(self, offset: int) -> tuple[int, Fetched, list[RawRecord]]:
        """Step back until a page starts at or before the last id listed, then go on from it."""
        self._drop_slots()
        audit = self._audit
        back = 1
        floor = max(0, offset - _MAX_REALIGN_PAGES * self._limit)
        while True:
            at = max(floor, offset - back)
            log.info("pms.listing.realign", model=self._model, offset=offset, retry_offset=at)
            fetched = as_fetched(await self._fetch(at, self._limit))
            total = fetched.total
            try:
                fresh = audit.admit(
                    at,
                    fetched.records,
                    total,
                    limit=self._limit,
                    overlap=True,
                    realigning=True,
                    more=fetched.more,
                )
            except _Shifted:
                if at <= floor:
                    raise IncompleteListing(
                        f"records moved while listing: the page at offset {offset:,} could not "
                        f"be aligned with the page before it (last id {audit.last_key})",
                        offset=offset,
                        listed=audit.position,
                        announced=total,
                    ) from None
                back *= 2
                continue
            audit.realigned()
            return at, fetched, fresh

    def _end(self) -> None:
        self._finished = True
        self._drop_slots()
        self._proof = self._audit.finish()

    async def _take(self, offset: int) -> Fetched:
        """The page at ``offset``: from its prefetched slot, or fetched now."""
        if self._total is None:
            # No total, nothing to prefetch against: one page at a time.
            return as_fetched(await self._fetch(offset, self._limit))
        if self._slots and self._slots[0].offset != offset:
            # Realigned or re-stepped: the prefetched offsets no longer fit.
            self._drop_slots()
        if not self._slots:
            self._scheduled = offset
        self._schedule()
        if not self._slots:
            return as_fetched(await self._fetch(offset, self._limit))
        slot = self._slots.popleft()
        await slot.done.wait()
        self._schedule()
        if slot.error is not None:
            raise slot.error
        return slot.fetched

    def _schedule(self) -> None:
        total = self._total
        if total is None:
            return
        step = max(1, self._limit - self._overlap)
        # A page at offset o covers up to o + limit: one starting within the
        # overlap of the total would bring nothing new.
        while len(self._slots) < self._concurrency and self._scheduled + self._overlap < total:
            slot = _Slot(self._scheduled)
            self._scheduled += step
            self._slots.append(slot)
            self._tg.start_soon(self._fill, slot)

    def _drop_slots(self) -> None:
        for slot in self._slots:
            slot.scope.cancel()
        self._slots.clear()

    async def _fill(self, slot: _Slot) -> None:
        with slot.scope:
            try:
                slot.fetched = as_fetched(await self._fetch(slot.offset, self._limit))
            except Exception as exc:
                # Delivered to the consumer at this page's turn, after earlier pages.
                slot.error = exc
            finally:
                slot.done.set()


StreamT = TypeVar("StreamT", bound=TaskPageStream)


@asynccontextmanager
async def paged(make: Callable[[anyio.abc.TaskGroup], StreamT]) -> AsyncIterator[StreamT]:
    """Run the pager ``make`` builds in its own task group for the ``async with`` block.

    Leaving the block cancels its prefetches. An error raised while
    iterating comes out as itself, outside the task group, so callers
    catch the ConnectorError (or an interrupt) rather than an
    ExceptionGroup around it.
    """
    error: BaseException | None = None
    async with anyio.create_task_group() as tg:
        stream = make(tg)
        try:
            yield stream
        except BaseException as exc:
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                raise
            error = exc
        finally:
            stream.closed = True
            tg.cancel_scope.cancel()
    if error is not None:
        raise error


def page_number_fetch(fetch_page: PageNumberFetchFn) -> FetchFn:
    """A :data:`FetchFn` for a PMS paging by number: ``fetch_page(number, size)``, 1-based.

    The offset an :class:`OffsetPager` (``overlap=False``) asks for is a
    multiple of its page size, so it is page ``offset // limit + 1``, one
    request. An offset that is not (a resume after the page size changed)
    is served from the pages covering it, sliced: two requests, correct all
    the same. A PMS that honours fewer records per page than asked numbers
    its pages by the size it honours, so such a page beyond the first did
    not start where asked: it is fetched again at the size honoured.
    """

    async def fetch(offset: int, limit: int) -> Fetched:
        return await _page_window(fetch_page, offset, limit, size=limit, recapped=False)

    return fetch


async def _page_window(
    fetch_page: PageNumberFetchFn, offset: int, want: int, *, size: int, recapped: bool
) -> Fetched:
    """Up to ``want`` records from ``offset``, from pages of ``size`` records."""
    size = max(1, size)
    number = offset // size + 1
    skip = offset - (number - 1) * size
    records: list[RawRecord] = []
    got = Fetched([])
    while True:
        got = as_fetched(await fetch_page(number, size))
        n = len(got.records)
        follow = got.more is True or (got.total is not None and (number - 1) * size + n < got.total)
        if 0 < n < size and follow and not recapped:
            if number == 1 and skip == 0:
                # The first page starts at 0 at any size: the pager adapts its
                # page size to it (see OffsetPager._maybe_capped).
                return got
            log.warning("pms.page_size.capped", page=number, requested=size, received=n)
            return await _page_window(fetch_page, offset, n, size=n, recapped=True)
        records.extend(got.records[skip:])
        skip = 0
        if len(records) >= want or n < size or got.more is False:
            break
        number += 1
    if len(records) > want:
        # Sliced off the end of a page: more follow, whatever that page said.
        return Fetched(records[:want], got.total, True)
    return Fetched(records, got.total, got.more)


def parse_link_next(header: str | None, *, base: str | None = None) -> str | None:
    """The target of the ``rel="next"`` link in an RFC 8288 ``Link`` header (None: none).

    Relation types are matched case-insensitively, also within a
    space-separated list (``rel="next last"``). A relative target is
    resolved against ``base`` when given.
    """
    if not header:
        return None
    for target, params in _links(header):
        rels = params.get("rel", "").lower().split()
        if "next" in rels:
            return urllib.parse.urljoin(base, target) if base else target
    return None


def _links(header: str) -> Iterator[tuple[str, dict[str, str]]]:
    """``(target, parameters)`` of each link-value; malformed ones are skipped."""
    i, n = 0, len(header)

    def skip_space(i: int) -> int:
        while i < n and header[i] in " \t":
            i += 1
        return i

    def skip_value(i: int) -> int:
        # To the comma ending this link-value, stepping over quoted strings.
        quoted = False
        while i < n:
            char = header[i]
            if quoted and char == "\\":
                i += 1
            elif char == '"':
                quoted = not quoted
            elif char == "," and not quoted:
                return i
            i += 1
        return i

    while i < n:
        while i < n and header[i] in " \t,":
            i += 1
        if i >= n:
            return
        if header[i] != "<":
            i = skip_value(i)
            continue
        end = header.find(">", i)
        if end < 0:
            return
        target = header[i + 1 : end].strip()
        i = end + 1
        params: dict[str, str] = {}
        while True:
            i = skip_space(i)
            if i >= n or header[i] == ",":
                break
            if header[i] != ";":
                i = skip_value(i)
                break
            i = skip_space(i + 1)
            start = i
            while i < n and header[i] not in "=;, \t":
                i += 1
            name = header[start:i].lower()
            value = ""
            i = skip_space(i)
            if i < n and header[i] == "=":
                i = skip_space(i + 1)
                if i < n and header[i] == '"':
                    i += 1
                    chars: list[str] = []
                    while i < n and header[i] != '"':
                        if header[i] == "\\" and i + 1 < n:
                            i += 1
                        chars.append(header[i])
                        i += 1
                    i += 1
                    value = "".join(chars)
                else:
                    start = i
                    while i < n and header[i] not in ";,":
                        i += 1
                    value = header[start:i].strip()
            # RFC 8288: a parameter after the first of its name is ignored.
            if name and name not in params:
                params[name] = value
        yield target, params


class _PartSlot:
    """The whole list of one part, filled in by its fetch task."""

    __slots__ = ("done", "error", "index", "records", "scope")

    def __init__(self, index: int) -> None:
        self.index = index
        self.done = anyio.Event()
        self.records: list[RawRecord] = []
        self.error: Exception | None = None
        self.scope = anyio.CancelScope()


class WholeListPager(TaskPageStream, Generic[PartT]):
    """A listing answered as whole lists, one per part (e.g. per property), in order.

    Yields one page per part of ``parts`` from index ``start`` on (a part
    with no records gives an empty page); each page's ``cursor`` is the
    index of the next part, so a resumed listing starts there
    (:func:`decode_cursor` reads it back). Up to ``concurrency`` parts are
    fetched ahead by tasks in ``tg`` and handed out in order; a fetch error
    surfaces at its part's turn, after the earlier pages.

    ``batch`` (records) joins consecutive small parts into one page until
    it holds at least that many: a page is one database transaction, and a
    property's list is often a dozen records. A fault in a later part of a
    batch first hands out the parts before it, then raises.

    Each record's ``key`` must be readable in every non-empty part and may
    not repeat, within a part or across parts: a repeat means the PMS
    mixed up its answers, so :class:`IncompleteListing` is raised. A list
    answered whole cannot be short of itself, so the listing's proof is
    sweep-safe (``announced`` is None; ``start`` counts the parts skipped
    by a resume). ``parts`` must come in the same order every run, or a
    resume skips the wrong ones.
    """

    def __init__(
        self,
        tg: anyio.abc.TaskGroup,
        *,
        model: str,
        parts: Sequence[PartT],
        fetch_part: Callable[[PartT], Awaitable[list[RawRecord]]],
        key: KeyFn,
        concurrency: int = 1,
        start: int = 0,
        batch: int = 0,
    ) -> None:
        self._tg = tg
        self._model = model
        self._batch = max(0, batch)
        self._pending_error: Exception | None = None
        self._parts = list(parts)
        self._fetch_part = fetch_part
        self._key = key
        self._concurrency = max(1, concurrency)
        if not 0 <= start <= len(self._parts):
            log.warning(
                "pms.listing.cursor_beyond_parts", model=model, start=start, parts=len(parts)
            )
            start = min(max(start, 0), len(self._parts))
        self._start = start
        self._next = start  # index of the next part to hand out
        self._scheduled = start  # index of the next part to fetch
        self._slots: collections.deque[_PartSlot] = collections.deque()
        self._seen: dict[Any, int] = {}  # key -> index of the part that listed it
        self._listed = 0
        self._proof: ListingProof | None = None
        self._failed = False
        self.closed = False

    @property
    def proof(self) -> ListingProof | None:
        """Set once every part was listed without a repeated id (None before)."""
        return self._proof

    async def __anext__(self) -> Page:
        if self.closed:
            raise RuntimeError("pages iterated after leaving their 'async with' block")
        if self._failed:
            raise StopAsyncIteration
        if self._pending_error is not None:
            error, self._pending_error = self._pending_error, None
            self._failed = True
            raise error
        if self._next >= len(self._parts):
            self._finish()
            raise StopAsyncIteration
        records: list[RawRecord] = []
        first = self._next
        while True:
            self._schedule()
            slot = self._slots.popleft()
            await slot.done.wait()
            try:
                if slot.error is not None:
                    raise slot.error
                records.extend(self._admit(slot.index, slot.records))
            except Exception as exc:
                # A failed listing proves nothing and fetches nothing more;
                # the parts listed before the fault are handed out first.
                self._drop_slots()
                if self._next == first:
                    self._failed = True
                    raise
                self._pending_error = exc
                break
            self._next = slot.index + 1
            if self._next >= len(self._parts) or len(records) >= self._batch:
                break
        if self._next >= len(self._parts) and self._pending_error is None:
            self._finish()
        elif self._pending_error is None:
            self._schedule()
        return Page(model=self._model, records=records, cursor=str(self._next), total=None)

    def _admit(self, index: int, records: list[RawRecord]) -> list[RawRecord]:
        where = f"part {index + 1:,} of {len(self._parts):,} ({self._parts[index]!r})"
        keys = [self._key(r) for r in records]
        readable = [k for k in keys if k is not None]
        if records and not readable:
            raise IncompleteListing(
                f"{where}: no record has a readable id, so the listing cannot be verified",
                listed=self._start + self._listed,
            )
        repeated: list[tuple[Any, int]] = []
        mine: set[Any] = set()
        for k in readable:
            if k in mine:
                repeated.append((k, index))
            elif k in self._seen:
                repeated.append((k, self._seen[k]))
            mine.add(k)
        if repeated:
            shown, earlier = repeated[0]
            there = "itself" if earlier == index else f"part {earlier + 1:,}"
            raise IncompleteListing(
                f"{where} repeated {len(repeated):,} record(s) already listed "
                f"(e.g. id {shown}, listed in {there}); {self._listed:,} listed",
                listed=self._start + self._listed,
            )
        self._seen.update(dict.fromkeys(mine, index))
        self._listed += len(records)
        return records

    def _finish(self) -> None:
        if self._proof is None:
            self._proof = ListingProof(
                listed=self._listed, start=self._start, announced=None, sweep_safe=True
            )

    def _schedule(self) -> None:
        while len(self._slots) < self._concurrency and self._scheduled < len(self._parts):
            slot = _PartSlot(self._scheduled)
            self._scheduled += 1
            self._slots.append(slot)
            self._tg.start_soon(self._fill, slot)

    def _drop_slots(self) -> None:
        for slot in self._slots:
            slot.scope.cancel()
        self._slots.clear()

    async def _fill(self, slot: _PartSlot) -> None:
        with slot.scope:
            try:
                slot.records = await self._fetch_part(self._parts[slot.index])
            except Exception as exc:
                # Delivered to the consumer at this part's turn, after earlier parts.
                slot.error = exc
            finally:
                slot.done.set()
