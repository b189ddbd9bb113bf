"""Removing an integration on both engines: everything of it goes, nothing of the others."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Table, func, select
from support import sim_integration, started_sim

from syncd.domain import SyncMode
from syncd.errors import IntegrationNotFound, RunConflict
from syncd.runner import Runner
from syncd.services.integrations import remove_integration
from syncd.store.sql import SqlStore
from syncd.store.tables import (
    MODEL_TABLES,
    change_events,
    checkpoints,
    data_access_checks,
    integrations,
    quarantine,
    residents_to_leases,
    schedules,
    seen_pages,
    sync_runs,
)

OWNED: list[Table] = [
    *MODEL_TABLES.values(),
    residents_to_leases,
    quarantine,
    seen_pages,
    checkpoints,
    schedules,
    sync_runs,
    data_access_checks,
]


async def _rows(store: SqlStore, table: Table, integration_id: str) -> int:
    column = table.c.id if table is integrations else table.c.integration_id
    async with store.engine.connect() as conn:
        query = select(func.count()).select_from(table).where(column == integration_id)
        return int((await conn.execute(query)).scalar_one())


async def _events(store: SqlStore) -> int:
    async with store.engine.connect() as conn:
        query = select(func.count()).select_from(change_events)
        return int((await conn.execute(query)).scalar_one())


async def _seed(store: SqlStore) -> None:
    """Two synced integrations, each with a schedule and a quarantined record."""
    async with started_sim(seed=4, scale=12) as sim:
        for iid in ("acme", "other"):
            integ = replace(sim_integration(sim), id=iid, name=iid.title())
            await store.add_integration(integ)
            # emit_initial_events: the outbox gets data events to outlive the removal.
            integ = replace(integ, options={**integ.options, "emit_initial_events": True})
            await store.update_integration(integ)
            assert (await Runner(store).run(integ, full=True)).ok
    now = datetime.now(UTC)
    async with store.engine.begin() as conn:
        for iid in ("acme", "other"):
            await conn.execute(
                schedules.insert().values(
                    integration_id=iid,
                    job="incremental",
                    trigger={"type": "interval", "seconds": 900},
                    state="ACTIVE",
                    next_run_at=now,
                    updated_at=now,
                )
            )
            await conn.execute(
                quarantine.insert().values(
                    integration_id=iid, model="units", x_id="x", reason="bad", created_at=now
                )
            )


async def test_removes_every_row_of_the_integration_and_keeps_its_events(
    store: SqlStore,
) -> None:
    await _seed(store)
    before_other = {t.name: await _rows(store, t, "other") for t in [*OWNED, integrations]}
    kept = {t.name: await _rows(store, t, "acme") for t in [*OWNED, integrations]}
    events = await _events(store)
    assert events > 0 and kept["residents_to_leases"] > 0 and kept["quarantine"] == 1

    removed = await store.remove_integration("acme")

    assert removed == kept  # the rows removed, table by table
    for table in [*OWNED, integrations]:
        assert await _rows(store, table, "acme") == 0, table.name
        assert await _rows(store, table, "other") == before_other[table.name], table.name
    # The outbox keeps what was announced: subscribers still receive it.
    assert await _events(store) == events
    with pytest.raises(IntegrationNotFound):
        await store.get_integration("acme")
    with pytest.raises(IntegrationNotFound):
        await store.remove_integration("acme")


async def test_a_live_run_blocks_removal_and_a_dead_one_does_not(store: SqlStore) -> None:
    await _seed(store)
    other = await store.get_integration("other")
    run_id = await store.start_run(
        integration=other, model="units", mode=SyncMode.FULL, trigger="manual"
    )
    rows = await _rows(store, MODEL_TABLES["units"], "other")

    with pytest.raises(RunConflict) as refused:
        await remove_integration(store, "other")
    assert run_id in str(refused.value) and "nothing was removed" in str(refused.value)
    assert await _rows(store, integrations, "other") == 1
    assert await _rows(store, MODEL_TABLES["units"], "other") == rows

    # A run whose heartbeat is older than the cut-off belongs to a dead process.
    removed = await store.remove_integration(
        "other", live_since=datetime.now(UTC) + timedelta(seconds=1)
    )
    assert removed["integrations"] == 1 and removed["units"] == rows
    assert await _rows(store, sync_runs, "other") == 0
