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
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import structlog

from syncd.connectors.base import PageStream
from syncd.domain import ListingProof, Page, RawRecord
from syncd.errors import IncompleteListing

log = structlog.get_logger(__name__)

#: The key of a record in its listing (its PMS id), or None when unreadable.
KeyFn = Callable[[RawRecord], Any]

#: Fetches ``limit`` records at ``offset``: (records, announced total or None).
FetchFn = Callable[[int, int], Awaitable[tuple[list[RawRecord], int | None]]]

#: Default drift tolerance: at least this many records …
DRIFT_RECORDS = 10
#: … or this share of the announced total, whichever is larger.
DRIFT_SHARE = 0.001

# How far back a realignment may step, in pages: beyond this the PMS is not
# drifting but misbehaving.
_MAX_REALIGN_PAGES = 4


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
    ) -> list[RawRecord]:
        """Check the page at ``offset``; return its records not listed before.

        ``overlap``: the page was asked to start on the previous page's last
        record. Raises :class:`IncompleteListing`, or ``_Shifted`` when an
        overlapping page starts after the last key (records moved: realign).
        ``realigning`` pages may consist of records listed before.
        """
        n = len(records)
        where = f"page at offset {offset:,}"
        if total is not None:
            self._note_total(total)
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


class _Slot:
    """One prefetched page, filled in by its fetch task."""

    __slots__ = ("done", "error", "offset", "records", "scope", "total")

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.done = anyio.Event()
        self.records: list[RawRecord] = []
        self.total: int | None = None
        self.error: Exception | None = None
        self.scope = anyio.CancelScope()


class OffsetPager(PageStream):
    """The pages of one offset/limit listing, in order, each judged by a :class:`ListingAudit`.

    The first page is fetched by the consumer itself. When the PMS
    announces a total, later pages are fetched by tasks in ``tg``, at most
    ``concurrency`` pages ahead, and handed out in order; without a total,
    pages are fetched one by one until a short page. In an ordered listing
    each page starts on the previous page's last record (see the module
    docstring). Each page's ``cursor`` resumes after its records.
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
    ) -> None:
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
        # A page of one record cannot overlap and still make progress.
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
                records, total = await self._fetch(offset, self._limit)
                self._maybe_capped(offset, records, total)
            else:
                records, total = await self._take(offset)
            page = await self._judge(offset, records, total)
            if page.records or first:
                return page
        raise StopAsyncIteration

    def _maybe_capped(self, offset: int, records: list[RawRecord], total: int | None) -> None:
        n = len(records)
        if total is not None and 0 < n < self._limit and offset + n < total:
            # The PMS caps pages below what was asked: step by what it really
            # sends, or the prefetched offsets would skip records.
            log.warning(
                "pms.page_size.capped", model=self._model, requested=self._limit, received=n
            )
            self._limit = n

    async def _judge(self, offset: int, records: list[RawRecord], total: int | None) -> Page:
        audit = self._audit
        overlap = self._overlap > 0 and audit.last_key is not None
        if audit.ordered and audit.last_key is not None and not overlap:
            audit.unverified("pages of one record cannot be checked for records that moved")
        try:
            fresh = audit.admit(offset, records, total, limit=self._limit, overlap=overlap)
        except _Shifted:
            offset, records, total, fresh = await self._realign(offset)
        if total is not None:
            self._total = total
        n = len(records)
        if n:
            self._covered = offset + n
        # Only a short page ends a listing: a full one reaching the announced
        # total is followed by one more, so a PMS that under-counts is caught.
        if n < self._limit:
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

    async def _realign(
        self, offset: int
    ) -> tuple[int, list[RawRecord], int | None, list[RawRecord]]:
        """Step back until a page starts at or before the last id listed, then go on from it."""
        self._drop_slots()
        audit = self._audit
        back = 1
        floor = max(0, offset - _MAX_REALIGN_PAGES * self._limit)
        while True:
            at = max(floor, offset - back)
            log.info("pms.listing.realign", model=self._model, offset=offset, retry_offset=at)
            records, total = await self._fetch(at, self._limit)
            try:
                fresh = audit.admit(
                    at, records, total, limit=self._limit, overlap=True, realigning=True
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
            return at, records, total, fresh

    def _end(self) -> None:
        self._finished = True
        self._drop_slots()
        self._proof = self._audit.finish()

    async def _take(self, offset: int) -> tuple[list[RawRecord], int | None]:
        """The page at ``offset``: from its prefetched slot, or fetched now."""
        if self._total is None:
            # No total, nothing to prefetch against: one page at a time.
            return await self._fetch(offset, self._limit)
        if self._slots and self._slots[0].offset != offset:
            # Realigned or re-stepped: the prefetched offsets no longer fit.
            self._drop_slots()
        if not self._slots:
            self._scheduled = offset
        self._schedule()
        if not self._slots:
            return await self._fetch(offset, self._limit)
        slot = self._slots.popleft()
        await slot.done.wait()
        self._schedule()
        if slot.error is not None:
            raise slot.error
        return slot.records, slot.total

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
                slot.records, slot.total = await self._fetch(slot.offset, self._limit)
            except Exception as exc:
                # Delivered to the consumer at this page's turn, after earlier pages.
                slot.error = exc
            finally:
                slot.done.set()


@asynccontextmanager
async def paged(make: Callable[[anyio.abc.TaskGroup], OffsetPager]) -> AsyncIterator[OffsetPager]:
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
