"""Reading the cache: pages of records with their links, sync activity, the change feed.

Every read costs a fixed number of queries whatever it returns: a list is
one count, one page and (residents, leases) one query for the page's links;
nothing is fetched per record. Only bound parameters reach the SQL, and the
same statements run on PostgreSQL and SQLite.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    Uuid,
    and_,
    any_,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.types import TypeEngine

from syncd.domain import READ_BACK_TRIGGER, SYNCED_STATUSES, RunStatus
from syncd.models import COMMON_COLUMNS, LINK_COLUMNS, MODELS
from syncd.store.engine import translate_errors
from syncd.store.tables import MODEL_TABLES, change_events, residents_to_leases, sync_runs
from syncd.store.webhooks import event_data

#: Store bookkeeping that no reader is shown.
INTERNAL_COLUMNS: frozenset[str] = frozenset({"content_hash", "source_hash", "last_run_id"})

#: Columns of a link row as the store hands them out.
LINK_FIELDS: tuple[str, ...] = ("lease_id", "resident_id", *(c.name for c in LINK_COLUMNS))

#: Models whose records carry links: the link column that holds their own id.
_LINK_OWNER = {"residents": "resident_id", "leases": "lease_id"}

_SYNCED = sorted(s.value for s in SYNCED_STATUSES)
_RUNNING = RunStatus.RUNNING.value
_link = residents_to_leases
_ev = change_events


def visible_columns(model: str) -> tuple[str, ...]:
    """The columns of ``model`` a reader sees: the common ones, then the model's own."""
    common = tuple(c for c in COMMON_COLUMNS if c not in INTERNAL_COLUMNS)
    return (*common, *(c.name for c in MODELS[model].columns))


Op = Literal["eq", "lt", "gt", "null"]


@dataclass(frozen=True, slots=True)
class Condition:
    """``column op value``; several columns mean the first of them that is not null."""

    columns: tuple[str, ...]
    op: Op
    value: Any = None


@dataclass(frozen=True, slots=True)
class RecordQuery:
    """Which records of a model to read, in which order, and which page of them."""

    model: str
    conditions: tuple[Condition, ...] = ()
    #: Residents of this lease, or leases of this resident (through the link table).
    linked_to: uuid.UUID | None = None
    include_deleted: bool = False
    #: (column, descending) terms; the caller makes them a total order.
    order: tuple[tuple[str, bool], ...] = (("created_at", True), ("id", True))
    offset: int = 0
    limit: int = 100
    #: Count matches only up to this many (None: exactly, however many):
    #: an exact count of a million rows costs a core a tenth of a second.
    count_limit: int | None = None


@dataclass(frozen=True, slots=True)
class RecordPage:
    """One page of records, how many match in all, and the page's links."""

    rows: tuple[dict[str, Any], ...]
    #: How many match; None when more than the query's ``count_limit`` do.
    total: int | None
    #: Records match beyond this page.
    has_more: bool
    #: Record id → its link rows (``LINK_FIELDS``); empty for models without links.
    links: Mapping[uuid.UUID, tuple[dict[str, Any], ...]]
    #: The model's sync activity, when asked for with the page.
    activity: SyncActivity | None = None


@dataclass(frozen=True, slots=True)
class SyncActivity:
    """What the run log says about a model's syncs."""

    #: A run of it finished (SUCCESS or NEEDS_ATTENTION) before; None when
    #: asked about every integration at once.
    synced: bool | None
    #: A run of it is going on (fresh heartbeat) for an integration that never synced it.
    first_sync_running: bool


