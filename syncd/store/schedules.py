"""Schedules in SQL: :class:`SqlSchedules`.

Each job's trigger and next fire time, and the leases that let exactly one
node run a due job (claim, renew, release, defer).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from syncd.domain import Schedule, ScheduleState
from syncd.store._shared import SqlRepository, utc_now
from syncd.store.base import Schedules
from syncd.store.engine import translate_errors
from syncd.store.tables import schedules

#: Inline, not a bound parameter: see SqlSchedules._claimable.
_ACTIVE: ColumnElement[str] = literal_column("'ACTIVE'")


class SqlSchedules(SqlRepository, Schedules):
    """:class:`~syncd.store.base.Schedules` on an SQLAlchemy async engine."""

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
            "updated_at": utc_now(),
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
        now = utc_now()
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

    async def add_schedule_if_absent(
        self, integration_id: str, job: str, trigger: Mapping[str, Any], next_run_at: datetime
    ) -> bool:
        # One statement, so two requests racing on any node cannot both win.
        stmt = (
            self._insert(schedules)
            .values(
                integration_id=integration_id,
                job=job,
                trigger=dict(trigger),
                state=ScheduleState.ACTIVE.value,
                next_run_at=next_run_at,
                updated_at=utc_now(),
            )
            .on_conflict_do_nothing(index_elements=[schedules.c.integration_id, schedules.c.job])
            .returning(schedules.c.job)
        )
        async with translate_errors(), self.engine.begin() as conn:
            return (await conn.execute(stmt)).first() is not None

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
            .values(state=state.value, updated_at=utc_now())
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
                updated_at=utc_now(),
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
            .values(lease_expires_at=until, last_run_at=utc_now(), updated_at=utc_now())
        )
        async with translate_errors(), self.engine.begin() as conn:
            return bool((await conn.execute(stmt)).rowcount)
