"""ResMan lead writes over real HTTP: MITS lead management, read-back, refusals, lost answers."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from syncd.connectors.base import ConnectorOptions, WriteRequest
from syncd.connectors.resman import LEAD_MANAGEMENT_PATH, ResManConnector, lead_management_xml
from syncd.domain import Capability
from syncd.errors import TransientError, WriteRejected
from syncd.sim.resman import ResManRenderer
from syncd.sim.server import Simulator
from syncd.transform import load_transforms

SCALE = 60  # three properties of twenty units


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(ResManRenderer, seed=7, scale=SCALE, rate_limit=0) as s:
        yield s


@pytest.fixture
async def connector(sim: Simulator) -> AsyncIterator[ResManConnector]:
    options = ConnectorOptions(rate_limit=0, max_attempts=2, backoff_base=0.01, timeout=10)
    async with ResManConnector(base_url=sim.url, credentials=sim.credentials, options=options) as c:
        yield c


def renderer(sim: Simulator) -> ResManRenderer:
    assert isinstance(sim.renderer, ResManRenderer)
    return sim.renderer


def refs(sim: Simulator, pid: int = 1) -> dict[str, str]:
    """PMS ids of a property and of a source, unit and floor plan in it, and of an agent."""
    r = renderer(sim)
    source = sim.world.select("lead_sources", property_id=pid)[0]
    unit = sim.world.select("units", property_id=pid)[0]
    plan = sim.world.select("floor_plans", property_id=pid)[0]
    return {
        "property_id": r.x_id("properties", pid),
        "lead_source_id": r.x_id("lead_sources", source["id"]),
        "unit_id": r.x_id("units", unit["id"]),
        "floor_plan_id": r.x_id("floor_plans", plan["id"]),
        "employee_id": r.x_id("employees", 2),
    }


def create(sim: Simulator, **fields: Any) -> WriteRequest:
    payload: dict[str, Any] = {
        **refs(sim),
        "first_name": "Nadia",
        "last_name": "Okafor",
        "email_1": "nadia.okafor@example.test",
        "phone_1": "(615) 555-0142",
        "phone_1_type": "MOBILE",
        "phone_2": "(615) 555-0199",
        "phone_2_type": "WORK",
        "address_1": "12 Vine St",
        "address_2": "Apt 3",
        "city": "Nashville",
        "state": "TN",
        "zip": "37201",
        "notes": "Wants a ground floor unit.",
        "desired_num_bedrooms": 2,
        "desired_num_bathrooms": 1.5,
        "desired_max_rent_in_cents": 165_000,
        "desired_lease_term_in_months": 12,
        "target_move_in_date": "2025-03-01",
    }
    payload.update(fields)
    payload = {k: v for k, v in payload.items() if v is not None}
    return WriteRequest(model="leads", operation=Capability.CREATE, payload=payload, write_id="w-1")


def lead_of(sim: Simulator, x_id: str) -> dict[str, Any]:
    lead_id = renderer(sim).world_id("leads", x_id)
    assert lead_id is not None, f"{x_id} is not a lead of the simulator"
    lead = sim.world.get("leads", lead_id)
    assert lead is not None
    return lead


def transformed(raw: dict[str, Any]) -> dict[str, Any]:
    return dict(load_transforms("RESMAN").for_model("leads").transform(raw, "acme").values)


def test_fields_declared_are_consistent() -> None:
    create_fields = ResManConnector.writable_fields("leads", Capability.CREATE)
    required = ResManConnector.required_write_fields("leads", Capability.CREATE)
    assert required == {"lead_source_id", "employee_id", "property_id", "first_name", "last_name"}
    assert required <= create_fields
    assert Capability.CREATE in ResManConnector.capabilities()["leads"]
    assert "idempotency" in ResManConnector.write_limits("leads", Capability.CREATE)
    # ResMan takes no resident writes from partners.
    assert ResManConnector.writable_fields("residents", Capability.UPDATE) == frozenset()
    assert Capability.UPDATE not in ResManConnector.capabilities()["residents"]


def test_the_document_is_mits_lead_management() -> None:
    payload = {
        "first_name": "A",
        "last_name": "B",
        "phone_1": "1",
        "desired_max_rent_in_cents": 123_456,
        "lead_source_id": "s",
        "employee_id": "e",
        "notes": "hello",
    }
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    root = ET.fromstring(lead_management_xml(payload, current=None, now=now))
    customer = root.find("Prospects/Prospect/Customers/Customer")
    assert customer is not None and customer.get("Type") == "prospect"
    assert customer.find("Identification") is None  # a create names no prospect
    phone = customer.find("Phone")
    assert phone is not None and phone.get("PhoneType") == "home"  # HOME when not given
    rent = root.find("Prospects/Prospect/CustomerPreferences/DesiredRent")
    assert rent is not None and rent.get("Max") == "1234.56"
    event = root.find("Prospects/Prospect/Events/Event")
    assert event is not None and event.get("EventDate") == "2025-01-02T03:04:05"
    assert event.findtext("FirstContact") == "true"
    assert event.findtext("TransactionSource") == "s"
    assert event.findtext("Comments") == "hello"
    agent = event.find("Agent/AgentID")
    assert agent is not None and agent.get("IDValue") == "e"


async def test_a_create_lands_in_the_world_and_reads_back(
    sim: Simulator, connector: ResManConnector
) -> None:
    before = set(sim.truth()["leads"]["live"])
    request = create(sim)
    result = await connector.write(request)
    assert result.x_id is not None
    assert set(sim.truth()["leads"]["live"]) - before == {result.x_id}
    lead = lead_of(sim, result.x_id)
    world = sim.world
    assert lead["property_id"] == 1 and lead["status"] == "NEW"
    assert lead["lead_source_id"] == sim.world.select("lead_sources", property_id=1)[0]["id"]
    assert lead["employee_id"] == 2
    assert lead["unit_id"] == world.select("units", property_id=1)[0]["id"]
    assert lead["floor_plan_id"] == world.select("floor_plans", property_id=1)[0]["id"]
    assert lead["phones"] == [
        {"type": "MOBILE", "number": "(615) 555-0142"},
        {"type": "WORK", "number": "(615) 555-0199"},
    ]
    assert (lead["address_1"], lead["address_2"], lead["city"], lead["state"], lead["zip"]) == (
        "12 Vine St",
        "Apt 3",
        "Nashville",
        "TN",
        "37201",
    )
    assert lead["notes"] == "Wants a ground floor unit."
    assert lead["desired_bedrooms"] == 2 and lead["desired_bathrooms"] == 1.5
    assert lead["desired_max_rent_cents"] == 165_000
    assert lead["desired_lease_term_months"] == 12
    assert lead["target_move_in_date"] == "2025-03-01"

    raw = await connector.fetch_one("leads", result.x_id)
    assert raw is not None and raw["prospectId"] == result.x_id
    values = transformed(raw)
    assert values["first_name"] == "Nadia" and values["last_name"] == "Okafor"
    assert values["email_1"] == "nadia.okafor@example.test"
    assert values["phone_1"] == "(615) 555-0142" and values["phone_1_type"] == "MOBILE"
    assert values["x_lead_source_id"] == request.payload["lead_source_id"]
    assert values["x_leasing_agent_id"] == request.payload["employee_id"]
    assert values["x_property_id"] == request.payload["property_id"]


async def test_fetch_one_finds_a_prospect_without_knowing_its_property(
    sim: Simulator, connector: ResManConnector
) -> None:
    r = renderer(sim)
    lead = sim.world.select("leads", property_id=3)[0]
    raw = await connector.fetch_one("leads", r.x_id("leads", lead["id"]).upper())
    assert raw is not None and raw["prospectId"] == r.x_id("leads", lead["id"])
    missing = "00000000-0000-0000-0000-000000000001"
    assert await connector.fetch_one("leads", missing) is None


async def test_an_update_changes_only_what_it_sends(
    sim: Simulator, connector: ResManConnector
) -> None:
    created = await connector.write(create(sim))
    assert created.x_id is not None
    update = WriteRequest(
        model="leads",
        operation=Capability.UPDATE,
        payload={"last_name": "Okafor-Reyes", "email_1": "n.reyes@example.test"},
        x_id=created.x_id,
        write_id="w-2",
    )
    result = await connector.write(update)
    assert result.x_id == created.x_id
    lead = lead_of(sim, created.x_id)
    assert (lead["first_name"], lead["last_name"]) == ("Nadia", "Okafor-Reyes")
    assert lead["email"] == "n.reyes@example.test"
    assert lead["notes"] == "Wants a ground floor unit."  # untouched
    assert len(lead["phones"]) == 2

    # A new second phone keeps the first where it is.
    await connector.write(
        WriteRequest("leads", Capability.UPDATE, {"phone_2": "(615) 555-0100"}, x_id=created.x_id)
    )
    lead = lead_of(sim, created.x_id)
    assert [p["number"] for p in lead["phones"]] == ["(615) 555-0142", "(615) 555-0100"]

    fresh = ResManConnector(
        base_url=sim.url, credentials=sim.credentials, options=ConnectorOptions(rate_limit=0)
    )
    async with fresh:  # knows nothing of the create: finds the property itself
        raw = await fresh.fetch_one("leads", created.x_id)
    assert raw is not None
    values = transformed(raw)
    assert values["last_name"] == "Okafor-Reyes" and values["email_1"] == "n.reyes@example.test"
    assert len(sim.truth()["leads"]["live"]) == len(set(sim.truth()["leads"]["live"]))


async def test_an_update_of_a_source_and_agent_is_a_follow_up_event(
    sim: Simulator, connector: ResManConnector
) -> None:
    r = renderer(sim)
    lead = sim.world.select("leads", property_id=2)[0]
    source = sim.world.select("lead_sources", property_id=2)[-1]
    await connector.write(
        WriteRequest(
            "leads",
            Capability.UPDATE,
            {"lead_source_id": r.x_id("lead_sources", source["id"]), "notes": "Called back."},
            x_id=r.x_id("leads", lead["id"]),
        )
    )
    after = lead_of(sim, r.x_id("leads", lead["id"]))
    assert after["lead_source_id"] == source["id"] and after["notes"] == "Called back."
    assert (after["first_name"], after["last_name"]) == (lead["first_name"], lead["last_name"])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"lead_source_id": "11111111-2222-3333-4444-555555555555"}, "Transaction Source could"),
        ({"first_name": None}, "Customer FirstName is required."),
        ({"unit_id": "11111111-2222-3333-4444-555555555555"}, "Unit 11111111-2222"),
        ({"employee_id": "11111111-2222-3333-4444-555555555555"}, "Agent 11111111"),
        ({"email_1": "not-an-address"}, "Email 'not-an-address' is not a valid"),
    ],
)
async def test_a_refusal_is_write_rejected_in_resmans_words(
    sim: Simulator, connector: ResManConnector, fields: dict[str, Any], message: str
) -> None:
    before = sim.world.counts()["leads"]
    with pytest.raises(WriteRejected) as info:
        await connector.write(create(sim, **fields))
    assert len(info.value.messages) == 1
    assert info.value.messages[0].startswith(message)
    assert sim.world.counts()["leads"] == before


async def test_a_source_of_another_property_is_refused(
    sim: Simulator, connector: ResManConnector
) -> None:
    other = refs(sim, pid=2)["lead_source_id"]
    with pytest.raises(WriteRejected, match="Transaction Source could not be found"):
        await connector.write(create(sim, lead_source_id=other))


async def test_an_update_of_an_unknown_prospect_is_refused(connector: ResManConnector) -> None:
    request = WriteRequest(
        "leads",
        Capability.UPDATE,
        {"last_name": "X"},
        x_id="11111111-2222-3333-4444-555555555555",
    )
    with pytest.raises(WriteRejected, match="no prospect"):
        await connector.write(request)


async def test_a_lost_answer_is_found_and_an_unsent_create_is_not(
    sim: Simulator, connector: ResManConnector
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    before = set(sim.truth()["leads"]["live"])
    sim.add_fault("lost", path=LEAD_MANAGEMENT_PATH, method="POST")
    request = create(sim, email_1="Lost.Answer@Example.test")
    with pytest.raises(TransientError):
        await connector.write(request)
    created = set(sim.truth()["leads"]["live"]) - before
    assert len(created) == 1  # committed, though the client never heard
    (x_id,) = created
    # Found by name and e-mail, compared trimmed and case-insensitively.
    again = create(sim, first_name=" nadia ", email_1="lost.answer@example.test")
    assert await connector.find_written(again, since) == x_id
    assert await connector.find_written(request, since) == x_id
    never_sent = create(sim, email_1="never.sent@example.test")
    assert await connector.find_written(never_sent, since) is None
    # Not modified since a later moment: not found either.
    later = datetime.fromtimestamp(time.time() + 120, UTC)
    assert await connector.find_written(request, later) is None


async def test_a_create_without_email_is_found_by_phone(
    sim: Simulator, connector: ResManConnector
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    request = create(sim, email_1=None, phone_1="615.555.0177")
    result = await connector.write(request)
    assert await connector.find_written(request, since) == result.x_id
    other = create(sim, email_1=None, phone_1="615.555.0178")
    assert await connector.find_written(other, since) is None


def classic_form(sim: Simulator, xml: str, pid: int = 1) -> dict[str, str]:
    creds = sim.credentials
    return {
        "IntegrationPartnerID": creds["integration_partner_id"],
        "ApiKey": creds["api_key"],
        "AccountID": creds["account_id"],
        "PropertyID": renderer(sim).x_id("properties", pid),
        "Xml": xml,
    }


async def test_raw_refusals_and_answers_are_resmans(sim: Simulator) -> None:
    url = sim.url + LEAD_MANAGEMENT_PATH
    good = lead_management_xml(dict(create(sim).payload), current=None, now=datetime.now(UTC))
    async with aiohttp.ClientSession() as http:
        headers = {"Accept": "application/json"}
        async with http.post(url, data=classic_form(sim, "<LeadManagement>"), headers=headers) as r:
            assert r.status == 200  # classic failures come with HTTP 200
            body = await r.json()
        assert body["Status"] == "Failed" and body["MethodName"] == "PostLeadManagement4_0"
        assert body["ErrorDescription"].startswith("The Xml could not be read")

        bad_source = good.replace(refs(sim)["lead_source_id"], refs(sim, pid=3)["lead_source_id"])
        async with http.post(url, data=classic_form(sim, bad_source)) as r:
            assert r.status == 200 and "xml" in r.content_type
            root = ET.fromstring(await r.text())
        assert root.tag == "ResMan" and root.findtext("Status") == "Failed"
        assert root.findtext("ErrorDescription") == "Transaction Source could not be found."

        wrong_key = {**classic_form(sim, good), "ApiKey": "nope"}
        async with http.post(url, data=wrong_key, headers=headers) as r:
            body = await r.json()
        assert body["Status"] == "Failed" and "ApiKey" in body["ErrorDescription"]

        async with http.post(url, data=classic_form(sim, good)) as r:
            root = ET.fromstring(await r.text())
        assert root.findtext("Status") == "Success"
        idents = root.findall("Response/LeadManagement/Prospects/Prospect/Customers/Customer/"
                              "Identification")  # fmt: skip
        kinds = {i.get("IDType"): i.get("IDValue") for i in idents}
        assert set(kinds) == {"ProspectID", "PersonID"}
        assert kinds["ProspectID"] in sim.truth()["leads"]["live"]
