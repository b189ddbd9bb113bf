"""A listing counts only when proven complete: the simulator's faults, on both engines.

An empty page in the middle, the same page for every offset, a total that
does not match, a short page: each fails the model run with a reason that
says what was seen. Nothing is swept, no watermark moves, no DATA_DELETED
goes out, and the next run retries. Real drift (records created or deleted
while listing) within the tolerance still syncs, and sweeps exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from support import sim_integration, started_sim

from syncd.domain import Integration, RunStatus
from syncd.runner import Runner, RunnerConfig
from syncd.sim.buildium import BuildiumSimulator
from syncd.store.sql import SqlStore
from syncd.store.tables import MODEL_TABLES, change_events

SCALE = 200
PAGE = 10
UNITS_PATH = "/v1/rentals/units"


@pytest.fixture
async def sim() -> AsyncIterator[BuildiumSimulator]:
    async with started_sim(seed=17, scale=SCALE) as s:
        yield s


@pytest.fixture
async def integ(store: SqlStore, sim: BuildiumSimulator) -> Integration:
    i = sim_integration(sim, page_size=PAGE, concurrency=3)
    await store.add_integration(i)
    return i


def runner(store: SqlStore, overlap: int = 300) -> Runner:
    return Runner(store, RunnerConfig(overlap=timedelta(seconds=overlap)))


async def units_run(store: SqlStore, integ: Integration, *, full: bool, overlap: int = 300) -> Any:
    report = await runner(store, overlap).run(integ, models=["units"], full=full)
    (outcome,) = report.outcomes
    return outcome


async def deleted_count(store: SqlStore) -> int:
    table = MODEL_TABLES["units"]
    async with store.engine.connect() as conn:
        query = select(func.count()).select_from(table).where(table.c.deleted_at.is_not(None))
        return int((await conn.execute(query)).scalar_one())


async def deleted_events(store: SqlStore) -> int:
    async with store.engine.connect() as conn:
        query = (
            select(func.count())
            .select_from(change_events)
            .where(change_events.c.event_type == "DATA_DELETED")
        )
        return int((await conn.execute(query)).scalar_one())


async def test_an_empty_page_in_a_full_run_fails_and_deletes_nothing(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    assert (await units_run(store, integ, full=True)).status is RunStatus.SUCCESS
    watermark = (await store.get_checkpoint("acme", "units")).watermark
    # The 20th request of the listing answers [] with X-Total-Count: 0.
    sim.add_fault("empty", after=19, path=UNITS_PATH)
    outcome = await units_run(store, integ, full=True)
    assert outcome.status is RunStatus.FAILED
    # Pages of 10 overlap by one: the 20th starts at 19 * 9 = 171.
    assert outcome.error == (
        "IncompleteListing: page at offset 171 was empty; 172 of 200 announced "
        "(that page announced 0)"
    )
    assert outcome.counts.deleted == 0
    assert await deleted_count(store) == 0
    assert await deleted_events(store) == 0
    assert await store.count_records("acme", "units") == SCALE
    checkpoint = await store.get_checkpoint("acme", "units")
    assert checkpoint.watermark == watermark
    # The JOB_FAILURE event carries the reason.
    failures = [r for r in await store.list_runs(integration_id="acme") if r.id == outcome.run_id]
    assert failures[0].error == outcome.error
    # The next run retries from where the listing stopped and completes it.
    retry = await units_run(store, integ, full=True)
    assert retry.status is RunStatus.SUCCESS
    assert await deleted_count(store) == 0


async def test_an_empty_page_in_an_incremental_run_keeps_the_watermark(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    await units_run(store, integ, full=True)
    watermark = (await store.get_checkpoint("acme", "units")).watermark
    assert watermark is not None
    updated = sim.mutate("units", update=150)["updated"]
    sim.add_fault("empty", after=5, path=UNITS_PATH)
    failed = await units_run(store, integ, full=False, overlap=0)
    assert failed.status is RunStatus.FAILED
    assert "was empty" in (failed.error or "")
    assert failed.counts.fetched < 150
    assert (await store.get_checkpoint("acme", "units")).watermark == watermark
    # Nothing is lost: the next run fetches the rest of the updates.
    retry = await units_run(store, integ, full=False, overlap=0)
    assert retry.status is RunStatus.SUCCESS
    assert failed.counts.fetched + retry.counts.fetched >= len(updated)
    async with store.engine.connect() as conn:
        table = MODEL_TABLES["units"]
        rows = await conn.execute(select(table.c.x_id, table.c.last_run_id))
        last = {r.x_id: r.last_run_id for r in rows}
    assert all(last[str(x)] in (failed.run_id, retry.run_id) for x in updated)
    done = await store.get_checkpoint("acme", "units")
    assert done.cursor is None and done.watermark is not None and done.watermark >= watermark


async def test_the_same_page_for_every_offset_fails_at_once(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    await units_run(store, integ, full=True)
    sim.stats.reset()
    sim.add_fault("repeat", after=1, count=100_000, path=UNITS_PATH)
    outcome = await units_run(store, integ, full=True)
    assert outcome.status is RunStatus.FAILED
    assert "repeated records already listed" in (outcome.error or "")
    assert "ignoring the offset" in (outcome.error or "")
    # Bounded: the first pages and what was prefetched, not paging forever.
    assert sim.stats_snapshot()["by_path"][UNITS_PATH] <= 6
    # The good page before the fault is stored and checkpointed all the same.
    assert outcome.counts.fetched == PAGE
    assert (await store.get_checkpoint("acme", "units")).cursor is not None
    assert await deleted_count(store) == 0


@pytest.mark.parametrize(("delta", "status"), [(10, RunStatus.SUCCESS), (11, RunStatus.FAILED)])
async def test_a_total_that_does_not_match_beyond_the_tolerance_fails(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration, delta: int, status: RunStatus
) -> None:
    await units_run(store, integ, full=True)
    sim.mutate("units", delete=3)
    # Every page announces more than there is.
    sim.add_fault("total", delta=delta, count=100_000, path=UNITS_PATH)
    outcome = await units_run(store, integ, full=True)
    assert outcome.status is status, outcome.error
    # Within the tolerance the data syncs, but a listing short of its
    # announced total is not proof enough to delete the 3 unseen records.
    assert outcome.counts.deleted == 0
    assert await deleted_count(store) == 0
    if status is RunStatus.FAILED:
        assert "197 records" in (outcome.error or "") or "announced" in (outcome.error or "")


async def test_a_listing_reaching_an_undercounted_total_pages_on(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    await units_run(store, integ, full=True)
    sim.add_fault("total", delta=-50, count=100_000, path=UNITS_PATH)
    outcome = await units_run(store, integ, full=True)
    assert outcome.status is RunStatus.FAILED
    assert "listed 200 records, more than the 150 announced" in (outcome.error or "")
    assert await deleted_count(store) == 0


async def test_a_short_page_in_the_middle_fails(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    await units_run(store, integ, full=True)
    sim.add_fault("short", after=3, path=UNITS_PATH)
    outcome = await units_run(store, integ, full=True)
    assert outcome.status is RunStatus.FAILED
    assert "returned 5 records where 10 were asked" in (outcome.error or "")
    assert await deleted_count(store) == 0


async def test_deletions_while_listing_sweep_exactly_the_deleted(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    await units_run(store, integ, full=True)
    # Records vanish in the middle of the listing, most of them from pages
    # already listed: every later record moves up, and the pager realigns.
    sim.add_fault("drift", after=8, delete=4, path=UNITS_PATH)
    outcome = await units_run(store, integ, full=True)
    assert outcome.status is RunStatus.SUCCESS, outcome.error
    assert outcome.counts.deleted == 4
    assert await store.count_records("acme", "units") == SCALE - 4
    # Nothing that still exists was taken for deleted.
    again = await units_run(store, integ, full=True)
    assert again.status is RunStatus.SUCCESS
    assert again.counts.created == 0 and again.counts.deleted == 0
    assert await deleted_count(store) == 4


async def test_creations_while_listing_are_all_stored(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    sim.add_fault("drift", after=4, create=6, path=UNITS_PATH)
    outcome = await units_run(store, integ, full=True)
    assert outcome.status is RunStatus.SUCCESS, outcome.error
    assert await store.count_records("acme", "units") == SCALE + 6
