"""Buildium writes over real HTTP: the connector against the simulator's write endpoints.

Applicants (leads) are created with ``POST /v1/applicants`` and updated with
``PUT /v1/applicants/{id}``; tenants (residents) are updated with
``PUT /v1/leases/tenants/{id}``, a full replacement the connector fills from
the tenant as it is. Each write is read back with ``fetch_one`` and
normalized by the Buildium transforms.
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
from syncd.connectors.buildium import BuildiumConnector
from syncd.domain import Capability, FetchWindow
from syncd.errors import PermanentError, TransientError, WriteRejected
from syncd.sim.buildium import BuildiumRenderer
from syncd.sim.buildium_data import FIRST_ID
from syncd.sim.server import Simulator
from syncd.transform import load_transforms

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "buildium-openapi.json"
CREATE = Capability.CREATE
UPDATE = Capability.UPDATE


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(BuildiumRenderer, seed=5, scale=60, rate_limit=0) as simulator:
        yield simulator


@pytest.fixture
async def connector(sim: Simulator) -> AsyncIterator[BuildiumConnector]:
    options = ConnectorOptions(rate_limit=0, max_attempts=2, backoff_base=0.01, timeout=10)
    async with BuildiumConnector(
        base_url=sim.url, credentials=sim.credentials, options=options
    ) as conn:
        yield conn


def renderer(sim: Simulator) -> BuildiumRenderer:
    assert isinstance(sim.renderer, BuildiumRenderer)
    return sim.renderer


def unified(model: str, raw: Any) -> dict[str, Any]:
    """``raw`` normalized by the Buildium transform of ``model``."""
    assert isinstance(raw, dict)
    return dict(load_transforms("buildium").for_model(model).transform(raw, "acme").values)


def headers(sim: Simulator) -> dict[str, str]:
    return {
        "x-buildium-client-id": sim.credentials["client_id"],
        "x-buildium-client-secret": sim.credentials["client_secret"],
    }


LEAD = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email_1": "ada.lovelace@example.com",
    "phone_1": "(617) 555-0101",
    "phone_2": "(617) 555-0102",
    "phone_2_type": "WORK",
    "unit_id": str(FIRST_ID["units"] + 7),
}


# -- declarations ----------------------------------------------------------------


def test_declarations_agree() -> None:
    caps = BuildiumConnector.capabilities()
    assert caps["leads"] == {Capability.READ, CREATE, UPDATE}
    assert caps["residents"] == {Capability.READ, UPDATE}
    for model, allowed in caps.items():
        for op in (CREATE, UPDATE):
            fields = BuildiumConnector.writable_fields(model, op)
            assert bool(fields) is (op in allowed), (model, op)
            assert BuildiumConnector.required_write_fields(model, op) <= fields
            if fields:
                assert BuildiumConnector.write_limits(model, op), (model, op)
    assert BuildiumConnector.required_write_fields("leads", CREATE) == {"first_name", "last_name"}
    assert "notes" in BuildiumConnector.writable_fields("residents", UPDATE)
    assert "property_id" not in BuildiumConnector.writable_fields("leads", CREATE)
    assert "idempotency" in BuildiumConnector.write_limits("leads", CREATE)


# -- creates ---------------------------------------------------------------------


async def test_a_created_applicant_is_stored_listed_and_read_back(
    sim: Simulator, connector: BuildiumConnector
) -> None:
    since = datetime.now(UTC)
    result = await connector.write(
        WriteRequest("leads", CREATE, {**LEAD, "notes": "Needs parking"})
    )
    assert result.x_id is not None
    assert result.warnings == ()
    assert result.x_id in sim.truth()["leads"]["live"]
    stored = renderer(sim).store.get("applicants", int(result.x_id))
    assert stored is not None
    assert stored["FirstName"] == "Ada"
    assert stored["UnitId"] == FIRST_ID["units"] + 7
    assert stored["PropertyId"] == FIRST_ID["rentals"]  # the unit's rental
    # The notes became an applicant note, a resource of their own.
    notes = renderer(sim).notes[int(result.x_id)]
    assert [n["Note"] for n in notes] == ["Needs parking"]

    raw = await connector.fetch_one("leads", result.x_id)
    assert raw == result.raw
    values = unified("leads", raw)
    assert values["first_name"] == "Ada"
    assert values["last_name"] == "Lovelace"
    assert values["email_1"] == "ada.lovelace@example.com"
    assert (values["phone_1"], values["phone_1_type"]) == ("(617) 555-0101", "MOBILE")
    assert (values["phone_2"], values["phone_2_type"]) == ("(617) 555-0102", "WORK")
    assert values["x_unit_id"] == LEAD["unit_id"]
    assert values["x_property_id"] == str(FIRST_ID["rentals"])

    # A created applicant is listed like any other, within an update window.
    ids: list[str] = []
    async with connector.pages("leads", FetchWindow(since=since)) as pages:
        async for page in pages:
            ids.extend(str(r["Id"]) for r in page.records)
    assert ids == [result.x_id]


async def test_a_failed_note_makes_a_partial_success(
    sim: Simulator, connector: BuildiumConnector
) -> None:
    # The applicant's POST passes; the note's (the next POST) gets a 500.
    sim.add_fault("500", method="POST", after=1)
    result = await connector.write(WriteRequest("leads", CREATE, {**LEAD, "notes": "Call back"}))
    assert result.x_id in sim.truth()["leads"]["live"]
    assert len(result.warnings) == 1
    assert "note" in result.warnings[0]
    assert int(str(result.x_id)) not in renderer(sim).notes


async def test_a_missing_name_is_refused_in_buildiums_words(
    sim: Simulator, connector: BuildiumConnector
) -> None:
    before = len(sim.truth()["leads"]["live"])
    payload = {k: v for k, v in LEAD.items() if k != "last_name"}
    with pytest.raises(WriteRejected) as caught:
        await connector.write(WriteRequest("leads", CREATE, payload))
    assert caught.value.status == 400
    assert caught.value.messages == ("LastName: The LastName field is required.",)
    assert len(sim.truth()["leads"]["live"]) == before


async def test_an_unknown_unit_is_refused(sim: Simulator, connector: BuildiumConnector) -> None:
    before = len(sim.truth()["leads"]["live"])
    with pytest.raises(WriteRejected) as caught:
        await connector.write(WriteRequest("leads", CREATE, {**LEAD, "unit_id": "999"}))
    assert caught.value.status == 422
    assert caught.value.messages == ("UnitId: The unit 999 does not exist.",)
    assert len(sim.truth()["leads"]["live"]) == before


async def test_a_phone_type_buildium_cannot_hold_is_refused_before_sending(
    sim: Simulator, connector: BuildiumConnector
) -> None:
    sim.stats.reset()
    with pytest.raises(WriteRejected, match="not OTHER"):
        await connector.write(WriteRequest("leads", CREATE, {**LEAD, "phone_1_type": "OTHER"}))
    with pytest.raises(WriteRejected, match="one Mobile number"):
        await connector.write(WriteRequest("leads", CREATE, {**LEAD, "phone_2_type": "MOBILE"}))
    assert sim.stats.by_path["/v1/applicants"] == 0


async def test_a_lost_answer_is_found_by_natural_key(
    sim: Simulator, connector: BuildiumConnector
) -> None:
    since = datetime.now(UTC)
    before = set(sim.truth()["leads"]["live"])
    sim.add_fault("lost", path="/v1/applicants", method="POST")
    request = WriteRequest("leads", CREATE, LEAD, write_id="w-1")
    with pytest.raises(TransientError):
        await connector.write(request)
    # Buildium committed it: one new applicant.
    created = set(sim.truth()["leads"]["live"]) - before
    assert len(created) == 1
    assert sim.stats_snapshot()["faults_served"] == {"lost": 1}
    # Looked up by names and email, whatever the case and spacing.
    shouted = {**LEAD, "first_name": "  ADA ", "email_1": "Ada.Lovelace@Example.com"}
    found = await connector.find_written(WriteRequest("leads", CREATE, shouted), since)
    assert found == created.pop()
    # A create that was never sent finds nothing, so sending it cannot duplicate.
    never = {**LEAD, "first_name": "Grace", "last_name": "Hopper", "email_1": "grace@example.com"}
    assert await connector.find_written(WriteRequest("leads", CREATE, never), since) is None
    # The same person at another unit is another applicant.
    elsewhere = {**LEAD, "unit_id": str(FIRST_ID["units"] + 8)}
    assert await connector.find_written(WriteRequest("leads", CREATE, elsewhere), since) is None


async def test_find_written_matches_by_phone_without_email(
    sim: Simulator, connector: BuildiumConnector
) -> None:
    since = datetime.now(UTC)
    payload = {"first_name": "Alan", "last_name": "Turing", "phone_1": "617-555-0177"}
    result = await connector.write(WriteRequest("leads", CREATE, payload))
    same = {**payload, "phone_1": "(617) 555-0177"}
    assert await connector.find_written(WriteRequest("leads", CREATE, same), since) == result.x_id
    other = {**payload, "phone_1": "(617) 555-0999"}
    assert await connector.find_written(WriteRequest("leads", CREATE, other), since) is None
    update = WriteRequest("leads", UPDATE, payload, x_id=result.x_id)
    assert await connector.find_written(update, since) is None  # a PUT is safe to resend


# -- updates ---------------------------------------------------------------------


async def test_an_applicant_update_keeps_what_it_does_not_change(
    sim: Simulator, connector: BuildiumConnector
) -> None:
    x_id = str(FIRST_ID["applicants"] + 3)
    current = renderer(sim).store.get("applicants", int(x_id))
    assert current is not None
    result = await connector.write(
        WriteRequest("leads", UPDATE, {"email_1": "new.address@example.com"}, x_id=x_id)
    )
    assert result.x_id == x_id
    after = renderer(sim).store.get("applicants", int(x_id))
    assert after is not None
    assert after["Email"] == "new.address@example.com"
    for key in ("FirstName", "LastName", "UnitId", "PropertyId", "PhoneNumbers", "Status"):
        assert after[key] == current[key], key
    assert unified("leads", await connector.fetch_one("leads", x_id))["email_1"] == (
        "new.address@example.com"
    )


async def test_a_tenant_update_puts_notes_in_comment_and_keeps_the_rest(
    sim: Simulator, connector: BuildiumConnector
) -> None:
    x_id = str(FIRST_ID["tenants"] + 4)
    current = await connector.fetch_one("residents", x_id)
    assert current is not None
    assert current["Comment"] is None
    result = await connector.write(
        WriteRequest(
            "residents",
            UPDATE,
            {"notes": "Prefers email.", "phone_2": "(617) 555-0150"},
            x_id=x_id,
        )
    )
    after = await connector.fetch_one("residents", x_id)
    assert after == result.raw
    assert after is not None
    assert after["Comment"] == "Prefers email."
    for key in ("FirstName", "LastName", "Email", "DateOfBirth", "Address", "Leases"):
        assert after[key] == current[key], key
    first = current["PhoneNumbers"][0]
    assert after["PhoneNumbers"][0] == first
    assert {"Number": "(617) 555-0150", "Type": "Home"} in after["PhoneNumbers"]
    values = unified("residents", after)
    assert values["notes"] == "Prefers email."
    assert values["first_name"] == current["FirstName"]
    assert values["address_1"] == current["Address"]["AddressLine1"]


async def test_a_tenant_address_update(sim: Simulator, connector: BuildiumConnector) -> None:
    x_id = str(FIRST_ID["tenants"] + 9)
    payload = {"address_1": "12 Harbor Way", "address_2": "Apt 3", "zip": "02111", "state": "MA"}
    await connector.write(WriteRequest("residents", UPDATE, payload, x_id=x_id))
    values = unified("residents", await connector.fetch_one("residents", x_id))
    assert (values["address_1"], values["address_2"]) == ("12 Harbor Way", "Apt 3")
    assert (values["zip"], values["state"]) == ("02111", "MA")
    # A state Buildium does not know is refused, and nothing changes.
    with pytest.raises(WriteRejected) as caught:
        await connector.write(WriteRequest("residents", UPDATE, {"state": "Atlantis"}, x_id=x_id))
    assert caught.value.status == 400
    assert caught.value.messages == (
        "Address.State: 'Atlantis' is not a valid state name or abbreviation.",
    )
    assert unified("residents", await connector.fetch_one("residents", x_id))["state"] == "MA"


async def test_an_unknown_tenant_is_refused(connector: BuildiumConnector) -> None:
    with pytest.raises(WriteRejected) as caught:
        await connector.write(WriteRequest("residents", UPDATE, {"notes": "x"}, x_id="42"))
    assert caught.value.status == 404
    assert caught.value.messages == ("The requested resource was not found.",)


async def test_resident_creates_are_not_supported(connector: BuildiumConnector) -> None:
    with pytest.raises(PermanentError, match="cannot create residents"):
        await connector.write(WriteRequest("residents", CREATE, {"first_name": "A"}))


# -- the wire, raw ---------------------------------------------------------------


async def test_refusals_come_in_buildiums_error_shape(sim: Simulator) -> None:
    async with aiohttp.ClientSession(headers=headers(sim)) as http:
        async with http.post(f"{sim.url}/v1/applicants", json={}) as response:
            assert response.status == 400
            body = await response.json()
        assert set(body) == {"UserMessage", "ErrorCode", "Errors"}
        assert body["ErrorCode"] == "BadRequest"
        assert {e["Key"] for e in body["Errors"]} == {
            "FirstName",
            "LastName",
            "SendRentalApplicationEmail",
        }
        async with http.post(
            f"{sim.url}/v1/applicants", data="FirstName=A", headers={"Content-Type": "text/plain"}
        ) as response:
            assert response.status == 415
            assert (await response.json())["ErrorCode"] == "UnsupportedMediaType"
        tenant = f"{sim.url}/v1/leases/tenants/{FIRST_ID['tenants']}"
        async with http.put(tenant, json={"FirstName": "A", "LastName": "B"}) as response:
            assert response.status == 400
            errors = (await response.json())["Errors"]
        assert errors == [{"Key": "Address", "Value": "The Address field is required."}]
        phones = {"Mobile": "555"}
        body = {"FirstName": "A", "LastName": "B", "PhoneNumbers": phones}
        async with http.put(f"{sim.url}/v1/applicants/{FIRST_ID['applicants']}", json=body) as r:
            assert r.status == 400
            assert (await r.json())["Errors"][0]["Key"] == "PhoneNumbers.Mobile"
        async with http.post(f"{sim.url}/v1/applicants/1/notes", json={"Note": "x"}) as r:
            assert r.status == 404
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sim.url}/v1/applicants", json={}) as response,
    ):
        assert response.status == 401  # the same auth as the reads


async def test_a_created_applicant_answers_201_with_its_location(sim: Simulator) -> None:
    message = {"FirstName": "Mary", "LastName": "Shelley", "SendRentalApplicationEmail": False}
    async with aiohttp.ClientSession(headers=headers(sim)) as http:
        async with http.post(f"{sim.url}/v1/applicants", json=message) as response:
            assert response.status == 201
            created = await response.json()
            location = response.headers["Location"]
        assert location == f"{sim.url}/v1/applicants/{created['Id']}"
        async with http.get(location) as response:
            assert response.status == 200
            assert await response.json() == created
        note = f"{location}/notes"
        async with http.post(note, json={"Note": "Met at the open house."}) as response:
            assert response.status == 201
            added = await response.json()
            assert response.headers["Location"] == f"{note}/{added['Id']}"
        async with http.get(note) as response:
            assert response.headers["X-Total-Count"] == "1"
            assert await response.json() == [added]
    assert created["PropertyId"] is None and created["UnitId"] is None
    assert created["Status"] == "New"
    if SPEC.is_file():
        schemas = json.loads(SPEC.read_text(encoding="utf-8"))["components"]["schemas"]
        assert set(created) == set(schemas["ApplicantDetailsMessage"]["properties"])
        assert set(added) == set(schemas["NoteMessage"]["properties"])


async def test_phone_types_without_numbers_send_no_phones(
    sim: Simulator, connector: BuildiumConnector
) -> None:
    # Validation fills in the phone types' defaults on a create, numbers or not.
    payload = {"first_name": "Mae", "last_name": "Jemison"}
    typed = {**payload, "phone_1_type": "HOME", "phone_2_type": "MOBILE"}
    result = await connector.write(WriteRequest("leads", CREATE, typed))
    assert result.raw["PhoneNumbers"] == []
    one = {**typed, "phone_1": "(617) 555-0123"}
    result = await connector.write(WriteRequest("leads", CREATE, one))
    assert result.raw["PhoneNumbers"] == [{"Number": "(617) 555-0123", "Type": "Home"}]


async def test_a_note_alone_adds_a_note_and_leaves_the_applicant(
    sim: Simulator, connector: BuildiumConnector
) -> None:
    x_id = str(FIRST_ID["applicants"] + 5)
    before = renderer(sim).store.get("applicants", int(x_id))
    result = await connector.write(
        WriteRequest("leads", UPDATE, {"notes": "Toured 2B."}, x_id=x_id)
    )
    assert result.warnings == ()
    assert [n["Note"] for n in renderer(sim).notes[int(x_id)]] == ["Toured 2B."]
    assert renderer(sim).store.get("applicants", int(x_id)) == before
    with pytest.raises(WriteRejected) as caught:
        await connector.write(WriteRequest("leads", UPDATE, {"notes": "x" * 65_536}, x_id=x_id))
    assert caught.value.messages == (
        "Note: The field Note must be a string with a maximum length of 65535.",
    )
