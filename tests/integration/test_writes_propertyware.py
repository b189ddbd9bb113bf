"""Propertyware writes over real HTTP: the connector against the simulator's write endpoints.

Prospects (leads) are created with ``POST /prospects``; tenant contacts
(residents) are updated with ``PUT /contacts/{id}``, which the connector
fills from the contact as it is. Each write is read back with
``fetch_one`` and normalized by the Propertyware transforms.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from syncd.connectors.base import ConnectorOptions, WriteRequest
from syncd.connectors.propertyware import PropertywareConnector
from syncd.domain import Capability, FetchWindow
from syncd.errors import PermanentError, TransientError, WriteRejected
from syncd.sim.propertyware import API_ROOT, PropertywareRenderer
from syncd.sim.server import Simulator
from syncd.transform import load_transforms

SPEC = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "reference"
    / "propertyware-openapi.json"
)
CREATE = Capability.CREATE
UPDATE = Capability.UPDATE
BLOCK = 100_000_000
BUILDING = str(1 * BLOCK + 2)  # world property 2
LEAD_BASE = 5 * BLOCK
TENANT_BASE = 3 * BLOCK


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(PropertywareRenderer, seed=8, scale=60, rate_limit=0) as simulator:
        yield simulator


@pytest.fixture
async def connector(sim: Simulator) -> AsyncIterator[PropertywareConnector]:
    options = ConnectorOptions(rate_limit=0, max_attempts=2, backoff_base=0.01, timeout=10)
    async with PropertywareConnector(
        base_url=sim.url, credentials=sim.credentials, options=options
    ) as conn:
        yield conn


def unified(model: str, raw: Any) -> dict[str, Any]:
    """``raw`` normalized by the Propertyware transform of ``model``."""
    assert isinstance(raw, dict)
    return dict(load_transforms("propertyware").for_model(model).transform(raw, "acme").values)


def headers(sim: Simulator) -> dict[str, str]:
    return {
        "x-propertyware-client-id": sim.credentials["client_id"],
        "x-propertyware-client-secret": sim.credentials["client_secret"],
        "x-propertyware-system-id": sim.credentials["system_id"],
    }


LEAD = {
    "property_id": BUILDING,
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email_1": "ada.lovelace@example.com",
    "phone_1": "(617) 555-0101",
    "phone_2": "(617) 555-0102",
    "address_1": "1 Main St",
    "address_2": "Apt 2",
    "city": "Boston",
    "state": "MA",
    "zip": "02110",
    "lead_source": "Open house",
    "notes": "Needs parking",
    "target_move_in_date": "2025-03-01",
    "desired_num_bedrooms": 2,
    "desired_num_bathrooms": 1.5,
    "desired_max_rent_in_cents": 185_000,
}


# -- declarations ----------------------------------------------------------------


def test_declarations_agree() -> None:
    caps = PropertywareConnector.capabilities()
    assert caps["leads"] == {Capability.READ, CREATE}
    assert caps["residents"] == {Capability.READ, UPDATE}
    for model, allowed in caps.items():
        for op in (CREATE, UPDATE):
            fields = PropertywareConnector.writable_fields(model, op)
            assert bool(fields) is (op in allowed), (model, op)
            assert PropertywareConnector.required_write_fields(model, op) <= fields
            if fields:
                assert PropertywareConnector.write_limits(model, op), (model, op)
    assert set(LEAD) <= PropertywareConnector.writable_fields("leads", CREATE)
    assert "unit_id" not in PropertywareConnector.writable_fields("leads", CREATE)
    assert PropertywareConnector.required_write_fields("leads", CREATE) == {
        "first_name",
        "last_name",
    }


# -- creates ---------------------------------------------------------------------


async def test_a_created_prospect_is_stored_listed_and_read_back(
    sim: Simulator, connector: PropertywareConnector
) -> None:
    since = datetime.now(UTC)
    result = await connector.write(WriteRequest("leads", CREATE, LEAD))
    assert result.x_id is not None
    assert result.x_id in sim.truth()["leads"]["live"]
    entity = sim.world.get("leads", int(result.x_id) - LEAD_BASE)
    assert entity is not None
    assert (entity["first_name"], entity["property_id"], entity["status"]) == ("Ada", 2, "NEW")
    assert entity["desired_max_rent_cents"] == 185_000
    assert entity["notes"] == "Needs parking"

    raw = await connector.fetch_one("leads", result.x_id)
    assert raw is not None
    assert {k: v for k, v in raw.items() if k != "customFields"} == result.raw
    values = unified("leads", raw)
    expected = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email_1": "ada.lovelace@example.com",
        "phone_1": "(617) 555-0101",
        "phone_1_type": "MOBILE",
        "phone_2": "(617) 555-0102",
        "phone_2_type": "HOME",
        "address_1": "1 Main St",
        "address_2": "Apt 2",
        "city": "Boston",
        "state": "MA",
        "zip": "02110",
        "lead_source": "Open house",
        "notes": "Needs parking",
        "desired_num_bedrooms": 2,
        "desired_num_bathrooms": 1.5,
        "desired_max_rent_in_cents": 185_000,
        "x_property_id": BUILDING,
    }
    assert {k: values[k] for k in expected} == expected
    assert str(values["target_move_in_date"]) == "2025-03-01"

    # A created prospect is listed like any other, within a modification window.
    ids: list[str] = []
    async with connector.pages("leads", FetchWindow(since=since)) as pages:
        async for page in pages:
            ids.extend(str(r["id"]) for r in page.records)
    assert ids == [result.x_id]


async def test_a_missing_name_is_refused_in_propertywares_words(
    sim: Simulator, connector: PropertywareConnector
) -> None:
    before = len(sim.truth()["leads"]["live"])
    payload = {k: v for k, v in LEAD.items() if k != "last_name"}
    with pytest.raises(WriteRejected) as caught:
        await connector.write(WriteRequest("leads", CREATE, payload))
    assert caught.value.status == 400
    assert caught.value.messages == ("contacts[0].lastName: may not be empty",)
    assert len(sim.truth()["leads"]["live"]) == before


async def test_an_unknown_building_is_refused(
    sim: Simulator, connector: PropertywareConnector
) -> None:
    before = len(sim.truth()["leads"]["live"])
    missing = str(1 * BLOCK + 9_999)
    with pytest.raises(WriteRejected) as caught:
        await connector.write(WriteRequest("leads", CREATE, {**LEAD, "property_id": missing}))
    assert caught.value.status == 404
    assert caught.value.messages == (f"buildingID: No building with id {missing} exists.",)
    assert len(sim.truth()["leads"]["live"]) == before


async def test_a_fax_on_a_prospect_is_refused_before_sending(
    sim: Simulator, connector: PropertywareConnector
) -> None:
    with pytest.raises(WriteRejected, match="not FAX"):
        await connector.write(WriteRequest("leads", CREATE, {**LEAD, "phone_1_type": "FAX"}))
    assert sim.stats.by_path[f"{API_ROOT}/prospects"] == 0


async def test_a_lost_answer_is_found_by_natural_key(
    sim: Simulator, connector: PropertywareConnector
) -> None:
    since = datetime.now(UTC)
    before = set(sim.truth()["leads"]["live"])
    sim.add_fault("lost", path=f"{API_ROOT}/prospects", method="POST")
    request = WriteRequest("leads", CREATE, LEAD, write_id="w-1")
    with pytest.raises(TransientError):
        await connector.write(request)
    created = set(sim.truth()["leads"]["live"]) - before
    assert len(created) == 1  # Propertyware committed it
    assert sim.stats_snapshot()["faults_served"] == {"lost": 1}
    shouted = {**LEAD, "last_name": " LOVELACE ", "email_1": "ADA.lovelace@example.com"}
    found = await connector.find_written(WriteRequest("leads", CREATE, shouted), since)
    assert found == created.pop()
    never = {**LEAD, "first_name": "Grace", "last_name": "Hopper", "email_1": "grace@example.com"}
    assert await connector.find_written(WriteRequest("leads", CREATE, never), since) is None
    # The same person in another building is another prospect.
    elsewhere = {**LEAD, "property_id": str(1 * BLOCK + 1)}
    assert await connector.find_written(WriteRequest("leads", CREATE, elsewhere), since) is None
    # Without an email, a phone number tells them apart.
    by_phone = {k: v for k, v in LEAD.items() if k != "email_1"}
    assert await connector.find_written(WriteRequest("leads", CREATE, by_phone), since) == found
    other_phone = {**by_phone, "phone_1": "(617) 555-0999", "phone_2": "(617) 555-0998"}
    assert await connector.find_written(WriteRequest("leads", CREATE, other_phone), since) is None


async def test_prospect_updates_are_not_supported(connector: PropertywareConnector) -> None:
    with pytest.raises(PermanentError, match="cannot update leads"):
        await connector.write(
            WriteRequest("leads", UPDATE, {"first_name": "A"}, x_id=str(LEAD_BASE + 1))
        )


# -- updates ---------------------------------------------------------------------


async def test_a_tenant_update_changes_what_it_names_and_keeps_the_rest(
    sim: Simulator, connector: PropertywareConnector
) -> None:
    x_id = str(TENANT_BASE + 5)
    current = await connector.fetch_one("residents", x_id)
    assert current is not None
    payload = {"notes": "Prefers email.", "phone_2": "(617) 555-0150", "first_name": "Ida"}
    result = await connector.write(WriteRequest("residents", UPDATE, payload, x_id=x_id))
    assert result.x_id == x_id
    after = await connector.fetch_one("residents", x_id)
    assert after is not None
    assert (after["comments"], after["homePhone"], after["firstName"]) == (
        "Prefers email.",
        "(617) 555-0150",
        "Ida",
    )
    for key in ("lastName", "email", "birthDate", "address", "mobilePhone", "namedOnLease"):
        assert after.get(key) == current.get(key), key
    assert after["lastModifiedDateTime"] >= current["lastModifiedDateTime"]
    entity = sim.world.get("residents", 5)
    assert entity is not None and entity["first_name"] == "Ida"
    values = unified("residents", after)
    assert (values["notes"], values["phone_2"], values["first_name"]) == (
        "Prefers email.",
        "(617) 555-0150",
        "Ida",
    )
    assert values["email_1"] == current["email"]
    # A lease lists the tenant under its new name.
    lease = next(e for e in sim.world.all("leases") if 5 in e["resident_ids"])
    raw_lease = await connector.fetch_one("leases", str(4 * BLOCK + lease["id"]))
    assert raw_lease is not None
    names = {c["id"]: c["firstName"] for c in raw_lease["contacts"]}
    assert names[int(x_id)] == "Ida"


async def test_a_tenant_address_and_birth_date_update(connector: PropertywareConnector) -> None:
    x_id = str(TENANT_BASE + 6)
    payload = {"address_1": "12 Harbor Way", "zip": "02111", "date_of_birth": "1990-04-01"}
    await connector.write(WriteRequest("residents", UPDATE, payload, x_id=x_id))
    values = unified("residents", await connector.fetch_one("residents", x_id))
    assert (values["address_1"], values["zip"]) == ("12 Harbor Way", "02111")
    assert str(values["date_of_birth"]) == "1990-04-01"
    with pytest.raises(WriteRejected) as caught:
        await connector.write(
            WriteRequest("residents", UPDATE, {"date_of_birth": "1990-02-31"}, x_id=x_id)
        )
    assert caught.value.status == 400
    assert caught.value.messages == ("birthDate: '1990-02-31' is not a valid date (YYYY-MM-DD)",)


async def test_only_tenant_contacts_are_residents(
    sim: Simulator, connector: PropertywareConnector
) -> None:
    prospect_contact = str(6 * BLOCK + 1)
    with pytest.raises(WriteRejected, match="not a tenant"):
        await connector.write(
            WriteRequest("residents", UPDATE, {"notes": "x"}, x_id=prospect_contact)
        )
    with pytest.raises(WriteRejected) as caught:
        await connector.write(
            WriteRequest("residents", UPDATE, {"notes": "x"}, x_id=str(TENANT_BASE + 99_999))
        )
    assert caught.value.status == 404
    update = WriteRequest("residents", UPDATE, {"notes": "x"}, x_id=str(TENANT_BASE + 5))
    assert await connector.find_written(update, datetime.now(UTC)) is None


# -- the wire, raw ---------------------------------------------------------------


async def test_refusals_come_in_propertywares_error_shape(sim: Simulator) -> None:
    async with aiohttp.ClientSession(headers=headers(sim)) as http:
        async with http.post(f"{sim.url}{API_ROOT}/prospects", json={}) as response:
            assert response.status == 400
            body = await response.json()
        assert body == {
            "errorCode": "BAD_REQUEST",
            "errors": [{"key": "contacts", "message": "a prospect needs at least one contact"}],
            "userMessage": "The request is invalid.",
        }
        bad = {"contacts": [{"firstName": "A"}], "numberBedrooms": "two", "status": "Maybe"}
        async with http.post(f"{sim.url}{API_ROOT}/prospects", json=bad) as response:
            assert response.status == 400
            keys = [e["key"] for e in (await response.json())["errors"]]
        assert keys == ["contacts[0].lastName", "status", "numberBedrooms"]
        async with http.post(
            f"{sim.url}{API_ROOT}/prospects", data="x", headers={"Content-Type": "text/plain"}
        ) as response:
            assert response.status == 415
            assert (await response.json())["errorCode"] == "UNSUPPORTED_MEDIA_TYPE"
        contact = f"{sim.url}{API_ROOT}/contacts/{TENANT_BASE + 1}"
        body = {"firstName": "A" * 31, "lastName": "B", "address": {"city": "Boston"}}
        async with http.put(contact, json=body) as response:
            assert response.status == 400
            errors = (await response.json())["errors"]
        assert errors == [
            {"key": "firstName", "message": "size must be between 1 and 30"},
            {"key": "address.country", "message": "may not be empty"},
        ]
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sim.url}{API_ROOT}/prospects", json={}) as response,
    ):
        assert response.status == 401  # the same auth as the reads


async def test_a_created_prospect_answers_201_with_the_prospect(sim: Simulator) -> None:
    message = {
        "contacts": [{"firstName": "Mary", "lastName": "Shelley", "workPhone": "(617) 555-0111"}],
        "buildingID": int(BUILDING),
        "source": "Walk-in",
        "rentMin": 900,
        "hasPets": True,
        "status": "Active",
    }
    async with aiohttp.ClientSession(headers=headers(sim)) as http:
        async with http.post(f"{sim.url}{API_ROOT}/prospects", json=message) as response:
            assert response.status == 201
            created = await response.json()
        async with http.get(f"{sim.url}{API_ROOT}/prospects/{created['id']}") as response:
            fetched = await response.json()
    assert {k: v for k, v in fetched.items() if k != "customFields"} == created
    assert created["contacts"][0]["workPhone"] == "(617) 555-0111"
    assert (created["rentMin"], created["hasPets"], created["status"]) == (900.0, True, "Active")
    assert created["source"] == "Walk-in"
    entity = sim.world.get("leads", created["id"] - LEAD_BASE)
    assert entity is not None and entity["status"] == "CONTACTED"
    if SPEC.is_file():
        schemas = json.loads(SPEC.read_text(encoding="utf-8"))["components"]["schemas"]
        assert set(created) <= set(schemas["Prospect"]["properties"])
        assert set(created["contacts"][0]) <= set(schemas["ProspectContact"]["properties"])


async def test_phones_go_to_the_field_of_their_type(connector: PropertywareConnector) -> None:
    # Validation fills in the phone types' defaults on a create, numbers or not.
    payload = {"first_name": "Mae", "last_name": "Jemison", "email_1": "mae@example.com"}
    typed = {**payload, "phone_1_type": "HOME", "phone_2_type": "MOBILE"}
    result = await connector.write(WriteRequest("leads", CREATE, typed))
    person = result.raw["contacts"][0]
    assert not {"homePhone", "mobilePhone", "workPhone"} & set(person)
    both = {**typed, "phone_1": "(617) 555-0123", "phone_2": "(617) 555-0124"}
    result = await connector.write(WriteRequest("leads", CREATE, both))
    person = result.raw["contacts"][0]
    assert (person["homePhone"], person["mobilePhone"]) == ("(617) 555-0123", "(617) 555-0124")
    values = unified("leads", result.raw)
    # Read back by kind: the mobile phone is phone_1, the home phone phone_2.
    assert (values["phone_1"], values["phone_1_type"]) == ("(617) 555-0124", "MOBILE")
    assert (values["phone_2"], values["phone_2_type"]) == ("(617) 555-0123", "HOME")
