"""Propertyware end to end: the Runner syncs the simulator into the cache, on both engines.

A full sync fills every unified table; after the simulator changes (creates,
updates and deletes on several models) another full sync leaves the cache's
live records equal to the simulator's truth and marks the deleted ones; an
incremental run picks up what was updated since.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from syncd.domain import Environment, Integration, RunStatus, SyncMode
from syncd.runner import Runner
from syncd.sim.propertyware import PropertywareRenderer
from syncd.sim.server import Simulator
from syncd.store.sql import SqlStore
from syncd.store.tables import MODEL_TABLES, residents_to_leases

SCALE = 80
MODELS = ("properties", "units", "residents", "leases", "leads")


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(PropertywareRenderer, seed=21, scale=SCALE, rate_limit=0) as simulator:
        yield simulator


@pytest.fixture
async def integ(store: SqlStore, sim: Simulator) -> Integration:
    integration = Integration(
        id="acme",
        name="Acme",
        vendor="PROPERTYWARE",
        environment=Environment.PRODUCTION,
        enabled=True,
        base_url=sim.url,
        credentials=dict(sim.credentials),
        options={
            "rate_limit_per_second": 0,
            "page_size": 25,
            "concurrency": 3,
            # A world of four buildings: deleting one is a quarter of them.
            "sweep_max_share": 0.5,
        },
    )
    await store.add_integration(integration)
    return integration


async def cache_ids(store: SqlStore, model: str, *, deleted: bool = False) -> set[str]:
    table = MODEL_TABLES[model]
    gone = table.c.deleted_at.is_not(None) if deleted else table.c.deleted_at.is_(None)
    query = select(table.c.x_id).where(table.c.integration_id == "acme", gone)
    async with store.engine.connect() as conn:
        return set((await conn.execute(query)).scalars().all())


async def row(store: SqlStore, model: str, x_id: str) -> Any:
    table = MODEL_TABLES[model]
    query = select(table).where(table.c.integration_id == "acme", table.c.x_id == x_id)
    async with store.engine.connect() as conn:
        return (await conn.execute(query)).one()


def truth(sim: Simulator, model: str, kind: str = "live") -> set[str]:
    return set(sim.truth()[model][kind])


async def test_full_sync_fills_the_unified_tables(
    store: SqlStore, sim: Simulator, integ: Integration
) -> None:
    report = await Runner(store).run(integ)
    assert report.status is RunStatus.SUCCESS, report.error
    order = [o.model for o in report.outcomes]
    assert sorted(order) == sorted(MODELS)
    assert order.index("properties") < order.index("units") < order.index("leases")
    assert order.index("residents") < order.index("leases")
    counts = {o.model: o.counts for o in report.outcomes}
    for model in MODELS:
        assert counts[model].quarantined == 0, model
        assert counts[model].created == len(truth(sim, model)) > 0, model
        assert await cache_ids(store, model) == truth(sim, model), model

    # Every lease's tenants are linked, one of them as the primary resident.
    async with store.engine.connect() as conn:
        links = (
            await conn.execute(
                select(
                    residents_to_leases.c.x_lease_id,
                    residents_to_leases.c.x_resident_id,
                    residents_to_leases.c.resident_type_normalized,
                )
            )
        ).all()
    assert {link.x_resident_id for link in links} == truth(sim, "residents")
    primaries = [link.x_lease_id for link in links if link.resident_type_normalized == "PRIMARY"]
    assert sorted(primaries) == sorted(truth(sim, "leases"))
    leases = await sim_leases(sim)
    for lease in leases[:20]:
        primary = next(c["id"] for c in lease["contacts"] if c["primary"])
        assert (str(lease["id"]), str(primary), "PRIMARY") in {tuple(link) for link in links}

    # Typed, normalized columns.
    lease = await row(store, "leases", sorted(truth(sim, "leases"))[0])
    assert lease.status_normalized in {"ACTIVE", "INACTIVE", "PENDING", "EVICTED"}
    assert isinstance(lease.rent_amount_in_cents, int) and lease.rent_amount_in_cents > 0
    assert lease.x_property_id in truth(sim, "properties")
    assert lease.unit_id is not None and lease.start_date is not None
    building = await row(store, "properties", sorted(truth(sim, "properties"))[0])
    assert building.type_normalized in {"SINGLE_FAMILY", "MULTI_FAMILY", "STUDENT_HOUSING", "OTHER"}
    assert building.type_raw and building.number_of_units == 20
    resident = await row(store, "residents", sorted(truth(sim, "residents"))[0])
    assert resident.first_name and resident.email_1 and resident.address_1
    if resident.phone_1 is not None:
        assert resident.phone_1_type == "MOBILE"
    lead = await row(store, "leads", sorted(truth(sim, "leads"))[0])
    assert lead.lead_source and lead.status and lead.first_name
    assert lead.x_property_id in truth(sim, "properties")


async def sim_leases(sim: Simulator) -> list[dict[str, Any]]:
    """Every lease as the simulator serves it."""
    headers = {
        "x-propertyware-client-id": sim.credentials["client_id"],
        "x-propertyware-client-secret": sim.credentials["client_secret"],
        "x-propertyware-system-id": sim.credentials["system_id"],
    }
    url = sim.url + "/pw/api/rest/v1/leases"
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, params={"limit": "500"}, headers=headers) as response,
    ):
        assert response.status == 200
        leases: list[dict[str, Any]] = await response.json()
        return leases


async def live_links(store: SqlStore, leases: set[str]) -> set[tuple[str, str]]:
    """(lease, resident) pairs stored for the leases ``leases``."""
    query = select(residents_to_leases.c.x_lease_id, residents_to_leases.c.x_resident_id).where(
        residents_to_leases.c.integration_id == "acme"
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {(r.x_lease_id, r.x_resident_id) for r in rows if r.x_lease_id in leases}


async def test_changes_in_the_pms_reach_the_cache(
    store: SqlStore, sim: Simulator, integ: Integration
) -> None:
    first = await Runner(store).run(integ)
    assert first.ok, first.error
    changes = {
        "properties": {"create": 1, "update": 1, "delete": 1},
        "units": {"create": 2, "update": 3, "delete": 2},
        "residents": {"create": 1, "update": 2, "delete": 3},
        "leases": {"create": 1, "update": 2, "delete": 2},
        "leads": {"create": 2, "update": 1, "delete": 2},
    }
    for model, amounts in changes.items():
        sim.mutate(model, **amounts)

    report = await Runner(store).run(integ, full=True)
    assert report.ok, report.error
    counts = {o.model: o.counts for o in report.outcomes}
    for model, amounts in changes.items():
        live = truth(sim, model)
        assert await cache_ids(store, model) == live, model
        deleted = truth(sim, model, "deleted")
        assert len(deleted) == amounts["delete"]
        assert await cache_ids(store, model, deleted=True) == deleted, model
        assert counts[model].deleted == amounts["delete"], model
        assert counts[model].created == amounts["create"], model
        # Updated records, plus leases whose deleted tenants left them.
        assert counts[model].updated >= amounts["update"], model
    # Each live lease's links are its tenants as Propertyware lists them now.
    expected = {
        (str(lease["id"]), str(contact["id"]))
        for lease in await sim_leases(sim)
        for contact in lease["contacts"]
    }
    assert await live_links(store, truth(sim, "leases")) == expected


async def test_an_incremental_run_picks_up_an_update(
    store: SqlStore, sim: Simulator, integ: Integration
) -> None:
    assert (await Runner(store).run(integ)).ok
    unit_ids = sim.mutate("units", update=2)["updated"]
    lease_ids = sim.mutate("leases", update=1)["updated"]
    before = {i: await row(store, "units", sim.renderer.x_id("units", i)) for i in unit_ids}

    report = await Runner(store).run(integ, models=["units", "leases"])
    assert report.ok, report.error
    assert {o.mode for o in report.outcomes} == {SyncMode.INCREMENTAL}
    counts = {o.model: o.counts for o in report.outcomes}
    # Only what changed was asked for.
    assert counts["units"].fetched == counts["units"].updated == 2
    assert counts["leases"].fetched == counts["leases"].updated == 1
    for i in unit_ids:
        after = await row(store, "units", sim.renderer.x_id("units", i))
        assert after.rent_amount_market_in_cents == before[i].rent_amount_market_in_cents + 1_000
    lease = await row(store, "leases", sim.renderer.x_id("leases", lease_ids[0]))
    assert lease.x_updated_at is not None and lease.x_updated_at.year >= 2025
    assert await cache_ids(store, "units") == truth(sim, "units")
