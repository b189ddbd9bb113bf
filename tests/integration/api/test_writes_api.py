"""Writes over real HTTP against in-process simulators, carried out by the real worker.

The reference ResMan create-lead request end to end (200 with a job id →
PENDING → SUCCESS with ``created_record_id`` → the lead readable through the
read API and present in the simulator's world), validation per PMS (the
Buildium / Rent Manager ``notes`` case, with and without
``ignore_unknown_fields``), a PMS refusal → FAILURE with the PMS's message
and a verified WRITE_OPERATION_FAILURE webhook, idempotency keys, retries,
and a lost answer that never makes a duplicate.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from syncd.domain import Environment, Integration
from syncd.runner import Runner, RunnerConfig
from syncd.services.webhooks import deliver_due
from syncd.sim.buildium import BuildiumSimulator
from syncd.sim.rentmanager import RentManagerRenderer
from syncd.sim.resman import ResManRenderer
from syncd.sim.server import Simulator
from syncd.store.tables import MODEL_TABLES, change_events
from syncd.store.writes import SqlWriteJobs, WriteFilter
from syncd.writes.worker import WorkerConfig, WriteWorker

from .conftest import Api
from .helpers import Receiver

REFERENCE_MODELS = ["properties", "units", "floor_plans", "lead_sources", "employees"]


@pytest.fixture
async def resman() -> AsyncIterator[Simulator]:
    async with Simulator(ResManRenderer, seed=7, scale=40, rate_limit=0) as sim:
        yield sim


def integration_for(sim: Simulator, vendor: str, iid: str = "acme") -> Integration:
    return Integration(
        id=iid,
        name=iid.title(),
        vendor=vendor,
        environment=Environment.SANDBOX,
        enabled=True,
        base_url=sim.url,
        credentials=dict(sim.credentials),
        options={"rate_limit_per_second": 0, "concurrency": 2},
    )


async def synced(api: Api, sim: Simulator, vendor: str, models: list[str]) -> Integration:
    integration = integration_for(sim, vendor)
    await api.store.add_integration(integration)
    report = await Runner(api.store, RunnerConfig()).run(integration, models=models)
    assert report.ok, report
    return integration


def worker(api: Api, **config: Any) -> WriteWorker:
    settings: dict[str, Any] = {"backoff_base": 0.01, "poll": 0.05} | config
    return WriteWorker(
        api.store, SqlWriteJobs(api.store.engine), node="test-node", config=WorkerConfig(**settings)
    )


async def cached_id(api: Api, model: str, **where: Any) -> str:
    """The syncd id of the first cached ``model`` record matching ``where``."""
    table = MODEL_TABLES[model]
    query = select(table.c.id).where(*(table.c[k] == v for k, v in where.items())).limit(1)
    async with api.store.engine.connect() as conn:
        found = (await conn.execute(query.order_by(table.c.x_id))).scalar_one()
    return str(found)


async def reference_request(api: Api, sim: Simulator) -> dict[str, Any]:
    """The reference's ResMan create-lead request, with ids from the cache."""
    renderer = sim.renderer
    assert isinstance(renderer, ResManRenderer)
    prop = sim.world.select("properties")[0]
    source = sim.world.select("lead_sources", property_id=prop["id"])[0]
    return {
        "integration_id": "acme",
        "property_id": await cached_id(
            api, "properties", x_id=renderer.x_id("properties", prop["id"])
        ),
        "lead_source_id": await cached_id(
            api, "lead_sources", x_id=renderer.x_id("lead_sources", source["id"])
        ),
        "employee_id": await cached_id(api, "employees", x_id=renderer.x_id("employees", 1)),
        "first_name": "Nadia",
        "last_name": "Okafor",
        "email_1": "nadia.okafor@example.test",
        "phone_1": "(615) 555-0142",
        "desired_num_bedrooms": 2,
        "desired_max_rent_in_cents": 165_000,
        "target_move_in_date": "2027-03-01",
        "notes": "Wants a ground floor unit.",
    }


