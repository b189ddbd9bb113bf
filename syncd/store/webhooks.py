"""The webhook store on SQLAlchemy: subscriptions, the delivery queue, the change feed.

It shares its engine with :class:`~syncd.store.sql.SqlStore`. The hot paths
(fan-out, claim, recording outcomes) are one transaction each and batch
their rows: a dispatcher claims hundreds of deliveries and records hundreds
of outcomes per statement.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    delete,
    exists,
    func,
    or_,
    select,
    tuple_,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from syncd.crypto import Cipher
from syncd.errors import StoreError, SubscriptionNotFound
from syncd.store.bulk import bulk_insert
from syncd.store.engine import translate_errors
from syncd.store.tables import (
    change_events,
    webhook_attempts,
    webhook_deliveries,
    webhook_fanout,
    webhook_subscriptions,
)
from syncd.store.types import JSONType, UTCDateTime
from syncd.store.webhook_base import (
    DATA_EVENT_TYPES,
    AttemptRecord,
    ChangeEvent,
    Claim,
    ClaimedDelivery,
    DeliveryOutcome,
    DeliveryRecord,
    DeliveryStatus,
    PruneCounts,
    Subscription,
    SubscriptionState,
    WebhookStore,
    WorkProbe,
)

_FANOUT_ROW = 1
#: Key prefix of header values inside the sealed secret.
_HEADER = "header:"
#: Ranges of skipped-over ids remembered at most; the oldest go first.
_MAX_PENDING_RANGES = 1000
_PENDING = DeliveryStatus.PENDING.value
_WAITING = DeliveryStatus.WAITING.value
_QUEUED = (_PENDING, _WAITING)

_subs = webhook_subscriptions
_dl = webhook_deliveries
_ev = change_events

_PG_RECORD = """
UPDATE webhook_deliveries AS d SET
    status = v.status,
    attempts = d.attempts + 1,
    last_status_code = v.code,
    last_error = v.error,
    last_attempt_at = v.at,
    last_latency_ms = v.latency,
    next_attempt_at = v.next_at,
    first_attempt_at = COALESCE(d.first_attempt_at, v.at),
    delivered_at = CASE WHEN v.status = 'DELIVERED' THEN v.at ELSE d.delivered_at END
FROM unnest($1::int8[], $2::text[], $3::int4[], $4::text[], $5::timestamptz[],
            $6::float8[], $7::timestamptz[]) AS v(id, status, code, error, at, latency, next_at)
WHERE d.id = v.id AND d.status = 'PENDING'
"""

_SQLITE_RECORD = """
UPDATE webhook_deliveries SET
    status = ?,
    attempts = attempts + 1,
    last_status_code = ?,
    last_error = ?,
    last_attempt_at = ?,
    last_latency_ms = ?,
    next_attempt_at = ?,
    first_attempt_at = COALESCE(first_attempt_at, ?),
    delivered_at = CASE WHEN ? = 'DELIVERED' THEN ? ELSE delivered_at END
