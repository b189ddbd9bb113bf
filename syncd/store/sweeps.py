"""Deletion sweeps in SQL: :class:`SqlSweeps`.

Soft-deleting the records of a scope a run did not see, unless the guard
holds the sweep; and approving or dismissing a held one afterwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from syncd.crypto import Cipher
from syncd.domain import FetchWindow, RunStatus, SweepResult, SweepScope
from syncd.errors import SweepError
from syncd.store._shared import SqlRepository, utc_now
from syncd.store.base import DEFAULT_STALE_AFTER, Sweeps
from syncd.store.bulk import sweep_statements
from syncd.store.engine import translate_errors
from syncd.store.seen import OF_MODEL, OF_RUN, seen_statements
from syncd.store.tables import MODEL_TABLES, sync_runs


class SqlSweeps(SqlRepository, Sweeps):
    """:class:`~syncd.store.base.Sweeps` on an SQLAlchemy async engine."""

    def __init__(self, engine: AsyncEngine, cipher: Cipher) -> None:
        super().__init__(engine, cipher)
        dialect = engine.dialect.name
        self._seen = seen_statements(dialect)
        self._sweeps = {
            name: sweep_statements(dialect, t, self._seen) for name, t in MODEL_TABLES.items()
        }

    async def sweep(
        self, scope: SweepScope, *, max_share: float, events: bool, now: datetime
    ) -> SweepResult:
        # Not seen by this run: every record it wrote carries its run id; the
        # others it fetched (unchanged or quarantined) are in its seen pages.
        unseen = "({p}last_run_id IS NULL OR {p}last_run_id <> :run_id)"
        async with translate_errors(), self.engine.begin() as conn:
            await self._hash_joins(conn)
            return await self._sweep(
                conn, scope, unseen, OF_RUN, {}, max_share=max_share, events=events, now=now
            )

    async def release_seen(self, integration_id: str, model: str) -> int:
        async with translate_errors(), self.engine.begin() as conn:
            await self._hash_joins(conn)
            return await self._seen.release(conn, MODEL_TABLES[model], integration_id, model)

    async def _hash_joins(self, conn: AsyncConnection) -> None:
        """Have PostgreSQL join a scope with seen pages by hashing, in this transaction.

        A table just filled by COPY has no statistics yet, and unnest is
        guessed at 10 rows: the planner then picks a nested loop, one pass
        over every seen x_id per record (minutes, for a large cache). The
        forbidding cost that forces the hash join would also set off JIT
        compilation, which costs more than the query.
        """
        if self.engine.dialect.name == "postgresql":
            await conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
            await conn.exec_driver_sql("SET LOCAL jit = off")

    async def _sweep(
        self,
        conn: AsyncConnection,
        scope: SweepScope,
        unseen: str,
        pages: str,
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
        total, candidates = await statements.count(conn, params, scope.date_field, unseen, pages)
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
            conn, params, scope.date_field, unseen, pages, events=events
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

    async def _refuse_while_syncing(self, conn: AsyncConnection, row: Any, now: datetime) -> None:
        """Raise SweepError while a live run syncs the held run's model.

        Such a run records what it sees in seen pages as it goes, without
        touching the rows: an approval racing it could delete a record the
        run has just seen.
        """
        beat = func.coalesce(sync_runs.c.heartbeat_at, sync_runs.c.started_at)
        live = await conn.execute(
            select(sync_runs.c.id).where(
                sync_runs.c.integration_id == row.integration_id,
                sync_runs.c.model == row.model,
                sync_runs.c.status == RunStatus.RUNNING.value,
                beat >= now - DEFAULT_STALE_AFTER,
            )
        )
        running = live.first()
        if running is not None:
            raise SweepError(
                f"run {running.id} is syncing {row.model} right now: approve the held sweep "
                "when it has finished"
            )

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
            await self._hash_joins(conn)
            row = await self._held_run(conn, run_id)
            await self._refuse_while_syncing(conn, row, now)
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
            # the held one started is spared (runs that ended since folded
            # their seen pages into last_seen; a running one's are still here).
            result = await self._sweep(
                conn,
                scope,
                "{p}last_seen < :seen_before",
                OF_MODEL,
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
                conn, row, 0, f"sweep dismissed {utc_now():%Y-%m-%d %H:%M:%S} UTC"
            )
