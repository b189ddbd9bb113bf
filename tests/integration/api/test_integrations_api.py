"""The integrations operations over HTTP: create, list, get, change, archive, delete,
enabling (with a real scheduler), property configurations and cloning."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import anyio
import pytest
from sqlalchemy import select
from support import started_sim

from syncd.app import runner_config
from syncd.domain import RunStatus, SyncMode
from syncd.integration_config import apply_setting
from syncd.jobs import load_jobs
from syncd.runner import Runner
from syncd.scheduler import Scheduler, SchedulerConfig
from syncd.services.runs import sync_integration
from syncd.sim.buildium import BuildiumSimulator
from syncd.store.tables import MODEL_TABLES

from .conftest import Api

BASE = "/v1/admin/integrations/"
MODELS = ["properties", "units"]


@pytest.fixture
async def sim() -> AsyncIterator[BuildiumSimulator]:
    async with started_sim(seed=11, scale=12) as s:
        yield s


def body_for(sim: BuildiumSimulator | None = None, **fields: Any) -> dict[str, Any]:
    """A create request for a Buildium integration (reading ``sim`` if given)."""
    body: dict[str, Any] = {
        "integration_vendor": "BUILDIUM",
        "name": "Acme",
        "credentials": dict(sim.credentials) if sim else {"client_id": "c", "client_secret": "s"},
    }
    if sim is not None:
        body["base_url"] = sim.url
    return body | fields


async def create(api: Api, sim: BuildiumSimulator | None = None, **fields: Any) -> dict[str, Any]:
    status, body, _ = await api.call("POST", BASE, json=body_for(sim, **fields))
    assert status == 201, body
    result: dict[str, Any] = body["result"]
    return result


def issue(body: dict[str, Any]) -> tuple[str, str]:
    first = body["error"]["details"]["issues"][0]
    return first["location"], first["field"]


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    """Wait for ``check`` to hold, failing after ``seconds``."""
    with anyio.fail_after(seconds):
        while not await check():
            await anyio.sleep(0.05)


async def sync(api: Api, integration_id: str, *, full: bool = False) -> Any:
    integration = await api.store.get_integration(integration_id)
    outcome = await sync_integration(api.store, api.settings, integration, models=MODELS, full=full)
    return outcome.report


async def test_create_answers_201_without_credentials(api: Api) -> None:
    created = await create(api, id="acme", credentials={"client_id": "c", "client_secret": "hush"})
    assert created["id"] == "acme" and created["vendor"] == "BUILDIUM"
    assert (created["active"], created["is_archived"]) == (False, False)
    assert (created["system"], created["environment"]) == ("PRODUCTION", "production")
    assert created["credential_keys"] == ["client_id", "client_secret"]
    assert created["new_properties_are_enabled"] is True and created["last_run"] is None
    assert "hush" not in str(created) and "credentials" not in created
    # Both path forms, and the stored credentials are the ones given.
    status, body, _ = await api.call("GET", BASE.rstrip("/") + "/acme")
    assert status == 200 and "hush" not in str(body)
    assert (await api.store.get_integration("acme")).credentials["client_secret"] == "hush"
    sandbox = await create(api, name="Sand", system="SANDBOX")
    assert sandbox["environment"] == "sandbox" and sandbox["id"] == "sand"


BAD_CREATES: list[tuple[dict[str, Any], str]] = [
    ({"integration_vendor": "NOPE"}, "integration_vendor"),
    ({"credentials": {"client_id": "c"}}, "credentials.client_secret"),
    ({"credentials": {"client_id": "c", "client_secret": "s", "x": "y"}}, "credentials.x"),
    ({"credentials": {"client_id": 1, "client_secret": "s"}}, "credentials.client_id"),
    ({"credentials": {"client_id": "c\x00", "client_secret": "s"}}, "credentials.client_id"),
    ({"id": "Not A Slug"}, "id"),
    ({"name": ""}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"base_url": "ftp://x"}, "base_url"),
    ({"environment": "sandbox", "system": "PRODUCTION"}, "system"),
    ({"colour": "blue"}, "colour"),
]


async def test_bad_requests_name_the_field(api: Api) -> None:
    for fields, field in BAD_CREATES:
        status, body, _ = await api.call("POST", BASE, json=body_for(**fields))
        assert status == 400, (fields, body)
        assert issue(body) == ("body", field), fields
    assert not await api.store.list_integration_heads()


async def test_a_taken_id_or_name_is_a_conflict(api: Api) -> None:
    await create(api, id="acme", name="Acme")
    for fields, field in (
        ({"id": "acme", "name": "Other"}, "id"),
        ({"name": "Acme", "id": "other"}, "name"),
    ):
        status, body, _ = await api.call("POST", BASE, json=body_for(None, **fields))
        assert status == 409, body
        assert issue(body) == ("body", field)
    await create(api, id="beta", name="Beta")
    status, body, _ = await api.call("PUT", BASE + "beta", json={"name": "Acme"})
    assert (status, issue(body)) == (409, ("body", "name"))


async def test_list_filters_pages_and_leaves_archived_out(api: Api) -> None:
    await create(api, id="a1", name="A1")
    await create(api, id="a2", name="A2", environment="sandbox")
    await create(api, id="a3", name="A3", active=True)
    archived = await create(api, id="a4", name="A4")
    status, _, _ = await api.call("PUT", BASE + archived["id"], json={"is_archived": True})
    assert status == 200

    def ids(body: Any) -> list[str]:
        return [r["id"] for r in body["results"]]

    listed = await api.get(BASE)
    assert ids(listed) == ["a3", "a2", "a1"]  # newest first, archived left out
    assert listed["meta"]["total"] == 3 and listed["meta"]["hasMore"] is False
    assert ids(await api.get(BASE, is_archived="true")) == ["a4", "a3", "a2", "a1"]
    assert ids(await api.get(BASE, environment="sandbox")) == ["a2"]
    assert ids(await api.get(BASE, active="true")) == ["a3"]
    assert ids(await api.get(BASE, integration_vendor="buildium", **{"order-by": "id"})) == [
        "a1",
        "a2",
        "a3",
    ]
    assert ids(await api.get(BASE, integration_vendor="RESMAN")) == []
    page = await api.get(BASE, limit=2, offset=1, **{"order-by": "name:asc"})
    assert ids(page) == ["a2", "a3"] and page["meta"]["total"] == 3
    assert page["meta"]["orderBy"] == [{"field": "name", "direction": "asc"}]
    for params, field in (
        ({"integration_vendor": "NOPE"}, "integration_vendor"),
        ({"order-by": "credentials"}, "order-by"),
        ({"active": "perhaps"}, "active"),
    ):
        status, body, _ = await api.call("GET", BASE, params=params)
        assert (status, issue(body)) == (400, ("query", field))


async def test_a_read_key_may_not_administer(api: Api) -> None:
    await create(api, id="acme")
    for method, path, json in (
        ("GET", BASE, None),
        ("POST", BASE, body_for()),
        ("GET", BASE + "acme", None),
        ("PUT", BASE + "acme", {"active": True}),
        ("DELETE", BASE + "acme", None),
        ("GET", BASE + "acme/properties", None),
    ):
        status, body, _ = await api.call(method, path, key=api.read_key, json=json)
        assert (status, body["error"]["code"]) == (403, "forbidden"), (method, path)
    assert not (await api.store.get_integration("acme")).enabled


async def test_get_shows_the_last_ran_jobs(api: Api, sim: BuildiumSimulator) -> None:
    await create(api, sim, id="acme")
    status, body, _ = await api.call("GET", BASE + "nope")
    assert (status, body["error"]["code"]) == (404, "not_found")
    assert (await api.get(BASE + "acme"))["results"]["last_ran_jobs"] == []
    report = await sync(api, "acme")
    assert report.ok, report.error
    one = (await api.get(BASE + "acme/"))["results"]
    jobs = one["last_ran_jobs"]
    assert [j["model"] for j in jobs] == MODELS
    assert all(j["status"] == "SUCCESS" and j["ended_at"] for j in jobs)
    units = next(o for o in report.outcomes if o.model == "units")
    assert jobs[1]["counts"]["created"] == units.counts.created > 0
    assert one["last_run"]["id"] == report.root_run_id and one["last_run"]["model"] is None
    listed = await api.get(BASE)
    assert listed["results"][0]["last_run"]["status"] == "SUCCESS"


async def test_update_replaces_credentials_and_fields(api: Api) -> None:
    await create(api, id="acme")
    change = {
        "name": "Acme Homes",
        "credentials": {"client_id": "new", "client_secret": "newer"},
        "base_url": "https://buildium.example",
        "new_properties_are_enabled": False,
    }
    status, body, _ = await api.call("PUT", BASE + "acme", json=change)
    assert status == 200, body
    result = body["result"]
    assert result["name"] == "Acme Homes" and result["base_url"] == "https://buildium.example"
    assert result["new_properties_are_enabled"] is False and "newer" not in str(body)
    stored = await api.store.get_integration("acme")
    assert stored.credentials == {"client_id": "new", "client_secret": "newer"}
    status, body, _ = await api.call("PUT", BASE + "acme", json={"base_url": None})
    assert status == 200 and body["result"]["base_url"] is None
    for bad, field in (
        ({"credentials": {"client_id": "only"}}, "credentials.client_secret"),
        ({"name": None}, "name"),
        ({"active": "sometimes"}, "active"),
        ({"vendor": "RESMAN"}, "vendor"),
    ):
        status, body, _ = await api.call("PUT", BASE + "acme", json=bad)
        assert (status, issue(body)) == (400, ("body", field)), bad
    assert (await api.store.get_integration("acme")).credentials["client_id"] == "new"
    status, _, _ = await api.call("PUT", BASE + "nope", json={"name": "x"})
    assert status == 404


async def test_archive_disables_keeps_data_and_unarchives(api: Api, sim: BuildiumSimulator) -> None:
    await create(api, sim, id="acme", active=True)
    assert await sync(api, "acme")
    stored = await api.store.count_records("acme", "units")
    status, body, _ = await api.call("PUT", BASE + "acme", json={"is_archived": True})
    assert status == 200, body
    assert (body["result"]["is_archived"], body["result"]["active"]) == (True, False)
    assert body["result"]["archived_at"] is not None
    assert await api.store.count_records("acme", "units") == stored > 0
    assert await api.store.list_schedules("acme") == []
    status, body, _ = await api.call("PUT", BASE + "acme", json={"active": True})
    assert (status, issue(body)) == (400, ("body", "active"))
    status, body, _ = await api.call(
        "PUT", BASE + "acme", json={"is_archived": False, "active": True}
    )
    assert status == 200, body
    assert (body["result"]["is_archived"], body["result"]["active"]) == (False, True)


async def test_delete_removes_the_integration_and_its_data(
    api: Api, sim: BuildiumSimulator
) -> None:
    await create(api, sim, id="acme")
    assert (await sync(api, "acme")).ok
    status, body, _ = await api.call("DELETE", BASE + "acme")
    assert status == 200, body
    assert body["success"] is True and body["removed"]["units"] > 0
    assert await api.store.count_records("acme", "units") == 0
    for method in ("GET", "DELETE"):
        status, body, _ = await api.call(method, BASE + "acme")
        assert (status, body["error"]["code"]) == (404, "not_found")


async def test_delete_is_refused_while_a_sync_runs(api: Api, sim: BuildiumSimulator) -> None:
    await create(api, sim, id="acme")
    integration = await api.store.get_integration("acme")
    # A run of another node, alive (its heartbeat is fresh).
    await api.store.start_run(
        integration=integration,
        model=None,
        mode=SyncMode.FULL,
        trigger="manual",
        owner="another-node",
    )
    status, body, _ = await api.call("DELETE", BASE + "acme")
    assert (status, body["error"]["code"]) == (409, "conflict"), body
    assert (await api.get(BASE + "acme"))["results"]["id"] == "acme"


async def test_enabling_production_starts_a_sync_and_sandbox_does_not(
    api: Api, sim: BuildiumSimulator
) -> None:
    await create(api, sim, id="prod")
    await create(api, sim, id="sand", name="Sand", environment="sandbox")
    ticks = 0

    def tick() -> None:
        nonlocal ticks
        ticks += 1

    config = SchedulerConfig(poll_interval=0.05, jobs_dir=api.settings.jobs_dir)
    runner = Runner(api.store, runner_config(api.settings))
    scheduler = Scheduler(api.store, runner, config, on_tick=tick)

    async def finished(iid: str) -> bool:
        run = await api.store.last_root_run(iid)
        return run is not None and run.status is RunStatus.SUCCESS

    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.run)
        for iid in ("prod", "sand"):
            status, body, _ = await api.call("PUT", BASE + iid, json={"active": True})
            assert status == 200 and body["result"]["active"] is True
        # The incremental schedule's interval is 15 minutes: only "due now" can run it.
        await until(lambda: finished("prod"))
        # A few more polls: none may start the sandbox integration.
        seen = ticks

        async def polled() -> bool:
            return ticks >= seen + 5

        await until(polled)
        scheduler.request_stop()
    assert await api.store.last_root_run("sand") is None
    assert await api.store.list_schedules("sand") == []
    # One sync at once: the full job waits for its next fire time.
    rows = {r.job: r for r in await api.store.list_schedules("prod")}
    assert rows["full"].last_run_at is None and rows["incremental"].last_run_at is not None
    assert await api.store.count_records("prod", "units") > 0


async def test_a_disabled_property_keeps_its_units_and_is_not_synced(
    api: Api, sim: BuildiumSimulator
) -> None:
    await create(api, sim, id="acme")
    assert (await sync(api, "acme")).ok
    listed = await api.get(BASE + "acme/properties", **{"order-by": "x_property_id"})
    configs = listed["results"]
    assert (
        listed["meta"]["total"]
        == len(configs)
        == await api.store.count_records("acme", "properties")
    )
    assert all(c["enabled"] and c["id"] == c["property_id"] for c in configs)
    units = MODEL_TABLES["units"]
    async with api.store.engine.connect() as conn:
        rows = (await conn.execute(select(units.c.x_id, units.c.x_property_id))).all()
    by_property: dict[str, set[str]] = {}
    for r in rows:
        by_property.setdefault(r.x_property_id, set()).add(r.x_id)
    x_prop, its_units = max(by_property.items(), key=lambda kv: len(kv[1]))
    config = next(c for c in configs if c["x_property_id"] == x_prop)
    path = BASE + f"acme/properties/{config['id']}"
    status, body, _ = await api.call("PUT", path, json={"enabled": False})
    assert status == 200, body
    assert body["results"]["enabled"] is False and body["results"]["x_property_id"] == x_prop
    shown = await api.get(BASE + "acme/properties", limit=250)
    assert [c["enabled"] for c in shown["results"] if c["x_property_id"] == x_prop] == [False]
    # Every unit changes at the PMS; the disabled property's are neither stored nor swept.
    sim.mutate("units", update=len(rows))
    report = await sync(api, "acme", full=True)
    assert report.ok, report.error
    unit_run = next(o.run_id for o in report.outcomes if o.model == "units")
    async with api.store.engine.connect() as conn:
        stale = set(
            (await conn.execute(select(units.c.x_id).where(units.c.last_run_id != unit_run)))
            .scalars()
            .all()
        )
        deleted = (
            await conn.execute(select(units.c.x_id).where(units.c.deleted_at.is_not(None)))
        ).all()
    assert stale == its_units and not deleted
    for bad in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        path = BASE + f"acme/properties/{bad}"
        status, body, _ = await api.call("PUT", path, json={"enabled": "maybe"})
        assert status == 400  # the body is checked first
        status, body, _ = await api.call("PUT", path, json={"enabled": True})
        assert (status, body["error"]["code"]) == (404, "not_found")
    status, _, _ = await api.call("GET", BASE + "nope/properties")
    assert status == 404


async def test_new_properties_start_disabled_when_asked(api: Api, sim: BuildiumSimulator) -> None:
    await create(api, sim, id="acme", new_properties_are_enabled=False)
    assert (await sync(api, "acme")).ok
    # The properties are listed, none of their units fetched.
    configs = (await api.get(BASE + "acme/properties", limit=250))["results"]
    assert configs and not any(c["enabled"] for c in configs)
    assert await api.store.count_records("acme", "units") == 0
    chosen = configs[0]
    status, _, _ = await api.call(
        "PUT", BASE + f"acme/properties/{chosen['id']}", json={"enabled": True}
    )
    assert status == 200
    assert (await sync(api, "acme", full=True)).ok
    units = MODEL_TABLES["units"]
    async with api.store.engine.connect() as conn:
        owners = set((await conn.execute(select(units.c.x_property_id))).scalars())
    assert owners == {chosen["x_property_id"]}
    # Properties already cached stay as they are when the setting comes on later.
    await create(api, sim, id="beta", name="Beta")
    assert (await sync(api, "beta")).ok
    status, _, _ = await api.call("PUT", BASE + "beta", json={"new_properties_are_enabled": False})
    assert status == 200
    assert (await sync(api, "beta", full=True)).ok
    assert all(c["enabled"] for c in (await api.get(BASE + "beta/properties"))["results"])


async def test_clone_copies_the_configuration_only(api: Api, sim: BuildiumSimulator) -> None:
    await create(api, sim, id="src", name="Source", new_properties_are_enabled=False)
    settings = {
        "schedules.incremental": "{type: interval, seconds: 600}",
        "date_filters.units.field": "none",
        "jobs.leads.enabled": "false",
        "enum_maps.unit_status.Vacant": "VACANT",
        "rate_limit_per_second": "3",
        "sweep_max_share": "0.5",
        "emit_initial_events": "true",
        "properties.77.enabled": "false",
    }
    source = await api.store.get_integration("src")
    options = dict(source.options)
    jobs = load_jobs("BUILDIUM")
    for key, value in settings.items():
        options = apply_setting(options, jobs, key, value)
    options["transforms"] = {"units": {"custom_data": {"colour": {"source": "Colour"}}}}
    await api.store.update_integration(replace(source, options=options))
    status, body, _ = await api.call(
        "POST",
        BASE,
        json=body_for(
            name="Copy",
            id="copy",
            based_on_integration_id="src",
            credentials={"client_id": "other", "client_secret": "account"},
        ),
    )
    assert status == 201, body
    result = body["result"]
    assert result["active"] is False and result["new_properties_are_enabled"] is False
    copy = await api.store.get_integration("copy")
    assert copy.credentials == {"client_id": "other", "client_secret": "account"}
    expected = {k: v for k, v in options.items() if k != "properties"}
    assert dict(copy.options) == expected
    assert "properties" not in copy.options
    for fields in (
        {"integration_vendor": "RESMAN", "credentials": {"a": "b"}},
        {"environment": "sandbox"},
        {"based_on_integration_id": "nope"},
    ):
        request = body_for(name="Other", based_on_integration_id="src") | fields
        status, body, _ = await api.call("POST", BASE, json=request)
        assert (status, issue(body)) == (400, ("body", "based_on_integration_id")), fields