WHERE id = ? AND status = 'PENDING'
"""


def _sqlite_ts(v: datetime | None) -> str | None:
    # The text format SQLAlchemy's SQLite DateTime stores and parses.
    return None if v is None else v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass(frozen=True, slots=True)
class _IdRange:
    """Ids ``lo..hi`` (inclusive) not seen yet, first missed at ``since`` (unix time)."""

    lo: int
    hi: int
    since: float


def _missing(lo: int, hi: int, found: Iterable[int], since: float) -> list[_IdRange]:
    """The parts of ``lo..hi`` not in ``found`` (sorted)."""
    out: list[_IdRange] = []
    cur = lo
    for i in found:
        if i < cur or i > hi:
            continue
        if i > cur:
            out.append(_IdRange(cur, i - 1, since))
        cur = i + 1
    if cur <= hi:
        out.append(_IdRange(cur, hi, since))
    return out


def event_data(row: Any) -> dict[str, Any]:
    """The webhook ``data`` of an outbox row: its payload, or one built from its columns."""
    if row.payload is not None:
        return dict(row.payload)
    data: dict[str, Any] = {
        "integration_id": row.integration_id,
        "vendor": row.integration_vendor,
        "model": row.model,
        "record_id": str(row.record_id) if row.record_id is not None else None,
        "x_id": row.x_id,
        "job_id": row.run_id,
    }
    if row.diff is not None:
        data["diff"] = row.diff
    return data


def _event(row: Any) -> ChangeEvent:
    return ChangeEvent(
        id=int(row.id),
        type=row.event_type,
        created_at=row.created_at,
        integration_id=row.integration_id,
        model=row.model,
        record_id=str(row.record_id) if row.record_id is not None else None,
        data=event_data(row),
    )


class SqlWebhookStore(WebhookStore):
    """:class:`WebhookStore` on an SQLAlchemy async engine (PostgreSQL or SQLite)."""

    def __init__(self, engine: AsyncEngine, cipher: Cipher) -> None:
        self.engine = engine
        self._cipher = cipher
        self._pg = engine.dialect.name == "postgresql"
        self._insert: Callable[..., Any] = postgresql.insert if self._pg else sqlite.insert
        self._attempt_insert = bulk_insert(
            engine.dialect.name,
            webhook_attempts,
            (
                "subscription_id",
                "event_id",
                "attempt",
                "attempted_at",
                "status_code",
                "latency_ms",
                "error",
                "response",
            ),
        )

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """A short write transaction, shielded from cancellation.

        A transaction abandoned half-way by a cancelled task would keep its
        connection (and on SQLite the database's write lock) until garbage
        collection; these take milliseconds, so a stop waits for them. On
        SQLite BEGIN IMMEDIATE takes the write lock before reading, so two
        writers never both read the same free rows.
        """
        with anyio.CancelScope(shield=True):
            async with translate_errors():
                if self._pg:
                    async with self.engine.begin() as conn:
                        yield conn
                    return
                async with self.engine.connect() as plain:
                    conn = await plain.execution_options(isolation_level="AUTOCOMMIT")
                    await conn.exec_driver_sql("BEGIN IMMEDIATE")
                    try:
                        yield conn
                    except BaseException:
                        await conn.exec_driver_sql("ROLLBACK")
                        raise
                    await conn.exec_driver_sql("COMMIT")

    # -- subscriptions --------------------------------------------------------

    def _seal(self, secret: str, headers: Mapping[str, str]) -> str:
        # Header values often carry a receiver's credentials: encrypted too.
        return self._cipher.encrypt(
            {"secret": secret, **{_HEADER + k: v for k, v in headers.items()}}
        )

    def _subscription(self, row: Any) -> Subscription:
        sealed = self._cipher.decrypt(row.secret)
        return Subscription(
            id=row.id,
            url=row.url,
            triggers=tuple(row.triggers),
            models=tuple(row.models) if row.models is not None else None,
            headers={name: sealed.get(_HEADER + name, "") for name in row.headers},
            secret=sealed["secret"],
            state=SubscriptionState(row.state),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def add_subscription(self, subscription: Subscription) -> Subscription:
        now = datetime.now(UTC)
        sub = replace(subscription, created_at=now, updated_at=now)
        try:
            async with self._write() as conn:
                start = (
                    await conn.execute(select(func.coalesce(func.max(_ev.c.id), 0)))
                ).scalar_one()
                # The fan-out cursor starts at the first subscription: the
                # events before it interest nobody.
                await conn.execute(
                    self._insert(webhook_fanout)
                    .values(
                        id=_FANOUT_ROW, last_event_id=int(start), pending_ids=[], updated_at=now
                    )
                    .on_conflict_do_nothing()
                )
                await conn.execute(
                    _subs.insert().values(
                        id=sub.id,
                        url=sub.url,
                        triggers=list(sub.triggers),
                        models=list(sub.models) if sub.models is not None else None,
                        headers=list(sub.headers),
                        secret=self._seal(sub.secret, sub.headers),
                        state=sub.state.value,
                        start_event_id=int(start),
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError as exc:
            raise StoreError(f"a webhook subscription {sub.id!r} already exists") from exc
        return sub

    async def get_subscription(self, subscription_id: str) -> Subscription:
        async with translate_errors(), self.engine.connect() as conn:
            row = (await conn.execute(select(_subs).where(_subs.c.id == subscription_id))).first()
        if row is None:
            raise SubscriptionNotFound(f"no webhook subscription {subscription_id!r}")
        return self._subscription(row)

    async def list_subscriptions(self) -> list[Subscription]:
        query = select(_subs).order_by(_subs.c.created_at, _subs.c.id)
        async with translate_errors(), self.engine.connect() as conn:
            return [self._subscription(r) for r in await conn.execute(query)]

    async def remove_subscription(self, subscription_id: str) -> None:
        async with self._write() as conn:
            gone = await conn.execute(_subs.delete().where(_subs.c.id == subscription_id))
            if gone.rowcount == 0:
                raise SubscriptionNotFound(f"no webhook subscription {subscription_id!r}")
            await conn.execute(
                webhook_attempts.delete().where(
                    webhook_attempts.c.subscription_id == subscription_id
                )
            )
            await conn.execute(_dl.delete().where(_dl.c.subscription_id == subscription_id))

    async def _update_subscription(self, subscription_id: str, **values: Any) -> None:
        values.setdefault("updated_at", datetime.now(UTC))
        async with self._write() as conn:
            result = await conn.execute(
                _subs.update().where(_subs.c.id == subscription_id).values(**values)
            )
        if result.rowcount == 0:
            raise SubscriptionNotFound(f"no webhook subscription {subscription_id!r}")

    async def set_subscription_state(self, subscription_id: str, state: SubscriptionState) -> None:
        await self._update_subscription(subscription_id, state=state.value)

    async def set_subscription_secret(self, subscription_id: str, secret: str) -> None:
        current = await self.get_subscription(subscription_id)
        await self._update_subscription(subscription_id, secret=self._seal(secret, current.headers))

    async def save_subscription(self, subscription: Subscription) -> Subscription:
        """Replace what a subscription is (URL, triggers, models, headers, secret, state).

        Its deliveries and fan-out position stay: a change applies to the
        events fanned out from now on. Raises :class:`SubscriptionNotFound`.
        """
        now = datetime.now(UTC)
        sub = subscription
        await self._update_subscription(
            sub.id,
            url=sub.url,
            triggers=list(sub.triggers),
            models=list(sub.models) if sub.models is not None else None,
            headers=list(sub.headers),
            secret=self._seal(sub.secret, sub.headers),
            state=sub.state.value,
            updated_at=now,
        )
        return replace(sub, updated_at=now)

    async def page_subscriptions(
        self,
        *,
        state: SubscriptionState | None = None,
        order: Sequence[tuple[str, bool]] = (("created_at", False),),
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Subscription], int]:
        """A page of subscriptions (of one ``state``, if given) and how many there are in all.

        ``order`` is (column, descending) pairs; the id breaks ties.
        """
        where = [_subs.c.state == state.value] if state is not None else []
        terms = [_subs.c[name].desc() if desc else _subs.c[name].asc() for name, desc in order]
        query = select(_subs).where(*where).order_by(*terms, _subs.c.id).offset(offset).limit(limit)
        counted = select(func.count()).select_from(_subs).where(*where)
        async with translate_errors(), self.engine.connect() as conn:
            subs = [self._subscription(r) for r in await conn.execute(query)]
            total = int((await conn.execute(counted)).scalar_one())
        return subs, total

    async def delivery_counts(self) -> dict[str, dict[DeliveryStatus, int]]:
        query = (
            select(_dl.c.subscription_id, _dl.c.status, func.count())
            .where(_dl.c.status.in_([_PENDING, _WAITING, DeliveryStatus.DEAD.value]))
            .group_by(_dl.c.subscription_id, _dl.c.status)
        )
        counts: dict[str, dict[DeliveryStatus, int]] = {}
        async with translate_errors(), self.engine.connect() as conn:
            for sub_id, status, n in await conn.execute(query):
                counts.setdefault(sub_id, {})[DeliveryStatus(status)] = int(n)
        return counts

    async def unqueued_counts(self) -> dict[str, int]:
        """Per subscription, the events it will receive that fan-out has not queued yet.

        Those are the events after the fan-out cursor, or in a range it is
        still waiting for, that the subscription matches and that came after
        it was created: what ``delivery_counts`` cannot see yet.
        """
        async with translate_errors(), self.engine.connect() as conn:
            fanout = (
                await conn.execute(select(webhook_fanout).where(webhook_fanout.c.id == _FANOUT_ROW))
            ).first()
            subs = (
                await conn.execute(
                    select(_subs.c.id, _subs.c.triggers, _subs.c.models, _subs.c.start_event_id)
                )
            ).all()
            if fanout is None or not subs:
                return {}
            waiting: list[ColumnElement[bool]] = [_ev.c.id > int(fanout.last_event_id)]
            waiting += [_ev.c.id.between(int(lo), int(hi)) for lo, hi, _ in fanout.pending_ids]
            counts: dict[str, int] = {}
            for sub in subs:
                wanted: ColumnElement[bool] = _ev.c.event_type.in_(list(sub.triggers))
                if sub.models is not None:
                    # As Subscription.matches: the model filter binds data events only.
                    wanted = and_(
                        wanted,
                        or_(
                            _ev.c.event_type.not_in(sorted(DATA_EVENT_TYPES)),
                            _ev.c.model.is_(None),
                            _ev.c.model.in_(list(sub.models)),
                        ),
                    )
                query = select(func.count()).where(
                    _ev.c.id > int(sub.start_event_id), or_(*waiting), wanted
                )
                counts[sub.id] = int((await conn.execute(query)).scalar_one())
        return counts

    # -- delivery -------------------------------------------------------------

    async def probe(self) -> WorkProbe:
        per_sub = (
            select(func.min(_dl.c.next_attempt_at))
            .where(_dl.c.subscription_id == _subs.c.id, _dl.c.status == _PENDING)
            .scalar_subquery()
        )
        # One row per active subscription, each an index look-up: never a
        # scan of the delivery history.
        next_due = (
            select(func.min(per_sub))
            .where(_subs.c.state == SubscriptionState.ACTIVE.value)
            .scalar_subquery()
        )
        query = select(
            select(func.max(_ev.c.id)).scalar_subquery(),
            select(webhook_fanout.c.last_event_id)
            .where(webhook_fanout.c.id == _FANOUT_ROW)
            .scalar_subquery(),
            type_coerce(
                select(webhook_fanout.c.pending_ids)
                .where(webhook_fanout.c.id == _FANOUT_ROW)
                .scalar_subquery(),
                JSONType,
            ),
            type_coerce(next_due, UTCDateTime()),
        )
        async with translate_errors(), self.engine.connect() as conn:
            max_id, cursor, pending, next_at = (await conn.execute(query)).one()
        if isinstance(next_at, str):  # SQLite hands an aggregate back as text
            next_at = datetime.fromisoformat(next_at).replace(tzinfo=UTC)
        fan_out_due = bool(pending) or (max_id is not None and (cursor is None or max_id > cursor))
        return WorkProbe(fan_out_due=fan_out_due, next_attempt_at=next_at)

    async def _lock_queue(self, conn: AsyncConnection, *, exclusive: bool) -> Any:
        """Lock the fan-out row: exclusive to queue or re-queue, shared to end deliveries.

        Whether a new delivery must wait behind a record's queued one and
        whether an ending one has a successor to release are decided in
        different transactions; on PostgreSQL this lock keeps them from
        missing each other (SQLite's BEGIN IMMEDIATE already does).
        """
        query = select(webhook_fanout).where(webhook_fanout.c.id == _FANOUT_ROW)
        if self._pg:
            query = query.with_for_update(read=not exclusive)
        return (await conn.execute(query)).first()

    async def _lock_fanout(
        self, conn: AsyncConnection, now: datetime
    ) -> tuple[int, list[_IdRange]] | None:
        row = await self._lock_queue(conn, exclusive=True)
        if row is not None:
            ranges = [_IdRange(int(a), int(b), float(c)) for a, b, c in row.pending_ids]
            return int(row.last_event_id), ranges
        start = (await conn.execute(select(func.coalesce(func.max(_ev.c.id), 0)))).scalar_one()
        inserted = await conn.execute(
            self._insert(webhook_fanout)
            .values(id=_FANOUT_ROW, last_event_id=int(start), pending_ids=[], updated_at=now)
            .on_conflict_do_nothing()
        )
        return (int(start), []) if inserted.rowcount else None

    async def fan_out(self, now: datetime, *, limit: int, hold: timedelta) -> int:
        async with self._write() as conn:
            state = await self._lock_fanout(conn, now)
            if state is None:
                return 0
            cursor, ranges = state
            columns = (_ev.c.id, _ev.c.event_type, _ev.c.model, _ev.c.record_id)
            rows = list(
                await conn.execute(
                    select(*columns).where(_ev.c.id > cursor).order_by(_ev.c.id).limit(limit)
                )
            )
            late: list[Any] = []
            if ranges:
                late = list(
                    await conn.execute(
                        select(*columns)
                        .where(or_(*(_ev.c.id.between(r.lo, r.hi) for r in ranges)))
                        .order_by(_ev.c.id)
                        .limit(limit)
                    )
                )
            if not rows and not late and not ranges:
                return 0
            stamp = time.time()
            found = [int(r.id) for r in late]
            kept = [m for r in ranges for m in _missing(r.lo, r.hi, found, r.since)]
            new_cursor = cursor
            if rows:
                new_cursor = int(rows[-1].id)
                kept += _missing(cursor + 1, new_cursor, (int(r.id) for r in rows), stamp)
            oldest = stamp - hold.total_seconds()
            kept = [r for r in kept if r.since >= oldest][-_MAX_PENDING_RANGES:]
            await self._queue(conn, [*late, *rows], now)
            await conn.execute(
                webhook_fanout.update()
                .where(webhook_fanout.c.id == _FANOUT_ROW)
                .values(
                    last_event_id=new_cursor,
                    pending_ids=[[r.lo, r.hi, r.since] for r in kept],
                    updated_at=now,
                )
            )
            return len(rows) + len(late)

    async def _queue(self, conn: AsyncConnection, events: Sequence[Any], now: datetime) -> None:
        if not events:
            return
        subs = [
            (
                Subscription(
                    id=s.id,
                    url="",
                    triggers=tuple(s.triggers),
                    models=tuple(s.models) if s.models is not None else None,
                    headers={},
                    secret="",
                ),
                int(s.start_event_id),
            )
            for s in await conn.execute(
                select(_subs.c.id, _subs.c.triggers, _subs.c.models, _subs.c.start_event_id)
            )
        ]
        matches = [
            (sub.id, int(ev.id), ev.record_id.hex if isinstance(ev.record_id, uuid.UUID) else None)
            for ev in sorted(events, key=lambda e: int(e.id))
            for sub, start in subs
            if ev.id > start and sub.matches(ev.event_type, ev.model)
        ]
        if not matches:
            return
        busy = await self._busy_keys(conn, {key for _, _, key in matches if key is not None})
        rows = []
        for sub_id, event_id, key in matches:
            waits = key is not None and (sub_id, key) in busy
            if key is not None:
                busy.add((sub_id, key))
            rows.append(
                {
                    "subscription_id": sub_id,
                    "event_id": event_id,
                    "order_key": key,
                    "status": _WAITING if waits else _PENDING,
                    "attempts": 0,
                    "next_attempt_at": None if waits else now,
                    "created_at": now,
                }
            )
        await conn.execute(self._insert(_dl).on_conflict_do_nothing(), rows)

    async def _busy_keys(self, conn: AsyncConnection, keys: set[str]) -> set[tuple[str, str]]:
        """(subscription, record key) pairs among ``keys`` with a delivery still queued."""
        if not keys:
            return set()
        query = (
            select(_dl.c.subscription_id, _dl.c.order_key)
            .where(_dl.c.order_key.in_(sorted(keys)), _dl.c.status.in_(_QUEUED))
            .distinct()
        )
        return {(r.subscription_id, r.order_key) for r in await conn.execute(query)}

    async def claim(
        self,
        now: datetime,
        *,
        lease_until: datetime,
        limit: int,
        per_subscription: int,
        held: Mapping[str, int] | None = None,
    ) -> Claim:
        held = held or {}
        async with self._write() as conn:
            query = select(_subs).where(_subs.c.state == SubscriptionState.ACTIVE.value)
            subs = {r.id: r for r in await conn.execute(query)}
            quotas = {i: per_subscription - held.get(i, 0) for i in subs}
            quotas = {i: q for i, q in quotas.items() if q > 0}
            if not quotas or limit <= 0:
                return Claim([], {})
            candidates = await conn.execute(_candidates(quotas, now))
            chosen = _round_robin(candidates.all(), limit)
            if not chosen:
                return Claim([], {})
            free = select(_dl.c.id).where(
                _dl.c.id.in_(chosen), _dl.c.status == _PENDING, _dl.c.next_attempt_at <= now
            )
            if self._pg:
                # Rows another dispatcher is claiming right now are skipped.
                free = free.with_for_update(skip_locked=True)
            claimed = (
                await conn.execute(
                    update(_dl)
                    .where(_dl.c.id.in_(free))
                    .values(next_attempt_at=lease_until)
                    .returning(
                        _dl.c.id,
                        _dl.c.subscription_id,
                        _dl.c.event_id,
                        _dl.c.attempts,
                        _dl.c.first_attempt_at,
                        _dl.c.order_key,
                    )
                )
            ).all()
            event_ids = sorted({int(r.event_id) for r in claimed})
            events = {
                int(r.id): _event(r)
                for r in await conn.execute(select(_ev).where(_ev.c.id.in_(event_ids)))
            }
        deliveries = sorted(
            (
                ClaimedDelivery(
                    id=int(r.id),
                    subscription_id=r.subscription_id,
                    event_id=int(r.event_id),
                    attempts=int(r.attempts),
                    first_attempt_at=r.first_attempt_at,
                    event=events.get(int(r.event_id)),
                    order_key=r.order_key,
                )
                for r in claimed
            ),
            key=lambda d: d.event_id,
        )
        used = {d.subscription_id for d in deliveries}
        return Claim(deliveries, {i: self._subscription(subs[i]) for i in used})

    async def release(self, delivery_ids: Sequence[int], now: datetime) -> None:
        if not delivery_ids:
            return
        async with self._write() as conn:
            await conn.execute(
                update(_dl)
                .where(_dl.c.id.in_(list(delivery_ids)), _dl.c.status == _PENDING)
                .values(next_attempt_at=now)
            )

    async def record_outcomes(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        if not outcomes:
            return
        attempts = [
            (
                o.subscription_id,
                o.event_id,
                o.attempt,
                o.attempted_at,
                o.status_code,
                o.latency_ms,
                o.error,
                o.response,
            )
            for o in outcomes
        ]
        async with self._write() as conn:
            await self._lock_queue(conn, exclusive=False)
            if self._pg:
                columns = list(
                    zip(
                        *(
                            (
                                o.delivery_id,
                                o.status.value,
                                o.status_code,
                                o.error,
                                o.attempted_at,
                                o.latency_ms,
                                o.next_attempt_at,
                            )
                            for o in outcomes
                        ),
                        strict=True,
                    )
                )
                await conn.exec_driver_sql(_PG_RECORD, tuple(map(list, columns)))
            else:
                await conn.exec_driver_sql(
                    _SQLITE_RECORD,
                    [
                        (
                            o.status.value,
                            o.status_code,
                            o.error,
                            _sqlite_ts(o.attempted_at),
                            o.latency_ms,
                            _sqlite_ts(o.next_attempt_at),
                            _sqlite_ts(o.attempted_at),
                            o.status.value,
                            _sqlite_ts(o.attempted_at),
                            o.delivery_id,
                        )
                        for o in outcomes
                    ],
                )
            await self._attempt_insert.execute(conn, attempts)
            ended = {
                (o.subscription_id, o.order_key)
                for o in outcomes
                if o.order_key is not None and o.status is not DeliveryStatus.PENDING
            }
            await self._release_successors(conn, ended, outcomes[-1].attempted_at)

    async def _release_successors(
        self, conn: AsyncConnection, ended: set[tuple[str, str]], now: datetime
    ) -> None:
        """Make the next WAITING event of each ended (subscription, record) PENDING."""
        if not ended:
            return
        query = (
            select(
                _dl.c.subscription_id,
                _dl.c.order_key,
                _dl.c.status,
                func.min(_dl.c.event_id).label("first"),
            )
            .where(_dl.c.order_key.in_(sorted({k for _, k in ended})), _dl.c.status.in_(_QUEUED))
            .group_by(_dl.c.subscription_id, _dl.c.order_key, _dl.c.status)
        )
        heads: dict[tuple[str, str], int] = {}
        still_pending: set[tuple[str, str]] = set()
        for r in await conn.execute(query):
            pair = (r.subscription_id, r.order_key)
            if pair not in ended:
                continue
            if r.status == _PENDING:
                still_pending.add(pair)
            else:
                heads[pair] = int(r.first)
        release = [(pair[0], event) for pair, event in heads.items() if pair not in still_pending]
        if release:
            await conn.execute(
                update(_dl)
                .where(tuple_(_dl.c.subscription_id, _dl.c.event_id).in_(release))
                .values(status=_PENDING, next_attempt_at=now)
            )

    async def replay(
        self,
        now: datetime,
        *,
        subscription_id: str | None = None,
        dead_only: bool = False,
        since: datetime | None = None,
        event_id: int | None = None,
    ) -> int:
        conds: list[ColumnElement[bool]] = [
            _dl.c.status == DeliveryStatus.DEAD.value
            if dead_only
            else _dl.c.status.in_([DeliveryStatus.DEAD.value, DeliveryStatus.DELIVERED.value])
        ]
        if subscription_id is not None:
            conds.append(_dl.c.subscription_id == subscription_id)
        if event_id is not None:
            conds.append(_dl.c.event_id == event_id)
        if since is not None:
            conds.append(_dl.c.event_id.in_(select(_ev.c.id).where(_ev.c.created_at >= since)))
        async with self._write() as conn:
            await self._lock_queue(conn, exclusive=True)
            rows = (
                await conn.execute(
                    select(_dl.c.id, _dl.c.subscription_id, _dl.c.order_key)
                    .where(and_(*conds))
                    .order_by(_dl.c.event_id)
                )
            ).all()
            busy = await self._busy_keys(conn, {r.order_key for r in rows if r.order_key})
            pending: list[int] = []
            waiting: list[int] = []
            for r in rows:
                pair = (r.subscription_id, r.order_key)
                if r.order_key is not None and pair in busy:
                    waiting.append(int(r.id))
                else:
                    pending.append(int(r.id))
                    if r.order_key is not None:
                        busy.add(pair)
            reset = {"attempts": 0, "first_attempt_at": None, "delivered_at": None}
            for ids, status, due in ((pending, _PENDING, now), (waiting, _WAITING, None)):
                for chunk in range(0, len(ids), 5000):
                    await conn.execute(
                        update(_dl)
                        .where(_dl.c.id.in_(ids[chunk : chunk + 5000]))
                        .values(status=status, next_attempt_at=due, **reset)
                    )
        return len(rows)

    async def delivery_log(self, event_id: int) -> tuple[list[DeliveryRecord], list[AttemptRecord]]:
        att = webhook_attempts
        async with translate_errors(), self.engine.connect() as conn:
            deliveries = [
                DeliveryRecord(
                    subscription_id=r.subscription_id,
                    event_id=int(r.event_id),
                    status=DeliveryStatus(r.status),
                    attempts=int(r.attempts),
                    next_attempt_at=r.next_attempt_at,
                    last_status_code=r.last_status_code,
                    last_error=r.last_error,
                    delivered_at=r.delivered_at,
                )
                for r in await conn.execute(
                    select(_dl).where(_dl.c.event_id == event_id).order_by(_dl.c.subscription_id)
                )
            ]
            attempts = [
                AttemptRecord(
                    subscription_id=r.subscription_id,
                    event_id=int(r.event_id),
                    attempt=int(r.attempt),
                    attempted_at=r.attempted_at,
                    status_code=r.status_code,
                    latency_ms=float(r.latency_ms),
                    error=r.error,
                    response=r.response,
                )
                for r in await conn.execute(
                    select(att)
                    .where(att.c.event_id == event_id)
                    .order_by(att.c.attempted_at, att.c.id)
                )
            ]
        return deliveries, attempts

    # -- change feed ----------------------------------------------------------

    async def list_events(
        self,
        *,
        after: int = 0,
        model: str | None = None,
        limit: int = 100,
        created_before: datetime | None = None,
    ) -> list[ChangeEvent]:
        query = select(_ev).where(_ev.c.id > after).order_by(_ev.c.id).limit(limit)
        if created_before is not None:
            query = query.where(_ev.c.created_at < created_before)
        if model is not None:
            query = query.where(_ev.c.model == model)
        async with translate_errors(), self.engine.connect() as conn:
            return [_event(r) for r in await conn.execute(query)]

    async def get_event(self, event_id: int) -> ChangeEvent | None:
        async with translate_errors(), self.engine.connect() as conn:
            row = (await conn.execute(select(_ev).where(_ev.c.id == event_id))).first()
        return _event(row) if row is not None else None

    async def prune_events(self, before: datetime, *, batch: int = 5000) -> PruneCounts:
        events = deliveries = attempts = 0
        newest = select(func.max(_ev.c.id)).scalar_subquery()
        queued = exists().where(_dl.c.event_id == _ev.c.id, _dl.c.status.in_(_QUEUED))
        while True:
            # Short transactions: a big prune never holds the write lock long.
            async with self._write() as conn:
                ids = list(
                    (
                        await conn.execute(
                            select(_ev.c.id)
                            .where(_ev.c.created_at < before, _ev.c.id < newest, ~queued)
                            .order_by(_ev.c.id)
                            .limit(batch)
                        )
                    ).scalars()
                )
                if not ids:
                    break
                att = webhook_attempts
                attempts += (
                    await conn.execute(delete(att).where(att.c.event_id.in_(ids)))
                ).rowcount
                deliveries += (
                    await conn.execute(delete(_dl).where(_dl.c.event_id.in_(ids)))
                ).rowcount
                events += (await conn.execute(delete(_ev).where(_ev.c.id.in_(ids)))).rowcount
            if len(ids) < batch:
                break
        return PruneCounts(events=events, deliveries=deliveries, attempts=attempts)


def _candidates(quotas: Mapping[str, int], now: datetime) -> Select[Any]:
    """Due deliveries of each subscription, at most its quota, in due order.

    One index range per subscription (a UNION ALL, since SQLite has no
    LATERAL), so a subscriber with a huge backlog cannot crowd out the rest.
    """
    parts = [
        select(_dl.c.id, _dl.c.subscription_id)
        .where(
            _dl.c.subscription_id == sid,
            _dl.c.status == _PENDING,
            _dl.c.next_attempt_at <= now,
        )
        .order_by(_dl.c.next_attempt_at, _dl.c.id)
        .limit(quota)
        .subquery()
        for sid, quota in quotas.items()
    ]
    selects = [select(p.c.id, p.c.subscription_id) for p in parts]
    if len(selects) == 1:
        return selects[0]
    return select(union_all(*selects).subquery())


def _round_robin(rows: Sequence[Any], limit: int) -> list[int]:
    """Up to ``limit`` ids, taking from each subscription in turn."""
    queues: dict[str, list[int]] = {}
    for r in rows:
        queues.setdefault(r.subscription_id, []).append(int(r.id))
    chosen: list[int] = []
    depth = 0
    while len(chosen) < limit and queues:
        for key in list(queues):
            q = queues[key]
            if depth < len(q):
                chosen.append(q[depth])
                if len(chosen) == limit:
                    break
            else:
                del queues[key]
        depth += 1
    return chosen