def leads_named(sim: Simulator, first: str, last: str) -> list[dict[str, Any]]:
    return [
        e
        for e in sim.world.all("leads")
        if e["first_name"] == first and str(e["last_name"]).startswith(last)
    ]


async def test_the_reference_resman_create_lead_end_to_end(api: Api, resman: Simulator) -> None:
    await synced(api, resman, "RESMAN", REFERENCE_MODELS)
    body = await reference_request(api, resman)
    status, answer, _ = await api.call("POST", "/v1/leads/resman/", json=body)
    assert status == 200, answer
    job_id = answer["meta"]["job_id"]
    result = answer["result"]
    assert result["first_name"] == "Nadia" and result["integration_id"] == "acme"
    # The full payload: unspecified fields are null, the phone type defaults to HOME.
    assert result["unit_id"] is None and result["address_2"] is None
    assert result["phone_1_type"] == "HOME"
    assert answer["meta"]["stripped_fields"] == [] and answer["meta"]["replayed"] is False

    pending = await api.get(f"/v1/admin/write-status/{job_id}")
    assert pending == {"write_status": "PENDING", "errors": [], "created_record_id": None}
    assert leads_named(resman, "Nadia", "Okafor") == []  # nothing sent before the worker runs

    outcomes = await worker(api).work_once()
    assert [o.status.value for o in outcomes] == ["SUCCESS"]
    done = await api.get(f"/v1/admin/write-status/{job_id}")
    assert done["write_status"] == "SUCCESS" and done["errors"] == []
    created = done["created_record_id"]
    assert created is not None

    # Readable at once, without waiting for a sync.
    lead = (await api.get(f"/v1/leads/{created}"))["results"]
    assert lead["first_name"] == "Nadia" and lead["last_name"] == "Okafor"
    assert lead["email_1"] == "nadia.okafor@example.test"
    assert lead["integration_id"] == "acme"
    # And in the PMS, once.
    (in_pms,) = leads_named(resman, "Nadia", "Okafor")
    assert in_pms["email"] == "nadia.okafor@example.test"
    assert in_pms["desired_bedrooms"] == 2

    log = await api.get("/v1/admin/logs/writes", integration_id="acme")
    assert [e["job_id"] for e in log["results"]] == [job_id]
    assert log["results"][0]["write_status"] == "SUCCESS" and log["meta"]["total"] == 1
    async with api.store.engine.connect() as conn:
        rows = await conn.execute(select(change_events.c.event_type, change_events.c.run_id))
        kinds = [(kind, run) for kind, run in rows]
    assert ("WRITE_OPERATION_SUCCESS", job_id) in kinds
    # The read-back announced the new lead like a sync would.
    assert any(k == "DATA_NEW" for k, _ in kinds)

    # Only failed writes can be retried.
    status, refused, _ = await api.call("POST", f"/v1/admin/retry-write/{job_id}")
    assert status == 409, refused


async def test_every_bad_field_is_named_before_anything_is_queued(
    api: Api, resman: Simulator
) -> None:
    await synced(api, resman, "RESMAN", REFERENCE_MODELS)
    body = await reference_request(api, resman)
    bad = {k: v for k, v in body.items() if k not in ("first_name", "employee_id")}
    bad |= {
        "lead_source_id": str(uuid.uuid4()),
        "desired_num_bedrooms": -1,
        "target_move_in_date": "March",
        "phone_1_type": "PAGER",
        "favourite_colour": "teal",
    }
    status, answer, _ = await api.call("POST", "/v1/leads/resman/", json=bad)
    assert status == 400, answer
    fields = {i["field"]: i["code"] for i in answer["error"]["details"]["issues"]}
    assert fields == {
        "first_name": "missing",
        "employee_id": "missing",
        "desired_num_bedrooms": "invalid",
        "target_move_in_date": "invalid",
        "phone_1_type": "invalid",
        "favourite_colour": "unknown_field",
    }
    # References are checked once the fields are sound: an unknown lead source.
    status, answer, _ = await api.call(
        "POST", "/v1/leads/resman/", json=body | {"lead_source_id": str(uuid.uuid4())}
    )
    assert status == 400
    (issue,) = answer["error"]["details"]["issues"]
    assert issue["field"] == "lead_source_id" and issue["code"] == "not_found"
    # The per-PMS endpoint refuses another PMS's integration.
    status, answer, _ = await api.call("POST", "/v1/leads/buildium/", json=body)
    assert status == 400
    assert answer["error"]["details"]["issues"][0]["code"] == "vendor_mismatch"
    assert await SqlWriteJobs(api.store.engine).count(WriteFilter()) == 0


