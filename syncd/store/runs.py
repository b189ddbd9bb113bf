"""The run log in SQL: :class:`SqlRunLog`.

Sync runs and their model runs: starting one (after reaping runs whose
process died), heartbeats, skipped runs, finishing with counts, look-ups,
filtered pages of the job log (:class:`RunFilter`), and the change events
a run writes to the outbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from syncd.domain import (
    COUNT_FIELDS,
    READ_BACK_TRIGGER,
    SYNCED_STATUSES,
    FetchWindow,
    Integration,
    OutboxEvent,
    RunCounts,
    RunRecord,
    RunStatus,
    SyncMode,
)
from syncd.errors import RunConflict
from syncd.store._shared import SqlRepository, utc_now
from syncd.store.base import DEFAULT_STALE_AFTER, RunLog
from syncd.store.engine import translate_errors
from syncd.store.tables import change_events, sync_runs

#: A read-back run (trigger ``write``) silent this long belonged to a worker that died.
READ_BACK_STALE_AFTER = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Which runs of the job log to read; every condition given must hold."""

    integration_id: str | None = None
    root_run_id: str | None = None
    run_id: str | None = None
    #: Any of these statuses (empty: any status).
    statuses: Collection[RunStatus] = ()
    #: Runs of this model.
    model: str | None = None
    #: Only root runs (a whole sync: no model of its own).
    roots_only: bool = False
    #: ``started_at`` at or after ``started_after`` and before ``started_before``.
    started_after: datetime | None = None
    started_before: datetime | None = None

    def where(self) -> list[ColumnElement[bool]]:
        """The conditions as SQL."""
        c = sync_runs.c
        equal = {
            c.integration_id: self.integration_id,
            c.root_run_id: self.root_run_id,
            c.id: self.run_id,
        }
        where = [col == value for col, value in equal.items() if value is not None]
        if self.statuses:
            where.append(c.status.in_(sorted(s.value for s in self.statuses)))
        if self.roots_only:
            where.append(c.model.is_(None))
        if self.model is not None:
            where.append(c.model == self.model)
        if self.started_after is not None:
            where.append(c.started_at >= self.started_after)
        if self.started_before is not None:
            where.append(c.started_at < self.started_before)
        return where


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


class SqlRunLog(SqlRepository, RunLog):
    """:class:`~syncd.store.base.RunLog` on an SQLAlchemy async engine."""

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
        now = utc_now()
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
        now = utc_now()
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
        if model is not None:
            # A read-back fetches a record or two: silent for a minute, it died
            # (and must not hold the model's syncs off for the whole stale_after).
            brief = and_(
                sync_runs.c.trigger == READ_BACK_TRIGGER,
                sync_runs.c.heartbeat_at < now - READ_BACK_STALE_AFTER,
            )
            verdicts.append((brief, "abandoned: its write worker stopped"))
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
            return await self._abandon(conn, where, reason, utc_now())

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
        now = utc_now()
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
        before = utc_now() - stale_after
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
                sync_runs.update().where(sync_runs.c.id == run_id).values(heartbeat_at=utc_now())
            )

    async def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        counts: RunCounts | None,
        error: str | None = None,
        events: Sequence[OutboxEvent] = (),
    ) -> None:
        now = utc_now()
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
            await self._write_events(conn, events, utc_now())

    @staticmethod
    async def _write_events(
        conn: AsyncConnection, events: Sequence[OutboxEvent], now: datetime
    ) -> None:
        await insert_events(conn, events, now)

    async def has_synced(self, integration_id: str, model: str | None) -> bool:
        query = select(sync_runs.c.id).where(
            sync_runs.c.integration_id == integration_id,
            sync_runs.c.status.in_([s.value for s in SYNCED_STATUSES]),
            sync_runs.c.trigger != READ_BACK_TRIGGER,
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
        matching = RunFilter(
            integration_id=integration_id,
            root_run_id=root_run_id,
            statuses=(status,) if status is not None else (),
        )
        runs, _ = await self.page_runs(matching, limit=limit, count=False)
        return runs

    async def page_runs(
        self,
        matching: RunFilter,
        *,
        order: Sequence[tuple[str, bool]] = (("started_at", True),),
        offset: int = 0,
        limit: int = 50,
        count: bool = True,
    ) -> tuple[list[RunRecord], int]:
        """One page of the runs ``matching``, ordered by ``order`` (column, descending) and id.

        Returns the page and, with ``count``, how many runs match in all (else 0).
        """
        where = matching.where()
        terms = [
            sync_runs.c[n].desc().nulls_first() if desc else sync_runs.c[n].asc().nulls_last()
            for n, desc in order
        ]
        if all(n != "id" for n, _ in order):
            terms.append(sync_runs.c.id.asc())  # a stable order for paging
        query = select(sync_runs).where(*where).order_by(*terms).offset(offset).limit(limit)
        async with translate_errors(), self.engine.connect() as conn:
            runs = [self._run(r) for r in await conn.execute(query)]
            total = 0
            if count:
                counted = select(func.count()).select_from(sync_runs).where(*where)
                total = int((await conn.execute(counted)).scalar_one())
        return runs, total

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

    async def last_root_runs(self, integration_ids: Sequence[str]) -> dict[str, RunRecord]:
        """The last whole sync of each of ``integration_ids`` that ran, in one query."""
        if not integration_ids:
            return {}
        roots = sync_runs.c.parent_run_id.is_(None)
        latest = (
            select(sync_runs.c.integration_id, func.max(sync_runs.c.started_at).label("at"))
            .where(roots, sync_runs.c.integration_id.in_(list(integration_ids)))
            .group_by(sync_runs.c.integration_id)
            .subquery()
        )
        query = (
            select(sync_runs)
            .join(
                latest,
                (sync_runs.c.integration_id == latest.c.integration_id)
                & (sync_runs.c.started_at == latest.c.at),
            )
            .where(roots)
        )
        async with translate_errors(), self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {run.integration_id: run for run in (self._run(r) for r in rows)}

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


async def insert_events(
    conn: AsyncConnection, events: Sequence[OutboxEvent], now: datetime
) -> None:
    """Add ``events`` to the change outbox within ``conn``'s transaction."""
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
