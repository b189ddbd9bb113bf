"""Reading the unified data: which filters each model has, their rules, and the change feed.

Lists filter by plain equality as the reference unified API does, and say
in ``sync_status`` whether an empty list means "nothing there" or "the first
sync is still going". The change feed pages through the outbox by an opaque
cursor that also remembers ids it skipped because their transaction had not
committed yet (PostgreSQL hands out ids before commit), so a late event is
still delivered, once.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import orjson

from syncd.errors import ConfigError
from syncd.models import MODELS, ColumnType
from syncd.store.base import DEFAULT_STALE_AFTER
from syncd.store.reads import (
    Condition,
    EventFilter,
    RecordQuery,
    SqlRecordReader,
    SyncActivity,
    visible_columns,
)


class InvalidParameter(ConfigError):
    """A request parameter breaks a rule of the read API; ``field`` names it."""

    def __init__(self, reason: str, *, field: str, code: str = "invalid") -> None:
        super().__init__(reason, field=field)
        self.field: str = field
        self.reason = reason
        self.code = code


class SyncStatus(StrEnum):
    """Whether a list's emptiness can be trusted."""

    SYNCED = "SYNCED"
    FIRST_SYNC_IN_PROGRESS = "FIRST_SYNC_IN_PROGRESS"
    NOT_SYNCED = "NOT_SYNCED"