async def test_notes_on_a_resident_depend_on_the_pms(api: Api) -> None:
    async with Simulator(RentManagerRenderer, seed=3, scale=20, rate_limit=0) as sim:
        await synced(api, sim, "RENTMANAGER", ["properties", "units", "residents"])
        resident = await cached_id(api, "residents", integration_id="acme")
        change = {"notes": "Prefers email.", "phone_1": "(615) 555-0100"}
        status, answer, _ = await api.call(
            "PUT", f"/v1/residents/rentmanager/{resident}", json=change
        )
        assert status == 400, answer
        (issue,) = answer["error"]["details"]["issues"]
        assert issue["field"] == "notes" and issue["code"] == "not_supported"
        status, answer, _ = await api.call(
            "PUT",
            f"/v1/residents/{resident}",
            json=change,
            params={"ignore_unknown_fields": "true"},
        )
        assert status == 200, answer
        assert answer["meta"]["stripped_fields"] == ["notes"]
        assert (
            answer["result"]["notes"] is None and answer["result"]["phone_1"] == change["phone_1"]
        )
        (outcome,) = await worker(api).work_once()
        assert outcome.status.value == "SUCCESS", outcome
        record = (await api.get(f"/v1/residents/{resident}"))["results"]
        assert record["phone_1"] == "(615) 555-0100"


async def test_a_refusal_fails_with_the_pms_message_and_a_signed_webhook(
    api: Api, resman: Simulator, receiver: Receiver
) -> None:
    await synced(api, resman, "RESMAN", REFERENCE_MODELS)
    body = await reference_request(api, resman)
    status, hook, _ = await api.call(
        "POST",
        "/v1/webhooks/",
        json={"url": receiver.url, "triggers": ["WRITE_OPERATION_FAILURE"]},
    )
    assert status == 201, hook
    receiver.secrets = [hook["result"]["secret"]]
    # The lead source is gone from the PMS since the cache last saw it.
    renderer = resman.renderer
    assert isinstance(renderer, ResManRenderer)
    source_x_id = None
    async with api.store.engine.connect() as conn:
        table = MODEL_TABLES["lead_sources"]
        source_x_id = (
            await conn.execute(
                select(table.c.x_id).where(table.c.id == uuid.UUID(body["lead_source_id"]))
            )
        ).scalar_one()
    world_id = renderer.world_id("lead_sources", source_x_id)
    assert world_id is not None
    resman.world.delete("lead_sources", world_id)

    status, answer, _ = await api.call("POST", "/v1/leads/", json=body)
    assert status == 200, answer
    job_id = answer["meta"]["job_id"]
    (outcome,) = await worker(api).work_once()
    assert outcome.status.value == "FAILURE"
    state = await api.get(f"/v1/admin/write-status/{job_id}")
    assert state["write_status"] == "FAILURE" and state["created_record_id"] is None
    assert state["errors"] and "source" in state["errors"][0].lower()
    assert leads_named(resman, "Nadia", "Okafor") == []

    report = await deliver_due(api.webhooks, api.settings)
    assert report.delivered == 1
    ((_, payload),) = receiver.accepted
    assert payload["type"] == "WRITE_OPERATION_FAILURE"
    data = payload["data"]
    assert data["root_job_id"] == job_id and data["write_status"] == "FAILURE"
    assert data["errors"] == state["errors"] and data["vendor"] == "RESMAN"

    # A failed write can be retried: a new job, carried to the PMS again.
    status, retried, _ = await api.call("POST", f"/v1/admin/retry-write/{job_id}")
    assert status == 200 and retried["success"] is True and retried["job_id"] != job_id
    (again,) = await worker(api).work_once()
    assert again.job_id == retried["job_id"] and again.status.value == "FAILURE"
    log = await api.get("/v1/admin/logs/writes", status="FAILURE")
    by_id = {e["job_id"]: e for e in log["results"]}
    assert by_id[retried["job_id"]]["retry_of"] == job_id


