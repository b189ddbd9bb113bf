"""The write-job store: creates and updates waiting for, or carried to, the PMS.

A write job is stored before its request is answered, so an answered write
is never lost. Workers claim jobs the way schedules are claimed: one
conditional update per claim (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a
``BEGIN IMMEDIATE`` transaction on SQLite), with a lease, so no job runs on
two nodes at once and a job whose worker died is taken over when its lease
runs out. Every later change names the claim's owner: a worker that lost
its lease records nothing. The store shares its engine with
:class:`~syncd.store.sql.SqlStore`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from syncd.domain import OutboxEvent
from syncd.store.engine import translate_errors
from syncd.store.runs import insert_events
from syncd.store.tables import write_jobs

_w = write_jobs


class WriteStatus(StrEnum):
    """Where a write job stands. Clients see RUNNING as PENDING."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    PARTIAL_SUCCESS = "PARTIAL_SUCCESS"
    FAILURE = "FAILURE"

    @property
    def finished(self) -> bool:
        """Whether the job is done (nothing more will happen to it)."""
        return self in (WriteStatus.SUCCESS, WriteStatus.PARTIAL_SUCCESS, WriteStatus.FAILURE)


@dataclass(frozen=True, slots=True)
class NewWrite:
    """A write job to store: what to write, where, and the client's idempotency key."""

    integration_id: str
    vendor: str
    model: str
    operation: str
    payload: Mapping[str, Any]
    pms_payload: Mapping[str, Any]
    request_hash: str
    record_id: uuid.UUID | None = None
    x_id: str | None = None
    property_x_id: str | None = None
    stripped_fields: Sequence[str] = ()
    idempotency_key: str | None = None
    retry_of: str | None = None


@dataclass(frozen=True, slots=True)
class WriteJob:
    """A write job as stored."""

    id: str
    integration_id: str
    vendor: str
    model: str
    operation: str
    payload: Mapping[str, Any]
    pms_payload: Mapping[str, Any]
    stripped_fields: tuple[str, ...]
    status: WriteStatus
    attempts: int
    next_attempt_at: datetime
    request_hash: str
    created_at: datetime
    updated_at: datetime
    record_id: uuid.UUID | None = None
    x_id: str | None = None
    property_x_id: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    errors: tuple[str, ...] = field(default=())
    created_x_id: str | None = None
    created_record_id: uuid.UUID | None = None
    idempotency_key: str | None = None
    retry_of: str | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WriteFilter:
    """Which write jobs a listing wants (None: any), newest first."""

    integration_id: str | None = None
    statuses: tuple[WriteStatus, ...] = ()
    model: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _job(row: Any) -> WriteJob:
    return _job_of(row._mapping)


