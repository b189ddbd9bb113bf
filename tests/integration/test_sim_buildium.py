"""The Buildium simulator over real HTTP: wire format, paging, filters, mutations, faults.

Responses are validated against the schemas of Buildium's own OpenAPI
document (``shared/reference/buildium-openapi.json``), with OpenAPI 3.0's
``nullable`` turned into JSON Schema's ``null`` type.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from syncd.sim.buildium import BuildiumSimulator, run_buildium_simulator
from syncd.sim.buildium_data import RangeSelection

# Buildium's OpenAPI document: the shared reference beside the checkout, or
# where the checkout stands alone (a CI clone), the cut of it kept in
# tests/reference/ (the GET responses of the simulated paths and their schemas).
_FULL_SPEC = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "buildium-openapi.json"
)
SPEC_PATH = (
    _FULL_SPEC
    if _FULL_SPEC.is_file()
    else Path(__file__).resolve().parents[1] / "reference" / "buildium-openapi.subset.json"
)

LISTS = {
    "/v1/rentals": "rentals",
    "/v1/rentals/units": "units",
    "/v1/leases/tenants": "tenants",
    "/v1/leases": "leases",
    "/v1/applicants": "applicants",
    "/v1/users": "users",
}
INCREMENTAL = [
    "/v1/rentals",
    "/v1/rentals/units",
    "/v1/leases/tenants",
    "/v1/leases",
    "/v1/applicants",
]


# -- schema validation -----------------------------------------------------------


def _nullable_to_null(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` as JSON Schema: ``anyOf`` null or the schema."""
    if isinstance(node, list):
        return [_nullable_to_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {
        key: _nullable_to_null(value)
        for key, value in node.items()
        if not (key == "nullable" and isinstance(value, bool))
    }
    if node.get("nullable") is True:
        return {"anyOf": [{"type": "null"}, converted]}
    return converted


@cache
def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


@cache
def _components() -> dict[str, Any]:
    return {"schemas": _nullable_to_null(_spec()["components"]["schemas"])}


_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", value) is None:
        return False
    datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")  # raises on 2024-02-31
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
    """(schema name, is array) of the documented 200 response of a GET path."""
    schema = _spec()["paths"][path_template]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    if schema.get("type") == "array":
        return schema["items"]["$ref"].rsplit("/", 1)[1], True
    return schema["$ref"].rsplit("/", 1)[1], False


def _errors(schema_name: str, body: Any, *, array: bool) -> list[str]:
    return [e.message for e in _validator(schema_name, array=array).iter_errors(body)]


def _assert_valid_list(path: str, body: Any) -> None:
    name, array = _response_schema(path)
    assert array
    errors = _errors(name, body, array=True)
    assert not errors, errors[:5]


def _assert_api_error(body: Any) -> None:
    assert not _errors("ApiErrorResponse", body, array=False)
    assert set(body) == {"UserMessage", "ErrorCode", "Errors"}


# -- helpers ---------------------------------------------------------------------


def _auth(sim: BuildiumSimulator) -> dict[str, str]:
    return {
        "x-buildium-client-id": sim.credentials["client_id"],
        "x-buildium-client-secret": sim.credentials["client_secret"],
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


async def _get(
    http: aiohttp.ClientSession,
    sim: BuildiumSimulator,
    path: str,
    params: Any = None,
    *,
    auth: bool = True,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    all_headers = {**(_auth(sim) if auth else {}), **(headers or {})}
    async with http.get(sim.url + path, params=params, headers=all_headers) as response:
        body = await response.read()
        return Reply(response.status, response.headers, body)


async def _all_ids(
    http: aiohttp.ClientSession,
    sim: BuildiumSimulator,
    path: str,
    params: Mapping[str, str] | None = None,
) -> list[int]:
    ids: list[int] = []
    offset = 0
    while True:
        reply = await _get(
            http, sim, path, {**(params or {}), "offset": str(offset), "limit": "1000"}
        )
        assert reply.status == 200
        page = reply.json()
        ids.extend(record["Id"] for record in page)
        offset += len(page)
        if not page or offset >= reply.total:
            return ids


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
async def sim() -> AsyncIterator[BuildiumSimulator]:
    simulator = BuildiumSimulator(seed=7, scale=230, rate_limit=0)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# -- auth, paths -----------------------------------------------------------------


async def test_auth_headers_required(sim: BuildiumSimulator, http: aiohttp.ClientSession) -> None:
    missing = await _get(http, sim, "/v1/rentals", auth=False)
    assert missing.status == 401
    _assert_api_error(missing.json())

    wrong = await _get(
        http,
        sim,
        "/v1/rentals/units",
        auth=False,
        headers={
            "x-buildium-client-id": sim.credentials["client_id"],
            "x-buildium-client-secret": "nope",
        },
    )
    assert wrong.status == 401
    _assert_api_error(wrong.json())

    single = await _get(http, sim, "/v1/leases/40000000", auth=False)
    assert single.status == 401

    ok = await _get(http, sim, "/v1/rentals")
    assert ok.status == 200


async def test_configured_credentials(http: aiohttp.ClientSession) -> None:
    creds = {"client_id": "my-id", "client_secret": "my-secret"}
    async with BuildiumSimulator(scale=10, credentials=creds, rate_limit=0) as simulator:
        assert simulator.credentials == creds
        headers = {"x-buildium-client-id": "my-id", "x-buildium-client-secret": "my-secret"}
        async with http.get(simulator.url + "/v1/users", headers=headers) as response:
            assert response.status == 200
    with pytest.raises(ValueError, match="client_secret"):
        BuildiumSimulator(credentials={"client_id": "x"})


async def test_default_credentials_follow_the_seed() -> None:
    a, b, c = BuildiumSimulator(seed=1), BuildiumSimulator(seed=1), BuildiumSimulator(seed=2)
    assert a.credentials == b.credentials
    assert a.credentials != c.credentials
    assert set(a.credentials) == {"client_id", "client_secret"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/Rentals", 404),
        ("GET", "/v1/rentals/Units", 404),
        ("GET", "/v1/nothing", 404),
        ("GET", "/v1/rentals/abc", 404),
        ("GET", "/v1/rentals/1", 404),
        ("GET", "/v1/users/10000", 404),
        ("POST", "/v1/rentals", 405),
    ],
)
async def test_unknown_paths_and_ids(
    sim: BuildiumSimulator, http: aiohttp.ClientSession, method: str, path: str, status: int
) -> None:
    async with http.request(method, sim.url + path, headers=_auth(sim)) as response:
        assert response.status == status
        _assert_api_error(await response.json())


async def test_query_string_limit(sim: BuildiumSimulator, http: aiohttp.ClientSession) -> None:
    reply = await _get(http, sim, "/v1/rentals", {"name": "x" * 5000})
    assert reply.status == 500
    _assert_api_error(reply.json())


# -- data shape ------------------------------------------------------------------


async def test_counts_follow_the_scale(sim: BuildiumSimulator, http: aiohttp.ClientSession) -> None:
    expected = {
        "rentals": 23,
        "units": 230,
        "tenants": 276,
        "leases": 230,
        "applicants": 115,
        "users": 5,
    }
    assert sim.counts() == expected
    for path, resource in LISTS.items():
        reply = await _get(http, sim, path, {"limit": "1"})
        assert reply.total == expected[resource], path


async def test_every_endpoint_matches_the_openapi_schemas(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    # Changed and created records must stay valid too.
    for resource in LISTS.values():
        sim.mutate(resource, create=2, update=3, delete=1)
    singles = {
        "/v1/rentals": "/v1/rentals/{propertyId}",
        "/v1/rentals/units": "/v1/rentals/units/{unitId}",
        "/v1/leases/tenants": "/v1/leases/tenants/{tenantId}",
        "/v1/leases": "/v1/leases/{leaseId}",
        "/v1/applicants": "/v1/applicants/{applicantId}",
        "/v1/users": "/v1/users/{userId}",
    }
    for path, template in singles.items():
        records: list[dict[str, Any]] = []
        for offset in (0, 60, 10_000):
            reply = await _get(http, sim, path, {"offset": str(offset), "limit": "200"})
            assert reply.status == 200
            assert reply.headers["Content-Type"].startswith("application/json")
            page = reply.json()
            _assert_valid_list(path, page)
            records.extend(page)
        assert records, path
        name, array = _response_schema(template)
        assert not array
        for record in records[:: max(1, len(records) // 8)] + records[-2:]:
            reply = await _get(http, sim, f"{path}/{record['Id']}")
            assert reply.status == 200
            assert reply.json() == record
            assert not _errors(name, reply.json(), array=False)


async def test_applicants_use_the_documented_schema() -> None:
    assert _response_schema("/v1/applicants") == ("ApplicantDetailsMessage", True)


async def test_values_look_like_buildium(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    units = (await _get(http, sim, "/v1/rentals/units", {"limit": "30"})).json()
    rentals = {r["Id"] for r in (await _get(http, sim, "/v1/rentals", {"limit": "1000"})).json()}
    assert all(u["PropertyId"] in rentals for u in units)
    assert all(isinstance(u["MarketRent"], float) for u in units)
    assert units[0]["Address"]["Country"] == "UnitedStates"

    leases = (await _get(http, sim, "/v1/leases", {"limit": "1000"})).json()
    assert {lease["LeaseStatus"] for lease in leases} == {"Active", "Past", "Future"}
    tenant_ids = set(await _all_ids(http, sim, "/v1/leases/tenants"))
    for lease in leases:
        assert lease["Tenants"], lease["Id"]
        assert {t["Id"] for t in lease["Tenants"]} <= tenant_ids
        assert isinstance(lease["AccountDetails"]["Rent"], float)
        assert 1 <= lease["PaymentDueDay"] <= 31
    assert sum(len(lease["Tenants"]) for lease in leases) == 276

    tenants = (await _get(http, sim, "/v1/leases/tenants", {"limit": "50"})).json()
    lease_ids = {lease["Id"] for lease in leases}
    for tenant in tenants:
        assert tenant["Leases"][0]["Id"] in lease_ids
        assert tenant["Leases"][0]["PropertyId"] in rentals
        for phone in tenant["PhoneNumbers"]:
            assert re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", phone["Number"])

    # Id blocks do not overlap, so an id of the wrong resource is never found.
    blocks = {}
    for path in LISTS:
        ids = await _all_ids(http, sim, path)
        blocks[path] = (min(ids), max(ids))
    spans = sorted(blocks.values())
    assert all(a[1] < b[0] for a, b in pairwise(spans))
    assert (await _get(http, sim, f"/v1/leases/{units[0]['Id']}")).status == 404


async def test_same_seed_same_bytes(http: aiohttp.ClientSession) -> None:
    async def pages(seed: int) -> list[bytes]:
        async with BuildiumSimulator(seed=seed, scale=120, rate_limit=0) as simulator:
            out = []
            for path in LISTS:
                reply = await _get(http, simulator, path, {"limit": "1000"})
                out.append(reply.body)
            out.append((await _get(http, simulator, "/v1/leases/40000003")).body)
            return out

    first, second, other = await pages(5), await pages(5), await pages(6)
    assert first == second
    assert all(a != b for a, b in zip(first, other, strict=True))


# -- paging ----------------------------------------------------------------------


async def test_paging_and_total_count(sim: BuildiumSimulator, http: aiohttp.ClientSession) -> None:
    default = await _get(http, sim, "/v1/rentals/units")
    assert default.status == 200
    assert len(default.json()) == 50
    assert default.total == 230
    assert "Retry-After" not in default.headers

    seen: list[int] = []
    for offset in range(0, 230, 70):
        reply = await _get(http, sim, "/v1/rentals/units", {"offset": str(offset), "limit": "70"})
        assert reply.total == 230
        seen.extend(r["Id"] for r in reply.json())
    assert len(seen) == 230
    assert seen == sorted(set(seen))

    tail = await _get(http, sim, "/v1/rentals/units", {"offset": "200", "limit": "1000"})
    assert [r["Id"] for r in tail.json()] == seen[200:]
    beyond = await _get(http, sim, "/v1/rentals/units", {"offset": "5000"})
    assert beyond.json() == []
    assert beyond.total == 230


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"limit": "1001"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "x"}, "offset"),
        ({"orderby": "Nope"}, "orderby"),
        ({"orderby": "Id sideways"}, "orderby"),
        ({"orderby": "Id,"}, "orderby"),
        ({"lastupdatedfrom": "yesterday"}, "lastupdatedfrom"),
        ({"lastupdatedto": "2024-02-31T00:00:00Z"}, "lastupdatedto"),
        ({"propertyids": "1,two"}, "propertyids"),
    ],
)
async def test_bad_parameters_are_400(
    sim: BuildiumSimulator, http: aiohttp.ClientSession, params: dict[str, str], key: str
) -> None:
    reply = await _get(http, sim, "/v1/rentals/units", params)
    assert reply.status == 400
    body = reply.json()
    _assert_api_error(body)
    assert [e["Key"] for e in body["Errors"]] == [key]


async def test_limit_max_is_1000(sim: BuildiumSimulator, http: aiohttp.ClientSession) -> None:
    ok = await _get(http, sim, "/v1/leases/tenants", {"limit": "1000"})
    assert ok.status == 200
    assert len(ok.json()) == 276
    too_many = await _get(http, sim, "/v1/leases/tenants", {"limit": "1001"})
    assert too_many.status == 400
    assert too_many.json()["Errors"][0]["Key"] == "limit"


async def test_paging_parameter_names_are_case_sensitive(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    reply = await _get(http, sim, "/v1/rentals", {"Limit": "5"})
    assert reply.status == 404
    # Other unknown parameters are ignored, e.g. lastupdatedfrom on users.
    users = await _get(
        http, sim, "/v1/users", {"lastupdatedfrom": "2030-01-01T00:00:00Z", "foo": "1"}
    )
    assert users.status == 200
    assert users.total == 5


async def test_orderby(sim: BuildiumSimulator, http: aiohttp.ClientSession) -> None:
    ascending = await _all_ids(http, sim, "/v1/rentals/units")
    descending = await _all_ids(http, sim, "/v1/rentals/units", {"orderby": "Id desc"})
    assert descending == ascending[::-1]
    explicit = await _get(http, sim, "/v1/rentals/units", {"orderby": "id ASC", "limit": "10"})
    assert [r["Id"] for r in explicit.json()] == ascending[:10]

    by_rent = (
        await _get(
            http, sim, "/v1/rentals/units", {"orderby": "MarketRent desc,Id", "limit": "1000"}
        )
    ).json()
    keys = [(-r["MarketRent"], r["Id"]) for r in by_rent]
    assert keys == sorted(keys)
    assert len({r["MarketRent"] for r in by_rent}) > 5

    by_name = (
        await _get(http, sim, "/v1/leases/tenants", {"orderby": "lastname,FirstName desc,Id"})
    ).json()
    name_keys = [(t["LastName"].casefold(), t["FirstName"].casefold(), t["Id"]) for t in by_name]
    assert [k[0] for k in name_keys] == sorted(k[0] for k in name_keys)

    # Nested scalars are reachable by their own name, as Buildium's "Rent" example shows.
    by_rent_nested = (
        await _get(http, sim, "/v1/leases", {"orderby": "Rent asc,Id asc", "limit": "1000"})
    ).json()
    rents = [lease["AccountDetails"]["Rent"] for lease in by_rent_nested]
    assert rents == sorted(rents)

    paged: list[int] = []
    for offset in range(0, 230, 100):
        page = await _get(
            http,
            sim,
            "/v1/rentals/units",
            {"orderby": "MarketRent desc,Id", "offset": str(offset), "limit": "100"},
        )
        paged.extend(r["Id"] for r in page.json())
    assert paged == [r["Id"] for r in by_rent]


# -- filters ---------------------------------------------------------------------


async def test_property_and_status_filters(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    rentals = (await _get(http, sim, "/v1/rentals", {"limit": "1000"})).json()
    first, second, last = rentals[0]["Id"], rentals[3]["Id"], rentals[-1]["Id"]
    for params in (
        {"propertyids": f"{first},{second}"},
        [("propertyids", str(first)), ("propertyids", str(second))],
    ):
        units = await _get(http, sim, "/v1/rentals/units", params)
        assert units.total == 20
        assert {u["PropertyId"] for u in units.json()} == {first, second}
    leases = await _get(http, sim, "/v1/leases", {"propertyids": str(last), "limit": "1000"})
    assert leases.total == rentals[-1]["NumberUnits"]
    assert {lease["PropertyId"] for lease in leases.json()} == {last}
    tenants = await _get(
        http, sim, "/v1/leases/tenants", {"propertyids": str(first), "limit": "1000"}
    )
    assert tenants.total == 12  # ten units, two of them with a second tenant
    assert {t["Leases"][0]["PropertyId"] for t in tenants.json()} == {first}
    nothing = await _get(http, sim, "/v1/rentals/units", {"propertyids": "999999999"})
    assert nothing.total == 0

    active = await _get(http, sim, "/v1/rentals", {"status": "Active", "limit": "1000"})
    inactive = await _get(http, sim, "/v1/rentals", {"status": "InActive", "limit": "1000"})
    assert active.total + inactive.total == 23
    assert all(r["IsActive"] for r in active.json())
    assert not any(r["IsActive"] for r in inactive.json())
    assert (await _get(http, sim, "/v1/rentals", {"status": "Sold"})).status == 400


async def test_time_filters_agree_with_record_fields(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    for path, field in (
        ("/v1/leases", "LastUpdatedDateTime"),
        ("/v1/applicants", "LastUpdatedDateTime"),
    ):
        records = (await _get(http, sim, path, {"limit": "1000"})).json()
        stamps = sorted(r[field] for r in records)
        pivot = stamps[len(stamps) // 3]
        upper = stamps[2 * len(stamps) // 3]
        expected = {r["Id"] for r in records if pivot <= r[field] <= upper}
        got = await _all_ids(
            http, sim, path, {"lastupdatedfrom": pivot, "lastupdatedto": upper.rstrip("Z")}
        )
        assert set(got) == expected, path
        assert all(stamp < "2025-01-01" for stamp in stamps)

    leases = (await _get(http, sim, "/v1/leases", {"limit": "1000"})).json()
    created = sorted(lease["CreatedDateTime"] for lease in leases)
    pivot = created[100]
    got = await _all_ids(
        http, sim, "/v1/leases", {"createddatetimefrom": pivot.replace("T", " ").rstrip("Z")}
    )
    assert set(got) == {lease["Id"] for lease in leases if lease["CreatedDateTime"] >= pivot}

    tenants = (await _get(http, sim, "/v1/leases/tenants", {"limit": "1000"})).json()
    assert all(t["CreatedDateTime"] < "2025-01-01" for t in tenants)


async def test_incremental_after_mutations(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    since = _stamp(time.time() - 1)
    before = {
        r["Id"]: r for r in (await _get(http, sim, "/v1/rentals/units", {"limit": "1000"})).json()
    }
    for path in INCREMENTAL:
        reply = await _get(http, sim, path, {"lastupdatedfrom": since})
        assert reply.total == 0, path

    result = sim.mutate("units", update=3, create=2)
    assert len(result["updated"]) == 3
    assert len(result["created"]) == 2
    assert result["deleted"] == []
    changed = await _get(http, sim, "/v1/rentals/units", {"lastupdatedfrom": since})
    assert changed.total == 5
    records = {r["Id"]: r for r in changed.json()}
    assert sorted(records) == sorted(result["updated"] + result["created"])
    for unit_id in result["updated"]:
        assert records[unit_id]["MarketRent"] != before[unit_id]["MarketRent"]
    assert min(result["created"]) > max(before)

    old = await _get(http, sim, "/v1/rentals/units", {"lastupdatedto": "2024-12-31T00:00:00Z"})
    assert old.total == 230 - 3
    assert (await _get(http, sim, "/v1/rentals/units")).total == 232

    lease_result = sim.mutate("leases", update=2)
    leases = (await _get(http, sim, "/v1/leases", {"lastupdatedfrom": since})).json()
    assert [lease["Id"] for lease in leases] == lease_result["updated"]
    assert all(lease["LastUpdatedDateTime"] >= since for lease in leases)

    tenant_result = sim.mutate("tenants", create=1)
    tenants = (await _get(http, sim, "/v1/leases/tenants", {"lastupdatedfrom": since})).json()
    assert [t["Id"] for t in tenants] == tenant_result["created"]
    assert tenants[0]["CreatedDateTime"] >= since

    # Updates are repeatable: a second update of the same record changes it again.
    again = sim.mutate("units", update=1000)
    assert len(again["updated"]) == 232
    assert (await _get(http, sim, "/v1/rentals/units", {"lastupdatedfrom": since})).total == 232


async def test_deletions(sim: BuildiumSimulator, http: aiohttp.ClientSession) -> None:
    before = await _all_ids(http, sim, "/v1/leases/tenants")
    result = sim.mutate("tenants", delete=7)
    gone = result["deleted"]
    assert len(gone) == 7
    assert set(gone) <= set(before)
    after = await _all_ids(http, sim, "/v1/leases/tenants")
    assert after == [i for i in before if i not in set(gone)]
    assert (await _get(http, sim, "/v1/leases/tenants")).total == 276 - 7
    assert sim.counts()["tenants"] == 269
    for tenant_id in gone:
        assert (await _get(http, sim, f"/v1/leases/tenants/{tenant_id}")).status == 404
    # Deletions never show up as tombstones in incremental queries.
    assert (
        await _get(http, sim, "/v1/leases/tenants", {"lastupdatedfrom": _stamp(time.time() - 5)})
    ).total == 0

    descending = await _all_ids(http, sim, "/v1/leases/tenants", {"orderby": "Id desc"})
    assert descending == after[::-1]

    # Deleting an updated and a created record removes them from every view.
    created = sim.mutate("tenants", create=3)["created"]
    sim.mutate("tenants", update=50, delete=200)
    final = await _all_ids(http, sim, "/v1/leases/tenants")
    assert len(final) == sim.counts()["tenants"] == 269 + 3 - 200
    assert final == sorted(final)
    for tenant_id in created:
        reply = await _get(http, sim, f"/v1/leases/tenants/{tenant_id}")
        assert (reply.status == 200) == (tenant_id in final)


async def test_mutation_validation(sim: BuildiumSimulator) -> None:
    with pytest.raises(ValueError, match="model"):
        sim.mutate("owners", create=1)
    with pytest.raises(ValueError):
        sim.mutate("units", delete=-1)
    # More deletes than records: everything goes, nothing breaks.
    result = sim.mutate("users", delete=50)
    assert len(result["deleted"]) == 5
    assert sim.counts()["users"] == 0


# -- rate limit ------------------------------------------------------------------


async def test_rate_limit(http: aiohttp.ClientSession) -> None:
    async with BuildiumSimulator(scale=20, rate_limit=10) as simulator:
        replies = await asyncio.gather(*(_get(http, simulator, "/v1/rentals") for _ in range(15)))
        statuses = sorted(r.status for r in replies)
        assert statuses == [200] * 10 + [429] * 5
        for reply in replies:
            if reply.status == 429:
                assert "Retry-After" not in reply.headers
                _assert_api_error(reply.json())
        stats = simulator.stats_snapshot()
        assert stats["429s"] == 5
        assert stats["rate_limited"] == 5

        await asyncio.sleep(1.05)
        assert (await _get(http, simulator, "/v1/rentals")).status == 200
        # Requests with bad credentials are refused before they count.
        assert (await _get(http, simulator, "/v1/rentals", auth=False)).status == 401


async def test_no_rate_limit_when_disabled(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    replies = await asyncio.gather(*(_get(http, sim, "/v1/users") for _ in range(40)))
    assert {r.status for r in replies} == {200}
    assert sim.stats_snapshot()["429s"] == 0


# -- faults ----------------------------------------------------------------------


async def test_fault_429_with_and_without_retry_after(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    sim.add_fault("429", retry_after=2)
    sim.add_fault("429")
    first = await _get(http, sim, "/v1/rentals")
    assert first.status == 429
    assert first.headers["Retry-After"] == "2"
    _assert_api_error(first.json())
    second = await _get(http, sim, "/v1/rentals")
    assert second.status == 429
    assert "Retry-After" not in second.headers
    assert (await _get(http, sim, "/v1/rentals")).status == 200
    assert sim.stats_snapshot()["429s"] == 2
    assert sim.stats_snapshot()["rate_limited"] == 0


async def test_fault_500_and_path_filter(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    sim.add_fault("500", count=2, path="/v1/leases")
    assert (await _get(http, sim, "/v1/rentals/units")).status == 200
    first = await _get(http, sim, "/v1/leases")
    assert first.status == 500
    _assert_api_error(first.json())
    assert (await _get(http, sim, "/v1/leases/40000001")).status == 200  # exact path only
    assert (await _get(http, sim, "/v1/leases")).status == 500
    assert (await _get(http, sim, "/v1/leases")).status == 200


async def test_fault_slow(sim: BuildiumSimulator, http: aiohttp.ClientSession) -> None:
    sim.add_fault("slow", delay=0.4)
    started = time.monotonic()
    reply = await _get(http, sim, "/v1/users")
    assert time.monotonic() - started >= 0.4
    assert reply.status == 200
    assert len(reply.json()) == 5
    started = time.monotonic()
    await _get(http, sim, "/v1/users")
    assert time.monotonic() - started < 0.4


async def test_fault_truncate(sim: BuildiumSimulator, http: aiohttp.ClientSession) -> None:
    full = await _get(http, sim, "/v1/rentals/units", {"limit": "20"})
    sim.add_fault("truncate")
    cut = await _get(http, sim, "/v1/rentals/units", {"limit": "20"})
    assert cut.status == 200
    assert int(cut.headers["Content-Length"]) == len(cut.body) == len(full.body) // 2
    assert full.body.startswith(cut.body)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.body)
    assert cut.total == full.total


async def test_fault_malformed(sim: BuildiumSimulator, http: aiohttp.ClientSession) -> None:
    for path in LISTS:
        clean = (await _get(http, sim, path, {"limit": "10"})).json()
        sim.add_fault("malformed", path=path)
        reply = await _get(http, sim, path, {"limit": "10"})
        assert reply.status == 200
        page = reply.json()
        assert len(page) == len(clean)
        name, _array = _response_schema(path)
        bad = [i for i, record in enumerate(page) if _errors(name, record, array=False)]
        assert len(bad) == 2, path
        assert page[0]["Id"] == "not-a-number"
        assert [page[i] for i in range(len(page)) if i not in bad] == [
            clean[i] for i in range(len(clean)) if i not in bad
        ]
    sim.add_fault("malformed", path="/v1/rentals/units/1000004")
    single = (await _get(http, sim, "/v1/rentals/units/1000004")).json()
    assert single["Id"] == "not-a-number"


async def test_fault_empty(sim: BuildiumSimulator, http: aiohttp.ClientSession) -> None:
    sim.add_fault("empty", path="/v1/leases/tenants")
    reply = await _get(http, sim, "/v1/leases/tenants")
    assert reply.status == 200
    assert reply.json() == []
    assert reply.total == 0
    assert (await _get(http, sim, "/v1/leases/tenants")).total == 276


async def test_faults_at_construction_and_clearing(http: aiohttp.ClientSession) -> None:
    faults: list[dict[str, Any]] = [
        {"kind": "500", "count": 1},
        {"kind": "empty", "path": "/v1/users"},
    ]
    async with BuildiumSimulator(scale=10, rate_limit=0, faults=faults) as simulator:
        assert (await _get(http, simulator, "/v1/users")).status == 500
        assert (await _get(http, simulator, "/v1/users")).json() == []
        assert (await _get(http, simulator, "/v1/users")).total == 5
        simulator.add_fault("500", count=10)
        simulator.clear_faults()
        assert (await _get(http, simulator, "/v1/users")).status == 200


# -- control plane ---------------------------------------------------------------


async def test_control_plane_over_http(sim: BuildiumSimulator, http: aiohttp.ClientSession) -> None:
    async with http.post(
        sim.url + "/_sim/mutate", json={"model": "leases", "create": 1, "update": 2, "delete": 3}
    ) as r:
        assert r.status == 200
        body = await r.json()
    assert len(body["created"]) == 1
    assert len(body["updated"]) == 2
    assert len(body["deleted"]) == 3
    assert body["counts"]["leases"] == 228
    async with http.post(sim.url + "/_sim/mutate", json={"model": "owners"}) as r:
        assert r.status == 400
    async with http.post(sim.url + "/_sim/mutate", data=b"not json") as r:
        assert r.status == 400

    async with http.post(
        sim.url + "/_sim/faults",
        json={"kind": "429", "count": 2, "path": "/v1/users", "retry_after": 0.5},
    ) as r:
        assert r.status == 200
        assert (await r.json())["faults"][0]["count"] == 2
    async with http.post(sim.url + "/_sim/faults", json={"kind": "teapot"}) as r:
        assert r.status == 400
    limited = await _get(http, sim, "/v1/users")
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "0.5"
    async with http.delete(sim.url + "/_sim/faults") as r:
        assert r.status == 200
    assert (await _get(http, sim, "/v1/users")).status == 200
    await _get(http, sim, "/v1/users", auth=False)

    async with http.get(sim.url + "/_sim/stats") as r:
        stats = await r.json()
    assert stats["by_path"]["/v1/users"] == 3
    assert stats["by_status"] == {"200": 1, "401": 1, "429": 1}
    assert stats["429s"] == 1
    assert stats["faults_served"] == {"429": 1}
    assert stats["counts"] == sim.counts()


async def test_run_buildium_simulator(http: aiohttp.ClientSession) -> None:
    ready: asyncio.Queue[tuple[str, dict[str, str]]] = asyncio.Queue()
    task = asyncio.create_task(
        run_buildium_simulator(
            host="127.0.0.1",
            port=0,
            seed=3,
            scale=40,
            credentials=None,
            rate_limit=0,
            on_ready=lambda url, creds: ready.put_nowait((url, dict(creds))),
        )
    )
    url, creds = await asyncio.wait_for(ready.get(), 10)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    headers = {
        "x-buildium-client-id": creds["client_id"],
        "x-buildium-client-secret": creds["client_secret"],
    }
    async with http.get(url + "/v1/rentals/units", headers=headers) as response:
        assert response.status == 200
        assert response.headers["X-Total-Count"] == "40"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(url + "/v1/rentals", headers=headers):
            pass


# -- scale -----------------------------------------------------------------------


@pytest.mark.slow
async def test_million_units_deep_page_is_fast(http: aiohttp.ClientSession) -> None:
    async with BuildiumSimulator(seed=1, scale=1_000_000, rate_limit=0) as simulator:
        timings = {}
        for path, offset in (
            ("/v1/rentals/units", 999_000),
            ("/v1/leases/tenants", 1_150_000),
            ("/v1/leases", 500_000),
        ):
            started = time.perf_counter()
            reply = await _get(http, simulator, path, {"offset": str(offset), "limit": "1000"})
            timings[path] = time.perf_counter() - started
            assert reply.status == 200
            page = reply.json()
            assert len(page) == 1000
            ids = [r["Id"] for r in page]
            assert ids == list(range(ids[0], ids[0] + 1000))
        print("1M-scale 1000-record pages (s):", {k: round(v, 4) for k, v in timings.items()})
        assert max(timings.values()) < 2.0

        units = await _get(http, simulator, "/v1/rentals/units", {"limit": "1"})
        assert units.total == 1_000_000
        last = await _get(
            http, simulator, "/v1/rentals/units", {"orderby": "Id desc", "limit": "3"}
        )
        assert [r["Id"] for r in last.json()] == [1_999_999, 1_999_998, 1_999_997]

        since = _stamp(time.time() - 1)
        started = time.perf_counter()
        assert (await _get(http, simulator, "/v1/leases", {"lastupdatedfrom": since})).total == 0
        result = simulator.mutate("leases", update=4, delete=3, create=1)
        changed = await _get(http, simulator, "/v1/leases", {"lastupdatedfrom": since})
        assert changed.total == 5
        assert sorted(r["Id"] for r in changed.json()) == sorted(
            result["updated"] + result["created"]
        )
        assert time.perf_counter() - started < 2.0

        total = await _get(http, simulator, "/v1/leases", {"offset": "999000", "limit": "1000"})
        assert total.total == 1_000_000 - 3 + 1
        assert not set(result["deleted"]) & {r["Id"] for r in total.json()}


# -- selection internals ---------------------------------------------------------


def test_range_selection_matches_a_plain_list() -> None:
    rng = random.Random(42)
    for _ in range(200):
        ranges = []
        start = rng.randrange(0, 50)
        for _ in range(rng.randrange(0, 5)):
            end = start + rng.randrange(1, 30)
            ranges.append((start, end))
            start = end + rng.randrange(1, 20)
        inside = [i for a, b in ranges for i in range(a, b)]
        excluded = sorted(rng.sample(inside, rng.randrange(0, len(inside) + 1))) if inside else []
        outside = [i for i in range(0, start + 40) if i not in set(inside)]
        extra = sorted(rng.sample(outside + excluded, rng.randrange(0, 10)))
        expected = sorted((set(inside) - set(excluded)) | set(extra))
        selection = RangeSelection(ranges, excluded, extra)
        assert len(selection) == len(expected)
        for _ in range(5):
            offset = rng.randrange(0, len(expected) + 2)
            limit = rng.randrange(1, 40)
            assert selection.page(offset, limit) == expected[offset : offset + limit]
            down = selection.with_order(descending=True)
            assert down.page(offset, limit) == expected[::-1][offset : offset + limit]


# -- truth and unified model names ------------------------------------------------

UNIFIED = {
    "properties": "/v1/rentals",
    "units": "/v1/rentals/units",
    "residents": "/v1/leases/tenants",
    "leases": "/v1/leases",
    "leads": "/v1/applicants",
    "employees": "/v1/users",
}


async def _truth(http: aiohttp.ClientSession, sim: BuildiumSimulator) -> dict[str, Any]:
    async with http.get(sim.url + "/_sim/truth") as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
    assert body["vendor"] == "buildium"
    assert body["models"] == sim.truth()
    models: dict[str, Any] = body["models"]
    return models


async def test_truth_lists_what_the_endpoints_list(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    truth = await _truth(http, sim)
    assert sorted(truth) == sorted(UNIFIED)
    for model, path in UNIFIED.items():
        listed = await _all_ids(http, sim, path)
        assert truth[model]["live"] == [str(i) for i in listed], model
        assert truth[model]["deleted"] == [], model
    assert len(truth["units"]["live"]) == 230


async def test_truth_after_mutations(sim: BuildiumSimulator, http: aiohttp.ClientSession) -> None:
    changes = {
        "properties": sim.mutate("rentals", create=2, delete=3),
        "units": sim.mutate("units", create=1, update=2, delete=4),
        "residents": sim.mutate("residents", create=3, delete=2),
        "leases": sim.mutate("leases", delete=1),
        "leads": sim.mutate("leads", create=1),
        "employees": sim.mutate("users", create=1, delete=2),
    }
    truth = await _truth(http, sim)
    for model, changed in changes.items():
        live, deleted = truth[model]["live"], truth[model]["deleted"]
        assert {str(i) for i in changed["created"]} <= set(live), model
        assert deleted == [str(i) for i in sorted(changed["deleted"])], model
        assert not set(deleted) & set(live), model
        assert live == [str(i) for i in await _all_ids(http, sim, UNIFIED[model])], model

    # A record created and then deleted is still reported as deleted.
    created = sim.mutate("employees", create=2)["created"]
    sim.mutate("employees", delete=1000)
    employees = (await _truth(http, sim))["employees"]
    assert employees["live"] == []
    assert {str(i) for i in created} <= set(employees["deleted"])
    assert len(employees["deleted"]) == 5 + 1 + 2


async def test_mutate_takes_unified_names(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        sim.url + "/_sim/mutate", json={"model": "residents", "create": 2, "delete": 1}
    ) as r:
        assert r.status == 200
        body = await r.json()
    assert body["model"] == "residents"
    assert len(body["created"]) == 2
    assert len(body["deleted"]) == 1
    assert body["counts"]["tenants"] == 276 + 2 - 1
    for tenant_id in body["created"]:
        assert (await _get(http, sim, f"/v1/leases/tenants/{tenant_id}")).status == 200
    assert (await _get(http, sim, f"/v1/leases/tenants/{body['deleted'][0]}")).status == 404

    for unified, resource in (
        ("properties", "rentals"),
        ("leads", "applicants"),
        ("employees", "users"),
    ):
        before = sim.counts()[resource]
        async with http.post(sim.url + "/_sim/mutate", json={"model": unified, "create": 1}) as r:
            assert r.status == 200
            assert (await r.json())["counts"][resource] == before + 1, unified
    assert len(sim.mutate("employees", update=2)["updated"]) == 2

    async with http.post(sim.url + "/_sim/mutate", json={"model": "owners"}) as r:
        assert r.status == 400
        message = (await r.json())["error"]
    assert "rentals" in message and "properties" in message
    with pytest.raises(ValueError, match="properties"):
        sim.mutate("owners", create=1)
