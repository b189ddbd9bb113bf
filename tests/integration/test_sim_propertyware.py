"""The Propertyware simulator over real HTTP: wire format, paging, filters, faults, truth.

Answers are validated against the schemas of Propertyware's own OpenAPI
document (``shared/reference/propertyware-openapi.json``), made strict: an
object may carry only the properties its schema declares, so a field name
the real API does not have fails the test.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from syncd.sim.propertyware import API_ROOT, PropertywareRenderer
from syncd.sim.server import Simulator

# Propertyware's OpenAPI document: the shared reference beside the checkout,
# or the subset kept in tests/reference/ (the GET operations of the simulated
# paths and every schema they reference).
_SHARED_SPEC = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "reference"
    / "propertyware-openapi.json"
)
SPEC_PATH = (
    _SHARED_SPEC
    if _SHARED_SPEC.exists()
    else Path(__file__).resolve().parents[1] / "reference" / "propertyware-openapi.subset.json"
)

SCALE = 420
# Per list path: the unified model and the count at SCALE (20 units per
# building, a second tenant on every fourth unit, a prospect per two units).
LISTS = {
    "/buildings": ("properties", 21),
    "/units": ("units", 420),
    "/contacts": ("residents", 525 + 210),  # tenants and prospects' contacts
    "/leases": ("leases", 420),
    "/prospects": ("leads", 210),
}
SINGLES = {
    "/buildings": "/buildings/{buildingID}",
    "/units": "/units/{unitID}",
    "/contacts": "/contacts/{contactID}",
    "/leases": "/leases/{leaseId}",
    "/prospects": "/prospects/{prospectID}",
}


# -- schema validation -----------------------------------------------------------


@cache
def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


def _strict(node: Any) -> Any:
    """Every object schema with declared properties refuses undeclared ones."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    if "properties" in node and node.get("type") == "object":
        out.setdefault("additionalProperties", False)
    return out


@cache
def _components() -> dict[str, Any]:
    return {"schemas": _strict(_spec()["components"]["schemas"])}


_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    # The documented format: YYYY-MM-dd'T'HH:mm:ssXXX (e.g. 2022-06-28T08:47:13Z).
    if not isinstance(value, str):
        return True
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", value) is None:
        return False
    datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    return True


@_FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is None:
        return False
    datetime.strptime(value, "%Y-%m-%d")
    return True


@_FORMATS.checks("int32")
def _is_int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@cache
def _validator(schema_name: str, *, array: bool) -> Draft202012Validator:
    ref = {"$ref": f"#/components/schemas/{schema_name}"}
    schema: dict[str, Any] = {"type": "array", "items": ref} if array else dict(ref)
    schema["components"] = _components()
    return Draft202012Validator(schema, format_checker=_FORMATS)


def _response_schema(path_template: str) -> tuple[str, bool]:
    """(schema name, is array) of the documented 200 answer of a GET path."""
    schema = _spec()["paths"][path_template]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    if schema.get("type") == "array":
        return schema["items"]["$ref"].rsplit("/", 1)[1], True
    return schema["$ref"].rsplit("/", 1)[1], False


def _errors(schema_name: str, body: Any, *, array: bool) -> list[str]:
    return [e.message for e in _validator(schema_name, array=array).iter_errors(body)]


def _assert_valid(path_template: str, body: Any) -> None:
    name, array = _response_schema(path_template)
    errors = _errors(name, body, array=array)
    assert not errors, (path_template, errors[:5])


def _assert_error_body(body: Any, *keys: str) -> None:
    assert not _errors("ErrorResponse", body, array=False), body
    assert set(body) == {"errorCode", "errors", "userMessage"}
    assert body["userMessage"]
    assert [e["key"] for e in body["errors"]] == list(keys)


def test_the_validator_refuses_what_the_schemas_do_not_declare() -> None:
    assert not _errors("Unit", {"id": 1, "name": "101", "targetRent": 950.0}, array=False)
    assert _errors("Unit", {"id": 1, "unitNumber": "101"}, array=False)
    assert _errors("Unit", {"id": 1, "address": {"street": "x"}}, array=False)
    assert _errors("Lease", {"startDate": "2024-02-31"}, array=False)
    assert _errors("Lease", {"lastModifiedDateTime": "2024-02-01 10:00:00"}, array=False)
    assert _errors("Building", {"propertyType": "CASTLE"}, array=False)