def _job_of(m: Mapping[str, Any]) -> WriteJob:
    return WriteJob(
        id=m["id"],
        integration_id=m["integration_id"],
        vendor=m["vendor"],
        model=m["model"],
        operation=m["operation"],
        payload=m["payload"],
        pms_payload=m["pms_payload"],
        stripped_fields=tuple(m["stripped_fields"]),
        status=WriteStatus(m["status"]),
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
        request_hash=m["request_hash"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        record_id=m.get("record_id"),
        x_id=m.get("x_id"),
        property_x_id=m.get("property_x_id"),
        lease_owner=m.get("lease_owner"),
        lease_until=m.get("lease_until"),
        sent_at=m.get("sent_at"),
        errors=tuple(m["errors"]),
        created_x_id=m.get("created_x_id"),
        created_record_id=m.get("created_record_id"),
        idempotency_key=m.get("idempotency_key"),
        retry_of=m.get("retry_of"),
        finished_at=m.get("finished_at"),
    )


class SqlWriteJobs:
    """Write jobs in the cache database (PostgreSQL or SQLite)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def submit(self, new: NewWrite, now: datetime) -> tuple[WriteJob, bool]:
        """Store a PENDING job; (the job, True), or (the earlier job of its key, False).

        The caller compares ``request_hash`` to tell a repeated request from
        another request under the same key.
        """
        job_id = str(uuid.uuid4())
        row = {
            "id": job_id,
            "integration_id": new.integration_id,
            "vendor": new.vendor,
            "model": new.model,
            "operation": new.operation,
            "record_id": new.record_id,
            "x_id": new.x_id,
            "property_x_id": new.property_x_id,
            "payload": dict(new.payload),
            "pms_payload": dict(new.pms_payload),
            "stripped_fields": list(new.stripped_fields),
            "status": WriteStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "errors": [],
            "idempotency_key": new.idempotency_key,
            "request_hash": new.request_hash,
            "retry_of": new.retry_of,
            "created_at": now,
            "updated_at": now,
        }
        if new.idempotency_key is not None:
            earlier = await self.by_key(new.idempotency_key)
            if earlier is not None:
                return earlier, False
        raced = False
        async with translate_errors():
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(_w.insert().values(**row))
            except IntegrityError:
                if new.idempotency_key is None:
                    raise
                raced = True
        if raced and new.idempotency_key is not None:
            # Another request with the same key won the race: answer with its job.
            earlier = await self.by_key(new.idempotency_key)
            if earlier is not None:
                return earlier, False
        return _job_of(row), True

    async def get(self, job_id: str) -> WriteJob | None:
        """One job by id; None if there is none."""
        async with translate_errors(), self.engine.connect() as conn:
            row = (await conn.execute(select(_w).where(_w.c.id == job_id))).first()
        return _job(row) if row else None

    async def by_key(self, key: str) -> WriteJob | None:
        """The job stored under an idempotency key; None if there is none."""
        async with translate_errors(), self.engine.connect() as conn:
            row = (await conn.execute(select(_w).where(_w.c.idempotency_key == key))).first()
        return _job(row) if row else None

    async def list_jobs(self, matching: WriteFilter, *, offset: int, limit: int) -> list[WriteJob]:
        """A page of jobs, newest first."""
        query = (
            select(_w)
            .where(*self._where(matching))
            .order_by(_w.c.created_at.desc(), _w.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        async with translate_errors(), self.engine.connect() as conn:
            return [_job(r) for r in await conn.execute(query)]

    async def count(self, matching: WriteFilter) -> int:
        """How many jobs match."""
        query = select(func.count()).select_from(_w).where(*self._where(matching))
        async with translate_errors(), self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    @staticmethod
    def _where(matching: WriteFilter) -> list[Any]:
        where = []
        if matching.integration_id is not None:
            where.append(_w.c.integration_id == matching.integration_id)
        if matching.statuses:
            where.append(_w.c.status.in_([s.value for s in matching.statuses]))
        if matching.model is not None:
            where.append(_w.c.model == matching.model)
        if matching.since is not None:
            where.append(_w.c.created_at >= matching.since)
        if matching.until is not None:
            where.append(_w.c.created_at < matching.until)
        return where

    async def pending_count(self) -> int:
        """Jobs not finished yet (queued or being carried out)."""
        query = (
            select(func.count())
            .select_from(_w)
            .where(_w.c.status.in_([WriteStatus.PENDING.value, WriteStatus.RUNNING.value]))
        )
        async with translate_errors(), self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def next_due(self) -> datetime | None:
        """When the earliest PENDING job becomes claimable, or a RUNNING lease runs out."""
        pending = select(func.min(_w.c.next_attempt_at)).where(
            _w.c.status == WriteStatus.PENDING.value
        )
        leased = select(func.min(_w.c.lease_until)).where(_w.c.status == WriteStatus.RUNNING.value)
        async with translate_errors(), self.engine.connect() as conn:
            times = [
                (await conn.execute(pending)).scalar_one(),
                (await conn.execute(leased)).scalar_one(),
            ]
        due = [t for t in times if t is not None]
        return min(due) if due else None

    async def claim(self, node: str, now: datetime, lease: timedelta) -> WriteJob | None:
        """Take the oldest due job for ``node`` (RUNNING, leased until ``now + lease``).

        Due: PENDING whose ``next_attempt_at`` has come, or RUNNING whose
        lease ran out (its worker died mid-write). The attempt is counted.
        """
        postgres = self.engine.dialect.name == "postgresql"
        due = (
            select(_w.c.id)
            .where(
                or_(
                    and_(
                        _w.c.status == WriteStatus.PENDING.value,
                        _w.c.next_attempt_at <= now,
                    ),
                    and_(_w.c.status == WriteStatus.RUNNING.value, _w.c.lease_until < now),
                )
            )
            .order_by(_w.c.next_attempt_at, _w.c.id)
            .limit(1)
        )
        if postgres:
            due = due.with_for_update(skip_locked=True)
        stmt = (
            _w.update()
            .where(_w.c.id.in_(due.scalar_subquery()))
            .values(
                status=WriteStatus.RUNNING.value,
                lease_owner=node,
                lease_until=now + lease,
                attempts=_w.c.attempts + 1,
                updated_at=now,
            )
            .returning(*_w.c)
        )
        async with translate_errors():
            if postgres:
                async with self.engine.begin() as conn:
                    row = (await conn.execute(stmt)).first()
            else:
                row = await self._sqlite_immediate(stmt)
        return _job(row) if row else None

    async def _sqlite_immediate(self, stmt: Any) -> Any:
        # BEGIN IMMEDIATE takes the write lock before reading, so two workers
        # never both read the same due row.
        async with self.engine.connect() as plain:
            conn = await plain.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                row = (await conn.execute(stmt)).first()
            except BaseException:
                await conn.exec_driver_sql("ROLLBACK")
                raise
            await conn.exec_driver_sql("COMMIT")
            return row

    def _held(self, job_id: str, node: str) -> Any:
        return and_(
            _w.c.id == job_id,
            _w.c.status == WriteStatus.RUNNING.value,
            _w.c.lease_owner == node,
        )

    async def mark_sent(self, job_id: str, node: str, now: datetime) -> bool:
        """Record that a create was handed to the PMS (first time only); False: lease lost."""
        stmt = (
            _w.update()
            .where(self._held(job_id, node))
            .values(sent_at=func.coalesce(_w.c.sent_at, now), updated_at=now)
        )
        async with translate_errors(), self.engine.begin() as conn:
            return bool((await conn.execute(stmt)).rowcount)

    async def renew(self, job_id: str, node: str, now: datetime, lease: timedelta) -> bool:
        """Extend the lease of a job being carried out; False: the lease was lost."""
        stmt = (
            _w.update()
            .where(self._held(job_id, node))
            .values(lease_until=now + lease, updated_at=now)
        )
        async with translate_errors(), self.engine.begin() as conn:
            return bool((await conn.execute(stmt)).rowcount)

    async def reschedule(
        self, job_id: str, node: str, *, at: datetime, error: str, now: datetime
    ) -> bool:
        """Hand a job back as PENDING until ``at`` (a transient fault); False: lease lost."""
        async with translate_errors(), self.engine.begin() as conn:
            current = (
                await conn.execute(select(_w.c.errors).where(self._held(job_id, node)))
            ).scalar_one_or_none()
            if current is None:
                return False
            stmt = (
                _w.update()
                .where(self._held(job_id, node))
                .values(
                    status=WriteStatus.PENDING.value,
                    next_attempt_at=at,
                    lease_owner=None,
                    lease_until=None,
                    errors=[*current, error][-20:],
                    updated_at=now,
                )
            )
            return bool((await conn.execute(stmt)).rowcount)

    async def finish(
        self,
        job_id: str,
        node: str,
        *,
        status: WriteStatus,
        errors: Sequence[str],
        now: datetime,
        created_x_id: str | None = None,
        created_record_id: uuid.UUID | None = None,
        events: Sequence[OutboxEvent] = (),
    ) -> bool:
        """Record a job's outcome and its events in one transaction; False: lease lost."""
        stmt = (
            _w.update()
            .where(self._held(job_id, node))
            .values(
                status=status.value,
                errors=list(errors),
                created_x_id=created_x_id,
                created_record_id=created_record_id,
                lease_owner=None,
                lease_until=None,
                finished_at=now,
                updated_at=now,
            )
        )
        async with translate_errors(), self.engine.begin() as conn:
            if not (await conn.execute(stmt)).rowcount:
                return False
            await insert_events(conn, events, now)
            return True

    async def set_read_back(self, job_id: str, created_record_id: uuid.UUID, now: datetime) -> None:
        """Note the syncd id of the record a finished job wrote, once it was read back."""
        stmt = (
            _w.update()
            .where(_w.c.id == job_id)
            .values(created_record_id=created_record_id, updated_at=now)
        )
        async with translate_errors(), self.engine.begin() as conn:
            await conn.execute(stmt)
