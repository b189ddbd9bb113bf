"""Change events in the outbox: payloads, exact diffs, undeletes, first-sync suppression,
lifecycle events; on both engines, against the Buildium simulator where a sync is involved."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from support import sim_integration, started_sim

from syncd.diff import json_record
from syncd.domain import (
    FetchWindow,
    Integration,
    NormalizedRecord,
    RunStatus,
    SweepScope,
    SyncMode,
    record_id,
)
from syncd.events import RECORD_EVENT_KEYS
from syncd.model_run import BACKSYNC_TRIGGER
from syncd.models import MODELS
from syncd.runner import Runner
from syncd.sim.buildium import BuildiumSimulator
from syncd.store.base import PageProgress
from syncd.store.sql import SqlStore
from syncd.store.tables import MODEL_TABLES, change_events

SCALE = 30
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
DATA = {"DATA_NEW", "DATA_UPDATE", "DATA_DELETED"}


@pytest.fixture
async def sim() -> AsyncIterator[BuildiumSimulator]:
    async with started_sim(seed=23, scale=SCALE) as s:
        yield s


def integration_for(sim: BuildiumSimulator | None = None, **options: Any) -> Integration:
    return sim_integration(sim, **options)


async def all_events(store: SqlStore) -> list[Any]:
    async with store.engine.connect() as conn:
        rows = list(await conn.execute(select(change_events).order_by(change_events.c.id)))
    # Every row is deliverable as it stands: the webhook body's "data".
    assert all(r.payload is not None for r in rows)
    return rows


def of_type(events: list[Any], *types: str) -> list[Any]:
    return [e for e in events if e.event_type in types]


# -- the store -----------------------------------------------------------------


def unit(x_id: str, rent: int, number: str = "1A", **extra: Any) -> NormalizedRecord:
    values = {
        "number": number,
        "rent_amount_market_in_cents": rent,
        "bedrooms": 2,
        "x_property_id": "9",
        "property_id": record_id("acme", "properties", "9"),
        "custom_data": {},
        **extra,
    }
    digest = hashlib.sha256(repr(sorted(values.items())).encode()).hexdigest()
    return NormalizedRecord(x_id=x_id, values=values, content_hash=digest)


def page(run_id: str) -> PageProgress:
    return PageProgress(cursor=None, run_id=run_id, mode=SyncMode.FULL, window=FetchWindow())


async def test_store_events_carry_records_and_exact_diffs(store: SqlStore) -> None:
    integ = integration_for()
    await store.add_integration(integ)
    await store.store_page(
        integration=integ,
        model="units",
        records=[unit("1", 100), unit("2", 200, floor="3", custom_data={"a": [1]})],
        quarantined=[],
        progress=page("r1"),
        now=NOW,
    )
    await store.store_page(
        integration=integ,
        model="units",
        records=[
            unit("1", 100),  # unchanged: no event
            unit("2", 250, number="2B", floor="3", custom_data={"a": [1, 2]}),
        ],
        quarantined=[],
        progress=page("r2"),
        now=NOW + timedelta(hours=1),
    )
    events = await all_events(store)
    assert [(e.event_type, e.x_id, e.run_id) for e in events] == [
        ("DATA_NEW", "1", "r1"),
        ("DATA_NEW", "2", "r1"),
        ("DATA_UPDATE", "2", "r2"),
    ]
    new, update = events[1], events[2]
    rid = record_id("acme", "units", "2")
    assert new.record_id == rid and new.model == "units"
    base = {
        "integration_id": "acme",
        "vendor": "BUILDIUM",
        "model": "units",
        "record_id": str(rid),
        "x_id": "2",
        "property_id": str(record_id("acme", "properties", "9")),
    }
    fields = ("x_property_id", "property_id", *(c.name for c in MODELS["units"].columns))
    expected_record = json_record(unit("2", 200, floor="3").values, fields) | {
        "custom_data": {"a": [1]}
    }
    assert new.payload == base | {"job_id": "r1", "record": expected_record}
    diff = {
        "previous": {"number": "1A", "rent_amount_market_in_cents": 200, "custom_data": {"a": [1]}},
        "new": {"number": "2B", "rent_amount_market_in_cents": 250, "custom_data": {"a": [1, 2]}},
    }
    assert update.payload == base | {"job_id": "r2", "diff": diff}
    assert update.diff == diff
    # Bookkeeping (last_seen, hashes, run ids) never shows in a record or diff.
    for key in ("last_seen", "content_hash", "source_hash", "last_run_id", "updated_at"):
        assert key not in new.payload["record"] and key not in update.payload["diff"]["new"]


async def test_store_writes_no_data_events_when_told(store: SqlStore) -> None:
    integ = integration_for()
    await store.add_integration(integ)
    for rent in (100, 200):
        result = await store.store_page(
            integration=integ,
            model="units",
            records=[unit("1", rent)],
            quarantined=[],
            progress=page("r"),
            now=NOW,
            events=False,
        )
    assert result.updated == 1
    assert await all_events(store) == []


async def test_a_deleted_record_seen_again_is_undeleted(store: SqlStore) -> None:
    integ = integration_for()
    await store.add_integration(integ)
    await store.store_page(
        integration=integ,
        model="units",
        records=[unit(str(i), i) for i in range(20)],
        quarantined=[],
        progress=page("r1"),
        now=NOW,
    )
    # A full run that no longer sees unit 5 deletes it.
    await store.store_page(
        integration=integ,
        model="units",
        records=[unit(str(i), i) for i in range(20) if i != 5],
        quarantined=[],
        progress=page("r2"),
        now=NOW,
    )
    swept = await store.sweep(
        SweepScope("acme", "BUILDIUM", "units", "r2"), max_share=0.1, events=True, now=NOW
    )
    assert swept.deleted == 1 and await store.count_records("acme", "units") == 19
    # It reappears, unchanged: it is undeleted, announced as new again.
    result = await store.store_page(
        integration=integ,
        model="units",
        records=[unit("5", 5)],
        quarantined=[],
        progress=page("r3"),
        now=NOW + timedelta(hours=1),
    )
    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)
    assert await store.count_records("acme", "units") == 20
    table = MODEL_TABLES["units"]
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(table).where(table.c.x_id == "5"))).one()
    assert row.deleted_at is None and row.last_run_id == "r3"
    events = await all_events(store)
    assert [(e.event_type, e.x_id) for e in events[-2:]] == [
        ("DATA_DELETED", "5"),
        ("DATA_NEW", "5"),
    ]
    back = events[-1].payload
    assert back["undeleted"] is True and back["job_id"] == "r3"
    assert back["record"]["rent_amount_market_in_cents"] == 5
    # The sweep's payload, built in SQL, has the head the Python-built one has.
    gone = events[-2].payload
    assert set(gone) == set(RECORD_EVENT_KEYS)  # jsonb keeps no key order
    assert {k: gone[k] for k in RECORD_EVENT_KEYS if k != "job_id"} == {
        k: back[k] for k in RECORD_EVENT_KEYS if k != "job_id"
    }
    assert gone["job_id"] == "r2"


# -- the runner ----------------------------------------------------------------


async def cache_rows(store: SqlStore, model: str) -> dict[str, dict[str, Any]]:
    table = MODEL_TABLES[model]
    fields = ("x_property_id", "property_id", *(c.name for c in MODELS[model].columns))
    fields = (*fields, "custom_data")
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(table))
        return {r.x_id: json_record(r._mapping, fields) for r in rows}


async def test_first_sync_is_announced_not_its_records(
    store: SqlStore, sim: BuildiumSimulator
) -> None:
    integ = integration_for(sim)
    await store.add_integration(integ)
    first = await Runner(store).run(integ, models=["units", "employees"])
    assert first.ok
    events = await all_events(store)
    assert [e.event_type for e in events] == ["SYNC_COMPLETE", "FIRST_SYNC_COMPLETE"]
    for e in events:
        assert e.model is None and e.record_id is None and e.x_id is None
        assert e.run_id == first.root_run_id
        assert e.payload == {
            "integration_id": "acme",
            "vendor": "BUILDIUM",
            "job_id": first.root_run_id,
            "root_job_id": first.root_run_id,
            "job_type": "incremental",
            "trigger": "manual",
            "status": "SUCCESS",
            "successful_job_count": 2,
            "failed_job_count": 0,
            "needs_attention_job_count": 0,
            "skipped_job_count": 0,
            "is_sync_finished": True,
        }

    created = sim.mutate("units", create=2, update=3)
    second = await Runner(store).run(integ, models=["units", "employees"])
    assert second.ok
    later = (await all_events(store))[2:]
    assert sorted(e.event_type for e in later) == [
        "DATA_NEW",
        "DATA_NEW",
        "DATA_UPDATE",
        "DATA_UPDATE",
        "DATA_UPDATE",
        "SYNC_COMPLETE",  # and no second FIRST_SYNC_COMPLETE
    ]
    news = of_type(later, "DATA_NEW")
    assert sorted(e.x_id for e in news) == sorted(str(i) for i in created["created"])
    assert sorted(e.x_id for e in of_type(later, "DATA_UPDATE")) == sorted(
        str(i) for i in created["updated"]
    )
    (units_run,) = [o for o in second.outcomes if o.model == "units"]
    assert all(e.payload["job_id"] == units_run.run_id for e in news)


async def test_a_model_added_later_has_its_own_first_sync(
    store: SqlStore, sim: BuildiumSimulator
) -> None:
    integ = integration_for(sim)
    await store.add_integration(integ)
    assert (await Runner(store).run(integ, models=["employees"])).ok
    # units never synced before: its first sync announces no records either.
    assert (await Runner(store).run(integ, models=["units", "employees"])).ok
    events = await all_events(store)
    assert of_type(events, *DATA) == []
    assert [e.event_type for e in of_type(events, "FIRST_SYNC_COMPLETE")] == ["FIRST_SYNC_COMPLETE"]


async def test_initial_events_can_be_asked_for(store: SqlStore, sim: BuildiumSimulator) -> None:
    integ = integration_for(sim, emit_initial_events=True)
    await store.add_integration(integ)
    report = await Runner(store).run(integ, models=["units"])
    assert report.ok
    news = of_type(await all_events(store), "DATA_NEW")
    assert len(news) == SCALE
    rows = await cache_rows(store, "units")
    for e in news:
        assert e.payload["record"] == rows[e.x_id]
        assert "undeleted" not in e.payload


async def test_a_backsync_writes_no_data_events(store: SqlStore, sim: BuildiumSimulator) -> None:
    integ = integration_for(sim)
    await store.add_integration(integ)
    assert (await Runner(store).run(integ, models=["units"])).ok
    sim.mutate("units", update=3, create=1)
    back = await Runner(store).run(integ, models=["units"], full=True, trigger=BACKSYNC_TRIGGER)
    assert back.ok and back.counts.updated == 3 and back.counts.created == 1
    events = await all_events(store)
    assert of_type(events, *DATA) == []
    assert [e.event_type for e in events] == [
        "SYNC_COMPLETE",
        "FIRST_SYNC_COMPLETE",
        "SYNC_COMPLETE",
    ]


async def test_update_events_carry_exactly_what_changed(
    store: SqlStore, sim: BuildiumSimulator
) -> None:
    integ = integration_for(sim)
    await store.add_integration(integ)
    models = ["units", "residents", "leases"]
    assert (await Runner(store).run(integ, models=models)).ok
    before = {m: await cache_rows(store, m) for m in models}
    sim.mutate("units", update=4)
    sim.mutate("tenants", update=3)
    sim.mutate("leases", update=2)
    report = await Runner(store).run(integ, models=models)
    assert report.ok
    after = {m: await cache_rows(store, m) for m in models}
    updates = of_type(await all_events(store), "DATA_UPDATE")
    assert len(updates) >= 4 + 3  # lease updates may only touch their links
    for e in updates:
        old, new = before[e.model][e.x_id], after[e.model][e.x_id]
        changed = {f for f in new if old[f] != new[f]}
        assert changed, e.payload
        assert e.payload["diff"] == {
            "previous": {f: old[f] for f in changed},
            "new": {f: new[f] for f in changed},
        }
    # Applying the diff to the old record gives the stored new one.
    for e in updates:
        assert before[e.model][e.x_id] | e.payload["diff"]["new"] == after[e.model][e.x_id]


async def test_a_failed_job_is_announced(store: SqlStore, sim: BuildiumSimulator) -> None:
    integ = integration_for(sim)
    await store.add_integration(integ)
    sim.add_fault("500", path="/v1/rentals/units", count=10_000)
    report = await Runner(store).run(integ, models=["units", "employees"])
    assert report.status is RunStatus.FAILED
    units = next(o for o in report.outcomes if o.model == "units")
    events = await all_events(store)
    assert [e.event_type for e in events] == ["JOB_FAILURE", "SYNC_COMPLETE"]
    failure, complete = events
    assert failure.model is None and failure.run_id == units.run_id
    assert failure.payload == {
        "integration_id": "acme",
        "vendor": "BUILDIUM",
        "model": "units",
        "job_id": units.run_id,
        "root_job_id": report.root_run_id,
        "job_type": "full",
        "trigger": "manual",
        "status": "FAILED",
        "error": units.error,
    }
    assert "PMSServerError" in (units.error or "")
    assert complete.payload["successful_job_count"] == 1
    assert complete.payload["failed_job_count"] == 1
    assert complete.payload["status"] == "FAILED"
    # Not every model synced: the first sync is not complete yet.
    sim.clear_faults()
    assert (await Runner(store).run(integ, models=["units", "employees"])).ok
    firsts = of_type(await all_events(store), "FIRST_SYNC_COMPLETE")
    assert len(firsts) == 1
