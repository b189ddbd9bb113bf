"""The ResMan simulator over real HTTP: both APIs' wire formats, refusals, truth, faults."""

from __future__ import annotations

import base64
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from syncd.sim.resman import ResManRenderer, parse_partners_datetime
from syncd.sim.server import Simulator

SCALE = 60  # three properties of twenty units


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(ResManRenderer, seed=5, scale=SCALE, rate_limit=0) as s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def form(sim: Simulator, **extra: str) -> dict[str, str]:
    creds = sim.credentials
    return {
        "IntegrationPartnerID": creds["integration_partner_id"],
        "ApiKey": creds["api_key"],
        "AccountID": creds["account_id"],
        **extra,
    }


def partners_headers(sim: Simulator, **override: str) -> dict[str, str]:
    creds = sim.credentials
    pair = f"{creds['integration_partner_id']}:{creds['api_key']}".encode()
    return {
        "Authorization": "Basic " + base64.b64encode(pair).decode(),
        "ResMan-Account-Id": creds["account_id"],
        "Accept": "application/json",
        **override,
    }


async def classic(
    http: aiohttp.ClientSession,
    sim: Simulator,
    method: str,
    fields: dict[str, str],
    accept: str = "application/json",
) -> tuple[int, Any]:
    async with http.post(f"{sim.url}/{method}", data=fields, headers={"Accept": accept}) as r:
        if "json" in r.content_type:
            return r.status, await r.json()
        return r.status, await r.text()


