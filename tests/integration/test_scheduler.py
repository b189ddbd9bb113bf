"""The scheduler: reconcile, claim, run and release; two nodes never run a job twice."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import anyio
import pytest
from cryptography.fernet import Fernet

from syncd.crypto import Cipher
from syncd.domain import Environment, Integration, RunRecord, RunStatus
from syncd.runner import Runner
from syncd.scheduler import Scheduler, SchedulerConfig
from syncd.sim.buildium import BuildiumSimulator
from syncd.store.engine import make_engine
from syncd.store.sql import SqlStore


@pytest.fixture
async def sim() -> AsyncIterator[BuildiumSimulator]:
    s = BuildiumSimulator(seed=2, scale=20, rate_limit=0)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


def integration(
    sim: BuildiumSimulator,
    iid: str,
    *,
    enabled: bool = True,
    environment: Environment = Environment.PRODUCTION,
    every: int = 2,
    page_size: int = 100,
) -> Integration:
    return Integration(
        id=iid,
        name=iid,
        vendor="BUILDIUM",
        environment=environment,
        enabled=enabled,
        base_url=sim.url,
        credentials=dict(sim.credentials),
        options={
            "rate_limit_per_second": 0,
            "page_size": page_size,
            "schedules": {"incremental": {"type": "interval", "seconds": every}, "full": None},
        },
    )


async def test_reconcile_follows_integrations(store: SqlStore, sim: BuildiumSimulator) -> None:
    await store.add_integration(integration(sim, "prod"))
    await store.add_integration(integration(sim, "off", enabled=False))
    await store.add_integration(integration(sim, "sand", environment=Environment.SANDBOX))
    scheduler = Scheduler(store, Runner(store))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    await scheduler.reconcile(now)
    rows = await store.list_schedules()
    # Only the enabled production integration; its first run is due at once.
    assert [(r.integration_id, r.job, r.next_run_at) for r in rows] == [
        ("prod", "incremental", now)
    ]
    await store.set_enabled("prod", False)
    await store.set_enabled("off", True)
    await scheduler.reconcile(now)
    assert [r.integration_id for r in await store.list_schedules()] == ["off"]


async def test_two_nodes_run_each_fire_once(database_url: str, sim: BuildiumSimulator) -> None:
    key = Fernet.generate_key()
    stores = [SqlStore(make_engine(database_url), Cipher(key)) for _ in range(2)]
    try:
        for i in range(4):
            await stores[0].add_integration(integration(sim, f"i{i}"))
        nodes = [
            Scheduler(
                s,
                Runner(s),
                SchedulerConfig(node_id=f"n{n}", poll_interval=0.1, lease=timedelta(seconds=6)),
            )
            for n, s in enumerate(stores)
        ]
        started = datetime.now(UTC)
        async with anyio.create_task_group() as tg:
            for node in nodes:
                tg.start_soon(node.run)
            await anyio.sleep(5)
            for node in nodes:
                node.request_stop()
        ended = datetime.now(UTC)
        for i in range(4):
            runs = await stores[0].list_runs(integration_id=f"i{i}", limit=500)
            roots = sorted((r for r in runs if r.parent_run_id is None), key=lambda r: r.started_at)
            assert len(roots) >= 2, f"i{i} ran {len(roots)} times"
            # Never two at once: each run starts after the previous one ended.
            for before, after in itertools.pairwise(roots):
                assert before.ended_at is not None and after.started_at >= before.ended_at
            # At most one run per fire time (every 2 s) plus the first, immediate one.
            fires = (ended - started).total_seconds() / 2 + 1
            assert len(roots) <= fires + 1
            # Every run succeeded, but one a shutdown may have cut short.
            cut = [r for r in roots if r.status is not RunStatus.SUCCESS]
            assert len(cut) <= 1 and all("stopped by shutdown" in (r.error or "") for r in cut)
        assert all(n.leases_held == 0 for n in nodes)
        assert all(s.lease_owner is None for s in await stores[0].list_schedules())
    finally:
        for s in stores:
            await s.close()


async def test_stop_leaves_after_the_page_in_hand(store: SqlStore, sim: BuildiumSimulator) -> None:
    slow = integration(sim, "slow", every=3600, page_size=1)
    await store.add_integration(slow)
    sim.add_fault("slow", path="/v1/rentals/units", count=1000, delay=0.2)
    node = Scheduler(store, Runner(store), SchedulerConfig(node_id="n", poll_interval=0.1))
    async with anyio.create_task_group() as tg:
        tg.start_soon(node.run)
        with anyio.fail_after(30):
            while await store.count_records("slow", "units") < 3:
                await anyio.sleep(0.1)
        node.request_stop()
        with anyio.fail_after(10):
            await node.stopped.wait()
    stored = await store.count_records("slow", "units")
    assert 3 <= stored < 20
    checkpoint = await store.get_checkpoint("slow", "units")
    assert checkpoint.cursor is not None
    assert int(checkpoint.cursor.partition(":")[0]) == stored  # "position:last id"
    (schedule,) = await store.list_schedules("slow")
    # Released and due again at once, not an hour later.
    assert schedule.lease_owner is None
    assert schedule.next_run_at is not None and schedule.next_run_at <= datetime.now(UTC)
    runs = {r.model: r for r in await store.list_runs(integration_id="slow")}
    assert runs[None].status is RunStatus.FAILED
    assert runs["units"].status is RunStatus.FAILED
    assert "stopped by shutdown" in (runs["units"].error or "")
    assert "leases" not in runs  # later models were not started


async def test_fires_missed_during_a_long_run_are_recorded_as_coalesced(
    store: SqlStore, sim: BuildiumSimulator
) -> None:
    # Every second a fire, but the second run takes about 2.5 s: the fires
    # passing meanwhile coalesce into the next run, which says how many.
    busy = integration(sim, "busy", every=1, page_size=5)
    await store.add_integration(busy)
    node = Scheduler(store, Runner(store), SchedulerConfig(node_id="n", poll_interval=0.05))
    async with anyio.create_task_group() as tg:
        tg.start_soon(node.run)
        with anyio.fail_after(30):
            while len(await _roots(store, "busy")) < 1:
                await anyio.sleep(0.05)
        sim.add_fault("slow", path="/v1/rentals", delay=2.5)
        with anyio.fail_after(30):
            while len([r for r in await _roots(store, "busy") if r.ended_at]) < 4:
                await anyio.sleep(0.05)
        node.request_stop()
    roots = [r for r in await _roots(store, "busy") if r.status is RunStatus.SUCCESS]
    fires = [r.scheduled_for for r in roots]
    assert len(set(fires)) == len(fires)
    assert any(r.coalesced_fires >= 1 for r in roots)
    # From the second run on, fires are whole seconds apart: one more than
    # the fires the later run coalesced.
    for before, after in itertools.pairwise(roots[1:]):
        assert before.scheduled_for is not None and after.scheduled_for is not None
        gap = after.scheduled_for - before.scheduled_for
        assert gap == timedelta(seconds=1 + after.coalesced_fires), (gap, after.coalesced_fires)


async def _roots(store: SqlStore, iid: str) -> list[RunRecord]:
    runs = await store.list_runs(integration_id=iid, limit=500)
    return sorted((r for r in runs if r.parent_run_id is None), key=lambda r: r.started_at)
