"""Rent Manager prospect and tenant writes over real HTTP: saves, reads, refusals, lost answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from syncd.connectors.base import ConnectorOptions, WriteRequest
from syncd.connectors.rentmanager import TOKEN_HEADER, RentManagerConnector
from syncd.domain import Capability
from syncd.errors import ConfigError, TransientError, WriteRejected
from syncd.sim.rentmanager import LOGIN_PATH, RentManagerRenderer
from syncd.sim.server import Simulator
from syncd.transform import load_transforms

SCALE = 60  # three properties of twenty units


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(RentManagerRenderer, seed=9, scale=SCALE, rate_limit=0) as s:
        yield s


def connector_for(sim: Simulator, **extra: Any) -> RentManagerConnector:
    options = ConnectorOptions(
        rate_limit=0, max_attempts=2, backoff_base=0.01, timeout=10, extra=extra
    )
    return RentManagerConnector(base_url=sim.url, credentials=sim.credentials, options=options)


@pytest.fixture
async def connector(sim: Simulator) -> AsyncIterator[RentManagerConnector]:
    async with connector_for(sim) as c:
        yield c


def prospect(sim: Simulator, **fields: Any) -> WriteRequest:
    source = sim.world.select("lead_sources")[1]
    payload: dict[str, Any] = {
        "property_id": "2",
        "lead_source_id": str(source["id"]),
        "first_name": "Tomás",
        "last_name": "Lindqvist",
        "email_1": "tomas.lindqvist@example.test",
        "phone_1": "(503) 555-0123",
        "phone_1_type": "MOBILE",
        "phone_2": "(503) 555-0456",
        "phone_2_type": "FAX",
        "address_1": "40 Alder St",
        "city": "Portland",
        "state": "OR",
        "zip": "97205",
    }
    payload.update(fields)
    payload = {k: v for k, v in payload.items() if v is not None}
    return WriteRequest("leads", Capability.CREATE, payload, write_id="w-1")


def values_of(model: str, raw: dict[str, Any]) -> dict[str, Any]:
    return dict(load_transforms("RENTMANAGER").for_model(model).transform(raw, "acme").values)


def test_fields_declared_are_consistent() -> None:
    for model in ("leads", "residents"):
        caps = RentManagerConnector.capabilities()[model]
        assert {Capability.CREATE, Capability.UPDATE} <= caps
        for op in (Capability.CREATE, Capability.UPDATE):
            fields = RentManagerConnector.writable_fields(model, op)
            # Rent Manager keeps notes as history records, not on the record.
            assert "notes" not in fields
            assert RentManagerConnector.required_write_fields(model, op) <= fields
            assert "notes" in RentManagerConnector.write_limits(model, op)
        assert RentManagerConnector.required_write_fields(model, Capability.CREATE) == {
            "property_id",
            "last_name",
        }
    assert "date_of_birth" in RentManagerConnector.writable_fields("residents", Capability.UPDATE)
    assert "lead_source_id" in RentManagerConnector.writable_fields("leads", Capability.CREATE)
    assert RentManagerConnector.writable_fields("units", Capability.CREATE) == frozenset()


def test_phone_type_ids_are_an_option(sim: Simulator) -> None:
    connector = connector_for(sim, phone_type_ids="MOBILE=7, FAX=9")
    record = connector.record_for(prospect(sim), None)
    assert [p["PhoneNumberTypeID"] for p in record["PhoneNumbers"]] == [7, 9]
    with pytest.raises(ConfigError, match="phone_type_ids"):
        connector_for(sim, phone_type_ids="PAGER=3")


async def test_a_prospect_create_lands_in_the_world_and_reads_back(
    sim: Simulator, connector: RentManagerConnector
) -> None:
    before = set(sim.truth()["leads"]["live"])
    request = prospect(sim)
    result = await connector.write(request)
    assert result.x_id is not None
    assert set(sim.truth()["leads"]["live"]) - before == {result.x_id}
    assert isinstance(result.raw, list) and result.raw[0]["ProspectID"] == int(result.x_id)
    lead = sim.world.get("leads", int(result.x_id))
    assert lead is not None
    assert (lead["property_id"], lead["lead_source_id"]) == (
        2,
        int(request.payload["lead_source_id"]),
    )
    assert lead["email"] == "tomas.lindqvist@example.test"
    assert lead["phones"] == [
        {"type": "MOBILE", "number": "(503) 555-0123"},
        {"type": "FAX", "number": "(503) 555-0456"},
    ]
    assert (lead["address_1"], lead["city"], lead["state"], lead["zip"]) == (
        "40 Alder St",
        "Portland",
        "OR",
        "97205",
    )

    raw = await connector.fetch_one("leads", result.x_id)
    assert raw is not None
    values = values_of("leads", raw)
    assert (values["first_name"], values["last_name"]) == ("Tomás", "Lindqvist")
    assert values["email_1"] == "tomas.lindqvist@example.test"
    assert (values["phone_1"], values["phone_1_type"]) == ("(503) 555-0123", "MOBILE")
    assert (values["phone_2"], values["phone_2_type"]) == ("(503) 555-0456", "FAX")
    assert (values["address_1"], values["city"], values["zip"]) == (
        "40 Alder St",
        "Portland",
        "97205",
    )
    assert values["x_lead_source_id"] == request.payload["lead_source_id"]
    assert values["x_property_id"] == "2"


async def test_a_prospect_update_is_the_same_post_with_its_id(
    sim: Simulator, connector: RentManagerConnector
) -> None:
    created = await connector.write(prospect(sim))
    assert created.x_id is not None
    update = WriteRequest(
        "leads",
        Capability.UPDATE,
        {"last_name": "Lindqvist-Berg", "phone_1": "(503) 555-0999", "city": "Salem"},
        x_id=created.x_id,
    )
    result = await connector.write(update)
    assert result.x_id == created.x_id
    assert len(sim.truth()["leads"]["live"]) == len(set(sim.truth()["leads"]["live"]))
    lead = sim.world.get("leads", int(created.x_id))
    assert lead is not None
    assert (lead["first_name"], lead["last_name"]) == ("Tomás", "Lindqvist-Berg")
    # The first phone replaced in place (its type kept), the second untouched.
    assert lead["phones"] == [
        {"type": "MOBILE", "number": "(503) 555-0999"},
        {"type": "FAX", "number": "(503) 555-0456"},
    ]
    assert (lead["address_1"], lead["city"]) == ("40 Alder St", "Salem")
    assert lead["email"] == "tomas.lindqvist@example.test"
    raw = await connector.fetch_one("leads", created.x_id)
    assert raw is not None and values_of("leads", raw)["last_name"] == "Lindqvist-Berg"


async def test_a_tenant_update_and_create(sim: Simulator, connector: RentManagerConnector) -> None:
    tenant = sim.world.select("residents", property_id=1)[0]
    update = WriteRequest(
        "residents",
        Capability.UPDATE,
        {
            "email_1": "new.mail@example.test",
            "date_of_birth": "1990-04-05",
            "address_1": "9 Elm Ct",
            "city": "Austin",
            "state": "TX",
            "zip": "78701",
            "phone_2": "(512) 555-0101",
            "phone_2_type": "WORK",
        },
        x_id=str(tenant["id"]),
    )
    result = await connector.write(update)
    assert result.x_id == str(tenant["id"])
    raw = await connector.fetch_one("residents", str(tenant["id"]))
    assert raw is not None
    values = values_of("residents", raw)
    assert values["email_1"] == "new.mail@example.test"
    assert str(values["date_of_birth"])[:10] == "1990-04-05"
    assert (values["address_1"], values["city"], values["state"], values["zip"]) == (
        "9 Elm Ct",
        "Austin",
        "TX",
        "78701",
    )
    assert values["first_name"] == tenant["first_name"]
    assert values["phone_1"] == tenant["phones"][0]["number"]
    assert (values["phone_2"], values["phone_2_type"]) == ("(512) 555-0101", "WORK")

    created = await connector.write(
        WriteRequest(
            "residents",
            Capability.CREATE,
            {"property_id": "3", "first_name": "Ida", "last_name": "Berg"},
        )
    )
    assert created.x_id is not None and created.x_id in sim.truth()["residents"]["live"]
    raw = await connector.fetch_one("residents", created.x_id)
    assert raw is not None and values_of("residents", raw)["last_name"] == "Berg"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"last_name": None}, "[0].LastName: The LastName field is required."),
        ({"property_id": "999"}, "[0].PropertyID: Property 999 does not exist."),
        ({"lead_source_id": "999"}, "[0].LeadSourceID: Lead source 999 does not exist."),
        ({"email_1": "nope"}, "[0].Contacts.Email: 'nope' is not a valid e-mail address."),
    ],
)
async def test_a_refusal_is_write_rejected_in_rent_managers_words(
    sim: Simulator, connector: RentManagerConnector, fields: dict[str, Any], message: str
) -> None:
    before = sim.world.counts()["leads"]
    with pytest.raises(WriteRejected) as info:
        await connector.write(prospect(sim, **fields))
    assert info.value.messages == (message,)
    assert info.value.status == 400
    assert sim.world.counts()["leads"] == before


async def test_every_problem_is_its_own_message(
    sim: Simulator, connector: RentManagerConnector
) -> None:
    with pytest.raises(WriteRejected) as info:
        await connector.write(prospect(sim, property_id="999", lead_source_id="998"))
    assert len(info.value.messages) == 2


async def test_an_update_of_an_unknown_record_is_refused(connector: RentManagerConnector) -> None:
    request = WriteRequest("leads", Capability.UPDATE, {"last_name": "X"}, x_id="987654")
    with pytest.raises(WriteRejected, match="No Prospects record has ProspectID 987654"):
        await connector.write(request)


async def test_a_lost_answer_is_found_and_an_unsent_create_is_not(
    sim: Simulator, connector: RentManagerConnector
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    await connector.check_auth()  # logged in: the fault hits the save, not the login
    before = set(sim.truth()["leads"]["live"])
    sim.add_fault("lost", path="/Prospects", method="POST")
    request = prospect(sim, email_1="Lost@Example.test")
    with pytest.raises(TransientError):
        await connector.write(request)
    created = set(sim.truth()["leads"]["live"]) - before
    assert len(created) == 1  # committed, though the client never heard
    (x_id,) = created
    again = prospect(sim, first_name=" TOMÁS ", email_1="lost@example.test ")
    assert await connector.find_written(again, since) == x_id
    assert await connector.find_written(prospect(sim, email_1="other@example.test"), since) is None
    elsewhere = prospect(sim, property_id="1", email_1="lost@example.test")
    assert await connector.find_written(elsewhere, since) is None
    later = datetime.now(UTC) + timedelta(minutes=2)
    assert await connector.find_written(request, later) is None


async def test_a_lost_tenant_create_is_found_by_phone(
    sim: Simulator, connector: RentManagerConnector
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    request = WriteRequest(
        "residents",
        Capability.CREATE,
        {"property_id": "1", "first_name": "Ola", "last_name": "Nor", "phone_1": "512-555-0142"},
    )
    result = await connector.write(request)
    assert await connector.find_written(request, since) == result.x_id
    other = WriteRequest("residents", Capability.CREATE, {**request.payload, "phone_1": "1"})
    assert await connector.find_written(other, since) is None


async def test_raw_saves_and_refusals_are_rent_managers(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as http:
        creds = sim.credentials
        login = {"Username": creds["username"], "Password": creds["password"], "LocationID": 1}
        async with http.post(sim.url + LOGIN_PATH, json=login) as r:
            token = await r.json()
        headers = {TOKEN_HEADER: token}
        async with http.post(sim.url + "/Prospects", json={"LastName": "X"}, headers=headers) as r:
            assert r.status == 400
            body = await r.json()
        assert body["Message"] == "The request is invalid."
        assert body["ModelState"] == {"request": ["Expected a JSON array of Prospect records."]}

        bad = [{"PropertyID": 1, "LastName": "A", "PhoneNumbers": [{"PhoneNumber": "1"}]}]
        async with http.post(sim.url + "/Prospects", json=bad, headers=headers) as r:
            assert r.status == 400
            body = await r.json()
        assert body["ModelState"] == {
            "[0].PhoneNumbers[0].PhoneNumberTypeID": ["Phone number type None does not exist."]
        }

        good = [{"PropertyID": 1, "FirstName": "B", "LastName": "C"}]
        async with http.post(
            sim.url + "/Tenants", json=good, headers=headers, params={"embeds": "PrimaryContact"}
        ) as r:
            assert r.status == 200
            saved = await r.json()
        assert isinstance(saved, list) and len(saved) == 1
        assert saved[0]["LastName"] == "C" and saved[0]["PrimaryContact"]["LastName"] == "C"
        assert str(saved[0]["TenantID"]) in sim.truth()["residents"]["live"]

        async with http.post(sim.url + "/Tenants", json=good) as r:  # no token
            assert r.status == 401
            assert "Message" in await r.json()