async def partners(
    http: aiohttp.ClientSession,
    sim: Simulator,
    path: str,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    async with http.get(
        f"{sim.url}{path}", params=params or {}, headers=headers or partners_headers(sim)
    ) as r:
        return r.status, await r.json(), r.headers


def property_ids(sim: Simulator) -> list[str]:
    return sim.truth()["properties"]["live"]


def is_guid(value: object) -> bool:
    return isinstance(value, str) and str(uuid.UUID(value)) == value


# -- classic API ------------------------------------------------------------------


async def test_classic_prospect_sources_are_a_form_post(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    pid = property_ids(sim)[0]
    status, body = await classic(http, sim, "Leasing/GetProspectSources", form(sim, PropertyID=pid))
    assert status == 200
    assert body["MethodName"] == "GetProspectSources"
    assert body["Status"] == "Success"
    assert body["AccountID"] == sim.credentials["account_id"]
    assert body["PropertyID"] == pid
    sources = body["ProspectSources"]
    assert sources and all(set(s) == {"ID", "Name"} for s in sources)
    assert all(is_guid(s["ID"]) for s in sources)
    # The property's own sources only (four per property in the world).
    assert len(sources) == 4


async def test_classic_current_residents(sim: Simulator, http: aiohttp.ClientSession) -> None:
    pid = property_ids(sim)[1]
    status, body = await classic(
        http, sim, "Leasing/GetCurrentResidents", form(sim, PropertyID=pid)
    )
    assert status == 200 and body["Status"] == "Success"
    residents = body["Residents"]
    assert residents
    first = residents[0]
    assert {"PersonID", "LeaseID", "UnitID", "FirstName", "LastName", "Email", "MobilePhone",
            "HomePhone", "WorkPhone", "BirthDate", "MoveInDate", "MainContact",
            "IsMinor"} <= set(first)  # fmt: skip
    # Booleans are text, as the classic API writes them.
    assert {r["MainContact"] for r in residents} <= {"True", "False"}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", first["BirthDate"])
    # Only current residents: every one is listed in the truth's live residents.
    live = set(sim.truth()["residents"]["live"])
    assert {r["PersonID"] for r in residents} <= live


async def test_classic_form_fields_bind_case_insensitively(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    fields = {k.lower(): v for k, v in form(sim, PropertyID=property_ids(sim)[0]).items()}
    status, body = await classic(http, sim, "Leasing/GetProspectSources", fields)
    assert status == 200 and body["Status"] == "Success"


async def test_classic_answers_xml_unless_json_is_accepted(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    pid = property_ids(sim)[0]
    status, text = await classic(
        http, sim, "Leasing/GetProspectSources", form(sim, PropertyID=pid), accept="*/*"
    )
    assert status == 200
    root = ET.fromstring(text)
    assert root.tag == "ResMan"
    assert root.findtext("Status") == "Success"
    assert len(root.findall("ProspectSources/ProspectSource")) == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ApiKey": "wrong"}, "Invalid IntegrationPartnerID or ApiKey."),
        ({"IntegrationPartnerID": "someone-else"}, "Invalid IntegrationPartnerID or ApiKey."),
        ({"ApiKey": ""}, "IntegrationPartnerID and ApiKey are required."),
        ({"AccountID": "4242"}, "does not have access to AccountID 4242"),
        ({"PropertyID": ""}, "PropertyID is required."),
        ({"PropertyID": "not-a-guid"}, "is not a valid GUID"),
        ({"PropertyID": str(uuid.UUID(int=7))}, "was not found for AccountID"),
    ],
)
async def test_classic_failures_answer_http_200_with_status_failed(
    sim: Simulator, http: aiohttp.ClientSession, change: dict[str, str], message: str
) -> None:
    fields = form(sim, PropertyID=property_ids(sim)[0]) | change
    status, body = await classic(http, sim, "Leasing/GetProspectSources", fields)
    assert status == 200
    assert body["Status"] == "Failed"
    assert body["MethodName"] == "GetProspectSources"
    assert message in body["ErrorDescription"]
    assert "ProspectSources" not in body


async def test_classic_credentials_must_be_form_fields(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{sim.url}/Leasing/GetProspectSources",
        json=form(sim, PropertyID=property_ids(sim)[0]),
        headers={"Accept": "application/json"},
    ) as r:
        body = await r.json()
    assert body["Status"] == "Failed"
    assert "required" in body["ErrorDescription"]


async def test_classic_methods_are_posts(sim: Simulator, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{sim.url}/Leasing/GetProspectSources") as r:
        assert r.status == 405


# -- Partners API -----------------------------------------------------------------


async def test_partners_properties(sim: Simulator, http: aiohttp.ClientSession) -> None:
    status, body, _ = await partners(http, sim, "/Properties")
    assert status == 200
    props = body["properties"]
    assert [p["propertyId"] for p in props] == property_ids(sim)
    first = props[0]
    assert {"propertyId", "abbreviation", "name", "type", "streetAddress", "city", "state", "zip",
            "phone", "email", "timeZone", "manager", "currentPeriod",
            "managementTeam"} <= set(first)  # fmt: skip
    assert {p["type"] for p in props} <= {
        "Multi-Family",
        "Single Family",
        "Student",
        "HUD",
        "Condo",
    }


async def test_partners_per_property_lists(sim: Simulator, http: aiohttp.ClientSession) -> None:
    pid = property_ids(sim)[0]
    _, types, _ = await partners(http, sim, "/UnitTypes", {"propertyId": pid})
    _, units, _ = await partners(http, sim, "/Units/Availability", {"propertyId": pid})
    assert len(types["unitTypes"]) == 3 and len(units["units"]) == 20
    type_ids = {t["unitTypeId"] for t in types["unitTypes"]}
    unit = units["units"][0]
    assert unit["propertyId"] == pid and unit["unitTypeId"] in type_ids
    assert isinstance(unit["marketRent"], float)
    assert unit["vacancyStatus"] in {"Occupied", "Vacant"}
    assert {"bedrooms", "bathrooms", "squareFootage", "marketRent", "requiredDeposit"} <= set(
        types["unitTypes"][0]
    )


async def test_partners_leases_carry_people_and_optional_history(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    pid = property_ids(sim)[0]
    params = {"propertyId": pid, "modifiedSince": "2000-01-01T00:00:00Z"}
    _, plain, _ = await partners(http, sim, "/Leasing/Leases", params)
    _, full, _ = await partners(
        http, sim, "/Leasing/Leases", params | {"includeLeaseHistory": "true"}
    )
    lease = plain["leases"][0]
    assert "leaseHistory" not in lease
    assert full["leases"][0]["leaseHistory"][0]["leaseId"] == lease["leaseId"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", lease["lastModified"])
    people = [p for lease in plain["leases"] for p in lease["people"]]
    assert people and all(is_guid(p["personId"]) for p in people)
    assert lease["leaseStatus"] in {"Current", "Former", "Pending"}


async def test_modified_since_filters_prospects(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    changed = sim.mutate("leads", update=2)
    expected = {sim.renderer.x_id("leads", i) for i in changed["updated"]}
    now = datetime.now(UTC).replace(microsecond=0)
    since = now.timestamp() - 120
    iso = datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rfc = datetime.fromtimestamp(since, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    seen: dict[str, set[str]] = {}
    for label, value in (("iso", iso), ("rfc", rfc)):
        found: set[str] = set()
        for pid in property_ids(sim):
            status, body, _ = await partners(
                http, sim, "/Prospects", {"propertyId": pid, "modifiedSince": value}
            )
            assert status == 200
            found |= {p["prospectId"] for p in body["prospects"]}
        seen[label] = found
    assert seen["iso"] == seen["rfc"] == expected


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/Units/Availability", {}, 400, "propertyId parameter is required"),
        ("/Units/Availability", {"propertyId": "nope"}, 400, "not valid for propertyId"),
        ("/UnitTypes", {"propertyId": str(uuid.UUID(int=9))}, 404, "was not found"),
        ("/Prospects", {"propertyId": "{pid}"}, 400, "modifiedSince parameter is required"),
        (
            "/Leasing/Leases",
            {"propertyId": "{pid}", "modifiedSince": "yesterday"},
            400,
            "not valid for modifiedSince",
        ),
        (
            "/Leasing/Leases",
            {"propertyId": "{pid}", "modifiedSince": "2024-01-01", "includeLeaseHistory": "maybe"},
            400,
            "not valid for includeLeaseHistory",
        ),
    ],
)
async def test_partners_parameters_are_validated(
    sim: Simulator,
    http: aiohttp.ClientSession,
    path: str,
    params: dict[str, str],
    status: int,
    message: str,
) -> None:
    pid = property_ids(sim)[0]
    filled = {k: v.replace("{pid}", pid) for k, v in params.items()}
    got, body, _ = await partners(http, sim, path, filled)
    assert got == status
    assert set(body) == {"code", "message"}
    assert message in body["message"]


async def test_partners_refusals(sim: Simulator, http: aiohttp.ClientSession) -> None:
    status, body, headers = await partners(http, sim, "/Properties", headers={"Accept": "*/*"})
    assert status == 401 and body["code"] == "Unauthorized"
    assert headers["WWW-Authenticate"].startswith("Basic")
    wrong = partners_headers(sim, Authorization="Basic " + base64.b64encode(b"a:b").decode())
    status, body, _ = await partners(http, sim, "/Properties", headers=wrong)
    assert status == 401
    status, body, _ = await partners(
        http, sim, "/Properties", headers=partners_headers(sim, **{"ResMan-Account-Id": "77"})
    )
    assert status == 403 and body["code"] == "Forbidden" and "77" in body["message"]
    headers_without = partners_headers(sim)
    del headers_without["ResMan-Account-Id"]
    status, body, _ = await partners(http, sim, "/Properties", headers=headers_without)
    assert status == 400 and "ResMan-Account-Id" in body["message"]


# -- rate limit, faults --------------------------------------------------------------


async def test_the_rate_limit_answers_429_with_retry_after(http: aiohttp.ClientSession) -> None:
    async with Simulator(ResManRenderer, seed=5, scale=SCALE) as limited:
        assert limited.rate_limit == 2
        statuses = []
        for _ in range(4):
            status, body, headers = await partners(http, limited, "/Properties")
            statuses.append(status)
            if status == 429:
                assert body["code"] == "TooManyRequests"
                assert int(headers["Retry-After"]) >= 1
        assert statuses[:2] == [200, 200] and 429 in statuses
        # The classic API shares the partner's limit and words its 429 its own way.
        status, classic_body = await classic(
            http, limited, "Leasing/GetProspectSources", form(limited, PropertyID="x")
        )
        assert status == 429
        assert classic_body["Status"] == "Failed"
        assert limited.stats_snapshot()["rate_limited"] >= 2


async def test_faults_are_worded_per_api(sim: Simulator, http: aiohttp.ClientSession) -> None:
    pid = property_ids(sim)[0]
    sim.add_fault("500", path="/Leasing/GetCurrentResidents")
    status, body = await classic(
        http, sim, "Leasing/GetCurrentResidents", form(sim, PropertyID=pid)
    )
    assert status == 500 and body["Status"] == "Failed"
    sim.add_fault("500", path="/Employees")
    status, body, _ = await partners(http, sim, "/Employees")
    assert status == 500 and set(body) == {"code", "message"}
    sim.add_fault("malformed", path="/Units/Availability")
    _, body, _ = await partners(http, sim, "/Units/Availability", {"propertyId": pid})
    rents = [u["marketRent"] for u in body["units"]]
    assert rents[0] == rents[-1] == "call for price"
    assert all(isinstance(r, float) for r in rents[1:-1])


# -- truth, mutations, determinism, request log ---------------------------------------


async def test_truth_matches_what_is_listed_and_mutations(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{sim.url}/_sim/truth") as r:
        truth = (await r.json())["models"]
    assert set(truth) == {
        "properties", "floor_plans", "units", "residents", "leases", "lead_sources", "leads",
        "employees",
    }  # fmt: skip
    assert all(is_guid(x) for ids in truth.values() for x in ids["live"])
    # Residents: the current ones, which is what the classic call lists.
    listed: set[str] = set()
    for pid in property_ids(sim):
        _, body = await classic(http, sim, "Leasing/GetCurrentResidents", form(sim, PropertyID=pid))
        listed |= {r["PersonID"] for r in body["Residents"]}
    assert listed == set(truth["residents"]["live"])
    assert len(listed) < sim.world.counts()["residents"]

    async with http.post(
        f"{sim.url}/_sim/mutate", json={"model": "units", "create": 1, "delete": 2}
    ) as r:
        changed = await r.json()
    after = sim.truth()["units"]
    gone = {sim.renderer.x_id("units", i) for i in changed["deleted"]}
    assert gone == set(after["deleted"])
    assert not gone & set(after["live"])
    assert sim.renderer.x_id("units", changed["created"][0]) in after["live"]


async def test_a_deleted_propertys_records_are_no_longer_listed(sim: Simulator) -> None:
    before = sim.truth()
    deleted = sim.mutate("properties", delete=1)["deleted"][0]
    after = sim.truth()
    assert len(after["units"]["live"]) == len(before["units"]["live"]) - 20
    assert sim.counts()["units"] == SCALE - 20
    gone = sim.renderer.x_id("properties", deleted)
    assert gone in after["properties"]["deleted"]


async def test_ids_are_deterministic_guids_per_seed() -> None:
    async with (
        Simulator(ResManRenderer, seed=5, scale=SCALE, rate_limit=0) as a,
        Simulator(ResManRenderer, seed=5, scale=SCALE, rate_limit=0) as b,
        Simulator(ResManRenderer, seed=6, scale=SCALE, rate_limit=0) as c,
        aiohttp.ClientSession() as http,
    ):
        assert a.credentials == b.credentials != c.credentials
        assert a.credentials["account_id"].isdigit()
        bodies = [(await partners(http, s, "/Properties"))[1] for s in (a, b, c)]
        assert bodies[0] == bodies[1]
        ids = [{p["propertyId"] for p in body["properties"]} for body in bodies]
        assert not ids[0] & ids[2]


async def test_the_request_log_names_the_properties_asked_for(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    pid = property_ids(sim)[2]
    await partners(http, sim, "/UnitTypes", {"propertyId": pid})
    await classic(http, sim, "Leasing/GetProspectSources", form(sim, PropertyID=pid))
    async with http.get(f"{sim.url}/_sim/resman/requests") as r:
        log = (await r.json())["requests"]
    assert log == [
        {"api": "partners", "method": "GET", "path": "/UnitTypes", "property_id": pid},
        {
            "api": "classic",
            "method": "POST",
            "path": "/Leasing/GetProspectSources",
            "property_id": pid,
        },
    ]
    async with http.delete(f"{sim.url}/_sim/resman/requests") as r:
        assert (await r.json())["requests"] == []


def test_partners_datetimes() -> None:
    assert parse_partners_datetime("2024-01-02T10:00:00Z") == 1704189600
    assert parse_partners_datetime("2024-01-02T10:00:00") == 1704189600
    assert parse_partners_datetime("2024-01-02T05:00:00-05:00") == 1704189600
    assert parse_partners_datetime("Tue, 02 Jan 2024 10:00:00 GMT") == 1704189600
    assert parse_partners_datetime("2024-01-02") == 1704153600
    assert parse_partners_datetime("soon") is None
    assert parse_partners_datetime(" ") is None
