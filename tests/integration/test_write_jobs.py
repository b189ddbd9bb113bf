"""The write-job store on both engines: idempotent submits, exclusive claims, leases, outcomes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from syncd.domain import EventType, OutboxEvent
from syncd.store.sql import SqlStore
from syncd.store.tables import change_events
from syncd.store.writes import NewWrite, SqlWriteJobs, WriteFilter, WriteStatus

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)


def new(key: str | None = None, digest: str = "h1", model: str = "leads") -> NewWrite:
    return NewWrite(
        integration_id="acme",
        vendor="RESMAN",
        model=model,
        operation="create",
        payload={"first_name": "Ann"},
        pms_payload={"first_name": "Ann"},
        request_hash=digest,
        idempotency_key=key,
    )


async def test_submit_stores_a_pending_job(store: SqlStore) -> None:
    jobs = SqlWriteJobs(store.engine)
    job, made = await jobs.submit(new(), T0)
    assert made
    got = await jobs.get(job.id)
    assert got is not None
    assert got.status is WriteStatus.PENDING and got.attempts == 0
    assert got.payload == {"first_name": "Ann"} and got.next_attempt_at == T0
    assert await jobs.get("nope") is None


async def test_same_idempotency_key_answers_with_the_first_job(store: SqlStore) -> None:
    jobs = SqlWriteJobs(store.engine)
    first, made = await jobs.submit(new("k-1"), T0)
    again, made_again = await jobs.submit(new("k-1", digest="other"), T0)
    assert made and not made_again
    assert again.id == first.id and again.request_hash == "h1"
    assert await jobs.count(WriteFilter()) == 1


async def test_concurrent_submits_with_one_key_make_one_job(store: SqlStore) -> None:
    jobs = SqlWriteJobs(store.engine)
    results = await asyncio.gather(*(jobs.submit(new("k-2"), T0) for _ in range(5)))
    assert len({job.id for job, _ in results}) == 1
    assert sum(made for _, made in results) == 1


async def test_claims_are_exclusive(store: SqlStore) -> None:
    jobs = SqlWriteJobs(store.engine)
    for _ in range(6):
        await jobs.submit(new(), T0)
    claims = await asyncio.gather(*(jobs.claim(f"node-{i}", T0, LEASE) for i in range(10)))
    taken = [c for c in claims if c is not None]
    assert len(taken) == 6
    assert len({c.id for c in taken}) == 6
    assert all(c.status is WriteStatus.RUNNING and c.attempts == 1 for c in taken)
    assert await jobs.claim("late", T0, LEASE) is None


async def test_an_expired_lease_is_taken_over(store: SqlStore) -> None:
    jobs = SqlWriteJobs(store.engine)
    job, _ = await jobs.submit(new(), T0)
    held = await jobs.claim("a", T0, LEASE)
    assert held is not None and held.lease_owner == "a"
    assert await jobs.claim("b", T0 + LEASE - timedelta(seconds=1), LEASE) is None
    taken = await jobs.claim("b", T0 + LEASE + timedelta(seconds=1), LEASE)
    assert taken is not None and taken.id == job.id
    assert taken.lease_owner == "b" and taken.attempts == 2
    # The first holder lost it: nothing it records lands.
    assert not await jobs.mark_sent(job.id, "a", T0)
    assert not await jobs.finish(job.id, "a", status=WriteStatus.SUCCESS, errors=[], now=T0)
    assert await jobs.finish(job.id, "b", status=WriteStatus.SUCCESS, errors=[], now=T0)


async def test_sent_at_is_kept_from_the_first_send(store: SqlStore) -> None:
    jobs = SqlWriteJobs(store.engine)
    job, _ = await jobs.submit(new(), T0)
    await jobs.claim("a", T0, LEASE)
    assert await jobs.mark_sent(job.id, "a", T0)
    assert await jobs.mark_sent(job.id, "a", T0 + timedelta(seconds=30))
    got = await jobs.get(job.id)
    assert got is not None and got.sent_at == T0


async def test_reschedule_waits_for_its_time(store: SqlStore) -> None:
    jobs = SqlWriteJobs(store.engine)
    job, _ = await jobs.submit(new(), T0)
    await jobs.claim("a", T0, LEASE)
    later = T0 + timedelta(seconds=10)
    assert await jobs.reschedule(job.id, "a", at=later, error="timeout", now=T0)
    got = await jobs.get(job.id)
    assert got is not None and got.status is WriteStatus.PENDING
    assert got.errors == ("timeout",) and got.lease_owner is None
    assert await jobs.next_due() == later
    assert await jobs.claim("a", later - timedelta(seconds=1), LEASE) is None
    again = await jobs.claim("a", later, LEASE)
    assert again is not None and again.attempts == 2


async def test_finish_records_the_outcome_and_its_event_together(store: SqlStore) -> None:
    jobs = SqlWriteJobs(store.engine)
    job, _ = await jobs.submit(new(), T0)
    await jobs.claim("a", T0, LEASE)
    event = OutboxEvent(
        integration_id="acme",
        vendor="RESMAN",
        event_type=EventType.WRITE_OPERATION_FAILURE,
        payload={"write_status": "FAILURE", "errors": ["no such lead source"]},
        run_id=job.id,
        model="leads",
    )
    done = await jobs.finish(
        job.id,
        "a",
        status=WriteStatus.FAILURE,
        errors=["no such lead source"],
        now=T0,
        events=[event],
    )
    assert done
    got = await jobs.get(job.id)
    assert got is not None and got.status is WriteStatus.FAILURE
    assert got.errors == ("no such lead source",) and got.finished_at == T0
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(change_events))).mappings().all()
    assert [r["event_type"] for r in rows] == ["WRITE_OPERATION_FAILURE"]
    assert rows[0]["run_id"] == job.id
    # Finished jobs are never claimed again.
    assert await jobs.claim("b", T0 + timedelta(hours=1), LEASE) is None


async def test_listing_filters_and_counts(store: SqlStore) -> None:
    jobs = SqlWriteJobs(store.engine)
    a, _ = await jobs.submit(new(), T0)
    await jobs.submit(new(model="residents"), T0 + timedelta(seconds=1))
    await jobs.claim("a", T0 + timedelta(seconds=2), LEASE)  # takes the oldest: ``a``
    await jobs.finish(
        a.id, "a", status=WriteStatus.SUCCESS, errors=[], now=T0 + timedelta(seconds=3)
    )
    everything = await jobs.list_jobs(WriteFilter(), offset=0, limit=10)
    assert [j.model for j in everything] == ["residents", "leads"]  # newest first
    done = WriteFilter(statuses=(WriteStatus.SUCCESS,))
    assert [j.id for j in await jobs.list_jobs(done, offset=0, limit=10)] == [a.id]
    assert await jobs.count(WriteFilter(model="residents")) == 1
    assert await jobs.count(WriteFilter(since=T0 + timedelta(seconds=1))) == 1
    assert await jobs.pending_count() == 1