class FilterKind(StrEnum):
    """How a filter parameter selects records."""

    EQUALS = "equals"
    BEFORE = "before"  # strictly before the date
    AFTER = "after"  # strictly after the date
    ONLY_NULL = "only_null"  # true: only records where the column is null
    LINKED = "linked"  # records linked to this id through residents_to_leases


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """One filter parameter of a list."""

    name: str
    kind: FilterKind
    type: type
    description: str
    #: The columns it reads (several: the first that is not null); default: ``name``.
    columns: tuple[str, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        """The columns compared."""
        return self.columns or (self.name,)


@dataclass(frozen=True, slots=True)
class ModelView:
    """How one model is served: its path, its record's name and its filters."""

    model: str
    path: str
    singular: str
    filters: tuple[FilterSpec, ...]
    #: The field listing the record's links (residents and leases only).
    link_field: str | None = None
    #: The id field of the other side of each link, e.g. ``lease_id`` on residents.
    link_other: str | None = None


def _eq(name: str, kind: type, description: str, *columns: str) -> FilterSpec:
    return FilterSpec(name, FilterKind.EQUALS, kind, description, columns)


_COMMON: Final = (
    _eq("integration_id", str, "Only records of this integration"),
    _eq("integration_vendor", str, "Only records of integrations of this vendor, e.g. BUILDIUM"),
    _eq("x_id", str, "The record's id in the PMS; needs `integration_id` (PMS ids collide)"),
)
_PROPERTY = _eq("property_id", uuid.UUID, "Only records of this property (syncd id)")
_MOVE_NOTE = "the lease's realized date, else its scheduled one"


def _dates(what: str) -> tuple[FilterSpec, ...]:
    columns = (f"realized_{what}_date", f"scheduled_{what}_date")
    return tuple(
        FilterSpec(
            f"{side}_{what}_date",
            kind,
            date,
            f"Leases whose {what.replace('_', '-')} date ({_MOVE_NOTE}) is {side} this "
            "date (YYYY-MM-DD, exclusive); date filters combine with AND",
            columns,
        )
        for side, kind in (("before", FilterKind.BEFORE), ("after", FilterKind.AFTER))
    )


def _linked(name: str, description: str) -> FilterSpec:
    return FilterSpec(name, FilterKind.LINKED, uuid.UUID, description)


_VIEWS: Final = (
    ModelView(
        "properties",
        "properties",
        "Property",
        (*_COMMON, _eq("is_active", bool, "Only active (true) or inactive (false) properties")),
    ),
    ModelView(
        "units",
        "units",
        "Unit",
        (
            *_COMMON,
            _PROPERTY,
            _eq("floor_plan_id", uuid.UUID, "Only units of this floor plan (syncd id)"),
            _eq("number", str, "The unit's number, e.g. 101 (best with `property_id`)"),
            _eq("unit_number", str, "The reference API's name for `number`", "number"),
            _eq("is_vacant", bool, "Only vacant (true) or occupied (false) units"),
            _eq("is_available", bool, "Only units available (true) or not (false)"),
            _eq("is_listed", bool, "Only units listed (true) or not (false)"),
        ),
    ),
    ModelView("floor_plans", "floor-plans", "FloorPlan", (*_COMMON, _PROPERTY)),
    ModelView(
        "residents",
        "residents",
        "Resident",
        (
            *_COMMON,
            _PROPERTY,
            _linked("lease_id", "Only residents on this lease (syncd id)"),
            _eq("email_1", str, "The resident's primary email address (exact)"),
            _eq("phone_1", str, "The resident's primary phone number as stored (exact)"),
        ),
        link_field="leases_meta_data",
        link_other="lease_id",
    ),
    ModelView(
        "leases",
        "leases",
        "Lease",
        (
            *_COMMON,
            _PROPERTY,
            _eq("unit_id", uuid.UUID, "Only leases of this unit (syncd id)"),
            _linked("resident_id", "Only leases this resident is on (syncd id)"),
            _eq("status_normalized", str, "e.g. ACTIVE, INACTIVE, PENDING, EVICTED, OTHER"),
            _eq("status_raw", str, "The lease status as the PMS writes it"),
            _eq("unit_number", str, "The number of the lease's unit (best with `property_id`)"),
            *_dates("move_in"),
            *_dates("move_out"),
            FilterSpec(
                "only_null_move_outs",
                FilterKind.ONLY_NULL,
                bool,
                f"true: only leases without a move-out date ({_MOVE_NOTE}); false: no filter",
                ("realized_move_out_date", "scheduled_move_out_date"),
            ),
        ),
        link_field="residents_meta_data",
        link_other="resident_id",
    ),
    ModelView(
        "leads",
        "leads",
        "Lead",
        (
            *_COMMON,
            _PROPERTY,
            _eq("email_1", str, "The lead's email address (exact)"),
            _eq("email_2", str, "The lead's alternate email address (exact)"),
            _eq("phone_1", str, "The lead's primary phone number as stored (exact)"),
            _eq("status", str, "The lead status as the PMS writes it"),
            _eq("unit_id", uuid.UUID, "Only leads for this unit (syncd id)"),
            _eq("lead_source_id", uuid.UUID, "Only leads from this lead source (syncd id)"),
        ),
    ),
    ModelView("lead_sources", "lead-sources", "LeadSource", (*_COMMON, _PROPERTY)),
    ModelView(
        "employees",
        "employees",
        "Employee",
        (
            *_COMMON,
            _PROPERTY,
            _eq("email", str, "The employee's email address (exact)"),
            _eq("is_active", bool, "Only active (true) or inactive (false) employees"),
        ),
    ),
)

#: Every served model, by model name, in the order the API lists them.
VIEWS: Final[dict[str, ModelView]] = {v.model: v for v in _VIEWS}

#: The order of a list when none is asked for (newest first).
DEFAULT_ORDER: Final = (("created_at", True),)

#: Link columns shown in each link entry, besides the other side's ids.
_LINK_DATA: Final = (
    "resident_type_normalized",
    "resident_type_raw",
    "status_raw",
    "move_in_date",
    "move_out_date",
)


def orderable(model: str) -> frozenset[str]:
    """The record fields a list of ``model`` may be ordered by (every scalar one)."""
    json_columns = {c.name for c in MODELS[model].columns if c.type is ColumnType.JSON}
    json_columns.add("custom_data")
    return frozenset(c for c in visible_columns(model) if c not in json_columns)


def complete_order(terms: Sequence[tuple[str, bool]]) -> tuple[tuple[str, bool], ...]:
    """``terms`` made a total order: ``id`` last (in the last term's direction) unless given.

    The same direction lets one index on (column, id) serve the order
    either way.
    """
    if any(name == "id" for name, _ in terms):
        return tuple(terms)
    last_desc = terms[-1][1] if terms else False
    return (*terms, ("id", last_desc))


@dataclass(frozen=True, slots=True)
class ListParams:
    """A list request: filter values by parameter name, order, page."""

    model: str
    filters: Mapping[str, Any] = field(default_factory=dict)
    include_deleted: bool = False
    order: tuple[tuple[str, bool], ...] = DEFAULT_ORDER
    offset: int = 0
    limit: int = 100
    #: Count matches exactly only up to this many (None: always exactly).
    count_limit: int | None = None


@dataclass(frozen=True, slots=True)
class RecordList:
    """One page of records as the API shows them."""

    records: tuple[dict[str, Any], ...]
    #: None when more than the count limit match.
    total: int | None
    has_more: bool
    #: The order actually applied (with the ``id`` tie-breaker).
    order: tuple[tuple[str, bool], ...]
    sync_status: SyncStatus


def _query(params: ListParams) -> RecordQuery:
    view = VIEWS[params.model]
    given = {k: v for k, v in params.filters.items() if v is not None}
    if "x_id" in given and "integration_id" not in given:
        raise InvalidParameter(
            "filtering by x_id needs integration_id: PMS ids are unique only within an integration",
            field="x_id",
            code="requires_integration_id",
        )
    specs = {f.name: f for f in view.filters}
    conditions: list[Condition] = []
    linked: uuid.UUID | None = None
    for name, value in given.items():
        spec = specs.get(name)
        if spec is None:
            raise InvalidParameter(f"{params.model} have no filter {name}", field=name)
        if spec.kind is FilterKind.EQUALS:
            conditions.append(Condition(spec.targets, "eq", value))
        elif spec.kind is FilterKind.BEFORE:
            conditions.append(Condition(spec.targets, "lt", value))
        elif spec.kind is FilterKind.AFTER:
            conditions.append(Condition(spec.targets, "gt", value))
        elif spec.kind is FilterKind.ONLY_NULL:
            if value:
                conditions.append(Condition(spec.targets, "null"))
        else:
            linked = value
    return RecordQuery(
        model=params.model,
        conditions=tuple(conditions),
        linked_to=linked,
        include_deleted=params.include_deleted,
        order=complete_order(params.order),
        offset=params.offset,
        limit=params.limit,
        count_limit=params.count_limit,
    )


def _record(
    view: ModelView, row: dict[str, Any], links: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    if view.link_field is None or view.link_other is None:
        return row
    other = view.link_other
    x_other = "x_" + other
    row[view.link_field] = [
        {other: link[other], x_other: link[x_other], **{k: link[k] for k in _LINK_DATA}}
        for link in links
    ]
    return row


async def list_records(reader: SqlRecordReader, params: ListParams) -> RecordList:
    """A page of records of ``params.model`` with their total and sync status.

    Raises :class:`InvalidParameter` for a filter combination the rules forbid.
    """
    query = _query(params)
    view = VIEWS[params.model]
    page = await reader.page(
        query,
        activity_since=datetime.now(UTC) - DEFAULT_STALE_AFTER,
        integration_id=params.filters.get("integration_id"),
    )
    status = SyncStatus.SYNCED if page.activity is None else _status_of(page.activity)
    records = tuple(_record(view, row, page.links.get(row["id"], ())) for row in page.rows)
    return RecordList(
        records=records,
        total=page.total,
        has_more=page.has_more,
        order=query.order,
        sync_status=status,
    )


async def get_record(reader: SqlRecordReader, model: str, record_id: str) -> dict[str, Any] | None:
    """One record by its syncd id (deleted ones too); None if none has it or it is no UUID."""
    try:
        key = uuid.UUID(record_id)
    except ValueError:
        return None
    found = await reader.get(model, key)
    if found is None:
        return None
    row, links = found
    return _record(VIEWS[model], row, links)


async def sync_status(
    reader: SqlRecordReader,
    model: str,
    integration_id: str | None,
    *,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> SyncStatus:
    """The ``sync_status`` of a list of ``model`` (of one integration, or of all).

    One integration: FIRST_SYNC_IN_PROGRESS while its first sync of the model
    runs, NOT_SYNCED before any, SYNCED once one finished. All integrations:
    FIRST_SYNC_IN_PROGRESS while any one's first sync of the model runs.
    """
    live_since = datetime.now(UTC) - stale_after
    return _status_of(await reader.sync_activity(model, integration_id, live_since=live_since))


def _status_of(activity: SyncActivity) -> SyncStatus:
    if activity.first_sync_running:
        return SyncStatus.FIRST_SYNC_IN_PROGRESS
    if activity.synced is False:
        return SyncStatus.NOT_SYNCED
    return SyncStatus.SYNCED


# -- the change feed ----------------------------------------------------------

#: How long an id skipped over is looked for again: longer than any
#: transaction that writes events should take to commit.
GAP_HOLD: Final = timedelta(minutes=5)
#: Ranges of skipped ids a cursor remembers at most (the newest are kept).
MAX_GAPS: Final = 64
#: Events looked at per request when filtering (most may not match).
FILTERED_SCAN: Final = 1000
#: Longest cursor accepted.
MAX_CURSOR: Final = 4096
_CURSOR_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True, slots=True)
class Gap:
    """Ids ``lo..hi`` (inclusive) skipped over, first at ``since`` (unix seconds)."""

    lo: int
    hi: int
    since: int


@dataclass(frozen=True, slots=True)
class FeedPosition:
    """Where a reader stands: every event up to ``after`` was read, except ``gaps``."""

    after: int = 0
    gaps: tuple[Gap, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedPage:
    """Events in id order, the cursor to continue from, and whether more wait now."""

    events: tuple[dict[str, Any], ...]
    next_cursor: str
    has_more: bool


def encode_cursor(position: FeedPosition) -> str:
    """The opaque cursor of ``position`` (URL-safe base64 of JSON)."""
    data = [position.after, [[g.lo, g.hi, g.since] for g in position.gaps]]
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def decode_cursor(cursor: str) -> FeedPosition:
    """The position a cursor stands for; :class:`InvalidParameter` if it is none of ours."""
    bad = InvalidParameter("not a cursor this feed gave out", field="cursor", code="cursor_invalid")
    if len(cursor) > MAX_CURSOR or not _CURSOR_CHARS.match(cursor):
        raise bad
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise bad from None
    if not (isinstance(data, list) and len(data) == 2 and isinstance(data[1], list)):
        raise bad
    after, raw_gaps = data
    if not _count(after) or len(raw_gaps) > MAX_GAPS:
        raise bad
    gaps: list[Gap] = []
    for g in raw_gaps:
        if not (isinstance(g, list) and len(g) == 3 and all(_count(v) for v in g)):
            raise bad
        if not 0 < g[0] <= g[1] <= after:
            raise bad
        gaps.append(Gap(g[0], g[1], g[2]))
    return FeedPosition(after=after, gaps=tuple(gaps))


def _count(value: object) -> bool:
    return type(value) is int and 0 <= value < 2**63


def _subtract(gap: Gap, found: Sequence[int]) -> list[Gap]:
    """The parts of ``gap`` whose ids are not in ``found`` (sorted)."""
    out: list[Gap] = []
    cur = gap.lo
    for i in found:
        if i < cur or i > gap.hi:
            continue
        if i > cur:
            out.append(Gap(cur, i - 1, gap.since))
        cur = i + 1
    if cur <= gap.hi:
        out.append(Gap(cur, gap.hi, gap.since))
    return out


async def read_feed(
    reader: SqlRecordReader,
    *,
    cursor: str | None,
    limit: int,
    matching: EventFilter,
    now: float | None = None,
) -> FeedPage:
    """The next events after ``cursor`` (None: from the oldest kept) that ``matching`` selects.

    A filtered page looks at up to :data:`FILTERED_SCAN` events, so it may
    hold fewer than ``limit`` (even none) while ``has_more`` is true.
    """
    position = decode_cursor(cursor) if cursor else FeedPosition()
    stamp = int(time.time() if now is None else now)
    oldest = stamp - int(GAP_HOLD.total_seconds())
    gaps = [g for g in position.gaps if g.since >= oldest]
    scan = limit + 1 if matching.empty else max(limit + 1, FILTERED_SCAN)
    scanned = await reader.scan_events(
        after=position.after, ranges=[(g.lo, g.hi) for g in gaps], matching=matching, limit=scan
    )
    after = position.after
    taken: list[int] = []
    filled: list[int] = []
    new_gaps: list[Gap] = []
    stopped = False
    for event_id, hit in scanned:
        if hit and len(taken) == limit:
            stopped = True
            break
        if event_id <= position.after:
            filled.append(event_id)
        else:
            if event_id > after + 1:
                new_gaps.append(Gap(after + 1, event_id - 1, stamp))
            after = event_id
        if hit:
            taken.append(event_id)
    kept = [part for g in gaps for part in _subtract(g, filled)] + new_gaps
    events = await reader.events(taken)
    return FeedPage(
        events=tuple(events),
        next_cursor=encode_cursor(FeedPosition(after=after, gaps=tuple(kept[-MAX_GAPS:]))),
        has_more=stopped or len(scanned) == scan,
    )