@dataclass(frozen=True, slots=True)
class RecordIdentity:
    """Whose a cached record is and what the PMS calls it."""

    integration_id: str
    x_id: str
    x_property_id: str | None
    deleted: bool


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which change events a feed reader wants (None: any)."""

    integration_id: str | None = None
    model: str | None = None
    event_type: str | None = None

    @property
    def empty(self) -> bool:
        """True when every event matches."""
        return self.integration_id is None and self.model is None and self.event_type is None


def _one_of(
    column: ColumnElement[Any], values: list[Any], kind: TypeEngine[Any], pg: bool
) -> ColumnElement[bool]:
    # PostgreSQL takes the page's ids as one array parameter: a statement of
    # hundreds of bound values costs more to build and send than to run.
    if pg:
        return column == any_(bindparam(None, values, type_=ARRAY(kind)))
    return column.in_(values)


class SqlRecordReader:
    """Read-only queries over the cache tables, the run log and the change outbox."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # -- records ----------------------------------------------------------------

    async def page(
        self,
        query: RecordQuery,
        *,
        activity_since: datetime | None = None,
        integration_id: str | None = None,
    ) -> RecordPage:
        """The records ``query`` selects: one count, one page, one links query.

        With ``activity_since``, the page also carries the sync activity of
        the model (of ``integration_id``, or of any integration; see
        :meth:`sync_activity`), read on the same connection.
        """
        table = MODEL_TABLES[query.model]
        where = self._where(table, query)
        names = visible_columns(query.model)
        columns = [table.c[n] for n in names]
        if query.count_limit is None:
            count = select(func.count()).select_from(table).where(*where)
        else:
            # Stops reading at count_limit + 1 matches: enough to tell "more than".
            capped = select(table.c.id).where(*where).limit(query.count_limit + 1).subquery()
            count = select(func.count()).select_from(capped)
        # One row past the page tells whether more follow, whatever the count.
        page = (
            select(*columns)
            .where(*where)
            .order_by(*self._order(table, query.order))
            .limit(query.limit + 1)
            .offset(query.offset)
        )
        async with translate_errors(), self.engine.connect() as conn:
            counted = int((await conn.execute(count)).scalar_one())
            over = query.count_limit is not None and counted > query.count_limit
            rows: tuple[dict[str, Any], ...] = ()
            if over or query.offset < counted:
                # Plain str keys: column names are a str subclass orjson refuses.
                rows = tuple(dict(zip(names, r, strict=True)) for r in await conn.execute(page))
            has_more = len(rows) > query.limit
            rows = rows[: query.limit]
            links = await self._links(conn, query.model, rows)
            activity = None
            if activity_since is not None:
                activity = await self._activity(
                    conn, query.model, integration_id, live_since=activity_since
                )
        return RecordPage(
            rows=rows,
            total=None if over else counted,
            has_more=has_more,
            links=links,
            activity=activity,
        )

    async def get(
        self, model: str, record_id: uuid.UUID
    ) -> tuple[dict[str, Any], tuple[dict[str, Any], ...]] | None:
        """One record by id, deleted or not, with its links; None if there is none."""
        table = MODEL_TABLES[model]
        names = visible_columns(model)
        query = select(*(table.c[n] for n in names)).where(table.c.id == record_id)
        async with translate_errors(), self.engine.connect() as conn:
            found = (await conn.execute(query)).first()
            if found is None:
                return None
            row = dict(zip(names, found, strict=True))
            links = await self._links(conn, model, (row,))
        return row, links.get(row["id"], ())

    async def identities(
        self, wanted: Sequence[tuple[str, uuid.UUID]]
    ) -> dict[tuple[str, uuid.UUID], RecordIdentity]:
        """Who each (model, id) is: its integration, PMS id and property; absent if none.

        One statement whatever the models: what a write needs to check and
        translate its references.
        """
        by_model: dict[str, list[uuid.UUID]] = defaultdict(list)
        for model, record_id in wanted:
            by_model[model].append(record_id)
        if not by_model:
            return {}
        parts = []
        for model, ids in by_model.items():
            t = MODEL_TABLES[model]
            parts.append(
                select(
                    literal(model).label("model"),
                    t.c.id,
                    t.c.integration_id,
                    t.c.x_id,
                    t.c.x_property_id,
                    t.c.deleted_at,
                ).where(t.c.id.in_(ids))
            )
        query = parts[0] if len(parts) == 1 else union_all(*parts)
        found: dict[tuple[str, uuid.UUID], RecordIdentity] = {}
        async with translate_errors(), self.engine.connect() as conn:
            for model, rid, iid, x_id, x_property_id, deleted_at in await conn.execute(query):
                key = (str(model), uuid.UUID(str(rid)))
                found[key] = RecordIdentity(iid, x_id, x_property_id, deleted_at is not None)
        return found

    @staticmethod
    def _where(table: Table, query: RecordQuery) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if not query.include_deleted:
            where.append(table.c.deleted_at.is_(None))
        for cond in query.conditions:
            cols = [table.c[n] for n in cond.columns]
            # coalesce() takes its type from its first argument, so the value
            # binds as that column's type (a date stays a date on SQLite).
            target = cols[0] if len(cols) == 1 else func.coalesce(*cols)
            if cond.op == "eq":
                where.append(target == cond.value)
            elif cond.op == "lt":
                where.append(target < cond.value)
            elif cond.op == "gt":
                where.append(target > cond.value)
            else:
                where.append(target.is_(None))
        if query.linked_to is not None:
            where.append(table.c.id.in_(_linked_ids(query.model, query.linked_to)))
        return where

    @staticmethod
    def _order(table: Table, terms: Sequence[tuple[str, bool]]) -> list[UnaryExpression[Any]]:
        # Nulls sort as the largest value on both engines (PostgreSQL's own
        # default, so its indexes still serve the order; SQLite differs). A
        # column that cannot be null gets no nulls clause, which would only
        # keep SQLite from walking an index for the order.
        order: list[UnaryExpression[Any]] = []
        for name, desc in terms:
            column = table.c[name]
            if not column.nullable:
                order.append(column.desc() if desc else column.asc())
            else:
                order.append(column.desc().nulls_first() if desc else column.asc().nulls_last())
        return order

    @staticmethod
    async def _links(
        conn: AsyncConnection, model: str, rows: Sequence[Mapping[str, Any]]
    ) -> dict[uuid.UUID, tuple[dict[str, Any], ...]]:
        owner = _LINK_OWNER.get(model)
        if owner is None or not rows:
            return {}
        pg = conn.dialect.name == "postgresql"
        if model == "residents":
            match: ColumnElement[bool] = _one_of(
                _link.c.resident_id, [r["id"] for r in rows], Uuid(), pg
            )
            order = _link.c.x_lease_id
        else:
            # A lease's links are keyed by its PMS id within its integration:
            # the unique index (integration_id, x_lease_id, ...) serves this.
            by_integration: dict[str, list[str]] = defaultdict(list)
            for r in rows:
                by_integration[r["integration_id"]].append(r["x_id"])
            match = or_(
                *(
                    and_(
                        _link.c.integration_id == iid,
                        _one_of(_link.c.x_lease_id, x_ids, String(), pg),
                    )
                    for iid, x_ids in by_integration.items()
                )
            )
            order = _link.c.x_resident_id
        query = select(*(_link.c[n] for n in LINK_FIELDS)).where(match).order_by(order, _link.c.id)
        grouped: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        for link in await conn.execute(query):
            values = dict(zip(LINK_FIELDS, link, strict=True))
            grouped[values[owner]].append(values)
        return {key: tuple(values) for key, values in grouped.items()}

    # -- sync activity ----------------------------------------------------------

    async def sync_activity(
        self, model: str, integration_id: str | None, *, live_since: datetime
    ) -> SyncActivity:
        """Whether ``model`` of one integration (None: of any) synced, or first syncs now.

        A RUNNING run counts only with a heartbeat since ``live_since``: one
        whose process died long ago is no sync in progress.
        """
        async with translate_errors(), self.engine.connect() as conn:
            return await self._activity(conn, model, integration_id, live_since=live_since)

    @staticmethod
    async def _activity(
        conn: AsyncConnection, model: str, integration_id: str | None, *, live_since: datetime
    ) -> SyncActivity:
        runs, done = sync_runs.alias("r"), sync_runs.alias("d")
        running = and_(
            runs.c.model == model,
            runs.c.status == _RUNNING,
            runs.c.heartbeat_at >= live_since,
            runs.c.trigger != READ_BACK_TRIGGER,
        )
        finished = and_(
            done.c.integration_id == runs.c.integration_id,
            done.c.model == model,
            done.c.status.in_(_SYNCED),
            done.c.trigger != READ_BACK_TRIGGER,
        )
        if integration_id is None:
            first = exists().where(running, ~exists().where(finished).correlate(runs))
            going = bool((await conn.execute(select(first))).scalar_one())
            return SyncActivity(synced=None, first_sync_running=going)
        synced = exists().where(
            done.c.integration_id == integration_id,
            done.c.model == model,
            done.c.status.in_(_SYNCED),
            done.c.trigger != READ_BACK_TRIGGER,
        )
        query = select(synced, exists().where(running, runs.c.integration_id == integration_id))
        was, now = (await conn.execute(query)).one()
        return SyncActivity(synced=bool(was), first_sync_running=bool(now) and not was)

    # -- the change feed --------------------------------------------------------

    async def scan_events(
        self,
        *,
        after: int,
        ranges: Sequence[tuple[int, int]],
        matching: EventFilter,
        limit: int,
    ) -> list[tuple[int, bool]]:
        """(id, matches) of the first ``limit`` events after ``after`` or in ``ranges``.

        Every event is listed, matching or not, so the caller sees which ids
        exist; only the ids are read, not the (possibly large) payloads.
        """
        wanted = [_ev.c.id > after, *(_ev.c.id.between(lo, hi) for lo, hi in ranges)]
        hit: list[ColumnElement[bool]] = []
        if matching.integration_id is not None:
            hit.append(_ev.c.integration_id == matching.integration_id)
        if matching.model is not None:
            hit.append(_ev.c.model == matching.model)
        if matching.event_type is not None:
            hit.append(_ev.c.event_type == matching.event_type)
        columns: list[Any] = [_ev.c.id]
        if hit:
            columns.append(and_(*hit).label("hit"))
        query = select(*columns).where(or_(*wanted)).order_by(_ev.c.id).limit(limit)
        async with translate_errors(), self.engine.connect() as conn:
            rows = list(await conn.execute(query))
        # A NULL model compared is NULL, not false: bool() makes both "no".
        return [(int(r[0]), bool(r[1]) if hit else True) for r in rows]

    async def events(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """The events with these ids, in id order, each with its webhook ``data``."""
        if not ids:
            return []
        query = select(_ev).where(_ev.c.id.in_(list(ids))).order_by(_ev.c.id)
        async with translate_errors(), self.engine.connect() as conn:
            rows = list(await conn.execute(query))
        return [
            {
                "id": int(r.id),
                "event_type": r.event_type,
                "integration_id": r.integration_id,
                "integration_vendor": r.integration_vendor,
                "model": r.model,
                "record_id": r.record_id,
                "x_id": r.x_id,
                "job_id": r.run_id,
                "created_at": r.created_at,
                "data": event_data(r),
            }
            for r in rows
        ]


def _linked_ids(model: str, other: uuid.UUID) -> Any:
    """Ids of ``model`` records linked to the record ``other`` of the other side."""
    if model == "leases":
        return select(_link.c.lease_id).where(_link.c.resident_id == other)
    # Through the lease's own (integration_id, x_id): the link table is
    # indexed by PMS lease id, not by syncd's lease id.
    leases = MODEL_TABLES["leases"]
    joined = _link.join(
        leases,
        and_(
            leases.c.integration_id == _link.c.integration_id, leases.c.x_id == _link.c.x_lease_id
        ),
    )
    return select(_link.c.resident_id).select_from(joined).where(leases.c.id == other)
