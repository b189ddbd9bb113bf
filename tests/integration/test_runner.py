"""The runner against the Buildium simulator over real HTTP, on both engines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from support import sim_integration, started_sim

from syncd.domain import Integration, RunCounts, RunStatus, SyncMode
from syncd.runner import Runner, RunnerConfig, SyncReport
from syncd.sim.buildium import BuildiumSimulator
from syncd.store.sql import SqlStore
from syncd.store.tables import MODEL_TABLES, change_events, checkpoints, quarantine

# Simulator resource → unified model.
RESOURCES = {
    "rentals": "properties",
    "units": "units",
    "tenants": "residents",
    "leases": "leases",
    "applicants": "leads",
    "users": "employees",
}
SCALE = 40


@pytest.fixture
async def sim() -> AsyncIterator[BuildiumSimulator]:
    async with started_sim(seed=7, scale=SCALE) as s:
        yield s


def integration_for(sim: BuildiumSimulator, **options: Any) -> Integration:
    return sim_integration(sim, **({"page_size": 25, "concurrency": 3} | options))


@pytest.fixture
async def integ(store: SqlStore, sim: BuildiumSimulator) -> Integration:
    i = integration_for(sim)
    await store.add_integration(i)
    return i


def runner(store: SqlStore) -> Runner:
    return Runner(store)


def by_model(report: SyncReport) -> dict[str, RunCounts]:
    return {o.model: o.counts for o in report.outcomes}


async def cache_count(store: SqlStore, model: str) -> int:
    return await store.count_records("acme", model)


async def test_full_sync_stores_every_model(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    report = await runner(store).run(integ)
    assert report.status is RunStatus.SUCCESS, report.error
    counts = by_model(report)
    expected = {RESOURCES[k]: v for k, v in sim.counts().items() if k in RESOURCES}
    assert set(counts) == set(expected)
    for model, n in expected.items():
        assert n > 0
        assert counts[model].fetched == n, model
        assert counts[model].created == n, model
        assert await cache_count(store, model) == n, model
    assert all(o.mode is SyncMode.FULL for o in report.outcomes)
    # Models ran in dependency order.
    order = [o.model for o in report.outcomes]
    assert order.index("properties") < order.index("units") < order.index("leases")
    assert order.index("residents") < order.index("leases")
    assert await store.count_records("acme", "residents_to_leases") >= expected["leases"]
    async with store.engine.connect() as conn:
        cps = (await conn.execute(select(checkpoints))).all()
        events = (await conn.execute(select(change_events.c.event_type))).scalars().all()
    assert len(cps) == len(expected)
    assert all(cp.watermark is not None and cp.cursor is None for cp in cps)
    # A first sync announces itself, not each of its records.
    assert sorted(events) == ["FIRST_SYNC_COMPLETE", "SYNC_COMPLETE"]
    runs = await store.list_runs(root_run_id=report.root_run_id)
    assert len(runs) == len(expected) + 1
    assert all(r.status is RunStatus.SUCCESS and r.ended_at for r in runs)
    root = next(r for r in runs if r.parent_run_id is None)
    assert root.counts.fetched == sum(expected.values())
    assert root.counts.requests > 0


async def test_unchanged_resync_and_incremental_changes(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    await runner(store).run(integ)
    again = await runner(store).run(integ, full=True)
    assert again.ok
    assert again.counts.created == 0 and again.counts.updated == 0
    assert again.counts.unchanged == again.counts.fetched > 0

    sim.mutate("units", create=3, update=4)
    sim.mutate("leases", update=2)
    inc = await runner(store).run(integ, models=["units", "leases"])
    assert inc.ok
    counts = by_model(inc)
    assert {o.mode for o in inc.outcomes} == {SyncMode.INCREMENTAL}
    assert counts["units"].created == 3 and counts["units"].updated == 4
    assert counts["leases"].updated == 2
    # An incremental run asks only for what changed, not the whole model.
    assert counts["units"].fetched < SCALE
    assert await cache_count(store, "units") == SCALE + 3


@pytest.mark.parametrize(
    ("kind", "extra"),
    [("429", {"count": 4, "retry_after": 0.1}), ("500", {"count": 3}), ("truncate", {"count": 2})],
)
async def test_transient_faults_are_retried(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration, kind: str, extra: dict[str, Any]
) -> None:
    sim.add_fault(kind, path="/v1/rentals/units", **extra)
    report = await runner(store).run(integ, models=["units"])
    assert report.ok, report.error
    assert report.counts.retries >= extra["count"]
    assert await cache_count(store, "units") == SCALE


async def test_a_burst_of_429s_without_retry_after_is_waited_out(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    # Ten 429s in a row, more than the attempts allowed for other faults.
    sim.add_fault("429", path="/v1/rentals/units", count=10)
    fast = Runner(
        store,
        RunnerConfig(
            connector_overrides={"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05}
        ),
    )
    report = await fast.run(integ, models=["units"])
    assert report.ok, report.error
    assert report.counts.retries >= 10
    assert await cache_count(store, "units") == SCALE


async def test_a_429_storm_beyond_the_wait_budget_fails_the_model_not_the_data(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    await runner(store).run(integ, models=["units"])
    sim.add_fault("429", path="/v1/rentals/units", count=100_000)
    short = Runner(
        store,
        RunnerConfig(
            connector_overrides={"backoff_base_seconds": 0.01, "rate_limit_wait_seconds": 0.3}
        ),
    )
    report = await short.run(integ, models=["units"], full=True)
    (outcome,) = report.outcomes
    assert outcome.status is RunStatus.FAILED
    assert "still rate limited after waiting" in (outcome.error or "")
    assert await cache_count(store, "units") == SCALE


async def test_a_created_date_filter_reaches_the_pms(
    store: SqlStore, sim: BuildiumSimulator
) -> None:
    # Leases windowed by their creation date: an incremental run fetches the
    # leases created since, not those merely updated.
    i = integration_for(sim, date_filters={"leases": {"field": "created"}})
    await store.add_integration(i)
    await runner(store).run(i, models=["leases"])
    changed = sim.mutate("leases", create=2, update=3)
    inc = await runner(store).run(i, models=["leases"])
    assert inc.ok, inc.error
    (outcome,) = inc.outcomes
    assert outcome.mode is SyncMode.INCREMENTAL
    assert outcome.counts.created == 2 and outcome.counts.updated == 0
    assert outcome.counts.fetched == len(changed["created"])


async def test_slow_responses_still_sync(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    sim.add_fault("slow", path="/v1/rentals/units", count=2, delay=0.5)
    report = await runner(store).run(integ, models=["units"])
    assert report.ok and await cache_count(store, "units") == SCALE


async def test_real_rate_limit_429s_are_absorbed(store: SqlStore) -> None:
    sim = BuildiumSimulator(seed=3, scale=SCALE, rate_limit=10)
    await sim.start()
    try:
        # syncd's own limiter off and small pages: the simulator must throttle.
        i = integration_for(sim, page_size=2, concurrency=8)
        await store.add_integration(i)
        report = await runner(store).run(i, models=["units"])
        assert report.ok, report.error
        assert report.counts.retries > 0
        assert await cache_count(store, "units") == SCALE
    finally:
        await sim.stop()


async def test_malformed_records_are_quarantined(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    sim.add_fault("malformed", path="/v1/rentals/units", count=1)
    report = await runner(store).run(integ, models=["units"])
    assert report.ok
    q = report.counts.quarantined
    assert q >= 1
    assert await cache_count(store, "units") == SCALE - q
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(quarantine))).all()
    assert len(rows) == q
    assert all(r.reason and r.raw is not None and r.model == "units" for r in rows)


async def test_empty_list_deletes_nothing(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    await runner(store).run(integ, models=["units"])
    sim.add_fault("empty", path="/v1/rentals/units", count=5)
    report = await runner(store).run(integ, models=["units"], full=True)
    # The guard holds the sweep: nothing is deleted, a human is asked.
    assert report.status is RunStatus.NEEDS_ATTENTION and report.counts.fetched == 0
    assert await cache_count(store, "units") == SCALE


async def test_wrong_credentials_fail_fast(store: SqlStore, sim: BuildiumSimulator) -> None:
    good = integration_for(sim)
    i = Integration(
        id=good.id,
        name=good.name,
        vendor=good.vendor,
        environment=good.environment,
        enabled=True,
        base_url=good.base_url,
        credentials={"client_id": "wrong", "client_secret": "wrong"},
        options=good.options,
    )
    await store.add_integration(i)
    report = await runner(store).run(i)
    assert report.status is RunStatus.FAILED
    assert len(report.outcomes) == 1  # stopped at the first model
    assert "AuthenticationError" in (report.error or "")
    assert report.counts.requests == 1 and report.counts.retries == 0
    assert await cache_count(store, "properties") == 0


async def test_persistent_failure_keeps_data_and_checkpoint(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    first = await runner(store).run(integ, models=["units"])
    before = await store.get_checkpoint("acme", "units")
    sim.add_fault("500", path="/v1/rentals/units", count=1000)
    report = await runner(store).run(integ, models=["units", "employees"])
    assert first.ok and report.status is RunStatus.FAILED
    outcomes = {o.model: o for o in report.outcomes}
    assert outcomes["units"].status is RunStatus.FAILED
    assert "PMSServerError" in (outcomes["units"].error or "")
    assert outcomes["employees"].status is RunStatus.SUCCESS  # other models go on
    after = await store.get_checkpoint("acme", "units")
    assert after.watermark == before.watermark
    assert await cache_count(store, "units") == SCALE


class StopAfter:
    """A progress sink that interrupts the run after some pages (a crash)."""

    def __init__(self, pages: int) -> None:
        self.pages = pages

    def model_started(self, model: str, mode: SyncMode) -> None:
        pass

    def page_stored(self, model: str, done: int, total: int | None) -> None:
        self.pages -= 1
        if self.pages == 0:
            raise KeyboardInterrupt

    def model_finished(self, model: str, status: RunStatus, counts: RunCounts) -> None:
        pass


async def test_interrupted_run_resumes_from_checkpoint(
    store: SqlStore, sim: BuildiumSimulator
) -> None:
    i = integration_for(sim, page_size=10, concurrency=1)
    await store.add_integration(i)
    with pytest.raises(KeyboardInterrupt):
        await runner(store).run(i, models=["units"], progress=StopAfter(2))
    # Pages of 10 overlap by one record: 10 + 9 stored.
    assert await cache_count(store, "units") == 19
    cp = await store.get_checkpoint("acme", "units")
    assert cp.cursor is not None and cp.cursor.startswith("19:") and cp.watermark is None
    runs = await store.list_runs(integration_id="acme")
    assert {r.status for r in runs} == {RunStatus.FAILED}
    resumed = await runner(store).run(i, models=["units"])
    assert resumed.ok
    assert resumed.counts.fetched == SCALE - 19  # only the rest was fetched
    assert await cache_count(store, "units") == SCALE
    cp = await store.get_checkpoint("acme", "units")
    assert cp.cursor is None and cp.watermark is not None


async def test_unknown_model_is_refused(store: SqlStore, integ: Integration) -> None:
    with pytest.raises(Exception, match="no job for model 'floor_plans'"):
        await runner(store).run(integ, models=["floor_plans"])


async def test_cache_columns_are_typed(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    await runner(store).run(integ, models=["leases"])
    table = MODEL_TABLES["leases"]
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(table).limit(1))).one()
    assert row.status_normalized in {"ACTIVE", "INACTIVE", "PENDING", "EVICTED", "OTHER"}
    assert isinstance(row.rent_amount_in_cents, int)
    assert row.start_date is not None and row.x_property_id is not None


async def test_changed_transform_reapplies_to_unchanged_source(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    """Unchanged PMS records skip the transform, unless the transform itself changed."""
    await runner(store).run(integ, models=["leases"])
    same = await runner(store).run(integ, models=["leases"], full=True)
    assert same.counts.unchanged == SCALE and same.counts.updated == 0
    remapped = Integration(
        **{
            **{f: getattr(integ, f) for f in ("id", "name", "vendor", "environment")},
            "enabled": True,
            "base_url": integ.base_url,
            "credentials": integ.credentials,
            "options": {**integ.options, "enum_maps": {"lease_status": {"Active": "EVICTED"}}},
        }
    )
    report = await runner(store).run(remapped, models=["leases"], full=True)
    table = MODEL_TABLES["leases"]
    async with store.engine.connect() as conn:
        active = (
            await conn.execute(
                select(table.c.status_normalized).where(table.c.status_raw == "Active")
            )
        ).all()
    assert active and {r[0] for r in active} == {"EVICTED"}
    assert report.counts.updated == len(active)


async def test_full_run_asks_only_for_the_date_filter_window(
    store: SqlStore, sim: BuildiumSimulator
) -> None:
    # Leases "updated in the last day": the simulator's history is years old,
    # so only the three just updated fall inside the window.
    integ = integration_for(sim, date_filters={"leases": {"window_days": 1}})
    await store.add_integration(integ)
    sim.mutate("leases", update=3)
    report = await runner(store).run(integ, models=["leases"], full=True)
    assert report.ok, report.error
    (outcome,) = report.outcomes
    assert outcome.mode is SyncMode.FULL
    assert outcome.counts.fetched == 3
    # Without the window the same full run sees every lease.
    wide = integration_for(sim, date_filters={"leases": {"window_days": None}})
    await store.update_integration(wide)
    again = await runner(store).run(wide, models=["leases"], full=True)
    assert again.outcomes[0].counts.fetched == sim.counts()["leases"]
