"""The SQLAlchemy store: one code path for PostgreSQL and SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Table,
    and_,
    any_,
    bindparam,
    exists,
    func,
    literal_column,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from syncd.crypto import Cipher
from syncd.diff import diff, json_record
from syncd.domain import (
    COUNT_FIELDS,
    SYNCED_STATUSES,
    Checkpoint,
    Environment,
    EventType,
    FetchWindow,
    Integration,
    NormalizedRecord,
    OutboxEvent,
    QuarantinedRecord,
    RunCounts,
    RunRecord,
    RunStatus,
    Schedule,
    ScheduleState,
    SweepResult,
    SweepScope,
    SyncMode,
    UpsertResult,
    record_key,
)
from syncd.errors import IntegrationNotFound, RunConflict, StoreError, SweepError
from syncd.models import COMMON_COLUMNS, LINK_COLUMNS, LINK_MODEL, MODELS
from syncd.store.base import DEFAULT_STALE_AFTER, PageProgress, Store
from syncd.store.bulk import bulk_insert, keyed_delete, keyed_statements, sweep_statements
from syncd.store.engine import translate_errors
from syncd.store.tables import (
    MODEL_TABLES,
    change_events,
    checkpoints,
    integrations,
    quarantine,
    residents_to_leases,
    schedules,
    sync_runs,
)

#: Inline, not a bound parameter: see SqlStore._claimable.
_ACTIVE: ColumnElement[str] = literal_column("'ACTIVE'")


def _now() -> datetime:
    return datetime.now(UTC)


def _run_row(
    run_id: str,
    integration: Integration,
    model: str | None,
    mode: SyncMode,
    trigger: str,
    status: RunStatus,
    now: datetime,
    *,
    parent_run_id: str | None,
    root_run_id: str | None,
    scheduled_for: datetime | None,
    owner: str | None,
    coalesced_fires: int,
) -> dict[str, Any]:
    """The values of a new job-log row (a root run is its own root)."""
    return {
        "id": run_id,
        "root_run_id": root_run_id or run_id,
        "parent_run_id": parent_run_id,
        "integration_id": integration.id,
        "vendor": integration.vendor,
        "model": model,
        "mode": mode.value,
        "trigger": trigger,
        "status": status.value,
        "started_at": now,
        "heartbeat_at": now,
        "scheduled_for": scheduled_for,
        "owner": owner,
        "coalesced_fires": coalesced_fires,
    }


class SqlStore(Store):
    """:class:`Store` on an SQLAlchemy async engine (PostgreSQL or SQLite)."""

    def __init__(self, engine: AsyncEngine, cipher: Cipher) -> None:
        self.engine = engine
        self._cipher = cipher
        dialect = engine.dialect.name
        self._insert: Callable[[Table], Any] = (
            postgresql.insert if dialect == "postgresql" else sqlite.insert
        )
        # Column lists per model, computed once: rows for executemany must all
        # carry the same keys.
        self._model_columns = {name: tuple(c.name for c in m.columns) for name, m in MODELS.items()}
        self._link_columns = tuple(c.name for c in LINK_COLUMNS)
        # The fields an event's record and diff show: the record's data, not
        # the store's bookkeeping (last_seen, hashes, run id, timestamps).
        self._event_fields = {
            name: ("x_property_id", "property_id", *cols, "custom_data")
            for name, cols in self._model_columns.items()
        }
        self._keyed = {name: keyed_statements(dialect, t) for name, t in MODEL_TABLES.items()}
        self._inserts = {
            name: bulk_insert(
                dialect,
                MODEL_TABLES[name],
                (*COMMON_COLUMNS, *self._model_columns[name]),
            )
            for name in MODELS
        }
        self._upserts = {
            name: bulk_insert(
                dialect,
                MODEL_TABLES[name],
                (*COMMON_COLUMNS, *self._model_columns[name]),
                conflict=("integration_id", "x_id"),
                keep=("id", "created_at"),
            )
            for name in MODELS
        }
        self._link_delete = keyed_delete(dialect, residents_to_leases, "x_lease_id")
        self._sweeps = {name: sweep_statements(dialect, t) for name, t in MODEL_TABLES.items()}
        self._quarantine_delete = keyed_delete(dialect, quarantine, "x_id", "model")
        self._event_insert = bulk_insert(
            dialect,
            change_events,
            (
                "integration_id",
                "integration_vendor",
                "model",
                "record_id",
                "x_id",
                "event_type",
                "run_id",
                "diff",
                "payload",
                "created_at",
            ),
        )
        self._link_insert = bulk_insert(
            dialect,
            residents_to_leases,
            (
                "id",
                "integration_id",
                "integration_vendor",
                "lease_id",
                "resident_id",
                "created_at",
                "updated_at",
                "last_seen",
                *self._link_columns,
            ),
        )

    @property
    def cipher(self) -> Cipher:
        """The secret-key cipher of this store (credentials at rest; others may share it)."""
        return self._cipher

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with translate_errors(), self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    # -- integrations -------------------------------------------------------

    def _integration_row(self, integration: Integration, now: datetime) -> dict[str, Any]:
        return {
            "id": integration.id,
            "name": integration.name,
            "vendor": integration.vendor,
            "environment": integration.environment.value,
            "enabled": integration.enabled,
            "base_url": integration.base_url,
            "credentials": self._cipher.encrypt(integration.credentials),
            "options": dict(integration.options),
            "updated_at": now,
        }

    def _integration(self, row: Any) -> Integration:
        return Integration(
            id=row.id,
            name=row.name,
            vendor=row.vendor,
            environment=Environment(row.environment),
            enabled=row.enabled,
            base_url=row.base_url,
            credentials=self._cipher.decrypt(row.credentials),
            options=dict(row.options or {}),
            created_at=row.created_at,
        )

    async def add_integration(self, integration: Integration) -> None:
        now = _now()
        row = self._integration_row(integration, now) | {"created_at": now}
        async with translate_errors():
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(integrations.insert().values(**row))
            except IntegrityError as exc:
                raise StoreError(
                    f"an integration with id {integration.id!r} or name {integration.name!r} "
                    "already exists"
                ) from exc

    async def update_integration(self, integration: Integration) -> None:
        row = self._integration_row(integration, _now())
        async with translate_errors(), self.engine.begin() as conn:
            result = await conn.execute(
                integrations.update().where(integrations.c.id == integration.id).values(**row)
            )
            if result.rowcount == 0:
                raise IntegrationNotFound(f"no integration {integration.id!r}")

    async def get_integration(self, id_or_name: str) -> Integration:
        async with translate_errors(), self.engine.connect() as conn:
            row = (
                await conn.execute(select(integrations).where(integrations.c.id == id_or_name))
            ).first()
            if row is None:
                row = (
                    await conn.execute(
                        select(integrations).where(integrations.c.name == id_or_name)
                    )
                ).first()
        if row is None:
            raise IntegrationNotFound(f"no integration with id or name {id_or_name!r}")
        return self._integration(row)

    async def list_integrations(self) -> list[Integration]:
        async with translate_errors(), self.engine.connect() as conn:
            rows = await conn.execute(select(integrations).order_by(integrations.c.id))
            return [self._integration(r) for r in rows]

    async def list_integration_heads(self) -> list[Integration]:
        cols = [c for c in integrations.c if c.name != "credentials"]
        async with translate_errors(), self.engine.connect() as conn:
            rows = await conn.execute(select(*cols).order_by(integrations.c.id))
            return [
                Integration(
                    id=r.id,
                    name=r.name,
                    vendor=r.vendor,
                    environment=Environment(r.environment),
                    enabled=r.enabled,
                    base_url=r.base_url,
                    credentials={},
                    options=dict(r.options or {}),
                    created_at=r.created_at,
                )
                for r in rows
            ]

    async def set_enabled(self, integration_id: str, enabled: bool) -> None:
        async with translate_errors(), self.engine.begin() as conn:
            result = await conn.execute(
                integrations.update()
                .where(integrations.c.id == integration_id)
                .values(enabled=enabled, updated_at=_now())
            )
        if result.rowcount == 0:
            raise IntegrationNotFound(f"no integration {integration_id!r}")

    async def remove_integration(
        self, integration_id: str, *, live_since: datetime | None = None
    ) -> dict[str, int]:
        owned = [
            *MODEL_TABLES.values(),
            residents_to_leases,
            quarantine,
            checkpoints,
            schedules,
            sync_runs,
        ]
        removed: dict[str, int] = {}
        async with translate_errors(), self.engine.begin() as conn:
            # The integration row goes first: on SQLite that write takes the
            # database's write lock, so no run can start between the check
            # below and the commit.
            gone = await conn.execute(
                integrations.delete().where(integrations.c.id == integration_id)
            )
            if gone.rowcount == 0:
                raise IntegrationNotFound(f"no integration {integration_id!r}")
            if live_since is not None:
                beat = func.coalesce(sync_runs.c.heartbeat_at, sync_runs.c.started_at)
                live = (
                    await conn.execute(
                        select(sync_runs.c.id, sync_runs.c.model)
                        .where(
                            sync_runs.c.integration_id == integration_id,
                            sync_runs.c.status == RunStatus.RUNNING.value,
                            beat >= live_since,
                        )
                        .order_by(sync_runs.c.model.is_(None), sync_runs.c.started_at)
                        .limit(1)
                    )
                ).first()
                if live is not None:
                    raise RunConflict(
                        f"integration {integration_id!r} is syncing right now "
                        f"(run {live.id} of {live.model or 'all models'})"
                    )
            removed["integrations"] = int(gone.rowcount)
            for table in owned:
                result = await conn.execute(
                    table.delete().where(table.c.integration_id == integration_id)
                )
                removed[table.name] = int(result.rowcount)
        return removed

    # -- runs ---------------------------------------------------------------

    async def start_run(
        self,
        *,
        integration: Integration,
        model: str | None,
        mode: SyncMode,
        trigger: str,
        parent_run_id: str | None = None,
        root_run_id: str | None = None,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        window: FetchWindow | None = None,
        scheduled_for: datetime | None = None,
        owner: str | None = None,
        live: Collection[str] = (),
        coalesced_fires: int = 0,
    ) -> str:
        run_id = str(uuid.uuid4())
        now = _now()
        async with translate_errors():
            try:
                async with self.engine.begin() as conn:
                    await self._reap(conn, integration.id, model, now - stale_after, owner, live)
                    await conn.execute(
                        sync_runs.insert().values(
                            **_run_row(
                                run_id,
                                integration,
                                model,
                                mode,
                                trigger,
                                RunStatus.RUNNING,
                                now,
                                parent_run_id=parent_run_id,
                                root_run_id=root_run_id,
                                scheduled_for=scheduled_for,
                                owner=owner,
                                coalesced_fires=coalesced_fires,
                            ),
                            window_since=window.since if window else None,
                            window_until=window.until if window else None,
                        )
                    )
                    if root_run_id is not None and root_run_id != run_id:
                        # A root is alive while its model runs start and finish.
                        await conn.execute(
                            sync_runs.update()
                            .where(sync_runs.c.id == root_run_id)
                            .values(heartbeat_at=now)
                        )
            except IntegrityError as exc:
                active = await self._active_run(integration.id, model)
                since = f" since {active[1]:%Y-%m-%d %H:%M:%S} UTC" if active else ""
                other = active[0] if active else "?"
                raise RunConflict(
                    f"{integration.id}/{model} is already running (run {other}{since}); "
                    "a run whose process died is taken over "
                    f"{int(stale_after.total_seconds())} s after its last heartbeat"
                ) from exc
        return run_id

    async def _reap(
        self,
        conn: AsyncConnection,
        integration_id: str,
        model: str | None,
        before: datetime,
        owner: str | None,
        live: Collection[str],
    ) -> None:
        """Mark runs of dead processes FAILED before a new run of the same scope starts.

        A model run is dead when its heartbeat is older than ``before``; a
        root run when neither it nor any of its running model runs beat since
        then. A run of this very process (``owner``) that it no longer runs
        (not in ``live``) is dead at once: the process knows its own.
        """
        now = _now()
        running = sync_runs.c.status == RunStatus.RUNNING.value
        mine = and_(sync_runs.c.owner == owner, sync_runs.c.id.not_in(list(live)))
        if model is not None:
            scope = and_(sync_runs.c.model == model)
            silent: ColumnElement[bool] = sync_runs.c.heartbeat_at < before
        else:
            child = sync_runs.alias("child")
            scope = and_(sync_runs.c.model.is_(None))
            silent = and_(
                sync_runs.c.heartbeat_at < before,
                ~exists().where(
                    child.c.root_run_id == sync_runs.c.id,
                    child.c.id != sync_runs.c.id,
                    child.c.status == RunStatus.RUNNING.value,
                    child.c.heartbeat_at >= before,
                ),
            )
        verdicts = [(silent, "abandoned: its process stopped sending heartbeats")]
        if owner is not None:
            verdicts.insert(
                0, (mine, "abandoned: its own process lost it (e.g. the database connection broke)")
            )
        for dead, reason in verdicts:
            await self._abandon(
                conn,
                and_(sync_runs.c.integration_id == integration_id, running, scope, dead),
                reason,
                now,
            )

    async def _abandon(
        self, conn: AsyncConnection, where: ColumnElement[bool], reason: str, now: datetime
    ) -> int:
        # A dead run ended when it was last seen alive, not when found dead:
        # its successor may well have started in between.
        last_seen = func.coalesce(sync_runs.c.heartbeat_at, sync_runs.c.started_at)
        reaped = (
            await conn.execute(
                sync_runs.update()
                .where(where)
                .values(status=RunStatus.FAILED.value, ended_at=last_seen, error=reason)
                .returning(sync_runs.c.id, sync_runs.c.model, sync_runs.c.ended_at)
            )
        ).all()
        for row in reaped:
            if row.model is None:
                await self._sum_children(conn, row.id)
                await self._end_with_children(conn, row.id, row.ended_at or now)
        return len(reaped)

    @staticmethod
    async def _end_with_children(conn: AsyncConnection, root_id: str, ended: datetime) -> None:
        """A dead root ended no earlier than the last sign of life of its model runs."""
        child = sync_runs.alias("child")
        latest = (
            await conn.execute(
                select(func.max(func.coalesce(child.c.ended_at, child.c.heartbeat_at))).where(
                    child.c.root_run_id == root_id, child.c.id != root_id
                )
            )
        ).scalar_one_or_none()
        if isinstance(latest, str):  # SQLite hands an aggregate back as text
            latest = datetime.fromisoformat(latest).replace(tzinfo=UTC)
        if latest is not None and latest.astimezone(UTC) > ended.astimezone(UTC):
            await conn.execute(
                sync_runs.update().where(sync_runs.c.id == root_id).values(ended_at=latest)
            )

    async def abandon_runs(self, integration_id: str, *, owner: str, reason: str) -> int:
        where = and_(
            sync_runs.c.integration_id == integration_id,
            sync_runs.c.status == RunStatus.RUNNING.value,
            sync_runs.c.owner == owner,
        )
        async with translate_errors(), self.engine.begin() as conn:
            return await self._abandon(conn, where, reason, _now())

    @staticmethod
    async def _sum_children(conn: AsyncConnection, root_id: str) -> None:
        """Set a root run's counts to the sum of its model runs' counts."""
        child = sync_runs.alias("child")
        totals = {
            name: select(func.coalesce(func.sum(getattr(child.c, name)), 0))
            .where(child.c.root_run_id == root_id, child.c.id != root_id)
            .scalar_subquery()
            for name in (*COUNT_FIELDS, "records_processed")
        }
        await conn.execute(sync_runs.update().where(sync_runs.c.id == root_id).values(**totals))

    async def record_skipped_run(
        self,
        *,
        integration: Integration,
        mode: SyncMode,
        trigger: str,
        reason: str,
        scheduled_for: datetime | None = None,
        owner: str | None = None,
        coalesced_fires: int = 0,
        model: str | None = None,
        parent_run_id: str | None = None,
    ) -> str:
        now = _now()
        async with translate_errors(), self.engine.begin() as conn:
            if scheduled_for is not None and model is None:
                earlier = (
                    await conn.execute(
                        select(sync_runs.c.id).where(
                            sync_runs.c.integration_id == integration.id,
                            sync_runs.c.parent_run_id.is_(None),
                            sync_runs.c.status == RunStatus.SKIPPED.value,
                            sync_runs.c.scheduled_for == scheduled_for,
                        )
                    )
                ).first()
                if earlier is not None:
                    # One record per fire time, however often it is retried.
                    await conn.execute(
                        sync_runs.update()
                        .where(sync_runs.c.id == earlier.id)
                        .values(ended_at=now, error=reason)
                    )
                    return str(earlier.id)
            run_id = str(uuid.uuid4())
            await conn.execute(
                sync_runs.insert().values(
                    **_run_row(
                        run_id,
                        integration,
                        model,
                        mode,
                        trigger,
                        RunStatus.SKIPPED,
                        now,
                        parent_run_id=parent_run_id,
                        root_run_id=parent_run_id,
                        scheduled_for=scheduled_for,
                        owner=owner,
                        coalesced_fires=coalesced_fires,
                    ),
                    ended_at=now,
                    error=reason,
                )
            )
            return run_id

    async def active_runs(
        self,
        integration_id: str,
        *,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        owner: str | None = None,
        live: Collection[str] = (),
    ) -> list[RunRecord]:
        before = _now() - stale_after
        query = (
            select(sync_runs)
            .where(
                sync_runs.c.integration_id == integration_id,
                sync_runs.c.status == RunStatus.RUNNING.value,
                sync_runs.c.model.is_not(None),
                sync_runs.c.heartbeat_at >= before,
            )
            .order_by(sync_runs.c.started_at)
        )
        async with translate_errors(), self.engine.connect() as conn:
            runs = [self._run(r) for r in await conn.execute(query)]
        # This process's own runs that it no longer runs are orphans, not rivals.
        return [r for r in runs if owner is None or r.owner != owner or r.id in live]

    async def running_owners(self, integration_id: str) -> set[str]:
        query = (
            select(sync_runs.c.owner)
            .where(
                sync_runs.c.integration_id == integration_id,
                sync_runs.c.status == RunStatus.RUNNING.value,
                sync_runs.c.owner.is_not(None),
            )
            .distinct()
        )
        async with translate_errors(), self.engine.connect() as conn:
            return {str(owner) for (owner,) in await conn.execute(query)}

    async def _active_run(
        self, integration_id: str, model: str | None
    ) -> tuple[str, datetime] | None:
        query = select(sync_runs.c.id, sync_runs.c.started_at).where(
            sync_runs.c.integration_id == integration_id,
            sync_runs.c.model == model,
            sync_runs.c.status == RunStatus.RUNNING.value,
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return (row[0], row[1]) if row else None

    async def heartbeat_run(self, run_id: str) -> None:
        async with translate_errors(), self.engine.begin() as conn:
            await conn.execute(
                sync_runs.update().where(sync_runs.c.id == run_id).values(heartbeat_at=_now())
            )

    async def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        counts: RunCounts | None,
        error: str | None = None,
        events: Sequence[OutboxEvent] = (),
    ) -> None:
        now = _now()
        values: dict[str, Any] = counts.as_dict() if counts is not None else {}
        values |= {"status": status.value, "ended_at": now, "error": error}
        async with translate_errors(), self.engine.begin() as conn:
            row = (
                await conn.execute(
                    sync_runs.update()
                    .where(sync_runs.c.id == run_id)
                    .values(**values)
                    .returning(sync_runs.c.root_run_id)
                )
            ).first()
            if counts is None:
                await self._sum_children(conn, run_id)
            elif row is not None and row.root_run_id not in (None, run_id):
                await conn.execute(
                    sync_runs.update()
                    .where(sync_runs.c.id == row.root_run_id)
                    .values(heartbeat_at=now)
                )
            await self._write_events(conn, events, now)

    async def add_events(self, events: Sequence[OutboxEvent]) -> None:
        if not events:
            return
        async with translate_errors(), self.engine.begin() as conn:
            await self._write_events(conn, events, _now())

    @staticmethod
    async def _write_events(
        conn: AsyncConnection, events: Sequence[OutboxEvent], now: datetime
    ) -> None:
        if not events:
            return
        await conn.execute(
            change_events.insert(),
            [
                {
                    "integration_id": e.integration_id,
                    "integration_vendor": e.vendor,
                    "model": e.model,
                    "record_id": e.record_id,
                    "x_id": e.x_id,
                    "event_type": e.event_type.value,
                    "run_id": e.run_id,
                    "diff": None,
                    "payload": dict(e.payload),
                    "created_at": now,
                }
                for e in events
            ],
        )

    async def has_synced(self, integration_id: str, model: str | None) -> bool:
        query = select(sync_runs.c.id).where(
            sync_runs.c.integration_id == integration_id,
            sync_runs.c.status.in_([s.value for s in SYNCED_STATUSES]),
        )
        if model is None:
            query = query.where(sync_runs.c.parent_run_id.is_(None))
        else:
            query = query.where(sync_runs.c.model == model)
        async with translate_errors(), self.engine.connect() as conn:
            return (await conn.execute(query.limit(1))).first() is not None

    @staticmethod
    def _run(row: Any) -> RunRecord:
        return RunRecord(
            id=row.id,
            root_run_id=row.root_run_id,
            parent_run_id=row.parent_run_id,
            integration_id=row.integration_id,
            vendor=row.vendor,
            model=row.model,
            mode=row.mode,
            trigger=row.trigger,
            status=RunStatus(row.status),
            started_at=row.started_at,
            ended_at=row.ended_at,
            counts=RunCounts(**{name: getattr(row, name) for name in COUNT_FIELDS}),
            error=row.error,
            scheduled_for=row.scheduled_for,
            owner=row.owner,
            coalesced_fires=row.coalesced_fires or 0,
        )

    async def list_runs(
        self,
        *,
        integration_id: str | None = None,
        root_run_id: str | None = None,
        status: RunStatus | None = None,
        limit: int = 50,
    ) -> list[RunRecord]:
        query = select(sync_runs).order_by(sync_runs.c.started_at.desc(), sync_runs.c.id)
        if status is not None:
            query = query.where(sync_runs.c.status == status.value)
        if integration_id is not None:
            query = query.where(sync_runs.c.integration_id == integration_id)
        if root_run_id is not None:
            query = query.where(sync_runs.c.root_run_id == root_run_id)
        async with translate_errors(), self.engine.connect() as conn:
            rows = await conn.execute(query.limit(limit))
            return [self._run(r) for r in rows]

    async def get_run(self, run_id: str) -> RunRecord | None:
        async with translate_errors(), self.engine.connect() as conn:
            row = (await conn.execute(select(sync_runs).where(sync_runs.c.id == run_id))).first()
        return self._run(row) if row else None

    async def run_ids_with_prefix(self, prefix: str, *, limit: int) -> list[str]:
        # Ids are UUIDs: callers pass hex digits and dashes, so LIKE needs no escaping.
        query = (
            select(sync_runs.c.id)
            .where(sync_runs.c.id.like(prefix + "%"))
            .order_by(sync_runs.c.id)
            .limit(limit)
        )
        async with translate_errors(), self.engine.connect() as conn:
            return [str(i) for i in (await conn.execute(query)).scalars()]

    async def last_root_run(self, integration_id: str) -> RunRecord | None:
        query = (
            select(sync_runs)
            .where(
                sync_runs.c.integration_id == integration_id, sync_runs.c.parent_run_id.is_(None)
            )
            .order_by(sync_runs.c.started_at.desc())
            .limit(1)
        )
        async with translate_errors(), self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return self._run(row) if row else None

    # -- sync ---------------------------------------------------------------

    async def get_checkpoint(self, integration_id: str, model: str) -> Checkpoint:
        query = select(checkpoints).where(
            checkpoints.c.integration_id == integration_id, checkpoints.c.model == model
        )
        async with translate_errors(), self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return Checkpoint()
        window = None
        if row.cursor is not None:
            window = FetchWindow(since=row.window_since, until=row.window_until)
        return Checkpoint(
            watermark=row.watermark,
            cursor=row.cursor,
            cursor_run_id=row.cursor_run_id,
            cursor_mode=SyncMode(row.cursor_mode) if row.cursor_mode else None,
            window=window,
        )

    async def _save_checkpoint(
        self, conn: AsyncConnection, integration_id: str, model: str, values: dict[str, Any]
    ) -> None:
        stmt = self._insert(checkpoints).values(
            integration_id=integration_id, model=model, **values
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[checkpoints.c.integration_id, checkpoints.c.model], set_=values
        )
        await conn.execute(stmt)

    async def store_page(
        self,
        *,
        integration: Integration,
        model: str,
        records: Sequence[NormalizedRecord],
        quarantined: Sequence[QuarantinedRecord],
        progress: PageProgress,
        now: datetime,
        seen: Sequence[str] = (),
        source_hashes: Mapping[str, str] | None = None,
        events: bool = True,
        fetched: int = 0,
    ) -> UpsertResult:
        iid = integration.id
        # A PMS may repeat a record within a page; the last copy wins.
        by_x = {r.x_id: r for r in records}
        keyed = self._keyed[model]
        async with translate_errors(), self.engine.begin() as conn:
            existing = await keyed.lookup(conn, iid, list(by_x)) if by_x else {}
            changed: list[NormalizedRecord] = []
            unchanged: list[str] = list(seen)
            created = 0
            for x_id, rec in by_x.items():
                prev = existing.get(x_id)
                if prev is None:
                    created += 1
                    changed.append(rec)
                elif prev[0] != rec.content_hash or prev[2]:
                    changed.append(rec)
                else:
                    unchanged.append(x_id)
            if changed:
                previous: dict[str, dict[str, Any]] = {}
                if events:
                    # One look-up per page for the diffs, before the rows change.
                    live = [
                        r.x_id for r in changed if r.x_id in existing and not existing[r.x_id][2]
                    ]
                    previous = await self._previous_values(conn, model, iid, live)
                await self._write_records(
                    conn,
                    integration,
                    model,
                    changed,
                    existing,
                    source_hashes or {},
                    progress,
                    now,
                    previous if events else None,
                )
            # The PMS listed the quarantined records too: refreshing them keeps
            # a deletion sweep from taking them for deleted.
            touched = unchanged + [
                q.x_id for q in quarantined if q.x_id is not None and q.x_id not in by_x
            ]
            if touched:
                await keyed.touch(conn, iid, touched, now, progress.run_id)
            if quarantined:
                await conn.execute(
                    quarantine.insert(),
                    [
                        {
                            "integration_id": iid,
                            "model": model,
                            "x_id": q.x_id,
                            "run_id": progress.run_id,
                            "reason": q.reason,
                            "raw": q.raw,
                            "created_at": now,
                        }
                        for q in quarantined
                    ],
                )
            # The run's counts grow page by page: `jobs list` shows a running
            # sync's progress, and a killed one keeps what it stored.
            c = sync_runs.c
            n_unchanged = len(unchanged)
            await conn.execute(
                sync_runs.update()
                .where(c.id == progress.run_id)
                .values(
                    heartbeat_at=now,
                    fetched=c.fetched + fetched,
                    records_processed=c.records_processed + fetched,
                    created=c.created + created,
                    updated=c.updated + (len(changed) - created),
                    unchanged=c.unchanged + n_unchanged,
                    quarantined=c.quarantined + len(quarantined),
                )
            )
            await self._save_checkpoint(
                conn,
                iid,
                model,
                {
                    "cursor": progress.cursor,
                    "cursor_run_id": progress.run_id,
                    "cursor_mode": progress.mode.value,
                    "window_since": progress.window.since,
                    "window_until": progress.window.until,
                    "updated_at": now,
                },
            )
        return UpsertResult(
            created=created, updated=len(changed) - created, unchanged=len(unchanged)
        )

    async def _write_records(
        self,
        conn: AsyncConnection,
        integration: Integration,
        model: str,
        records: list[NormalizedRecord],
        existing: Mapping[str, tuple[str, str | None, bool]],
        source_hashes: Mapping[str, str],
        progress: PageProgress,
        now: datetime,
        previous: Mapping[str, Mapping[str, Any]] | None,
    ) -> None:
        """Upsert changed records, their links, events; clear their quarantine entries.

        ``previous`` holds the stored fields of updated records (for diffs);
        None writes no events.
        """
        iid, vendor, run_id = integration.id, integration.vendor, progress.run_id
        columns = self._model_columns[model]
        fields = self._event_fields[model]
        new_rows: list[tuple[Any, ...]] = []
        changed_rows: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        ids: dict[str, str] = {}
        for rec in records:
            values = rec.values
            rid = ids[rec.x_id] = record_key(iid, model, rec.x_id)
            is_update = rec.x_id in existing
            (changed_rows if is_update else new_rows).append(
                (  # in COMMON_COLUMNS order, then the model's own
                    rid,
                    rec.x_id,
                    iid,
                    vendor,
                    values.get("x_property_id"),
                    values.get("property_id"),
                    now,
                    now,
                    now,
                    None,
                    values.get("custom_data") or {},
                    rec.content_hash,
                    source_hashes.get(rec.x_id),
                    run_id,
                    *[values.get(c) for c in columns],
                )
            )
            if previous is not None:
                event = self._data_event(
                    integration, model, rec, rid, existing, previous, fields, run_id
                )
                if event is not None:
                    kind, change, payload = event
                    events.append(
                        (iid, vendor, model, rid, rec.x_id, kind, run_id, change, payload, now)
                    )
        # New records are plain inserts (COPY on PostgreSQL): the look-up in
        # this transaction found none of them, and one run per (integration,
        # model) at a time means no one else writes them meanwhile.
        await self._inserts[model].execute(conn, new_rows)
        await self._upserts[model].execute(conn, changed_rows)
        await self._event_insert.execute(conn, events)
        if model == "leases":
            await self._replace_links(conn, integration, records, existing, ids, now)
        # Entries of records that now transform cleanly are stale.
        has_quarantine = await conn.execute(
            select(quarantine.c.id)
            .where(quarantine.c.integration_id == iid, quarantine.c.model == model)
            .limit(1)
        )
        if has_quarantine.first() is not None:
            await self._quarantine_delete.execute(conn, iid, [r.x_id for r in records], model)

    @staticmethod
    def _data_event(
        integration: Integration,
        model: str,
        rec: NormalizedRecord,
        rid: str,
        existing: Mapping[str, tuple[str, str | None, bool]],
        previous: Mapping[str, Mapping[str, Any]],
        fields: Sequence[str],
        run_id: str,
    ) -> tuple[str, dict[str, Any] | None, dict[str, Any]] | None:
        """(event type, diff, payload) of a written record; None if no field changed."""
        values = rec.values
        if values.get("custom_data") is None:
            # Stored as {} (see the row above): the same in the event and diff.
            values = {**values, "custom_data": {}}
        payload: dict[str, Any] = {
            "integration_id": integration.id,
            "vendor": integration.vendor,
            "model": model,
            "record_id": str(uuid.UUID(rid)),
            "x_id": rec.x_id,
            "property_id": json_record(values, ("property_id",))["property_id"],
            "job_id": run_id,
        }
        known = existing.get(rec.x_id)
        if known is None or known[2]:
            payload["record"] = json_record(values, fields)
            if known is not None:
                payload["undeleted"] = True
            return EventType.DATA_NEW.value, None, payload
        change = diff(previous.get(rec.x_id, {}), values, fields)
        if not change:
            return None
        payload["diff"] = change.as_json()
        return EventType.DATA_UPDATE.value, payload["diff"], payload

    async def _previous_values(
        self, conn: AsyncConnection, model: str, integration_id: str, x_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """x_id → the stored event fields of these records, in one query per page."""
        if not x_ids:
            return {}
        table = MODEL_TABLES[model]
        fields = self._event_fields[model]
        query = select(table.c.x_id, *(table.c[f] for f in fields)).where(
            table.c.integration_id == integration_id
        )
        rows: list[Any] = []
        if self.engine.dialect.name == "postgresql":
            # = ANY(array): one parameter, an index look-up per key.
            keys = bindparam("x_ids", list(x_ids), type_=postgresql.ARRAY(table.c.x_id.type))
            rows.extend(await conn.execute(query.where(table.c.x_id == any_(keys))))
        else:
            for i in range(0, len(x_ids), 900):
                chunk = list(x_ids[i : i + 900])
                rows.extend(await conn.execute(query.where(table.c.x_id.in_(chunk))))
        return {r.x_id: {f: r._mapping[f] for f in fields} for r in rows}

    async def _replace_links(
        self,
        conn: AsyncConnection,
        integration: Integration,
        leases: list[NormalizedRecord],
        existing: Mapping[str, object],
        lease_ids: Mapping[str, str],
        now: datetime,
    ) -> None:
        iid, vendor = integration.id, integration.vendor
        # New leases have no links yet; only updated ones need theirs replaced.
        await self._link_delete.execute(conn, iid, [r.x_id for r in leases if r.x_id in existing])
        link_cols = self._link_columns
        # Keyed by (lease, resident): a PMS may list one tenant twice on a lease.
        rows: dict[tuple[str, str], tuple[Any, ...]] = {}
        for rec in leases:
            lease_id = lease_ids[rec.x_id]
            for link in rec.links:
                values = {
                    **link.values,
                    "x_lease_id": rec.x_id,
                    "x_resident_id": link.x_resident_id,
                }
                rows[(rec.x_id, link.x_resident_id)] = (
                    record_key(iid, LINK_MODEL, f"{rec.x_id}:{link.x_resident_id}"),
                    iid,
                    vendor,
                    lease_id,
                    record_key(iid, "residents", link.x_resident_id),
                    now,
                    now,
                    now,
                    *[values.get(c) for c in link_cols],
                )
        await self._link_insert.execute(conn, list(rows.values()))

    async def known_sources(
        self, integration_id: str, model: str, x_ids: Sequence[str]
    ) -> dict[str, str]:
        if not x_ids:
            return {}
        async with translate_errors(), self.engine.connect() as conn:
            found = await self._keyed[model].lookup(conn, integration_id, x_ids)
        return {x: source for x, (_, source, deleted) in found.items() if source and not deleted}

    async def complete_checkpoint(
        self, integration_id: str, model: str, watermark: datetime | None
    ) -> None:
        async with translate_errors(), self.engine.begin() as conn:
            await self._save_checkpoint(
                conn,
                integration_id,
                model,
                {
                    "watermark": watermark,
                    "cursor": None,
                    "cursor_run_id": None,
                    "cursor_mode": None,
                    "window_since": None,
                    "window_until": None,
                    "updated_at": _now(),
                },
            )

    # -- deletions ------------------------------------------------------------

    async def sweep(
        self, scope: SweepScope, *, max_share: float, events: bool, now: datetime
    ) -> SweepResult:
        # Not refreshed by this run: every record it fetched (created,
        # updated, unchanged or quarantined) carries its run id.
        unseen = "({p}last_run_id IS NULL OR {p}last_run_id <> :run_id)"
        async with translate_errors(), self.engine.begin() as conn:
            return await self._sweep(
                conn, scope, unseen, {}, max_share=max_share, events=events, now=now
            )

    async def _sweep(
        self,
        conn: AsyncConnection,
        scope: SweepScope,
        unseen: str,
        extra: dict[str, Any],
        *,
        max_share: float | None,
        events: bool,
        now: datetime,
    ) -> SweepResult:
        """Count the scope and its unseen records; unless the guard holds, soft-delete them."""
        table = MODEL_TABLES[scope.model]
        if scope.windowed and (scope.date_field is None or scope.date_field not in table.c):
            return SweepResult(
                skipped="the run asked for a date window and the model stores no date "
                "to tell which records lie inside it"
            )
        params: dict[str, Any] = {
            "iid": scope.integration_id,
            "vendor": scope.vendor,
            "model": scope.model,
            "run_id": scope.run_id,
            "since": scope.window.since,
            "until": scope.window.until,
            "now": now,
            "excluded": scope.excluded_properties or None,
            **extra,
        }
        statements = self._sweeps[scope.model]
        total, candidates = await statements.count(conn, params, scope.date_field, unseen)
        share = 1.0 if max_share is None else max_share
        # A PMS answering with an empty list would have the whole scope go:
        # that is never taken on trust, whatever the threshold.
        held = (
            max_share is not None
            and candidates > 0
            and (candidates > max_share * total or candidates == total)
        )
        if held or candidates == 0:
            return SweepResult(total, candidates, 0, held, share)
        deleted = await statements.soft_delete(
            conn, params, scope.date_field, unseen, events=events
        )
        return SweepResult(total, candidates, deleted, False, share)

    async def _held_run(self, conn: AsyncConnection, run_id: str) -> Any:
        row = (await conn.execute(select(sync_runs).where(sync_runs.c.id == run_id))).first()
        if row is None:
            raise SweepError(f"no run {run_id!r}")
        if row.model is None or row.status != RunStatus.NEEDS_ATTENTION.value:
            raise SweepError(
                f"run {run_id} holds no sweep (status {row.status}"
                f"{', a whole sync: name one of its model runs' if row.model is None else ''})"
            )
        return row

    async def _resolve_held(self, conn: AsyncConnection, row: Any, deleted: int, note: str) -> None:
        """Mark a held model run SUCCESS; its root too once nothing else in it is held or failed."""
        await conn.execute(
            sync_runs.update()
            .where(sync_runs.c.id == row.id)
            .values(
                status=RunStatus.SUCCESS.value,
                deleted=row.deleted + deleted,
                error=f"{row.error}; {note}" if row.error else note,
            )
        )
        if row.root_run_id is None or row.root_run_id == row.id:
            return
        others = await conn.execute(
            select(sync_runs.c.id)
            .where(
                sync_runs.c.root_run_id == row.root_run_id,
                sync_runs.c.id != row.root_run_id,
                sync_runs.c.status != RunStatus.SUCCESS.value,
            )
            .limit(1)
        )
        if others.first() is None:
            await conn.execute(
                sync_runs.update()
                .where(
                    sync_runs.c.id == row.root_run_id,
                    sync_runs.c.status == RunStatus.NEEDS_ATTENTION.value,
                )
                .values(status=RunStatus.SUCCESS.value)
            )

    async def approve_sweep(
        self,
        run_id: str,
        *,
        date_field: str | None,
        events: bool,
        now: datetime,
        excluded_properties: frozenset[str] = frozenset(),
    ) -> SweepResult:
        async with translate_errors(), self.engine.begin() as conn:
            row = await self._held_run(conn, run_id)
            scope = SweepScope(
                integration_id=row.integration_id,
                vendor=row.vendor,
                model=row.model,
                run_id=row.id,
                window=FetchWindow(since=row.window_since, until=row.window_until),
                date_field=date_field,
                excluded_properties=excluded_properties,
            )
            # Recomputed now, not remembered: a record seen by any run since
            # the held one started is spared.
            result = await self._sweep(
                conn,
                scope,
                "{p}last_seen < :seen_before",
                {"seen_before": row.started_at},
                max_share=None,
                events=events,
                now=now,
            )
            if result.skipped:
                # Nothing was written: the run stays held for another look.
                raise SweepError(f"run {run_id}: {result.describe()}")
            note = f"sweep approved {now:%Y-%m-%d %H:%M:%S} UTC: {result.deleted} deleted"
            await self._resolve_held(conn, row, result.deleted, note)
        return result

    async def dismiss_sweep(self, run_id: str) -> None:
        async with translate_errors(), self.engine.begin() as conn:
            row = await self._held_run(conn, run_id)
            await self._resolve_held(
                conn, row, 0, f"sweep dismissed {_now():%Y-%m-%d %H:%M:%S} UTC"
            )

    # -- schedules ----------------------------------------------------------

    @staticmethod
    def _schedule(row: Any) -> Schedule:
        return Schedule(
            integration_id=row.integration_id,
            job=row.job,
            trigger=dict(row.trigger),
            state=ScheduleState(row.state),
            next_run_at=row.next_run_at,
            last_run_at=row.last_run_at,
            lease_owner=row.lease_owner,
            lease_expires_at=row.lease_expires_at,
            coalesced_fires=row.coalesced_fires or 0,
        )

    async def put_schedule(
        self,
        integration_id: str,
        job: str,
        trigger: Mapping[str, Any],
        next_run_at: datetime | None,
        state: ScheduleState = ScheduleState.ACTIVE,
    ) -> None:
        values = {
            "trigger": dict(trigger),
            "next_run_at": next_run_at,
            "state": state.value,
            "updated_at": _now(),
        }
        stmt = self._insert(schedules).values(integration_id=integration_id, job=job, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[schedules.c.integration_id, schedules.c.job], set_=values
        )
        async with translate_errors(), self.engine.begin() as conn:
            await conn.execute(stmt)

    async def delete_schedule(self, integration_id: str, job: str) -> None:
        async with translate_errors(), self.engine.begin() as conn:
            await conn.execute(
                schedules.delete().where(
                    schedules.c.integration_id == integration_id, schedules.c.job == job
                )
            )

    async def add_schedules(
        self, rows: Sequence[tuple[str, str, Mapping[str, Any], datetime | None]]
    ) -> None:
        if not rows:
            return
        now = _now()
        values = [
            {
                "integration_id": iid,
                "job": job,
                "trigger": dict(trigger),
                "state": ScheduleState.ACTIVE.value,
                "next_run_at": next_run_at,
                "updated_at": now,
            }
            for iid, job, trigger, next_run_at in rows
        ]
        async with translate_errors(), self.engine.begin() as conn:
            await conn.execute(schedules.insert(), values)

    async def list_schedules(self, integration_id: str | None = None) -> list[Schedule]:
        query = select(schedules).order_by(
            schedules.c.next_run_at, schedules.c.integration_id, schedules.c.job
        )
        if integration_id is not None:
            query = query.where(schedules.c.integration_id == integration_id)
        async with translate_errors(), self.engine.connect() as conn:
            return [self._schedule(r) for r in await conn.execute(query)]

    async def set_schedule_state(
        self, integration_id: str, state: ScheduleState, job: str | None = None
    ) -> int:
        stmt = (
            schedules.update()
            .where(schedules.c.integration_id == integration_id)
            .values(state=state.value, updated_at=_now())
        )
        if job is not None:
            stmt = stmt.where(schedules.c.job == job)
        async with translate_errors(), self.engine.begin() as conn:
            return int((await conn.execute(stmt)).rowcount)

    @staticmethod
    def _claimable(now: datetime, *, expired: bool) -> list[Any]:
        """Predicates of schedules :meth:`claim_due` may take, in two disjoint sets.

        Free rows (never leased or released) and rows whose lease expired are
        separate queries so each matches one partial index; ``'ACTIVE'`` is
        spelled inline because a bound parameter would not let the planner
        (PostgreSQL's generic plans, SQLite's) prove the index predicate.
        """
        busy = schedules.alias("busy")
        leased = (
            and_(schedules.c.lease_owner.is_not(None), schedules.c.lease_expires_at < now)
            if expired
            else schedules.c.lease_owner.is_(None)
        )
        return [
            schedules.c.state == _ACTIVE,
            leased,
            # One job of an integration at a time: its jobs share the PMS's
            # rate limit and the same models.
            ~exists().where(
                busy.c.integration_id == schedules.c.integration_id,
                busy.c.lease_owner.is_not(None),
                busy.c.lease_expires_at >= now,
            ),
        ]

    async def claim_due(
        self, node: str, now: datetime, lease: timedelta, limit: int
    ) -> list[Schedule]:
        postgres = self.engine.dialect.name == "postgresql"

        def claim(expired: bool, n: int) -> Any:
            due = (
                select(schedules.c.integration_id, schedules.c.job)
                .where(*self._claimable(now, expired=expired), schedules.c.next_run_at <= now)
                .order_by(schedules.c.next_run_at)
                .limit(n)
            )
            if postgres:
                # Rows another node is claiming right now are skipped, not waited for.
                due = due.with_for_update(skip_locked=True)
            return (
                schedules.update()
                .where(tuple_(schedules.c.integration_id, schedules.c.job).in_(due))
                .values(lease_owner=node, lease_expires_at=now + lease, updated_at=now)
                .returning(*schedules.c)
            )

        async def claim_both(conn: AsyncConnection) -> list[Any]:
            # Expired leases first: they are rare, and a dead node's job has
            # waited longest.
            rows = list((await conn.execute(claim(True, limit))).all())
            if len(rows) < limit:
                rows += (await conn.execute(claim(False, limit - len(rows)))).all()
            return rows

        async with translate_errors():
            if postgres:
                async with self.engine.begin() as conn:
                    rows = await claim_both(conn)
            else:
                rows = await self._sqlite_immediate(claim_both)
        claimed = sorted((self._schedule(r) for r in rows), key=lambda s: (s.next_run_at, s.job))
        # Two due jobs of one integration can be picked in the same pass:
        # keep the first, hand the others back untouched.
        kept: list[Schedule] = []
        extra: list[tuple[str, str]] = []
        seen: set[str] = set()
        for sched in claimed:
            if sched.integration_id in seen:
                extra.append((sched.integration_id, sched.job))
            else:
                seen.add(sched.integration_id)
                kept.append(sched)
        if extra:
            async with translate_errors(), self.engine.begin() as conn:
                await conn.execute(
                    schedules.update()
                    .where(
                        schedules.c.lease_owner == node,
                        tuple_(schedules.c.integration_id, schedules.c.job).in_(extra),
                    )
                    .values(lease_owner=None, lease_expires_at=None)
                )
        return kept

    async def _sqlite_immediate(
        self, work: Callable[[AsyncConnection], Awaitable[list[Any]]]
    ) -> list[Any]:
        # BEGIN IMMEDIATE takes the write lock before reading, so two claimers
        # never both read the same free row (a deferred transaction would).
        async with self.engine.connect() as plain:
            conn = await plain.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                rows = await work(conn)
            except BaseException:
                await conn.exec_driver_sql("ROLLBACK")
                raise
            await conn.exec_driver_sql("COMMIT")
            return rows

    async def next_due_at(self, now: datetime) -> datetime | None:
        # The same predicates as claim_due, so an expired lease counts as free;
        # one round trip, each half answered from its own partial index.
        query = select(
            *(
                select(func.min(schedules.c.next_run_at))
                .where(*self._claimable(now, expired=expired))
                .scalar_subquery()
                for expired in (False, True)
            )
        )
        async with translate_errors(), self.engine.connect() as conn:
            row = (await conn.execute(query)).one()
        found = []
        for raw in row:
            # SQLite returns the raw text of an aggregate: read it as a timestamp.
            value = datetime.fromisoformat(raw).replace(tzinfo=UTC) if isinstance(raw, str) else raw
            if value is not None:
                found.append(value.astimezone(UTC))
        return min(found, default=None)

    async def renew_leases(
        self, node: str, keys: Sequence[tuple[str, str]], until: datetime
    ) -> int:
        if not keys:
            return 0
        stmt = (
            schedules.update()
            .where(
                schedules.c.lease_owner == node,
                tuple_(schedules.c.integration_id, schedules.c.job).in_(list(keys)),
            )
            .values(lease_expires_at=until)
        )
        async with translate_errors(), self.engine.begin() as conn:
            return int((await conn.execute(stmt)).rowcount)

    async def release_schedule(
        self,
        node: str,
        integration_id: str,
        job: str,
        *,
        next_run_at: datetime | None,
        last_run_at: datetime | None,
        coalesced_fires: int = 0,
    ) -> bool:
        stmt = (
            schedules.update()
            .where(
                schedules.c.integration_id == integration_id,
                schedules.c.job == job,
                schedules.c.lease_owner == node,
            )
            .values(
                lease_owner=None,
                lease_expires_at=None,
                next_run_at=next_run_at,
                last_run_at=last_run_at,
                coalesced_fires=coalesced_fires,
                updated_at=_now(),
            )
        )
        async with translate_errors(), self.engine.begin() as conn:
            return bool((await conn.execute(stmt)).rowcount)

    async def defer_schedule(
        self, node: str, integration_id: str, job: str, *, until: datetime
    ) -> bool:
        stmt = (
            schedules.update()
            .where(
                schedules.c.integration_id == integration_id,
                schedules.c.job == job,
                schedules.c.lease_owner == node,
            )
            .values(lease_expires_at=until, last_run_at=_now(), updated_at=_now())
        )
        async with translate_errors(), self.engine.begin() as conn:
            return bool((await conn.execute(stmt)).rowcount)

    async def count_records(self, integration_id: str, model: str) -> int:
        table = MODEL_TABLES.get(model, residents_to_leases)
        query = (
            select(func.count()).select_from(table).where(table.c.integration_id == integration_id)
        )
        if "deleted_at" in table.c:
            query = query.where(table.c.deleted_at.is_(None))
        async with translate_errors(), self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())
