"""Rent Manager end to end: the real Runner against the simulator, on both engines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from syncd.domain import Environment, Integration, RunCounts, RunStatus, SyncMode
from syncd.runner import Runner, SyncReport
from syncd.sim.rentmanager import RentManagerRenderer
from syncd.sim.server import Simulator
from syncd.store.sql import SqlStore
from syncd.store.tables import MODEL_TABLES

SCALE = 60
MODELS = (
    "properties",
    "floor_plans",
    "units",
    "residents",
    "leases",
    "lead_sources",
    "leads",
    "employees",
)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(RentManagerRenderer, seed=21, scale=SCALE, rate_limit=0) as s:
        yield s


def integration_for(sim: Simulator, **options: Any) -> Integration:
    return Integration(
        id="acme",
        name="Acme",
        vendor="RENTMANAGER",
        environment=Environment.PRODUCTION,
        enabled=True,
        base_url=sim.url,
        credentials=dict(sim.credentials),
        options={"rate_limit_per_second": 0, "page_size": 25, "concurrency": 3} | options,
    )


@pytest.fixture
async def integ(store: SqlStore, sim: Simulator) -> Integration:
    i = integration_for(sim)
    await store.add_integration(i)
    return i


def by_model(report: SyncReport) -> dict[str, RunCounts]:
    return {o.model: o.counts for o in report.outcomes}


async def cached_ids(store: SqlStore, model: str, *, deleted: bool = False) -> list[str]:
    """The cache's x_ids of ``model``: live ones, or those marked deleted."""
    table = MODEL_TABLES[model]
    marked = table.c.deleted_at.is_not(None) if deleted else table.c.deleted_at.is_(None)
    query = select(table.c.x_id).where(table.c.integration_id == "acme", marked)
    async with store.engine.connect() as conn:
        return sorted((await conn.execute(query)).scalars().all())


async def assert_cache_matches_truth(store: SqlStore, sim: Simulator) -> None:
    truth = sim.truth()
    for model in MODELS:
        assert await cached_ids(store, model) == sorted(truth[model]["live"]), model


async def test_a_full_sync_stores_every_model(
    store: SqlStore, sim: Simulator, integ: Integration
) -> None:
    report = await Runner(store).run(integ)
    assert report.status is RunStatus.SUCCESS, report.error
    counts = by_model(report)
    assert set(counts) == set(MODELS)
    live = sim.counts()
    for model in MODELS:
        assert counts[model].fetched == counts[model].created == live[model] > 0, model
        assert counts[model].quarantined == 0, model
    assert all(o.mode is SyncMode.FULL for o in report.outcomes)
    order = [o.model for o in report.outcomes]
    assert order.index("floor_plans") < order.index("units") < order.index("leases")
    assert order.index("residents") < order.index("leases")
    assert order.index("lead_sources") < order.index("leads")
    await assert_cache_matches_truth(store, sim)
    # One link per lease: its tenant.
    assert await store.count_records("acme", "residents_to_leases") == live["leases"]


async def test_the_cache_holds_unified_values(
    store: SqlStore, sim: Simulator, integ: Integration
) -> None:
    await Runner(store).run(integ, models=["floor_plans", "units", "residents", "leases"])
    unit = sim.world.get("units", 1)
    resident = sim.world.get("residents", 1)
    assert unit is not None and resident is not None
    async with store.engine.connect() as conn:
        units = MODEL_TABLES["units"]
        row = (await conn.execute(select(units).where(units.c.x_id == "1"))).one()
        assert row.rent_amount_market_in_cents == unit["market_rent_cents"]
        assert row.x_property_id == str(unit["property_id"])
        assert row.floor_plan_id is not None and row.x_floor_plan_id == str(unit["floor_plan_id"])
        residents = MODEL_TABLES["residents"]
        person = (await conn.execute(select(residents).where(residents.c.x_id == "1"))).one()
        assert (person.first_name, person.email_1) == (resident["first_name"], resident["email"])
        assert person.phone_1 == resident["phones"][0]["number"]
        assert person.phone_1_type in {"HOME", "MOBILE", "WORK"}
        leases = MODEL_TABLES["leases"]
        statuses = set((await conn.execute(select(leases.c.status_normalized))).scalars())
    assert statuses <= {"ACTIVE", "INACTIVE", "PENDING"} and "ACTIVE" in statuses