async def test_an_idempotency_key_returns_the_first_job(api: Api, resman: Simulator) -> None:
    await synced(api, resman, "RESMAN", REFERENCE_MODELS)
    body = await reference_request(api, resman)
    key = {"Idempotency-Key": "lead-nadia-1"}
    first = await _post(api, "/v1/leads/resman/", body, key)
    again = await _post(api, "/v1/leads/resman/", body, key)
    assert again["meta"]["job_id"] == first["meta"]["job_id"]
    assert again["meta"]["replayed"] is True and again["result"] == first["result"]
    async with api.session.post(
        api.url + "/v1/leads/resman/",
        json=body | {"first_name": "Other"},
        headers=api.headers() | key,
    ) as response:
        assert response.status == 409, await response.text()
    assert await SqlWriteJobs(api.store.engine).count(WriteFilter()) == 1


async def _post(api: Api, path: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
    async with api.session.post(api.url + path, json=body, headers=api.headers() | headers) as r:
        assert r.status == 200, await r.text()
        answer: dict[str, Any] = await r.json()
        return answer


async def test_a_lost_answer_never_makes_a_duplicate(api: Api, resman: Simulator) -> None:
    await synced(api, resman, "RESMAN", REFERENCE_MODELS)
    body = await reference_request(api, resman)
    # ResMan commits the lead and the answer never arrives.
    resman.add_fault("lost", path="/MITS/PostLeadManagement4_0", method="POST")
    status, answer, _ = await api.call("POST", "/v1/leads/resman/", json=body)
    assert status == 200, answer
    job_id = answer["meta"]["job_id"]
    work = worker(api, backoff_base=0.01)
    seen = await work.work_once()
    assert seen and seen[0].status.value == "PENDING"  # a transient fault: to be retried
    # The retry (due within milliseconds) finds the lead the lost attempt made
    # instead of sending it again.
    for _ in range(500):
        if any(o.status.value != "PENDING" for o in seen):
            break
        await anyio.sleep(0.02)
        seen += await work.work_once()
    done = [o for o in seen if o.status.value != "PENDING"]
    assert [o.status.value for o in done] == ["SUCCESS"]
    assert len(leads_named(resman, "Nadia", "Okafor")) == 1
    state = await api.get(f"/v1/admin/write-status/{job_id}")
    lead = (await api.get(f"/v1/leads/{state['created_record_id']}"))["results"]
    assert lead["first_name"] == "Nadia"


async def test_notes_on_a_buildium_resident_go_through(api: Api) -> None:
    sim = BuildiumSimulator(seed=5, scale=12, rate_limit=0)
    await sim.start()
    try:
        await synced(api, sim, "BUILDIUM", ["properties", "units", "residents"])
        resident = await cached_id(api, "residents", integration_id="acme")
        change = {"notes": "Prefers email."}
        status, answer, _ = await api.call("PUT", f"/v1/residents/buildium/{resident}", json=change)
        assert status == 200, answer
        assert (
            answer["meta"]["stripped_fields"] == []
            and answer["result"]["notes"] == "Prefers email."
        )
        (outcome,) = await worker(api).work_once()
        assert outcome.status.value == "SUCCESS", outcome
        # Read back from Buildium (the tenant's Comment) into the cache at once.
        record = (await api.get(f"/v1/residents/{resident}"))["results"]
        assert record["notes"] == "Prefers email."
    finally:
        await sim.stop()
