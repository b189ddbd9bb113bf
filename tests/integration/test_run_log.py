"""The job log holds up: dead processes' runs are reaped (roots too), a parent's counts
are its children's sum, collisions are skips, a process knows its own orphans,
broken definitions are recorded, and a failed dependency skips its dependents.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import select
from support import sim_integration, started_sim

from syncd.domain import Integration, RunCounts, RunStatus, SyncMode
from syncd.errors import UnknownModel
from syncd.nodes import process_gone
from syncd.runner import Runner, RunnerConfig
from syncd.scheduler import Scheduler, SchedulerConfig
from syncd.sim.buildium import BuildiumSimulator
from syncd.store.sql import SqlStore
from syncd.store.tables import change_events, sync_runs
from syncd.transform.loader import default_directory

SCALE = 30


@pytest.fixture
async def sim() -> AsyncIterator[BuildiumSimulator]:
    async with started_sim(seed=23, scale=SCALE) as s:
        yield s


@pytest.fixture
async def integ(store: SqlStore, sim: BuildiumSimulator) -> Integration:
    i = sim_integration(sim)
    await store.add_integration(i)
    return i


async def running_sync(
    store: SqlStore, integ: Integration, owner: str, *, model: str = "units"
) -> tuple[str, str]:
    """A RUNNING root run and one RUNNING model run of it, as a process leaves them."""
    root = await store.start_run(
        integration=integ, model=None, mode=SyncMode.FULL, trigger="manual", owner=owner
    )
    child = await store.start_run(
        integration=integ,
        model=model,
        mode=SyncMode.FULL,
        trigger="manual",
        parent_run_id=root,
        root_run_id=root,
        owner=owner,
    )
    return root, child


async def age_runs(store: SqlStore, seconds: float) -> None:
    """Make every RUNNING run look silent for ``seconds``."""
    async with store.engine.begin() as conn:
        await conn.execute(
            sync_runs.update()
            .where(sync_runs.c.status == RunStatus.RUNNING.value)
            .values(heartbeat_at=datetime.now(UTC) - timedelta(seconds=seconds))
        )


async def test_a_dead_process_leaves_no_root_running_forever(
    store: SqlStore, integ: Integration
) -> None:
    # What a killed daemon leaves: a root and one model run, both RUNNING.
    root, child = await running_sync(store, integ, "gone-node")
    async with store.engine.begin() as conn:
        await conn.execute(
            sync_runs.update().where(sync_runs.c.id == child).values(fetched=570, requests=570)
        )
    await age_runs(store, 3600)
    report = await Runner(store).run(integ, models=["units"])
    assert report.ok, report.error
    runs = {r.id: r for r in await store.list_runs(integration_id="acme")}
    assert runs[root].status is RunStatus.FAILED and "abandoned" in (runs[root].error or "")
    assert runs[child].status is RunStatus.FAILED
    # The parent's counts are its children's sum.
    assert runs[root].counts.fetched == 570 and runs[root].counts.requests == 570


async def test_a_live_root_with_a_live_model_run_is_not_reaped(
    store: SqlStore, integ: Integration
) -> None:
    root, _ = await running_sync(store, integ, "other")
    # The root's own heartbeat is old (a long model run), its model run's is not.
    async with store.engine.begin() as conn:
        await conn.execute(
            sync_runs.update()
            .where(sync_runs.c.id == root)
            .values(heartbeat_at=datetime.now(UTC) - timedelta(hours=2))
        )
    await store.start_run(integration=integ, model=None, mode=SyncMode.FULL, trigger="manual")
    run = await store.get_run(root)
    assert run is not None and run.status is RunStatus.RUNNING


async def test_an_interrupted_run_adds_up(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    class StopAfterTwo:
        def model_started(self, model: str, mode: SyncMode) -> None:
            pass

        def page_stored(self, model: str, done: int, total: int | None) -> None:
            if done >= 19:
                raise KeyboardInterrupt

        def model_finished(self, model: str, status: RunStatus, counts: RunCounts) -> None:
            pass

    with pytest.raises(KeyboardInterrupt):
        await Runner(store).run(integ, models=["properties", "units"], progress=StopAfterTwo())
    runs = await store.list_runs(integration_id="acme")
    (root,) = [r for r in runs if r.parent_run_id is None]
    children = [r for r in runs if r.parent_run_id is not None]
    assert root.status is RunStatus.FAILED
    assert sum(c.counts.fetched for c in children) > 0
    for name in ("fetched", "requests", "created"):
        assert getattr(root.counts, name) == sum(getattr(c.counts, name) for c in children)


async def test_a_collision_with_another_run_is_a_skip(store: SqlStore, integ: Integration) -> None:
    other, _ = await running_sync(store, integ, "cli")
    fire = datetime.now(UTC).replace(microsecond=0)
    runner = Runner(store)
    first = await runner.run(integ, trigger="schedule", scheduled_for=fire)
    again = await runner.run(integ, trigger="schedule", scheduled_for=fire)
    assert first.status is RunStatus.SKIPPED and first.skipped
    assert first.error is not None and first.error.startswith(f"skipped: run {other}")
    assert "is syncing units" in first.error
    # One record per fire time, however often it is retried.
    assert again.root_run_id == first.root_run_id
    skipped = [
        r for r in await store.list_runs(integration_id="acme") if r.status is RunStatus.SKIPPED
    ]
    assert len(skipped) == 1 and skipped[0].scheduled_for == fire
    async with store.engine.connect() as conn:
        failures = await conn.execute(
            select(change_events).where(change_events.c.event_type == "JOB_FAILURE")
        )
        assert failures.all() == []


async def test_a_scheduled_fire_that_collides_runs_once_the_other_run_ends(
    store: SqlStore, sim: BuildiumSimulator
) -> None:
    integ = sim_integration(sim)
    await store.add_integration(integ)
    manual, _ = await running_sync(store, integ, "cli")
    node = Scheduler(
        store,
        Runner(store),
        SchedulerConfig(node_id="n1", poll_interval=0.05, lease=timedelta(seconds=2)),
    )
    await node.reconcile()
    (due,) = [s for s in await store.list_schedules("acme") if s.job == "incremental"]
    async with anyio.create_task_group() as tg:
        tg.start_soon(node.run)
        with anyio.fail_after(30):
            while not any(
                r.status is RunStatus.SKIPPED for r in await store.list_runs(integration_id="acme")
            ):
                await anyio.sleep(0.05)
        # The manual run ends; the deferred fire time runs next.
        await store.finish_run(manual, RunStatus.SUCCESS, None)
        await store.abandon_runs("acme", owner="cli", reason="test: ended")
        with anyio.fail_after(30):
            while not any(
                r.status is RunStatus.SUCCESS and r.parent_run_id is None
                for r in await store.list_runs(integration_id="acme")
                if r.id != manual
            ):
                await anyio.sleep(0.05)
        node.request_stop()
    roots = [
        r
        for r in await store.list_runs(integration_id="acme")
        if r.parent_run_id is None and r.id != manual
    ]
    skipped = [r for r in roots if r.status is RunStatus.SKIPPED]
    done = [r for r in roots if r.status is RunStatus.SUCCESS]
    assert len(skipped) == 1 and len(done) >= 1
    # The run answers the fire time that was skipped, not a later one.
    assert skipped[0].scheduled_for == due.next_run_at
    assert done[-1].scheduled_for == due.next_run_at


async def test_a_process_recognizes_its_own_orphaned_run(
    store: SqlStore, integ: Integration
) -> None:
    runner = Runner(store, RunnerConfig(owner="this-node"))
    # Left RUNNING when this process's database connection broke mid-run:
    # its heartbeat is fresh, yet this process no longer runs it.
    orphan = await store.start_run(
        integration=integ, model="units", mode=SyncMode.FULL, trigger="schedule", owner="this-node"
    )
    report = await runner.run(integ, models=["units"], stale_after=timedelta(minutes=15))
    assert report.ok, report.error
    run = await store.get_run(orphan)
    assert run is not None and run.status is RunStatus.FAILED
    assert "its own process lost it" in (run.error or "")


async def test_another_live_processs_run_is_not_taken_for_an_orphan(
    store: SqlStore, integ: Integration
) -> None:
    await store.start_run(
        integration=integ, model="units", mode=SyncMode.FULL, trigger="manual", owner="other-node"
    )
    report = await Runner(store, RunnerConfig(owner="this-node")).run(integ, models=["units"])
    assert report.status is RunStatus.SKIPPED


async def test_a_killed_local_process_is_recognized_as_gone(
    store: SqlStore, integ: Integration
) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    import socket

    dead = f"{socket.gethostname()}-{proc.pid}-abcdef"
    assert process_gone(dead)
    assert not process_gone(RunnerConfig().owner)
    assert not process_gone("node-a")
    await store.start_run(
        integration=integ, model="units", mode=SyncMode.FULL, trigger="manual", owner=dead
    )
    report = await Runner(store).run(integ, models=["units"])
    assert report.ok, report.error


async def test_broken_transforms_are_a_recorded_failure(
    store: SqlStore, integ: Integration, tmp_path: Path
) -> None:
    broken = tmp_path / "transforms"
    (broken / "buildium").mkdir(parents=True)
    for source in default_directory("BUILDIUM").iterdir():
        (broken / "buildium" / source.name).write_text(source.read_text())
    (broken / "buildium" / "units.yaml").write_text("model: units\nfields: [oops\n")
    report = await Runner(store, RunnerConfig(transforms_dir=broken)).run(integ)
    assert report.status is RunStatus.FAILED
    assert (
        report.error is not None and "cannot load" in report.error and "units.yaml" in report.error
    )
    root = await store.last_root_run("acme")
    assert root is not None and root.status is RunStatus.FAILED and root.error == report.error
    async with store.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(change_events).where(change_events.c.event_type == "JOB_FAILURE")
            )
        ).all()
    assert len(rows) == 1 and rows[0].payload["error"] == report.error


async def test_unknown_models_are_refused_before_anything_is_recorded(
    store: SqlStore, integ: Integration
) -> None:
    with pytest.raises(UnknownModel, match="floor_plans"):
        await Runner(store).run(integ, models=["floor_plans"])
    assert await store.list_runs(integration_id="acme") == []


async def test_a_failed_dependency_skips_its_dependents(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    # Tenants (residents) fail beyond the retries; leases depend on them.
    sim.add_fault("500", path="/v1/leases/tenants", count=100)
    report = await Runner(store).run(integ)
    by_model: dict[str, Any] = {o.model: o for o in report.outcomes}
    assert by_model["residents"].status is RunStatus.FAILED
    assert by_model["leases"].status is RunStatus.SKIPPED
    assert by_model["leases"].error == "skipped: depends on residents, which did not sync"
    # Models not depending on residents still sync.
    for model in ("properties", "units", "leads", "employees"):
        assert by_model[model].status is RunStatus.SUCCESS
    assert report.status is RunStatus.FAILED
    assert await store.count_records("acme", "leases") == 0
    leases = [r for r in await store.list_runs(integration_id="acme") if r.model == "leases"]
    assert [r.status for r in leases] == [RunStatus.SKIPPED]


async def test_a_run_cut_off_from_postgresql_does_not_block_the_next(
    pg_database_url: str, cipher: Any, sim: BuildiumSimulator
) -> None:
    """Every connection dies mid-run and stays unusable while the run ends; the same
    process syncs again at once instead of waiting out its own orphans' heartbeats."""
    import asyncpg

    from syncd.errors import StoreError
    from syncd.store.engine import make_engine

    store = SqlStore(make_engine(pg_database_url), cipher)
    database = pg_database_url.rsplit("/", 1)[1]
    cut = False

    async def terminate() -> None:
        conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()

    def unreachable(method: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            if cut:
                await terminate()
                raise StoreError("the database connection was lost")
            return await method(*args, **kwargs)

        return call

    class CutAfterFirstPage:
        def model_started(self, model: str, mode: SyncMode) -> None:
            pass

        def page_stored(self, model: str, done: int, total: int | None) -> None:
            nonlocal cut
            cut = True

        def model_finished(self, model: str, status: RunStatus, counts: RunCounts) -> None:
            pass

    try:
        integ = sim_integration(sim, page_size=5, concurrency=1)
        await store.add_integration(integ)
        runner = Runner(store, RunnerConfig(owner="node-x"))
        patched = {name: getattr(store, name) for name in ("store_page", "finish_run")}
        for name, method in patched.items():
            setattr(store, name, unreachable(method))
        with pytest.raises(StoreError):
            await runner.run(integ, models=["units"], progress=CutAfterFirstPage())
        for name, method in patched.items():
            setattr(store, name, method)
        cut = False
        left = list(await store.list_runs(integration_id="acme"))
        assert {r.status for r in left} == {RunStatus.RUNNING}  # nobody could record the end
        started = anyio.current_time()
        report = await runner.run(integ, models=["units"], stale_after=timedelta(minutes=15))
        assert report.ok, report.error
        assert anyio.current_time() - started < 10
        runs = {r.id: r for r in await store.list_runs(integration_id="acme")}
        for old in left:
            assert runs[old.id].status is RunStatus.FAILED
            assert "its own process lost it" in (runs[old.id].error or "")
    finally:
        await store.close()


async def test_a_process_killed_between_two_models_leaves_no_root_running(
    store: SqlStore, integ: Integration
) -> None:
    import socket

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = f"{socket.gethostname()}-{proc.pid}-abcdef"
    # Its last model run had ended: only the root was still RUNNING.
    root = await store.start_run(
        integration=integ, model=None, mode=SyncMode.FULL, trigger="manual", owner=dead
    )
    assert await store.running_owners(integ.id) == {dead}
    report = await Runner(store).run(integ, models=["units"])
    assert report.ok, report.error
    assert await store.running_owners(integ.id) == set()
    runs = {r.id: r for r in await store.list_runs(integration_id=integ.id)}
    assert runs[root].status is RunStatus.FAILED and "abandoned" in (runs[root].error or "")