# -- helpers ---------------------------------------------------------------------


def _auth(sim: Simulator) -> dict[str, str]:
    return {
        "x-propertyware-client-id": sim.credentials["client_id"],
        "x-propertyware-client-secret": sim.credentials["client_secret"],
        "x-propertyware-system-id": sim.credentials["system_id"],
    }


class Reply:
    """A finished HTTP response."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def total(self) -> int:
        return int(self.headers["X-Total-Count"])

    @property
    def ids(self) -> list[int]:
        return [record["id"] for record in self.json()]


async def _get(
    http: aiohttp.ClientSession,
    sim: Simulator,
    path: str,
    params: Any = None,
    *,
    auth: bool = True,
    headers: Mapping[str, str] | None = None,
    root: str = API_ROOT,
) -> Reply:
    all_headers = {**(_auth(sim) if auth else {}), **(headers or {})}
    async with http.get(sim.url + root + path, params=params, headers=all_headers) as response:
        return Reply(response.status, response.headers, await response.read())


async def _all(
    http: aiohttp.ClientSession,
    sim: Simulator,
    path: str,
    params: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    while True:
        query = {**(params or {}), "offset": str(len(records)), "limit": "500"}
        reply = await _get(http, sim, path, query)
        assert reply.status == 200, reply.json()
        page = reply.json()
        records.extend(page)
        if not page or len(records) >= reply.total:
            return records


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(PropertywareRenderer, seed=7, scale=SCALE, rate_limit=0) as simulator:
        yield simulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# -- auth, paths -----------------------------------------------------------------


async def test_all_three_auth_headers_are_required(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    missing = await _get(http, sim, "/buildings", auth=False)
    assert missing.status == 401
    _assert_error_body(missing.json(), "x-propertyware-client-id")
    for header in ("x-propertyware-client-secret", "x-propertyware-system-id"):
        # Right key pair, wrong or missing organization (or secret): refused.
        wrong = await _get(http, sim, "/units", headers={header: "nope"})
        assert wrong.status == 401
        _assert_error_body(wrong.json(), header)
    only_two = {k: v for k, v in _auth(sim).items() if k != "x-propertyware-system-id"}
    refused = await _get(http, sim, "/leases", auth=False, headers=only_two)
    assert refused.status == 401
    single = await _get(http, sim, "/leases/400000001", auth=False)
    assert single.status == 401
    assert (await _get(http, sim, "/buildings")).status == 200


async def test_credentials_configured_or_from_the_seed(http: aiohttp.ClientSession) -> None:
    creds = {"client_id": "my-id", "client_secret": "my-secret", "system_id": "4242"}
    async with Simulator(
        PropertywareRenderer, scale=10, credentials=creds, rate_limit=0
    ) as simulator:
        assert simulator.credentials == creds
        assert (await _get(http, simulator, "/units")).status == 200
    with pytest.raises(ValueError, match="system_id"):
        Simulator(PropertywareRenderer, credentials={"client_id": "x", "client_secret": "y"})
    a, b, c = (PropertywareRenderer.default_credentials(s) for s in (1, 1, 2))
    assert a == b != c
    assert set(a) == {"client_id", "client_secret", "system_id"}


@pytest.mark.parametrize(
    ("method", "path", "status", "keys"),
    [
        ("GET", f"{API_ROOT}/Buildings", 404, ()),
        ("GET", f"{API_ROOT}/units/200000001/Nothing", 404, ()),
        # The overview text's spelling of the root, and no version at all.
        ("GET", "/pw/api/v1/rest/buildings", 404, ()),
        ("GET", "/pw/api/rest/buildings", 404, ()),
        ("GET", f"{API_ROOT}/users", 404, ()),
        ("GET", f"{API_ROOT}/units/abc", 400, ("unitID",)),
        # A unit id is no building id, and an id beyond the data is nothing.
        ("GET", f"{API_ROOT}/buildings/200000001", 404, ()),
        ("GET", f"{API_ROOT}/units/299999999", 404, ()),
        ("GET", f"{API_ROOT}/leases/1", 404, ()),
        ("GET", f"{API_ROOT}/leases/400009999/contacts", 404, ()),
        ("POST", f"{API_ROOT}/units", 405, ()),
    ],
)
async def test_unknown_paths_and_ids(
    sim: Simulator,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    status: int,
    keys: tuple[str, ...],
) -> None:
    async with http.request(method, sim.url + path, headers=_auth(sim)) as response:
        assert response.status == status
        _assert_error_body(await response.json(), *keys)


# -- data shape ------------------------------------------------------------------


async def test_counts_follow_the_scale(sim: Simulator, http: aiohttp.ClientSession) -> None:
    for path, (_model, count) in LISTS.items():
        params = (
            {"limit": "1", "includeDeactivated": "true"}
            if path in ("/buildings", "/units")
            else {"limit": "1"}
        )
        reply = await _get(http, sim, path, params)
        assert reply.total == count, path
    tenants = await _get(http, sim, "/contacts", {"type": "TENANT", "limit": "1"})
    assert tenants.total == 525
    assert sim.counts() == {
        "properties": 21,
        "units": 420,
        "residents": 525,
        "leases": 420,
        "leads": 210,
    }


async def test_every_answer_matches_the_openapi_schemas(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    # Changed and created records must stay valid too.
    for model, _count in LISTS.values():
        sim.mutate(model, create=2, update=3, delete=1)
    for path, template in SINGLES.items():
        records: list[dict[str, Any]] = []
        for offset in (0, 150, 10_000):
            reply = await _get(
                http,
                sim,
                path,
                {"offset": str(offset), "limit": "200", "includeCustomFields": "true"},
            )
            assert reply.status == 200
            assert reply.headers["Content-Type"].startswith("application/json")
            page = reply.json()
            _assert_valid(path, page)
            assert all(record["customFields"] == [] for record in page)
            records.extend(page)
        assert records, path
        for record in records[:: max(1, len(records) // 8)] + records[-2:]:
            reply = await _get(http, sim, f"{path}/{record['id']}")
            assert reply.status == 200
            assert reply.json() == record
            _assert_valid(template, reply.json())
            plain = await _get(
                http, sim, f"{path}/{record['id']}", {"includeCustomFields": "false"}
            )
            assert "customFields" not in plain.json()
    lease = (await _get(http, sim, "/leases", {"limit": "1"})).json()[0]
    contacts = await _get(http, sim, f"/leases/{lease['id']}/contacts")
    _assert_valid("/leases/{leaseId}/contacts", contacts.json())
    assert {c["id"] for c in contacts.json()} == {c["id"] for c in lease["contacts"]}
    for path in ("/leases/statuses", "/prospects/statuses"):
        reply = await _get(http, sim, path)
        assert reply.status == 200
        _assert_valid(path, reply.json())


async def test_values_look_like_propertyware(sim: Simulator, http: aiohttp.ClientSession) -> None:
    buildings = await _all(http, sim, "/buildings", {"includeDeactivated": "true"})
    building_ids = {b["id"] for b in buildings}
    assert {b["propertyType"] for b in buildings} <= {
        "NONE", "APARTMENT", "CONDO", "COMMERCIAL", "DU_FOUR_PLEX", "HOUSE",
        "SECTION_8_AFFORDABLE", "SENIOR", "SHORT_TERM_VACATION", "STUDENT", "TOWNHOUSE", "OTHER",
    }  # fmt: skip
    assert {b["active"] for b in buildings} == {True, False}
    units = await _all(http, sim, "/units", {"includeDeactivated": "true"})
    assert all(u["buildingID"] in building_ids for u in units)
    assert all(isinstance(u["targetRent"], float) for u in units)
    assert {u["status"] for u in units} == {"Vacant", "Occupied"}
    assert units[0]["address"]["country"] == "United States"

    lease_statuses = {s["status"] for s in (await _get(http, sim, "/leases/statuses")).json()}
    prospect_statuses = {s["status"] for s in (await _get(http, sim, "/prospects/statuses")).json()}
    leases = await _all(http, sim, "/leases")
    assert {lease["status"] for lease in leases} == lease_statuses
    tenants = {c["id"]: c for c in await _all(http, sim, "/contacts", {"type": "TENANT"})}
    assert {c["type"] for c in tenants.values()} == {"TENANT"}
    for lease in leases:
        assert lease["buildingID"] in building_ids
        assert isinstance(lease["baseRent"], float)
        assert lease["contacts"], lease["id"]
        assert {c["id"] for c in lease["contacts"]} <= set(tenants)
        assert sum(c["primary"] for c in lease["contacts"]) == 1
        assert lease["active"] is lease["status"].startswith(("Active", "Eviction"))
    assert sum(len(lease["contacts"]) for lease in leases) == len(tenants)
    # The primary tenant is not always listed first (the order is by name).
    assert any(not lease["contacts"][0]["primary"] for lease in leases)

    prospects = await _all(http, sim, "/prospects")
    assert {p["status"] for p in prospects} <= prospect_statuses
    assert all(isinstance(p["source"], str) for p in prospects)
    prospect_contacts = await _all(http, sim, "/contacts", {"type": "PROSPECT"})
    assert sorted(c["id"] for c in prospect_contacts) == sorted(
        p["contacts"][0]["id"] for p in prospects
    )
    for tenant in list(tenants.values())[:40]:
        for field in ("mobilePhone", "homePhone", "workPhone"):
            if field in tenant:
                assert re.fullmatch(r"\(\d{3}\) 555-\d{4}", tenant[field])

    # Id blocks do not overlap, so an id of the wrong resource is never found.
    blocks = [
        (min(ids), max(ids))
        for ids in (
            building_ids,
            {u["id"] for u in units},
            set(tenants),
            {lease["id"] for lease in leases},
            {p["id"] for p in prospects},
            {c["id"] for c in prospect_contacts},
        )
    ]
    assert all(a[1] < b[0] for a, b in pairwise(sorted(blocks)))
    assert (await _get(http, sim, f"/leases/{units[0]['id']}")).status == 404


async def test_same_seed_same_bytes(http: aiohttp.ClientSession) -> None:
    async def answers(seed: int) -> list[bytes]:
        async with Simulator(PropertywareRenderer, seed=seed, scale=60, rate_limit=0) as simulator:
            out = [(await _get(http, simulator, path, {"limit": "500"})).body for path in LISTS]
            out.append((await _get(http, simulator, "/leases/400000003")).body)
            return out

    first, second, other = await answers(5), await answers(5), await answers(6)
    assert first == second
    assert all(a != b for a, b in zip(first, other, strict=True))


# -- paging ----------------------------------------------------------------------


async def test_paging_and_total_count(sim: Simulator, http: aiohttp.ClientSession) -> None:
    default = await _get(http, sim, "/leases")
    assert default.status == 200
    assert len(default.json()) == 100
    assert default.total == 420
    assert "Retry-After" not in default.headers

    seen: list[int] = []
    for offset in range(0, 420, 70):
        reply = await _get(http, sim, "/leases", {"offset": str(offset), "limit": "70"})
        assert reply.total == 420
        seen.extend(reply.ids)
    assert len(seen) == 420
    assert seen == sorted(set(seen))
    tail = await _get(http, sim, "/leases", {"offset": "400", "limit": "500"})
    assert tail.ids == seen[400:]
    beyond = await _get(http, sim, "/leases", {"offset": "5000"})
    assert beyond.json() == []
    assert beyond.total == 420


async def test_a_limit_above_500_is_served_as_500(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    most = await _get(http, sim, "/contacts", {"type": "TENANT", "limit": "500"})
    assert len(most.json()) == 500
    over = await _get(http, sim, "/contacts", {"type": "TENANT", "limit": "501"})
    assert over.status == 200
    assert over.ids == most.ids
    assert over.total == 525


@pytest.mark.parametrize(
    ("path", "params", "key"),
    [
        ("/units", {"limit": "0"}, "limit"),
        ("/units", {"limit": "ten"}, "limit"),
        ("/units", {"limit": "1.5"}, "limit"),
        ("/units", {"offset": "-1"}, "offset"),
        ("/units", {"offset": "x"}, "offset"),
        ("/units", {"orderby": "nope"}, "orderby"),
        ("/units", {"orderby": "id sideways"}, "orderby"),
        ("/units", {"orderby": "id,"}, "orderby"),
        # Sortable elsewhere, not on units.
        ("/units", {"orderby": "startdate"}, "orderby"),
        ("/units", {"lastModifiedDateTimeStart": "yesterday"}, "lastModifiedDateTimeStart"),
        ("/units", {"lastModifiedDateTimeEnd": "2024-02-31T00:00:00Z"}, "lastModifiedDateTimeEnd"),
        # The documented format carries an offset.
        (
            "/units",
            {"lastModifiedDateTimeStart": "2024-01-01T00:00:00"},
            "lastModifiedDateTimeStart",
        ),
        ("/units", {"buildingID": "one"}, "buildingID"),
        ("/units", {"includeDeactivated": "maybe"}, "includeDeactivated"),
        ("/units", {"vacant": "2"}, "vacant"),
        ("/contacts", {"type": "RENTER"}, "type"),
        ("/leases", {"startDateStart": "01/02/2024"}, "startDateStart"),
        ("/prospects", {"includeCustomFields": "yes"}, "includeCustomFields"),
    ],
)
async def test_bad_parameters_are_400(
    sim: Simulator, http: aiohttp.ClientSession, path: str, params: dict[str, str], key: str
) -> None:
    reply = await _get(http, sim, path, params)
    assert reply.status == 400
    _assert_error_body(reply.json(), key)


async def test_paging_parameter_names_are_case_sensitive(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    for params in ({"Limit": "5"}, {"OFFSET": "5"}):
        reply = await _get(http, sim, "/buildings", params)
        assert reply.status == 404
        _assert_error_body(reply.json())
    # Other unknown parameters are ignored.
    ok = await _get(http, sim, "/leases", {"foo": "1", "OrderBy": "bogus"})
    assert ok.status == 200
    assert ok.total == 420


async def test_orderby(sim: Simulator, http: aiohttp.ClientSession) -> None:
    ascending = [u["id"] for u in await _all(http, sim, "/units")]
    descending = [u["id"] for u in await _all(http, sim, "/units", {"orderby": "id desc"})]
    assert descending == ascending[::-1]
    explicit = await _get(http, sim, "/units", {"orderby": "ID ASC", "limit": "10"})
    assert explicit.ids == ascending[:10]

    by_name = await _all(http, sim, "/units", {"orderby": "name desc,id"})
    keys = [(u["name"], -u["id"]) for u in by_name]
    assert keys == sorted(keys, reverse=True)
    paged: list[int] = []
    for offset in range(0, 420, 100):
        page = await _get(
            http, sim, "/units", {"orderby": "name desc,id", "offset": str(offset), "limit": "100"}
        )
        paged.extend(page.ids)
    assert paged == [u["id"] for u in by_name]

    people = await _all(
        http, sim, "/contacts", {"type": "TENANT", "orderby": "lastName,FirstName desc"}
    )
    names = [(c["lastName"].casefold(), c["firstName"].casefold()) for c in people]
    assert [n[0] for n in names] == sorted(n[0] for n in names)
    leases = await _all(http, sim, "/leases", {"orderby": "startdate desc"})
    starts = [lease["startDate"] for lease in leases]
    assert starts == sorted(starts, reverse=True)


# -- filters ---------------------------------------------------------------------


async def test_building_unit_and_status_filters(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    buildings = await _all(http, sim, "/buildings", {"includeDeactivated": "true"})
    first = buildings[0]
    units = await _all(http, sim, "/units", {"buildingID": str(first["id"])})
    assert len(units) == first["countUnit"] == 20
    assert {u["buildingID"] for u in units} == {first["id"]}
    leases = await _all(http, sim, "/leases", {"buildingID": str(first["id"])})
    assert {lease["buildingID"] for lease in leases} == {first["id"]}
    assert len(leases) == 20
    one = await _get(http, sim, "/leases", {"unitID": str(units[3]["id"])})
    assert [lease["unitID"] for lease in one.json()] == [units[3]["id"]]
    prospects = await _all(http, sim, "/prospects", {"buildingID": str(first["id"])})
    assert prospects and {p["buildingID"] for p in prospects} == {first["id"]}
    portfolio = await _get(http, sim, "/buildings", {"portfolioID": str(first["portfolioID"])})
    assert portfolio.ids == [first["id"]]
    nothing = await _get(http, sim, "/units", {"buildingID": "999999999"})
    assert nothing.total == 0

    terminated = await _all(http, sim, "/leases", {"status": "Terminated"})
    assert terminated and {lease["status"] for lease in terminated} == {"Terminated"}
    vacant = await _all(http, sim, "/units", {"vacant": "true", "includeDeactivated": "true"})
    occupied = await _all(http, sim, "/units", {"vacant": "false", "includeDeactivated": "true"})
    assert len(vacant) + len(occupied) == 420
    assert {u["status"] for u in vacant} == {"Vacant"}

    owners = await _get(http, sim, "/contacts", {"type": "OWNER"})
    assert owners.total == 0
    prospects_only = await _get(http, sim, "/contacts", {"type": "PROSPECT", "limit": "500"})
    assert {c["type"] for c in prospects_only.json()} == {"PROSPECT"}
    assert prospects_only.total == 210


async def test_deactivated_buildings_and_units_are_left_out_unless_asked(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    everything = await _all(http, sim, "/buildings", {"includeDeactivated": "true"})
    inactive = {b["id"] for b in everything if not b["active"]}
    assert inactive
    active = await _all(http, sim, "/buildings")
    assert {b["id"] for b in active} == {b["id"] for b in everything} - inactive
    units = await _all(http, sim, "/units")
    assert not {u["buildingID"] for u in units} & inactive
    assert len(units) == 420 - 20 * len(inactive)
    assert all(u["active"] for u in units)


async def test_time_filters_agree_with_record_fields(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    for path in ("/leases", "/prospects", "/contacts"):
        records = await _all(http, sim, path)
        stamps = sorted(r["lastModifiedDateTime"] for r in records)
        low, high = stamps[len(stamps) // 3], stamps[2 * len(stamps) // 3]
        expected = {r["id"] for r in records if low <= r["lastModifiedDateTime"] <= high}
        got = await _all(
            http,
            sim,
            path,
            {"lastModifiedDateTimeStart": low, "lastModifiedDateTimeEnd": high},
        )
        # Both bounds are inclusive.
        assert {r["id"] for r in got} == expected, path
        assert all(stamp < "2025-01-01" for stamp in stamps)
    # An offset other than Z means the same instant.
    units = await _all(http, sim, "/units", {"includeDeactivated": "true"})
    pivot = sorted(u["lastModifiedDateTime"] for u in units)[200]
    moment = datetime.strptime(pivot, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    local = moment.astimezone(timezone(timedelta(hours=2))).isoformat()
    assert local.endswith("+02:00")
    shifted = await _all(
        http, sim, "/units", {"includeDeactivated": "true", "lastModifiedDateTimeStart": local}
    )
    assert {u["id"] for u in shifted} == {
        u["id"] for u in units if u["lastModifiedDateTime"] >= pivot
    }


async def test_incremental_after_mutations(sim: Simulator, http: aiohttp.ClientSession) -> None:
    since = _stamp(time.time() - 1)
    before = {u["id"]: u for u in await _all(http, sim, "/units", {"includeDeactivated": "true"})}
    for path in LISTS:
        reply = await _get(http, sim, path, {"lastModifiedDateTimeStart": since})
        assert reply.total == 0, path

    result = sim.mutate("units", update=3, create=2)
    changed = await _all(
        http, sim, "/units", {"lastModifiedDateTimeStart": since, "includeDeactivated": "true"}
    )
    assert len(changed) == 5
    shown = {int(sim.renderer.x_id("units", i)) for i in result["updated"] + result["created"]}
    assert {u["id"] for u in changed} == shown
    for unit in changed:
        if unit["id"] in before:
            assert unit["targetRent"] != before[unit["id"]]["targetRent"]
        assert unit["lastModifiedDateTime"] >= since
    assert min(u["id"] for u in changed if u["id"] not in before) > max(before)

    leases = sim.mutate("leases", update=2)
    updated = await _get(http, sim, "/leases", {"lastModifiedDateTimeStart": since})
    assert updated.ids == [int(sim.renderer.x_id("leases", i)) for i in leases["updated"]]
    tenant = sim.mutate("residents", create=1)
    created = await _get(
        http, sim, "/contacts", {"lastModifiedDateTimeStart": since, "type": "TENANT"}
    )
    assert created.ids == [int(sim.renderer.x_id("residents", i)) for i in tenant["created"]]
    assert created.json()[0]["createdDateTime"] >= since


async def test_deletions(sim: Simulator, http: aiohttp.ClientSession) -> None:
    before = [c["id"] for c in await _all(http, sim, "/contacts", {"type": "TENANT"})]
    gone = {
        int(sim.renderer.x_id("residents", i)) for i in sim.mutate("residents", delete=7)["deleted"]
    }
    assert len(gone) == 7
    after = [c["id"] for c in await _all(http, sim, "/contacts", {"type": "TENANT"})]
    assert after == [i for i in before if i not in gone]
    for contact_id in gone:
        assert (await _get(http, sim, f"/contacts/{contact_id}")).status == 404
    # Deleted tenants leave their leases' contacts too; no tombstones anywhere.
    leases = await _all(http, sim, "/leases")
    assert not {c["id"] for lease in leases for c in lease["contacts"]} & gone
    recent = await _get(
        http, sim, "/contacts", {"lastModifiedDateTimeStart": _stamp(time.time() - 5)}
    )
    assert recent.total == 0


# -- rate limit and faults -------------------------------------------------------


async def test_rate_limit(http: aiohttp.ClientSession) -> None:
    async with Simulator(PropertywareRenderer, scale=20, rate_limit=10) as simulator:
        replies = await asyncio.gather(*(_get(http, simulator, "/units") for _ in range(15)))
        assert sorted(r.status for r in replies) == [200] * 10 + [429] * 5
        for reply in replies:
            if reply.status == 429:
                assert "Retry-After" not in reply.headers
                _assert_error_body(reply.json())
                assert reply.json()["errorCode"] == "TOO_MANY_REQUESTS"
        assert simulator.stats_snapshot()["rate_limited"] == 5
        # Requests with bad credentials are refused before they count.
        assert (await _get(http, simulator, "/units", auth=False)).status == 401


async def test_faults(sim: Simulator, http: aiohttp.ClientSession) -> None:
    units = f"{API_ROOT}/units"
    sim.add_fault("429", retry_after=2, path=units)
    limited = await _get(http, sim, "/units")
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "2"
    _assert_error_body(limited.json())
    sim.add_fault("500", path=units)
    failed = await _get(http, sim, "/units")
    assert failed.status == 500
    _assert_error_body(failed.json())
    assert failed.json()["errorCode"] == "INTERNAL_SERVER_ERROR"
    sim.add_fault("empty", path=units)
    empty = await _get(http, sim, "/units")
    assert (empty.json(), empty.total) == ([], 0)
    full = await _get(http, sim, "/units", {"limit": "20"})
    sim.add_fault("truncate", path=units)
    cut = await _get(http, sim, "/units", {"limit": "20"})
    assert full.body.startswith(cut.body)
    assert len(cut.body) == len(full.body) // 2


async def test_fault_malformed_breaks_two_records(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    for path, template in SINGLES.items():
        clean = (await _get(http, sim, path, {"limit": "10"})).json()
        sim.add_fault("malformed", path=API_ROOT + path)
        page = (await _get(http, sim, path, {"limit": "10"})).json()
        name, _ = _response_schema(path)
        bad = [i for i, record in enumerate(page) if _errors(name, record, array=False)]
        assert bad == [0, 1], path
        assert page[0]["id"] == "not-a-number"
        assert page[2:] == clean[2:]
        single = f"{path}/{clean[0]['id']}"
        sim.add_fault("malformed", path=API_ROOT + single)
        broken = (await _get(http, sim, single)).json()
        assert broken["id"] == "not-a-number"
        assert _errors(_response_schema(template)[0], broken, array=False)


# -- control plane ---------------------------------------------------------------


async def test_truth_matches_the_listings(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.mutate("units", delete=4, create=1)
    async with http.post(
        sim.url + "/_sim/mutate", json={"model": "leads", "create": 1, "delete": 2}
    ) as response:
        assert response.status == 200
        assert (await response.json())["counts"]["leads"] == 209
    async with http.post(sim.url + "/_sim/mutate", json={"model": "floor_plans"}) as response:
        assert response.status == 400
    async with http.get(sim.url + "/_sim/truth") as response:
        assert response.status == 200
        truth = await response.json()
    assert truth["vendor"] == "propertyware"
    models = truth["models"]
    assert set(models) == {"properties", "units", "residents", "leases", "leads"}
    listed = {
        "properties": await _all(http, sim, "/buildings", {"includeDeactivated": "true"}),
        "units": await _all(http, sim, "/units", {"includeDeactivated": "true"}),
        "residents": await _all(http, sim, "/contacts", {"type": "TENANT"}),
        "leases": await _all(http, sim, "/leases"),
        "leads": await _all(http, sim, "/prospects"),
    }
    for model, records in listed.items():
        assert sorted(models[model]["live"]) == sorted(str(r["id"]) for r in records), model
    assert len(models["units"]["deleted"]) == 4
    assert len(models["leads"]["deleted"]) == 2
    assert not set(models["units"]["deleted"]) & set(models["units"]["live"])
