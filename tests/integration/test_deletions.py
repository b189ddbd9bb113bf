"""Deletion detection against the Buildium simulator, on both engines.

Absence of evidence is not evidence of absence: only a complete, successful
full run deletes, only inside its scope, and never more than the guard allows
without a human's approval.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from support import sim_integration, started_sim

from syncd.domain import (
    Checkpoint,
    Environment,
    FetchWindow,
    Integration,
    NormalizedRecord,
    QuarantinedRecord,
    RunStatus,
    SweepScope,
    SyncMode,
)
from syncd.errors import SweepError
from syncd.model_run import ModelRunner
from syncd.runner import Runner, RunnerConfig
from syncd.sim.buildium import BuildiumSimulator
from syncd.store.base import PageProgress
from syncd.store.sql import SqlStore
from syncd.store.tables import MODEL_TABLES, change_events, seen_pages

SCALE = 40
UNITS_PATH = "/v1/rentals/units"


@pytest.fixture
async def sim() -> AsyncIterator[BuildiumSimulator]:
    async with started_sim(seed=11, scale=SCALE) as s:
        yield s


def integration_for(sim: BuildiumSimulator, **options: Any) -> Integration:
    return sim_integration(sim, **options)


@pytest.fixture
async def integ(store: SqlStore, sim: BuildiumSimulator) -> Integration:
    i = integration_for(sim)
    await store.add_integration(i)
    return i


async def deleted_x_ids(store: SqlStore, model: str) -> set[str]:
    table = MODEL_TABLES[model]
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(table.c.x_id).where(table.c.deleted_at.is_not(None)))
        return {r.x_id for r in rows}


async def events_of(store: SqlStore, event_type: str) -> list[Any]:
    async with store.engine.connect() as conn:
        query = (
            select(change_events)
            .where(change_events.c.event_type == event_type)
            .order_by(change_events.c.id)
        )
        return list(await conn.execute(query))


async def full_units(store: SqlStore, integ: Integration) -> Any:
    report = await Runner(store).run(integ, models=["units"], full=True)
    (outcome,) = report.outcomes
    return report, outcome


async def held_after_empty_answer(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> Any:
    """A full units run, then one the PMS answers empty: its sweep is held."""
    await full_units(store, integ)
    sim.add_fault("empty", path=UNITS_PATH, count=1)
    _, held = await full_units(store, integ)
    assert held.status is RunStatus.NEEDS_ATTENTION
    return held


async def test_full_run_marks_exactly_the_deleted_records(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    await full_units(store, integ)
    gone = {str(i) for i in sim.mutate("units", delete=SCALE * 5 // 100)["deleted"]}
    assert len(gone) == 2
    report, outcome = await full_units(store, integ)
    assert report.ok, report.error
    assert outcome.counts.deleted == 2
    assert await deleted_x_ids(store, "units") == gone
    assert await store.count_records("acme", "units") == SCALE - 2
    events = await events_of(store, "DATA_DELETED")
    assert sorted(e.x_id for e in events) == sorted(gone)
    for e in events:
        assert e.model == "units" and e.run_id == outcome.run_id and e.record_id is not None
        assert e.payload == {
            "integration_id": "acme",
            "vendor": "BUILDIUM",
            "model": "units",
            "record_id": str(e.record_id),
            "x_id": e.x_id,
            "property_id": e.payload["property_id"],
            "job_id": outcome.run_id,
        }
        assert e.payload["property_id"] is not None
    (run,) = [r for r in await store.list_runs(integration_id="acme") if r.id == outcome.run_id]
    assert run.counts.deleted == 2 and run.status is RunStatus.SUCCESS
    # Sweeping again finds nothing new: no second event per record.
    await full_units(store, integ)
    assert len(await events_of(store, "DATA_DELETED")) == 2


async def test_an_unchanged_resync_rewrites_no_row_yet_sweeps_exactly(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    units = MODEL_TABLES["units"]

    async def stamps() -> dict[str, tuple[datetime, str | None]]:
        async with store.engine.connect() as conn:
            rows = await conn.execute(select(units.c.x_id, units.c.last_seen, units.c.last_run_id))
            return {r.x_id: (r.last_seen, r.last_run_id) for r in rows}

    async def seen_pages_left() -> int:
        async with store.engine.connect() as conn:
            return len((await conn.execute(select(seen_pages.c.id))).all())

    await full_units(store, integ)
    before = await stamps()
    gone = {str(i) for i in sim.mutate("units", delete=2)["deleted"]}
    _, outcome = await full_units(store, integ)
    assert outcome.counts.unchanged == SCALE - 2 and outcome.counts.deleted == 2
    assert await deleted_x_ids(store, "units") == gone
    after = await stamps()
    # Seen within the resolution (an hour): no row was written, and the
    # run's seen pages went with it.
    assert {x: v for x, v in after.items() if x not in gone} == {
        x: v for x, v in before.items() if x not in gone
    }
    assert await seen_pages_left() == 0

    # With no resolution, every sync refreshes last_seen (still no run id).
    eager = Runner(store, RunnerConfig(last_seen_resolution=timedelta(0)))
    report = await eager.run(integ, models=["units"], full=True)
    assert report.ok and report.outcomes[0].counts.deleted == 0
    refreshed = await stamps()
    live = set(before) - gone
    assert all(refreshed[x][0] > before[x][0] for x in live)
    assert all(refreshed[x][1] == before[x][1] for x in live)
    assert await seen_pages_left() == 0


async def test_a_held_sweep_keeps_what_later_runs_saw(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    held = await held_after_empty_answer(store, sim, integ)
    # Later runs see every unit but four, unchanged: one is held again (an
    # empty answer) and dismissed, the next is held by a stricter guard. So
    # a held sweep stays pending all along, and neither rewrites any row.
    gone = {str(i) for i in sim.mutate("units", delete=4)["deleted"]}
    sim.add_fault("empty", path=UNITS_PATH, count=1)
    _, held_again = await full_units(store, integ)
    assert held_again.status is RunStatus.NEEDS_ATTENTION
    await store.dismiss_sweep(held_again.run_id)
    strict = replace(integ, options={**integ.options, "sweep_max_share": 0.01})
    await store.update_integration(strict)
    report = await Runner(store).run(strict, models=["units"], full=True)
    (later,) = report.outcomes
    assert later.status is RunStatus.NEEDS_ATTENTION and later.counts.unchanged == SCALE - 4
    # ...so their seen pages were folded into last_seen: approving the first
    # held sweep deletes only the four the later runs did not see.
    result = await store.approve_sweep(
        held.run_id, date_field=None, events=True, now=datetime.now(UTC)
    )
    assert result.deleted == 4
    assert await deleted_x_ids(store, "units") == gone


async def test_no_approval_while_the_model_syncs(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    held = await held_after_empty_answer(store, sim, integ)
    running = await store.start_run(
        integration=integ, model="units", mode=SyncMode.FULL, trigger="test"
    )
    now = datetime.now(UTC)
    with pytest.raises(SweepError, match=f"run {running} is syncing units"):
        await store.approve_sweep(held.run_id, date_field=None, events=True, now=now)
    assert await store.count_records("acme", "units") == SCALE
    await store.finish_run(running, RunStatus.FAILED, None, "test")
    result = await store.approve_sweep(held.run_id, date_field=None, events=True, now=now)
    assert result.deleted == SCALE


async def test_a_run_failing_midway_deletes_nothing(
    store: SqlStore, sim: BuildiumSimulator
) -> None:
    integ = integration_for(sim, page_size=5, concurrency=1)
    await store.add_integration(integ)
    await full_units(store, integ)
    sim.mutate("units", delete=2)

    class FailAfterFirstPage:
        def model_started(self, model: str, mode: SyncMode) -> None:
            pass

        def page_stored(self, model: str, done: int, total: int | None) -> None:
            # Every later request fails, beyond the HTTP layer's retries.
            sim.add_fault("500", path=UNITS_PATH, count=10_000)

        def model_finished(self, model: str, status: RunStatus, counts: Any) -> None:
            pass

    report = await Runner(store).run(
        integ, models=["units"], full=True, progress=FailAfterFirstPage()
    )
    (outcome,) = report.outcomes
    assert outcome.status is RunStatus.FAILED and 0 < outcome.counts.fetched < SCALE
    assert await deleted_x_ids(store, "units") == set()
    assert await store.count_records("acme", "units") == SCALE
    assert await events_of(store, "DATA_DELETED") == []
    (failure,) = await events_of(store, "JOB_FAILURE")
    assert failure.payload["job_id"] == outcome.run_id
    assert failure.payload["status"] == "FAILED" and "PMSServerError" in failure.payload["error"]

    # The next full run resumes the failed one's cursor: it did not see the
    # first pages itself, so it may not sweep either.
    sim.clear_faults()
    resumed, outcome = await full_units(store, integ)
    assert resumed.ok and outcome.counts.fetched < SCALE
    assert await deleted_x_ids(store, "units") == set()
    # A fresh full run sees everything and sweeps.
    fresh, outcome = await full_units(store, integ)
    assert fresh.ok and outcome.counts.deleted == 2
    assert len(await deleted_x_ids(store, "units")) == 2


async def test_an_incremental_run_deletes_nothing(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    await full_units(store, integ)
    sim.mutate("units", delete=2, update=1)
    report = await Runner(store).run(integ, models=["units"])
    (outcome,) = report.outcomes
    assert report.ok and outcome.mode is SyncMode.INCREMENTAL
    assert outcome.counts.updated == 1 and outcome.counts.deleted == 0
    assert await deleted_x_ids(store, "units") == set()
    assert await events_of(store, "DATA_DELETED") == []


async def test_quarantined_records_are_never_deleted(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    await full_units(store, integ)
    # One record of the page loses its id (it could be any record), another
    # gets a bad amount (quarantined under its own id).
    sim.add_fault("malformed", path=UNITS_PATH, count=1)
    report, outcome = await full_units(store, integ)
    assert report.ok and outcome.counts.quarantined == 2
    assert await deleted_x_ids(store, "units") == set()
    assert await events_of(store, "DATA_DELETED") == []


async def test_quarantined_records_with_an_id_count_as_seen(store: SqlStore) -> None:
    integ = Integration(
        id="acme",
        name="acme",
        vendor="BUILDIUM",
        environment=Environment.PRODUCTION,
        enabled=True,
        base_url=None,
        credentials={"client_id": "c", "client_secret": "s"},
    )
    await store.add_integration(integ)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    records = [
        NormalizedRecord(x_id=str(i), values={"name": str(i)}, content_hash=str(i))
        for i in range(30)
    ]
    page = PageProgress(cursor=None, run_id="old", mode=SyncMode.FULL, window=FetchWindow())
    await store.store_page(
        integration=integ,
        model="lead_sources",
        records=records,
        quarantined=[],
        progress=page,
        now=now,
    )
    run = await store.start_run(
        integration=integ, model="lead_sources", mode=SyncMode.FULL, trigger="t"
    )
    bad = QuarantinedRecord(x_id="7", reason="name: too long", raw={"Id": 7})
    await store.store_page(
        integration=integ,
        model="lead_sources",
        records=[r for r in records if r.x_id not in ("7", "8")],
        quarantined=[bad],
        progress=PageProgress(cursor=None, run_id=run, mode=SyncMode.FULL, window=FetchWindow()),
        now=now,
    )
    result = await store.sweep(
        SweepScope("acme", "BUILDIUM", "lead_sources", run), max_share=0.1, events=True, now=now
    )
    assert (result.candidates, result.deleted) == (1, 1)
    assert await deleted_x_ids(store, "lead_sources") == {"8"}


async def test_an_empty_list_trips_the_guard_until_approved(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    await full_units(store, integ)
    sim.add_fault("empty", path=UNITS_PATH, count=1)
    report, held = await full_units(store, integ)
    assert report.status is RunStatus.NEEDS_ATTENTION and held.counts.fetched == 0
    assert held.status is RunStatus.NEEDS_ATTENTION and held.counts.deleted == 0
    assert await store.count_records("acme", "units") == SCALE
    assert await events_of(store, "DATA_DELETED") == []
    (failure,) = await events_of(store, "JOB_FAILURE")
    assert failure.payload["status"] == "NEEDS_ATTENTION"
    assert failure.payload["model"] == "units" and failure.payload["job_id"] == held.run_id
    assert failure.payload["sweep"] == {
        "scope": SCALE,
        "candidates": SCALE,
        "share": 1.0,
        "threshold": 0.1,
        "approve": f"syncd sweeps approve {held.run_id}",
    }
    assert "held" in (held.error or "") and f"{SCALE} of {SCALE}" in (held.error or "")
    complete = (await events_of(store, "SYNC_COMPLETE"))[-1]
    assert complete.run_id == report.root_run_id
    assert complete.payload["failed_job_count"] == 1
    assert complete.payload["needs_attention_job_count"] == 1
    listed = await store.list_runs(status=RunStatus.NEEDS_ATTENTION)
    assert {r.id for r in listed} == {held.run_id, report.root_run_id}

    # A human looked: the PMS really is empty. Approve the held sweep.
    result = await store.approve_sweep(
        held.run_id, date_field=None, events=True, now=datetime.now(UTC)
    )
    assert (result.scope, result.deleted) == (SCALE, SCALE)
    assert await store.count_records("acme", "units") == 0
    assert len(await events_of(store, "DATA_DELETED")) == SCALE
    run = await store.get_run(held.run_id)
    assert run is not None and run.status is RunStatus.SUCCESS and run.counts.deleted == SCALE
    root = await store.get_run(report.root_run_id)
    assert root is not None and root.status is RunStatus.SUCCESS
    with pytest.raises(SweepError, match="holds no sweep"):
        await store.approve_sweep(held.run_id, date_field=None, events=True, now=datetime.now(UTC))

    # It was a glitch after all: the records come back, undeleted.
    again, outcome = await full_units(store, integ)
    assert again.ok and outcome.counts.deleted == 0
    assert await store.count_records("acme", "units") == SCALE
    assert await deleted_x_ids(store, "units") == set()
    back = await events_of(store, "DATA_NEW")
    assert len(back) == SCALE and all(e.payload["undeleted"] is True for e in back)


async def test_approval_spares_records_seen_since(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    held = await held_after_empty_answer(store, sim, integ)
    gone = {str(i) for i in sim.mutate("units", delete=2)["deleted"]}
    _, later = await full_units(store, integ)
    assert later.status is RunStatus.SUCCESS and later.counts.deleted == 2
    # Everything the later run saw is spared; the rest was already deleted.
    result = await store.approve_sweep(
        held.run_id, date_field=None, events=True, now=datetime.now(UTC)
    )
    assert result.deleted == 0
    assert await deleted_x_ids(store, "units") == gone


async def test_guard_threshold_is_configurable(store: SqlStore, sim: BuildiumSimulator) -> None:
    integ = integration_for(sim, sweep_max_share=0.02)
    await store.add_integration(integ)
    await full_units(store, integ)
    sim.mutate("units", delete=2)
    _, outcome = await full_units(store, integ)
    assert outcome.status is RunStatus.NEEDS_ATTENTION and outcome.counts.deleted == 0
    assert "threshold 2.0%" in (outcome.error or "")
    await store.dismiss_sweep(outcome.run_id)
    run = await store.get_run(outcome.run_id)
    assert run is not None and run.status is RunStatus.SUCCESS and "dismissed" in (run.error or "")
    assert await deleted_x_ids(store, "units") == set()


class WindowedFullModels(ModelRunner):
    """Model runs whose full runs ask for a date window (as a window_days job would)."""

    since: datetime

    def _window(
        self, checkpoint: Checkpoint, windowed: bool, full: bool, *args: Any, **kwargs: Any
    ) -> tuple[SyncMode, FetchWindow, datetime, str | None]:
        now = datetime.now(UTC).replace(microsecond=0)
        return SyncMode.FULL, FetchWindow(since=self.since, until=now), now, None


class WindowedFullRunner(Runner):
    """A runner whose full runs ask for a date window from ``since``."""

    def __init__(self, store: SqlStore, since: datetime) -> None:
        super().__init__(store)
        models = WindowedFullModels(store, self.config, self._live)
        models.since = since
        self._models = models


async def test_records_outside_the_date_window_are_never_deleted(
    store: SqlStore, sim: BuildiumSimulator
) -> None:
    integ = integration_for(sim, sweep_max_share=0.5)
    await store.add_integration(integ)
    first = await Runner(store).run(integ, models=["leases"], full=True)
    assert first.ok
    table = MODEL_TABLES["leases"]
    async with store.engine.connect() as conn:
        stamps = dict((await conn.execute(select(table.c.x_id, table.c.x_updated_at))).all())
    gone = [str(i) for i in sim.mutate("leases", delete=6)["deleted"]]
    ordered = sorted(gone, key=lambda x: stamps[x])
    # A window starting between the deleted records: some inside, some before it.
    since = stamps[ordered[3]]
    inside = {x for x in gone if stamps[x] >= since}
    assert inside and set(gone) - inside
    report = await WindowedFullRunner(store, since).run(integ, models=["leases"])
    (outcome,) = report.outcomes
    assert report.ok, report.error
    assert outcome.mode is SyncMode.FULL and outcome.counts.fetched < SCALE
    assert await deleted_x_ids(store, "leases") == inside
    run = await store.get_run(outcome.run_id)
    assert run is not None and run.counts.deleted == len(inside)


async def test_a_windowed_run_without_a_stored_date_never_sweeps(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration
) -> None:
    await full_units(store, integ)
    sim.mutate("units", delete=2)
    since = datetime(2000, 1, 1, tzinfo=UTC)  # the window holds every unit
    report = await WindowedFullRunner(store, since).run(integ, models=["units"])
    (outcome,) = report.outcomes
    assert report.ok and outcome.counts.fetched == SCALE - 2
    assert outcome.counts.deleted == 0
    assert await deleted_x_ids(store, "units") == set()


async def test_sweep_scope_is_one_integration_and_model(store: SqlStore) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for iid in ("acme", "other"):
        await store.add_integration(
            Integration(
                id=iid,
                name=iid,
                vendor="BUILDIUM",
                environment=Environment.PRODUCTION,
                enabled=True,
                base_url=None,
                credentials={"client_id": "c", "client_secret": "s"},
            )
        )

    def record(x_id: str) -> NormalizedRecord:
        return NormalizedRecord(x_id=x_id, values={"name": x_id}, content_hash=x_id)

    def progress(run_id: str) -> PageProgress:
        return PageProgress(cursor=None, run_id=run_id, mode=SyncMode.FULL, window=FetchWindow())

    for iid in ("acme", "other"):
        integ = await store.get_integration(iid)
        for model in ("lead_sources", "floor_plans"):
            await store.store_page(
                integration=integ,
                model=model,
                records=[record(str(i)) for i in range(20)],
                quarantined=[],
                progress=progress("old"),
                now=now - timedelta(days=1),
            )
    acme = await store.get_integration("acme")
    run = await store.start_run(
        integration=acme, model="lead_sources", mode=SyncMode.FULL, trigger="t"
    )
    await store.store_page(
        integration=acme,
        model="lead_sources",
        records=[record(str(i)) for i in range(19)],
        quarantined=[],
        progress=progress(run),
        now=now,
    )
    scope = SweepScope("acme", "BUILDIUM", "lead_sources", run)
    result = await store.sweep(scope, max_share=0.1, events=True, now=now)
    assert (result.scope, result.candidates, result.deleted, result.held) == (20, 1, 1, False)
    assert await deleted_x_ids(store, "lead_sources") == {"19"}
    assert await deleted_x_ids(store, "floor_plans") == set()
    assert await store.count_records("other", "lead_sources") == 20
    # A windowed scope without a date column to apply it is never swept.
    windowed = SweepScope(
        "acme", "BUILDIUM", "floor_plans", run, FetchWindow(since=now - timedelta(days=9))
    )
    skipped = await store.sweep(windowed, max_share=1.0, events=True, now=now)
    assert skipped.skipped and skipped.deleted == 0
    assert await store.count_records("acme", "floor_plans") == 20


async def test_sweeps_cli_lists_and_approves(
    store: SqlStore, sim: BuildiumSimulator, integ: Integration, database_url: str, tmp_path: Path
) -> None:
    await full_units(store, integ)
    sim.add_fault("empty", path=UNITS_PATH, count=1)
    _, held = await full_units(store, integ)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env |= {
        "SYNCD_STATE_DIR": str(tmp_path / "state"),
        "SYNCD_LOG_FORMAT": "json",
        "SYNCD_DATABASE_URL": database_url,
    }

    def syncd(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "syncd", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    listed = syncd("sweeps", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert held.run_id in listed.stdout and "NEEDS_ATTENTION" in listed.stdout
    approved = syncd("sweeps", "approve", held.run_id)
    assert approved.returncode == 0, approved.stderr
    assert f"{SCALE} deleted" in approved.stdout
    assert await store.count_records("acme", "units") == 0
    again = syncd("sweeps", "approve", held.run_id)
    assert again.returncode == 2 and "holds no sweep" in again.stderr
    assert "no held sweeps" in syncd("sweeps", "list").stdout


async def test_a_disabled_property_is_neither_synced_nor_swept(
    store: SqlStore, sim: BuildiumSimulator
) -> None:
    from dataclasses import replace

    from syncd.integration_config import apply_setting
    from syncd.jobs import load_jobs

    integ = integration_for(sim)
    await store.add_integration(integ)
    models = ["properties", "units"]
    assert (await Runner(store).run(integ, models=models, full=True)).ok
    units = MODEL_TABLES["units"]
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(units.c.x_id, units.c.x_property_id))).all()
    by_property: dict[str, set[str]] = {}
    for r in rows:
        by_property.setdefault(r.x_property_id, set()).add(r.x_id)
    prop, prop_units = max(by_property.items(), key=lambda kv: len(kv[1]))
    assert prop_units

    options = apply_setting(
        integ.options, load_jobs("buildium"), f"properties.{prop}.enabled", "false"
    )
    integ = replace(integ, options=options)
    await store.update_integration(integ)
    # Every unit changes at the PMS, so every one is transformed again; the
    # disabled property's are dropped, not stored, and their absence from
    # the run must not read as deletion.
    sim.mutate("units", update=SCALE)
    report = await Runner(store).run(integ, models=models, full=True)
    assert report.ok, report.error
    assert all(o.counts.deleted == 0 for o in report.outcomes)
    assert not await events_of(store, "DATA_DELETED")
    assert await deleted_x_ids(store, "units") == set()
    unit_run = next(o.run_id for o in report.outcomes if o.model == "units")
    async with store.engine.connect() as conn:
        stale = (
            (await conn.execute(select(units.c.x_id).where(units.c.last_run_id != unit_run)))
            .scalars()
            .all()
        )
    assert set(stale) == prop_units

    # A new integration with the property disabled never stores its data.
    beta = replace(integ, id="beta", name="Beta")
    await store.add_integration(beta)
    assert (await Runner(store).run(beta, models=models, full=True)).ok
    props = MODEL_TABLES["properties"]
    async with store.engine.connect() as conn:
        beta_props = (
            (await conn.execute(select(props.c.x_id).where(props.c.integration_id == "beta")))
            .scalars()
            .all()
        )
        beta_units = (
            (
                await conn.execute(
                    select(units.c.x_property_id).where(units.c.integration_id == "beta")
                )
            )
            .scalars()
            .all()
        )
    assert prop not in beta_props and beta_props
    assert prop not in beta_units and beta_units
