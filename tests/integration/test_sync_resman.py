"""A ResMan account synced through the real Runner against its simulator, on both engines."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from syncd.domain import Environment, Integration, RunStatus, SyncMode
from syncd.runner import Runner, SyncReport
from syncd.sim.resman import ResManRenderer
from syncd.sim.server import Simulator
from syncd.store.sql import SqlStore
from syncd.store.tables import MODEL_TABLES, residents_to_leases

SCALE = 200  # ten properties of twenty units
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
    async with Simulator(ResManRenderer, seed=21, scale=SCALE, rate_limit=0) as s:
        yield s


def integration_for(sim: Simulator, **options: Any) -> Integration:
    return Integration(
        id="acme",
        name="Acme",
        vendor="RESMAN",
        environment=Environment.PRODUCTION,
        enabled=True,
        base_url=sim.url,
        credentials=dict(sim.credentials),
        options={"rate_limit_per_second": 0, "concurrency": 3} | options,
    )


@pytest.fixture
async def integ(store: SqlStore, sim: Simulator) -> Integration:
    i = integration_for(sim)
    await store.add_integration(i)
    return i


def renderer(sim: Simulator) -> ResManRenderer:
    assert isinstance(sim.renderer, ResManRenderer)
    return sim.renderer


async def cache_ids(store: SqlStore, model: str) -> tuple[set[str], set[str]]:
    """The cache's (live, deleted) x_ids of ``model``."""
    table = MODEL_TABLES[model]
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(table.c.x_id, table.c.deleted_at))).all()
    live = {r.x_id for r in rows if r.deleted_at is None}
    deleted = {r.x_id for r in rows if r.deleted_at is not None}
    return live, deleted


def outcomes(report: SyncReport) -> dict[str, Any]:
    return {o.model: o for o in report.outcomes}


async def assert_cache_is_the_truth(store: SqlStore, sim: Simulator) -> None:
    truth = sim.truth()
    for model in MODELS:
        live, deleted = await cache_ids(store, model)
        assert live == set(truth[model]["live"]), model
        # Whatever the PMS deleted and the cache had is marked deleted, not gone.
        assert not live & set(truth[model]["deleted"]), model
        assert deleted <= set(truth[model]["deleted"]), model


async def test_a_full_sync_fills_every_unified_table(
    store: SqlStore, sim: Simulator, integ: Integration
) -> None:
    report = await Runner(store).run(integ)
    assert report.status is RunStatus.SUCCESS, report.error
    by_model = outcomes(report)
    assert set(by_model) == set(MODELS)
    counts = sim.counts()
    for model in MODELS:
        assert by_model[model].counts.fetched == counts[model] > 0, model
        assert by_model[model].counts.quarantined == 0, model
        assert await store.count_records("acme", model) == counts[model], model
    assert all(o.mode is SyncMode.FULL for o in report.outcomes)
    order = [o.model for o in report.outcomes]
    assert order.index("properties") < order.index("units") < order.index("leases")
    assert order.index("lead_sources") < order.index("leads")
    assert order.index("employees") < order.index("leads")
    await assert_cache_is_the_truth(store, sim)

    # References resolve: units point at their floor plans, leads at their
    # sources and agents, every lease person is a link.
    units, plans = MODEL_TABLES["units"], MODEL_TABLES["floor_plans"]
    leads, sources = MODEL_TABLES["leads"], MODEL_TABLES["lead_sources"]
    async with store.engine.connect() as conn:
        orphans = (
            await conn.execute(
                select(units.c.x_id).where(units.c.floor_plan_id.not_in(select(plans.c.id)))
            )
        ).all()
        unresolved = (
            await conn.execute(
                select(leads.c.x_id).where(
                    leads.c.lead_source_id.is_not(None),
                    leads.c.lead_source_id.not_in(select(sources.c.id)),
                )
            )
        ).all()
        links = (await conn.execute(select(residents_to_leases))).all()
        sample = (
            await conn.execute(
                select(
                    leads.c.x_updated_at, leads.c.status, leads.c.leasing_agent, leads.c.email_1
                ).limit(1)
            )
        ).one()
    assert orphans == [] and unresolved == []
    assert len(links) >= counts["leases"]
    assert {link.resident_type_normalized for link in links} == {"PRIMARY", "SECONDARY"}
    assert sample.x_updated_at is not None and sample.email_1
    assert sample.status in {"Prospect", "Lost", "Applicant", "Resident"}