async def test_creates_updates_and_deletes_reach_the_cache(
    store: SqlStore, sim: Simulator, integ: Integration
) -> None:
    first = await Runner(store).run(integ)
    assert first.ok, first.error
    units = sim.mutate("units", create=2, update=3, delete=1)
    residents = sim.mutate("residents", create=1, update=2, delete=1)
    leads = sim.mutate("leads", create=2, update=1, delete=1)
    leases = sim.mutate("leases", delete=1)
    report = await Runner(store).run(integ, full=True)
    assert report.ok, report.error
    counts = by_model(report)
    assert (counts["units"].created, counts["units"].deleted) == (2, 1)
    assert counts["units"].updated == 3
    assert (counts["residents"].created, counts["residents"].deleted) == (1, 1)
    assert counts["residents"].updated >= 2
    assert (counts["leads"].created, counts["leads"].deleted) == (2, 1)
    assert counts["leases"].deleted == 1
    await assert_cache_matches_truth(store, sim)
    truth = sim.truth()
    for model, changed in (
        ("units", units),
        ("residents", residents),
        ("leads", leads),
        ("leases", leases),
    ):
        gone = [str(i) for i in changed["deleted"]]
        assert await cached_ids(store, model, deleted=True) == sorted(gone), model
        assert sorted(truth[model]["deleted"]) == sorted(gone), model


async def test_an_incremental_run_picks_up_an_update(
    store: SqlStore, sim: Simulator, integ: Integration
) -> None:
    await Runner(store).run(integ)
    changed = sim.mutate("residents", update=2)
    report = await Runner(store).run(integ, models=["residents"])
    assert report.ok, report.error
    (outcome,) = report.outcomes
    assert outcome.mode is SyncMode.INCREMENTAL
    # Only what changed since the watermark was asked for.
    assert outcome.counts.fetched == 2 and outcome.counts.updated == 2
    table = MODEL_TABLES["residents"]
    async with store.engine.connect() as conn:
        names = dict(
            (
                await conn.execute(
                    select(table.c.x_id, table.c.last_name).where(
                        table.c.x_id.in_([str(i) for i in changed["updated"]])
                    )
                )
            ).all()
        )
    for x_id in changed["updated"]:
        entity = sim.world.get("residents", x_id)
        assert entity is not None
        assert names[str(x_id)] == entity["last_name"]


async def test_a_disabled_property_is_not_asked_for(store: SqlStore, sim: Simulator) -> None:
    integ = integration_for(sim, properties={"2": {"enabled": False}})
    await store.add_integration(integ)
    report = await Runner(store).run(integ, models=["properties", "units", "leases"])
    assert report.ok, report.error
    # Rent Manager filtered them out (PropertyID,ni,(2)): they were never fetched.
    elsewhere = [u for u in sim.world.all("units") if u["property_id"] != 2]
    assert by_model(report)["units"].fetched == len(elsewhere) < SCALE
    for model in ("units", "leases"):
        table = MODEL_TABLES[model]
        async with store.engine.connect() as conn:
            owners = set((await conn.execute(select(table.c.x_property_id))).scalars())
        assert owners == {"1", "3"}, model
    assert await cached_ids(store, "properties") == ["1", "3"]


async def test_wrong_credentials_stop_the_sync_at_the_first_model(
    store: SqlStore, sim: Simulator
) -> None:
    good = integration_for(sim)
    bad = Integration(
        id=good.id,
        name=good.name,
        vendor=good.vendor,
        environment=good.environment,
        enabled=True,
        base_url=good.base_url,
        credentials={**good.credentials, "password": "wrong"},
        options=good.options,
    )
    await store.add_integration(bad)
    report = await Runner(store).run(bad)
    assert report.status is RunStatus.FAILED
    assert len(report.outcomes) == 1
    assert "Invalid username or password." in (report.error or "")
    assert await store.count_records("acme", "properties") == 0
