"""Schedules in the database: atomic claims, leases, takeover; one active run per job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest
from cryptography.fernet import Fernet

from syncd.crypto import Cipher
from syncd.domain import Environment, Integration, RunCounts, RunStatus, ScheduleState, SyncMode
from syncd.errors import RunConflict
from syncd.store.engine import make_engine
from syncd.store.sql import SqlStore

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
TRIGGER = {"type": "interval", "seconds": 60, "timezone": "UTC"}


async def test_claim_lease_release_cycle(store: SqlStore) -> None:
    await store.put_schedule("a", "units", TRIGGER, T0)
    await store.put_schedule("a", "leases", TRIGGER, T0 + timedelta(minutes=5))
    assert await store.claim_due("n1", T0 - timedelta(seconds=1), LEASE, 10) == []
    claimed = await store.claim_due("n1", T0, LEASE, 10)
    assert [(s.integration_id, s.job, s.lease_owner) for s in claimed] == [("a", "units", "n1")]
    assert claimed[0].lease_expires_at == T0 + LEASE
    # Held: nobody else gets it, not even the same node twice.
    assert await store.claim_due("n2", T0 + timedelta(seconds=10), LEASE, 10) == []
    assert await store.renew_leases("n1", [("a", "units")], T0 + timedelta(seconds=90)) == 1
    assert await store.renew_leases("n2", [("a", "units")], T0 + timedelta(seconds=90)) == 0
    assert await store.claim_due("n2", T0 + timedelta(seconds=60), LEASE, 10) == []
    nxt = T0 + timedelta(minutes=1)
    assert (
        await store.release_schedule("n2", "a", "units", next_run_at=nxt, last_run_at=T0) is False
    )
    assert await store.release_schedule("n1", "a", "units", next_run_at=nxt, last_run_at=T0)
    (units,) = [s for s in await store.list_schedules("a") if s.job == "units"]
    assert units.lease_owner is None and units.next_run_at == nxt and units.last_run_at == T0


async def test_expired_lease_is_taken_over(store: SqlStore) -> None:
    await store.put_schedule("a", "units", TRIGGER, T0)
    assert len(await store.claim_due("dead", T0, LEASE, 10)) == 1
    later = T0 + LEASE + timedelta(seconds=1)
    taken = await store.claim_due("alive", later, LEASE, 10)
    assert [s.lease_owner for s in taken] == ["alive"]
    # The dead node cannot release (or renew) what it lost.
    assert (
        await store.release_schedule("dead", "a", "units", next_run_at=None, last_run_at=None)
        is False
    )


async def test_paused_schedules_are_not_claimed(store: SqlStore) -> None:
    await store.put_schedule("a", "units", TRIGGER, T0)
    await store.put_schedule("a", "leases", TRIGGER, T0)
    await store.put_schedule("b", "units", TRIGGER, T0)
    assert await store.set_schedule_state("a", ScheduleState.PAUSED) == 2
    assert [(s.integration_id, s.job) for s in await store.claim_due("n", T0, LEASE, 10)] == [
        ("b", "units")
    ]
    assert await store.set_schedule_state("a", ScheduleState.ACTIVE, job="units") == 1
    assert [(s.integration_id, s.job) for s in await store.claim_due("n", T0, LEASE, 10)] == [
        ("a", "units")
    ]


async def test_concurrent_claimers_never_share(database_url: str) -> None:
    """Eight claimers (own engines, as on separate nodes) race for 40 due schedules."""
    key = Fernet.generate_key()
    stores = [SqlStore(make_engine(database_url), Cipher(key)) for _ in range(8)]
    try:
        for i in range(40):
            await stores[0].put_schedule(f"i{i:02d}", "units", TRIGGER, T0)
        won: dict[str, list[str]] = {}

        async def claimer(n: int) -> None:
            for _ in range(10):
                for s in await stores[n].claim_due(f"node{n}", T0, LEASE, 3):
                    won.setdefault(s.integration_id, []).append(f"node{n}")
                await anyio.sleep(0)

        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(claimer, n)
        assert len(won) == 40
        assert all(len(owners) == 1 for owners in won.values()), won
    finally:
        for s in stores:
            await s.close()


def _integration() -> Integration:
    return Integration(
        id="a",
        name="A",
        vendor="BUILDIUM",
        environment=Environment.PRODUCTION,
        enabled=True,
        base_url=None,
        credentials={"client_id": "x", "client_secret": "y"},
    )


async def test_database_forbids_two_active_runs(store: SqlStore) -> None:
    integ = _integration()
    await store.add_integration(integ)
    first = await store.start_run(integration=integ, model="units", mode=SyncMode.FULL, trigger="t")
    with pytest.raises(RunConflict, match="already running"):
        await store.start_run(integration=integ, model="units", mode=SyncMode.FULL, trigger="t")
    # Other models and top-level runs are independent.
    await store.start_run(integration=integ, model="leases", mode=SyncMode.FULL, trigger="t")
    await store.start_run(integration=integ, model=None, mode=SyncMode.FULL, trigger="t")
    await store.finish_run(first, RunStatus.SUCCESS, RunCounts())
    await store.start_run(integration=integ, model="units", mode=SyncMode.FULL, trigger="t")


async def test_run_without_heartbeat_is_taken_over(store: SqlStore) -> None:
    integ = _integration()
    await store.add_integration(integ)
    dead = await store.start_run(integration=integ, model="units", mode=SyncMode.FULL, trigger="t")
    await anyio.sleep(0.05)
    fresh = await store.start_run(
        integration=integ,
        model="units",
        mode=SyncMode.FULL,
        trigger="t",
        stale_after=timedelta(milliseconds=10),
    )
    runs = {r.id: r for r in await store.list_runs(integration_id="a")}
    assert runs[dead].status is RunStatus.FAILED and "abandoned" in (runs[dead].error or "")
    assert runs[fresh].status is RunStatus.RUNNING


async def test_one_job_of_an_integration_at_a_time(store: SqlStore) -> None:
    await store.put_schedule("a", "incremental", TRIGGER, T0)
    await store.put_schedule("a", "full", TRIGGER, T0 + timedelta(seconds=1))
    await store.put_schedule("b", "incremental", TRIGGER, T0)
    later = T0 + timedelta(seconds=2)
    first = await store.claim_due("n1", later, LEASE, 10)
    assert sorted((s.integration_id, s.job) for s in first) == [
        ("a", "incremental"),
        ("b", "incremental"),
    ]
    # a's full job is due too, but a is busy: not even another node gets it.
    assert await store.claim_due("n2", later, LEASE, 10) == []
    (full,) = [s for s in await store.list_schedules("a") if s.job == "full"]
    assert full.lease_owner is None and full.next_run_at == T0 + timedelta(seconds=1)
    await store.release_schedule(
        "n1", "a", "incremental", next_run_at=later + LEASE, last_run_at=later
    )
    assert [(s.integration_id, s.job) for s in await store.claim_due("n2", later, LEASE, 10)] == [
        ("a", "full")
    ]


async def test_next_due_at(store: SqlStore) -> None:
    t2 = T0 + timedelta(minutes=2)
    assert await store.next_due_at(T0) is None
    await store.put_schedule("a", "incremental", TRIGGER, T0 + timedelta(minutes=5))
    await store.put_schedule("b", "incremental", TRIGGER, T0 + timedelta(minutes=1))
    assert await store.next_due_at(T0) == T0 + timedelta(minutes=1)
    await store.claim_due("n", t2, LEASE, 1)  # b is running
    assert await store.next_due_at(t2) == T0 + timedelta(minutes=5)
    # Once b's lease expires (its node died), b counts as due again.
    assert await store.next_due_at(t2 + LEASE + timedelta(seconds=1)) == T0 + timedelta(minutes=1)
