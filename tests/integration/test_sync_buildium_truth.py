"""Buildium end to end against the simulator's truth, on both engines.

After the simulator changes (creates, updates and deletes on several
models), a full sync leaves the cache's live records equal to what
``/_sim/truth`` says exists, and the deleted ones marked deleted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from syncd.domain import Environment, Integration, RunStatus
from syncd.runner import Runner
from syncd.sim.buildium import BuildiumSimulator
from syncd.store.sql import SqlStore
from syncd.store.tables import MODEL_TABLES

MODELS = ("properties", "units", "residents", "leases", "leads", "employees")


@pytest.fixture
async def sim() -> AsyncIterator[BuildiumSimulator]:
    async with BuildiumSimulator(seed=23, scale=80, rate_limit=0) as simulator:
        yield simulator


async def cache_ids(store: SqlStore, model: str, *, deleted: bool) -> set[str]:
    table = MODEL_TABLES[model]
    gone = table.c.deleted_at.is_not(None) if deleted else table.c.deleted_at.is_(None)
    query = select(table.c.x_id).where(table.c.integration_id == "acme", gone)
    async with store.engine.connect() as conn:
        return set((await conn.execute(query)).scalars().all())


async def test_the_cache_equals_the_truth_after_changes(
    store: SqlStore, sim: BuildiumSimulator
) -> None:
    integ = Integration(
        id="acme",
        name="Acme",
        vendor="BUILDIUM",
        environment=Environment.PRODUCTION,
        enabled=True,
        base_url=sim.url,
        credentials=dict(sim.credentials),
        options={"rate_limit_per_second": 0, "page_size": 50, "sweep_max_share": 0.5},
    )
    await store.add_integration(integ)
    first = await Runner(store).run(integ, full=True)
    assert first.status is RunStatus.SUCCESS, first.error
    for model in ("units", "residents", "leases", "leads"):
        sim.mutate(model, create=3, update=2, delete=2)
    again = await Runner(store).run(integ, full=True)
    assert again.status is RunStatus.SUCCESS, again.error
    truth = sim.truth()
    for model in MODELS:
        assert await cache_ids(store, model, deleted=False) == set(truth[model]["live"]), model
        assert set(truth[model]["deleted"]) <= await cache_ids(store, model, deleted=True), model
    assert truth["units"]["deleted"], "the simulator deleted nothing to compare"