async def test_changes_deletes_and_an_incremental_run(
    store: SqlStore, sim: Simulator, integ: Integration
) -> None:
    runner = Runner(store)
    assert (await runner.run(integ)).status is RunStatus.SUCCESS

    changes = {
        "units": sim.mutate("units", create=2, update=3, delete=2),
        "leads": sim.mutate("leads", create=2, update=2, delete=1),
        "leases": sim.mutate("leases", update=2, delete=1),
        "lead_sources": sim.mutate("lead_sources", create=1, update=1, delete=1),
        "employees": sim.mutate("employees", update=1),
    }
    report = await runner.run(integ, full=True)
    assert report.status is RunStatus.SUCCESS, report.error
    by_model = outcomes(report)
    assert by_model["units"].counts.created == 2
    # At least the three changed: a unit also shows its occupying lease, and
    # the deleted lease's unit shows none now.
    assert by_model["units"].counts.updated >= 3
    assert by_model["units"].counts.deleted == 2
    assert by_model["leads"].counts.deleted == 1
    assert by_model["lead_sources"].counts.deleted == 1
    await assert_cache_is_the_truth(store, sim)
    for model, changed in changes.items():
        _, deleted = await cache_ids(store, model)
        expected = {renderer(sim).x_id(model, i) for i in changed["deleted"]}
        assert deleted == expected, model

    # An incremental run asks prospects and leases only for what changed since.
    updated = sim.mutate("leads", update=2)["updated"]
    incremental = await runner.run(integ, models=["leads", "leases"])
    assert incremental.status is RunStatus.SUCCESS, incremental.error
    by_model = outcomes(incremental)
    assert {o.mode for o in incremental.outcomes} == {SyncMode.INCREMENTAL}
    assert by_model["leads"].counts.updated == 2
    assert by_model["leads"].counts.fetched < len(sim.truth()["leads"]["live"])
    assert by_model["leases"].counts.fetched < len(sim.truth()["leases"]["live"])
    leads = MODEL_TABLES["leads"]
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(leads.c.x_id, leads.c.last_name))).all()
    names = {row.x_id: row.last_name for row in rows}
    for lead_id in updated:
        # The world marks each revision in the last name (" r1", " r2", ...).
        assert re.search(r" r\d+$", names[renderer(sim).x_id("leads", lead_id)])


async def test_a_disabled_property_is_never_requested(store: SqlStore, sim: Simulator) -> None:
    disabled = sim.truth()["properties"]["live"][3]
    i = integration_for(sim, properties={disabled: {"enabled": False}})
    await store.add_integration(i)
    renderer(sim).request_log.clear()
    report = await Runner(store).run(i)
    assert report.status is RunStatus.SUCCESS, report.error
    log = renderer(sim).request_log
    per_property = [entry for entry in log if entry["property_id"] is not None]
    # Every per-property call of every model went out, to the other nine properties.
    assert len(per_property) == 6 * 9
    assert disabled not in {entry["property_id"] for entry in log}
    # Its records are not stored, whatever model; the other properties' are.
    for model in ("properties", "units", "residents", "leases", "leads", "lead_sources"):
        table = MODEL_TABLES[model]
        async with store.engine.connect() as conn:
            owners = set((await conn.execute(select(table.c.x_property_id))).scalars().all())
        assert disabled not in owners, model
        assert len(owners) == 9, model
