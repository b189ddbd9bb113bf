"""Job schedules, configuration, manual syncs and back-syncs over real HTTP, on both engines.

The syncs are run by a real scheduler on the API's store against an
in-process Buildium simulator, as ``syncd serve`` runs them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from sqlalchemy import func, select
from support import sim_integration, started_sim

from syncd.domain import Environment, Integration, RunRecord, RunStatus, ScheduleState
from syncd.runner import Runner
from syncd.scheduler import REQUEST_JOB, Scheduler, SchedulerConfig
from syncd.services.schedules import list_schedules, reconcile_schedules, set_schedules_state
from syncd.sim.buildium import BuildiumSimulator
from syncd.store.tables import change_events, sync_runs

from .conftest import Api

BASE = "/v1/admin/integrations"


@pytest.fixture
async def sim() -> AsyncIterator[BuildiumSimulator]:
    async with started_sim(seed=3, scale=20) as s:
        yield s


async def add(api: Api, integ: Integration) -> Integration:
    await api.store.add_integration(integ)
    await reconcile_schedules(api.store, api.settings)
    return integ


def offline(**options: Any) -> Integration:
    """An enabled production integration whose PMS nobody calls in these tests."""
    return sim_integration(**options)


def field_of(body: Any) -> str:
    (issue,) = body["error"]["details"]["issues"]
    return str(issue["field"])


@asynccontextmanager
async def scheduler_running(api: Api) -> AsyncIterator[Scheduler]:
    """A real scheduler over the API's store, stopped when the block ends."""
    config = SchedulerConfig(node_id="node-a", poll_interval=0.05, lease=timedelta(seconds=6))
    node = Scheduler(api.store, Runner(api.store), config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(node.run)
        try:
            yield node
        finally:
            node.request_stop()
            with anyio.fail_after(20):
                await node.stopped.wait()


async def wait_for(check: Callable[[], Awaitable[Any]], seconds: float = 30) -> Any:
    """``check()``'s first truthy answer, polled until the deadline."""
    with anyio.fail_after(seconds):
        while True:
            found = await check()
            if found:
                return found
            await anyio.sleep(0.05)


async def roots(api: Api, iid: str = "acme") -> list[RunRecord]:
    runs = await api.store.list_runs(integration_id=iid, limit=500)
    return sorted((r for r in runs if r.parent_run_id is None), key=lambda r: r.started_at)


async def finished_root(api: Api, trigger: str) -> RunRecord | None:
    """The finished root run of ``trigger`` once its request row is gone too."""
    pending = [s for s in await api.store.list_schedules("acme") if s.job == REQUEST_JOB]
    done = [r for r in await roots(api) if r.trigger == trigger and r.ended_at is not None]
    return done[-1] if done and not pending else None


async def test_job_schedules_list_change_pause_and_resume(api: Api) -> None:
    await add(api, offline())
    page = await api.get(f"{BASE}/acme/job-schedules")
    assert page["meta"]["total"] == 2 and page["meta"]["hasMore"] is False
    items = {s["id"]: s for s in page["results"]}
    assert [s["id"] for s in page["results"]] == ["full", "incremental"]
    incr = items["incremental"]
    assert set(incr) == {
        "id",
        "integration_id",
        "created_at",
        "updated_at",
        "job_type",
        "status",
        "inactive_reason",
        "last_run",
        "next_run_at",
        "running",
        "sync_frequency",
        "sync_cadence",
        "trigger",
        "trigger_source",
        "parameters",
    }
    assert incr["integration_id"] == "acme" and incr["job_type"] == "incremental"
    assert incr["status"] == "ACTIVE" and incr["inactive_reason"] is None
    assert incr["trigger"]["type"] == "interval" and incr["trigger"]["seconds"] == 900
    assert (incr["sync_frequency"], incr["sync_cadence"]) == (15, "MINUTE")
    assert incr["trigger_source"] == "jobs/buildium.yaml" and incr["parameters"] == {}
    assert incr["last_run"] is None and incr["next_run_at"] is not None
    assert items["full"]["trigger"]["type"] == "cron" and items["full"]["sync_frequency"] is None
    assert (await api.get(f"{BASE}/acme/job-schedules/", limit=1))["meta"]["hasMore"] is True
    ordered = await api.get(f"{BASE}/acme/job-schedules", **{"order-by": "id:desc"})
    assert [s["id"] for s in ordered["results"]] == ["incremental", "full"]

    # A new trigger: stored in the options, the next fire time follows at once.
    before = datetime.fromisoformat(incr["next_run_at"])
    status, body, _ = await api.call(
        "PUT",
        f"{BASE}/acme/job-schedules/incremental",
        json={"trigger": {"type": "interval", "seconds": 7200}},
    )
    assert status == 200, body
    assert (body["sync_frequency"], body["sync_cadence"]) == (2, "HOUR")
    assert body["trigger_source"] == "integration"
    after = datetime.fromisoformat(body["next_run_at"])
    assert after != before and after > datetime.now(UTC)
    (row,) = [s for s in await api.store.list_schedules("acme") if s.job == "incremental"]
    assert row.trigger["seconds"] == 7200 and row.next_run_at == after
    stored = await api.store.get_integration("acme")
    assert stored.options["schedules"]["incremental"]["seconds"] == 7200
    status, body, _ = await api.call(
        "PUT",
        f"{BASE}/acme/job-schedules/incremental",
        json={"sync_frequency": 30, "sync_cadence": "MINUTE"},
    )
    assert status == 200 and body["trigger"]["seconds"] == 1800

    # Pause and resume.
    status, body, _ = await api.call(
        "PUT", f"{BASE}/acme/job-schedules/full", json={"status": "INACTIVE"}
    )
    assert status == 200 and body["status"] == "INACTIVE" and body["inactive_reason"] == "paused"
    assert body["next_run_at"] is None
    states = {s.job: s.state for s in await api.store.list_schedules("acme")}
    assert states == {"incremental": ScheduleState.ACTIVE, "full": ScheduleState.PAUSED}
    status, body, _ = await api.call(
        "PUT", f"{BASE}/acme/job-schedules/full", json={"status": "ACTIVE"}
    )
    assert status == 200 and body["status"] == "ACTIVE" and body["next_run_at"]
    assert (await api.get(f"{BASE}/acme/job-schedules/full"))["status"] == "ACTIVE"

    # Invalid triggers are refused, naming the field; nothing changes.
    options = (await api.store.get_integration("acme")).options
    for bad, field in [
        ({"trigger": {"type": "interval", "seconds": 0}}, "trigger.interval.seconds"),
        ({"trigger": {"type": "cron", "expression": "0 0 31 2 *"}}, "trigger"),
        ({"trigger": {"type": "hourly"}}, "trigger"),
        ({"trigger": {"type": "interval", "seconds": 60, "timezone": "Mars/Base"}}, "trigger"),
        ({"trigger": {"type": "interval", "seconds": 60, "timezone": "U\x00TC"}}, "trigger"),
        ({"sync_frequency": 1, "sync_cadence": "MONTH"}, "sync_cadence"),
        ({"sync_frequency": 5}, "sync_cadence"),
        ({"status": "PAUSED"}, "status"),
        ({"seconds": 5}, "seconds"),
        ({}, "body"),
    ]:
        status, body, _ = await api.call("PUT", f"{BASE}/acme/job-schedules/incremental", json=bad)
        assert status == 400, (bad, body)
        assert field_of(body).startswith(field), (bad, body)
    assert (await api.store.get_integration("acme")).options == options

    # Unscheduled: inactive with the reason; nothing left to pause.
    status, body, _ = await api.call(
        "PUT", f"{BASE}/acme/job-schedules/full", json={"trigger": None}
    )
    assert status == 200 and body["status"] == "INACTIVE" and body["trigger"] is None
    assert "unscheduled" in body["inactive_reason"]
    assert {s.job for s in await api.store.list_schedules("acme")} == {"incremental"}
    status, body, _ = await api.call(
        "PUT", f"{BASE}/acme/job-schedules/full", json={"status": "INACTIVE"}
    )
    assert status == 409, body

    # A disabled integration's schedules are listed, inactive.
    await add(api, replace(offline(), id="off", name="Off", enabled=False))
    page = await api.get(f"{BASE}/off/job-schedules")
    assert {s["status"] for s in page["results"]} == {"INACTIVE"}
    assert {s["inactive_reason"] for s in page["results"]} == {"the integration is disabled"}

    status, _, _ = await api.call(
        "PUT", f"{BASE}/acme/job-schedules/hourly", json={"status": "ACTIVE"}
    )
    assert status == 404
    assert (await api.call("GET", f"{BASE}/nope/job-schedules"))[0] == 404
    assert (await api.call("GET", f"{BASE}/acme/job-schedules", key=api.read_key))[0] == 403
    status, _, _ = await api.call(
        "PUT", f"{BASE}/acme/job-schedules/full", key=api.read_key, json={"status": "ACTIVE"}
    )
    assert status == 403


async def test_config_read_and_partial_change(api: Api) -> None:
    await add(api, offline())
    config = await api.get(f"{BASE}/acme/config")
    settings = config["settings"]
    assert config["integration_id"] == "acme" and config["changed"] is False
    assert settings["date_filters.leases.window_days"] == {
        "value": None,
        "source": "jobs/buildium.yaml",
    }
    assert settings["page_size"] == {"value": 10, "source": "integration"}
    assert settings["emit_initial_events"]["value"] is False
    assert {"schedules.incremental", "jobs.leads.enabled", "sweep_max_share"} <= set(settings)

    status, body, _ = await api.call(
        "PUT",
        f"{BASE}/acme/config",
        json={
            "settings": {
                "date_filters.leases.window_days": 90,
                "jobs": {"leads": {"enabled": False}},
                "enum_maps.lease_status.Pending": "INACTIVE",
                "schedules": {"full": None},
            }
        },
    )
    assert status == 200, body
    assert body["changed"] is True
    got = body["settings"]
    assert got["date_filters.leases.window_days"] == {"value": 90, "source": "integration"}
    assert got["jobs.leads.enabled"] == {"value": False, "source": "integration"}
    assert got["enum_maps.lease_status.Pending"]["value"] == "INACTIVE"
    assert got["schedules.full"]["value"] is None
    # The schedules followed at once.
    assert {s.job for s in await api.store.list_schedules("acme")} == {"incremental"}
    options = (await api.store.get_integration("acme")).options
    assert options["date_filters"]["leases"]["window_days"] == 90

    for bad, field in [
        ({"page_size": 0, "emit_initial_events": True}, "settings.page_size"),
        ({"emit_initial_events": True, "page_size": 0}, "settings.page_size"),
        ({"date_filters.leases.window_days": -1}, "settings.date_filters.leases.window_days"),
        ({"date_filters": {"leases": {"field": "moon"}}}, "settings.date_filters.leases.field"),
        ({"schedules.incremental": {"type": "interval"}}, "settings.schedules.incremental"),
        ({"no_such_setting": 1}, "settings.no_such_setting"),
        ({"enum_maps.lease_status.x": "A\x00"}, "settings.enum_maps.lease_status.x"),
        # Every sync would fail on a value the unified field does not allow.
        ({"enum_maps.lease_status.Pending": "FUTURE"}, "settings.enum_maps.lease_status.Pending"),
        ({"enum_maps.no_such_map.x": "OTHER"}, "settings.enum_maps"),
        ({"properties.p\x001.enabled": False}, "settings.properties"),
    ]:
        status, body, _ = await api.call("PUT", f"{BASE}/acme/config", json={"settings": bad})
        assert status == 400, (bad, body)
        assert field_of(body).startswith(field), (bad, body)
    assert (await api.store.get_integration("acme")).options == options
    status, body, _ = await api.call("PUT", f"{BASE}/acme/config", json={"settings": {}})
    assert status == 200 and body["changed"] is False
    assert (await api.call("PUT", f"{BASE}/acme/config", json={}))[0] == 400
    assert (await api.call("GET", f"{BASE}/nope/config"))[0] == 404
    for ref in ("a%00b", "x" * 300):
        assert (await api.call("GET", f"{BASE}/{ref}/config"))[0] == 404
        assert (await api.call("POST", f"{BASE}/{ref}/back-sync"))[0] == 404
        assert (await api.call("GET", f"{BASE}/{ref}/job-schedules/full"))[0] == 404
    status, _, _ = await api.call("PUT", f"{BASE}/nope/config", json={"settings": {}})
    assert status == 404
    assert (await api.call("GET", f"{BASE}/acme/config", key=api.read_key))[0] == 403


async def test_manual_sync_is_run_by_the_scheduler(api: Api, sim: BuildiumSimulator) -> None:
    unscheduled = {"schedules": {"incremental": None, "full": None}}
    await add(api, sim_integration(sim, **unscheduled))
    path = f"{BASE}/acme/manual-sync"
    status, body, _ = await api.call("POST", path, json={"models_to_sync": ["properties", "units"]})
    assert status == 202, body
    assert body["result"] == {"success": True} and body["trigger"] == "manual"
    assert body["models_to_sync"] == ["properties", "units"]
    # One request at a time, manual or back-sync.
    assert (await api.call("POST", path, json={}))[0] == 409
    assert (await api.call("POST", f"{BASE}/acme/back-sync"))[0] == 409
    # The request waits in the schedules table but is no schedule: not listed, not paused.
    assert await list_schedules(api.store, "acme") == []
    assert (await set_schedules_state(api.store, "acme", ScheduleState.PAUSED)).changed == 0
    (row,) = await api.store.list_schedules("acme")
    assert row.job == REQUEST_JOB and row.state is ScheduleState.ACTIVE

    async with scheduler_running(api):
        root = await wait_for(lambda: finished_root(api, "manual"))
    assert root.status is RunStatus.SUCCESS, root.error
    runs = await api.store.list_runs(root_run_id=root.id, limit=50)
    assert {r.model for r in runs if r.parent_run_id} == {"properties", "units"}
    assert await api.store.count_records("acme", "units") == sim.counts()["units"]
    assert await api.store.count_records("acme", "leases") == 0
    # Done: another request is taken (and waits for a scheduler).
    status, body, _ = await api.call("POST", path)
    assert status == 202 and body["models_to_sync"] is None

    status, body, _ = await api.call("POST", path, json={"models_to_sync": ["houses"]})
    assert status == 400 and field_of(body) == "models_to_sync"
    status, body, _ = await api.call("POST", path, json={"models_to_sync": "units"})
    assert status == 400 and field_of(body) == "models_to_sync"
    status, body, _ = await api.call("POST", path, json={"sync_config_id": "x"})
    assert status == 400 and field_of(body) == "sync_config_id"
    # Sandboxes sync on demand; a disabled integration must be enabled first.
    sandbox = replace(sim_integration(sim), id="sand", name="Sand")
    await add(api, replace(sandbox, environment=Environment.SANDBOX))
    assert (await api.call("POST", f"{BASE}/sand/manual-sync"))[0] == 202
    await add(api, replace(sim_integration(sim), id="off", name="Off", enabled=False))
    status, body, _ = await api.call("POST", f"{BASE}/off/manual-sync")
    assert status == 409 and "enable it first" in body["error"]["message"]
    assert (await api.call("POST", f"{BASE}/nope/manual-sync"))[0] == 404
    assert (await api.call("POST", f"{BASE}/nope/back-sync"))[0] == 404
    assert (await api.call("POST", path, key=api.read_key))[0] == 403
    assert (await api.call("POST", f"{BASE}/acme/back-sync", key=api.read_key))[0] == 403


async def test_back_sync_is_full_unwindowed_and_exclusive(api: Api, sim: BuildiumSimulator) -> None:
    # Full runs would ask for one day of leases; scheduled incrementals every second.
    options = {
        "schedules": {"incremental": {"type": "interval", "seconds": 1}, "full": None},
        "date_filters": {"leases": {"window_days": 1}},
    }
    await add(api, sim_integration(sim, page_size=5, **options))
    async with scheduler_running(api):
        first = await wait_for(
            lambda: _ended(api, lambda r: r.trigger == "schedule" and r.status.value == "SUCCESS")
        )
        assert first
        sim.mutate("leases", update=3)
        # Slow pages keep the back-sync going across several fire times: every
        # leases request is slow until it ends, however many a scheduled run
        # took first and however many the connector fetches at once.
        sim.add_fault("slow", path="/v1/leases", count=10_000, delay=0.5)
        status, body, _ = await api.call("POST", f"{BASE}/acme/back-sync")
        assert status == 202 and body["trigger"] == "backsync", body
        back = await wait_for(lambda: finished_root(api, "backsync"), seconds=60)
        sim.clear_faults()
        # Scheduled runs go on afterwards: deferred, not lost.
        await wait_for(lambda: _ended(api, lambda r: r.started_at > back.ended_at))
    assert back.status is RunStatus.SUCCESS, back.error
    assert back.mode == "full"
    assert back.ended_at - back.started_at > timedelta(seconds=1)
    # No other run of the integration overlapped it.
    for run in await roots(api):
        if run.id != back.id:
            assert run.ended_at is not None
            assert run.ended_at <= back.started_at or run.started_at >= back.ended_at, run
    models = await api.store.list_runs(root_run_id=back.id, limit=50)
    children = [r for r in models if r.parent_run_id]
    assert children and {r.mode for r in children} == {"full"}
    (leases,) = [r for r in children if r.model == "leases"]
    # Every lease, not one day's: the date filter was widened to all history.
    assert leases.counts.fetched == sim.counts()["leases"]
    async with api.store.engine.connect() as conn:
        since = (
            await conn.execute(select(sync_runs.c.window_since).where(sync_runs.c.id == leases.id))
        ).scalar_one()
        data_events = (
            await conn.execute(
                select(func.count())
                .select_from(change_events)
                .where(
                    change_events.c.run_id.in_([r.id for r in children]),
                    change_events.c.event_type.like("DATA_%"),
                )
            )
        ).scalar_one()
    assert since is None
    # Back-syncs write no data events (the three updated leases would be DATA_UPDATE).
    assert data_events == 0


async def _ended(api: Api, matches: Callable[[RunRecord], bool]) -> bool:
    return any(r.ended_at is not None and matches(r) for r in await roots(api))
