"""The Rent Manager simulator over real HTTP: login, tokens, paging, filters, errors, limits."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from syncd.sim.rentmanager import LOGIN_PATH, TOKEN_HEADER, RentManagerRenderer
from syncd.sim.server import Simulator

SCALE = 60
RESOURCES = {
    "/Properties": ("properties", "PropertyID"),
    "/UnitTypes": ("floor_plans", "UnitTypeID"),
    "/Units": ("units", "UnitID"),
    "/Tenants": ("residents", "TenantID"),
    "/Leases": ("leases", "LeaseID"),
    "/Prospects": ("leads", "ProspectID"),
    "/LeadSources": ("lead_sources", "LeadSourceID"),
    "/Users": ("employees", "UserID"),
}
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(RentManagerRenderer, seed=5, scale=SCALE, rate_limit=0) as s:
        yield s


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def renderer(sim: Simulator) -> RentManagerRenderer:
    assert isinstance(sim.renderer, RentManagerRenderer)
    return sim.renderer


def login_body(sim: Simulator, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Username": sim.credentials["username"],
        "Password": sim.credentials["password"],
        "LocationID": int(sim.credentials["location_id"]),
    }
    return body | overrides


async def login(sim: Simulator, http: aiohttp.ClientSession) -> str:
    async with http.post(sim.url + LOGIN_PATH, json=login_body(sim)) as response:
        assert response.status == 200
        token = await response.json()
    assert isinstance(token, str)
    return token


async def get(
    sim: Simulator, http: aiohttp.ClientSession, token: str | None, path: str, **params: Any
) -> tuple[int, Any, dict[str, str]]:
    headers = {TOKEN_HEADER: token} if token is not None else {}
    query = {k: str(v) for k, v in params.items()}
    async with http.get(sim.url + path, params=query, headers=headers) as response:
        raw = await response.read()
        body = None if not raw else await response.json()
        return response.status, body, dict(response.headers)


# -- login and tokens ------------------------------------------------------------------


async def test_login_answers_the_token_as_a_json_string(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    async with http.post(sim.url + LOGIN_PATH, json=login_body(sim)) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        raw = await response.text()
    assert raw.startswith('"') and raw.endswith('"')
    second = await login(sim, http)
    # A token per login, both accepted.
    assert second != raw.strip('"')
    for token in (raw.strip('"'), second):
        status, _, _ = await get(sim, http, token, "/Properties")
        assert status == 200


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"Password": "nope"}, 401, "Invalid username or password."),
        ({"Username": "someone"}, 401, "Invalid username or password."),
        ({"LocationID": 9}, 401, "The user does not have access to location 9."),
    ],
)
async def test_a_refused_login_answers_401_with_rent_managers_body(
    sim: Simulator,
    http: aiohttp.ClientSession,
    overrides: dict[str, Any],
    status: int,
    message: str,
) -> None:
    async with http.post(sim.url + LOGIN_PATH, json=login_body(sim, **overrides)) as response:
        assert response.status == status
        body = await response.json()
    assert body == {"Message": message, "ModelState": {}}
    assert renderer(sim).live_tokens == 0


async def test_a_malformed_login_names_the_field(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    async with http.post(sim.url + LOGIN_PATH, json={"Username": "x"}) as response:
        assert response.status == 400
        body = await response.json()
    assert body["ModelState"] == {"request.Password": ["The Password field is required."]}
    async with http.post(sim.url + LOGIN_PATH, json=login_body(sim, LocationID="one")) as r:
        assert r.status == 400
        assert "request.LocationID" in (await r.json())["ModelState"]


async def test_requests_need_a_valid_token(sim: Simulator, http: aiohttp.ClientSession) -> None:
    status, body, _ = await get(sim, http, None, "/Units")
    assert status == 401
    assert body == {"Message": "Authorization has been denied for this request.", "ModelState": {}}
    status, body, _ = await get(sim, http, "not-a-token", "/Units")
    assert status == 401
    assert body["Message"] == "The API token is invalid or has expired."


async def test_expired_tokens_are_refused_until_the_next_login(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    token = await login(sim, http)
    assert (await get(sim, http, token, "/Units"))[0] == 200
    renderer(sim).expire_tokens()
    status, body, _ = await get(sim, http, token, "/Units")
    assert status == 401 and body["Message"] == "The API token is invalid or has expired."
    fresh = await login(sim, http)
    assert (await get(sim, http, fresh, "/Units"))[0] == 200


async def test_paths_are_rent_managers(sim: Simulator, http: aiohttp.ClientSession) -> None:
    token = await login(sim, http)
    status, body, _ = await get(sim, http, token, "/units")
    assert status == 404
    assert set(body) == {"Message", "ModelState"}
    status, _, _ = await get(sim, http, token, "/v1/rentals")
    assert status == 404


# -- paging ------------------------------------------------------------------------------


async def test_pages_by_number_with_totals_links_and_statuses(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    token = await login(sim, http)
    seen: list[int] = []
    statuses: list[int] = []
    url: str | None = f"{sim.url}/Units?PageSize=25&PageNumber=1&orderby=UnitID"
    while url is not None:
        async with http.get(url, headers={TOKEN_HEADER: token}) as response:
            statuses.append(response.status)
            assert response.headers["X-Total-Results"] == str(SCALE)
            records = await response.json()
            assert response.headers["X-Results"] == str(len(records))
            seen.extend(r["UnitID"] for r in records)
            link = response.headers.get("Link")
        if link is None:
            url = None
        else:
            match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
            assert match is not None, link
            url = match.group(1)
            assert url.startswith(sim.url) and "orderby=UnitID" in url
    assert seen == list(range(1, SCALE + 1))
    # 206 while more pages follow, 200 for the last.
    assert statuses == [206, 206, 200]
    status, body, headers = await get(sim, http, token, "/Units", PageSize=25, PageNumber=4)
    assert status == 204 and body is None
    assert headers["X-Total-Results"] == str(SCALE) and headers["X-Results"] == "0"
    assert "Link" not in headers


async def test_paging_parameter_names_are_case_insensitive(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    token = await login(sim, http)
    _, upper, _ = await get(sim, http, token, "/Units", PageSize=10, PageNumber=2)
    _, lower, _ = await get(sim, http, token, "/Units", pagesize=10, pagenumber=2)
    assert upper == lower
    assert [r["UnitID"] for r in upper] == list(range(11, 21))


async def test_without_a_page_size_the_whole_list_comes_at_once(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    token = await login(sim, http)
    status, body, headers = await get(sim, http, token, "/Units")
    assert status == 200 and len(body) == SCALE
    assert headers["X-Total-Results"] == str(SCALE) and "Link" not in headers


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"PageSize": 1001}, "PageSize"),
        ({"PageSize": 0}, "PageSize"),
        ({"PageSize": "ten"}, "PageSize"),
        ({"PageSize": 10, "PageNumber": 0}, "PageNumber"),
        ({"PageNumber": 2}, "PageSize"),
    ],
)
async def test_paging_parameters_are_validated(
    sim: Simulator, http: aiohttp.ClientSession, params: dict[str, Any], parameter: str
) -> None:
    token = await login(sim, http)
    status, body, _ = await get(sim, http, token, "/Units", **params)
    assert status == 400
    assert body["Message"] == "The request is invalid."
    assert list(body["ModelState"]) == [parameter]


async def test_the_largest_page_is_1000(sim: Simulator, http: aiohttp.ClientSession) -> None:
    token = await login(sim, http)
    status, body, _ = await get(sim, http, token, "/Units", PageSize=1000, PageNumber=1)
    assert status == 200 and len(body) == SCALE


# -- filters, order, embeds -------------------------------------------------------------------


async def test_update_date_filters_bound_the_listing(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    token = await login(sim, http)
    _, everything, _ = await get(sim, http, token, "/Units")
    stamps = sorted(r["UpdateDate"] for r in everything)
    low, high = stamps[10], stamps[40]
    filters = f"UpdateDate,ge,{low};UpdateDate,le,{high}"
    status, body, headers = await get(sim, http, token, "/Units", filters=filters)
    assert status == 200
    assert sorted(r["UpdateDate"] for r in body) == stamps[10:41]
    assert headers["X-Total-Results"] == "31"
    between = f"UpdateDate,bt,({low},{high})"
    assert (await get(sim, http, token, "/Units", filters=between))[1] == body


async def test_create_date_filters_and_us_dates(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    token = await login(sim, http)
    _, everything, _ = await get(sim, http, token, "/Leases")
    expected = [r for r in everything if r["CreateDate"] >= "2022-01-01T00:00:00"]
    _, iso, _ = await get(sim, http, token, "/Leases", filters="CreateDate,ge,2022-01-01T00:00:00")
    _, us, _ = await get(sim, http, token, "/Leases", filters="CreateDate,ge,01/01/2022")
    assert iso == us == expected and expected


async def test_property_filters_include_and_exclude(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    token = await login(sim, http)
    _, everything, _ = await get(sim, http, token, "/Tenants")
    _, outside, _ = await get(sim, http, token, "/Tenants", filters="PropertyID,ni,(1,2)")
    _, inside, _ = await get(sim, http, token, "/Tenants", filters="PropertyID,in,(1,2)")
    assert outside and inside
    assert {r["PropertyID"] for r in outside} == {3}
    assert {r["PropertyID"] for r in inside} == {1, 2}
    assert len(outside) + len(inside) == len(everything)
    _, props, _ = await get(sim, http, token, "/Properties", filters="PropertyID,ni,(2)")
    assert [p["PropertyID"] for p in props] == [1, 3]


@pytest.mark.parametrize(
    "filters",
    [
        "Color,eq,red",
        "UpdateDate,ge,2024-01-01T00:00:00Z",
        "UpdateDate,ge,2024-01-01T00:00:00+02:00",
        "UpdateDate,ge,yesterday",
        "PropertyID,ni,1,2",
        "UpdateDate,xx,2024-01-01",
        "UnitID",
        "UnitID,bt,(1)",
        "PropertyID,eq,one",
    ],
)
async def test_a_bad_filter_is_a_400_naming_filters(
    sim: Simulator, http: aiohttp.ClientSession, filters: str
) -> None:
    token = await login(sim, http)
    status, body, _ = await get(sim, http, token, "/Units", filters=filters)
    assert status == 400
    assert list(body["ModelState"]) == ["filters"]
    assert body["ModelState"]["filters"][0]


async def test_unit_types_have_no_property_to_filter(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    token = await login(sim, http)
    status, body, _ = await get(sim, http, token, "/UnitTypes", filters="PropertyID,ni,(1)")
    assert status == 400 and "PropertyID" in body["ModelState"]["filters"][0]


async def test_orderby_sorts_and_is_validated(sim: Simulator, http: aiohttp.ClientSession) -> None:
    token = await login(sim, http)
    _, body, _ = await get(sim, http, token, "/Units", orderby="UnitID desc", PageSize=5)
    assert [r["UnitID"] for r in body] == [60, 59, 58, 57, 56]
    _, body, _ = await get(sim, http, token, "/Units", orderby="UpdateDate")
    stamps = [r["UpdateDate"] for r in body]
    assert stamps == sorted(stamps)
    status, body, _ = await get(sim, http, token, "/Units", orderby="Colour")
    assert status == 400 and list(body["ModelState"]) == ["orderby"]


async def test_embeds_add_related_records_only_when_asked(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    token = await login(sim, http)
    _, plain, _ = await get(sim, http, token, "/Tenants", PageSize=1)
    assert "PhoneNumbers" not in plain[0] and "PrimaryContact" not in plain[0]
    _, rich, _ = await get(
        sim, http, token, "/Tenants", PageSize=1, embeds="PhoneNumbers,PrimaryContact,Addresses"
    )
    tenant = rich[0]
    phone = tenant["PhoneNumbers"][0]
    assert set(phone) >= {"PhoneNumberTypeID", "PhoneNumber", "IsPrimary", "PhoneNumberType"}
    assert phone["PhoneNumberType"]["Name"] in {"Home", "Work", "Cell"}
    assert tenant["PrimaryContact"]["ParentID"] == tenant["TenantID"]
    assert "@" in tenant["PrimaryContact"]["Email"]
    assert tenant["Addresses"][0]["Street"]
    _, leases, _ = await get(sim, http, token, "/Leases", PageSize=1, embeds="Tenant.Contacts")
    lease = leases[0]
    assert lease["Tenant"]["TenantID"] == lease["TenantID"]
    assert [c["ParentID"] for c in lease["Tenant"]["Contacts"]] == [lease["TenantID"]]
    status, body, _ = await get(sim, http, token, "/Leases", embeds="Tenant.Colour")
    assert status == 400 and list(body["ModelState"]) == ["embeds"]


async def test_records_have_rent_managers_shapes(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    token = await login(sim, http)
    for path, (_, id_field) in RESOURCES.items():
        status, body, _ = await get(sim, http, token, path, PageSize=2, PageNumber=1)
        assert status == 206, path
        record = body[0]
        assert isinstance(record[id_field], int), path
        assert DATETIME.fullmatch(record["CreateDate"]), path
        assert DATETIME.fullmatch(record["UpdateDate"]), path
    _, units, _ = await get(sim, http, token, "/Units", PageSize=1)
    entity = sim.world.get("units", 1)
    assert entity is not None
    # Money as decimal dollars.
    assert units[0]["MarketRent"] == entity["market_rent_cents"] / 100
    _, users, _ = await get(sim, http, token, "/Users", PageSize=1)
    assert {"Firstname", "Lastname", "Username", "IsActive"} <= set(users[0])


async def test_a_single_record_by_id(sim: Simulator, http: aiohttp.ClientSession) -> None:
    token = await login(sim, http)
    status, body, _ = await get(sim, http, token, "/Tenants/7", embeds="PrimaryContact")
    assert status == 200 and body["TenantID"] == 7 and body["PrimaryContact"]["ParentID"] == 7
    status, body, _ = await get(sim, http, token, "/Tenants/99999")
    assert status == 404 and "99999" in body["Message"]


# -- errors, limits, faults -----------------------------------------------------------------


async def test_server_errors_use_the_5xx_body(sim: Simulator, http: aiohttp.ClientSession) -> None:
    token = await login(sim, http)
    sim.add_fault("500", path="/Units")
    status, body, _ = await get(sim, http, token, "/Units")
    assert status == 500
    assert set(body) == {"UserMessage", "DeveloperMessage", "ErrorCode", "MoreInfoUri", "Details"}
    assert body["ErrorCode"] == 500 and body["UserMessage"]


async def test_every_answer_carries_rate_limit_headers_and_429_beyond(
    http: aiohttp.ClientSession,
) -> None:
    async with Simulator(RentManagerRenderer, seed=5, scale=SCALE) as limited:
        # 500 a minute as a sliding window of 8 requests per 0.96 s.
        assert limited.rate_limit == pytest.approx(500 / 60)
        token = await login(limited, http)
        remaining: list[int] = []
        answers: list[tuple[int, Any, dict[str, str]]] = []
        for _ in range(9):
            answers.append(await get(limited, http, token, "/UnitTypes"))
        for status, _, headers in answers[:8]:
            assert status == 200
            assert headers["X-RateLimit-Limit"] == "8"
            remaining.append(int(headers["X-RateLimit-Remaining"]))
            assert float(headers["X-RateLimit-Reset"]) >= 0
        assert remaining == [7, 6, 5, 4, 3, 2, 1, 0]
        status, body, headers = answers[8]
        assert status == 429
        assert body == {"Message": "API rate limit exceeded. Try again later.", "ModelState": {}}
        assert headers["X-RateLimit-Remaining"] == "0"
        assert 0 < float(headers["X-RateLimit-Reset"]) <= 0.96
        assert limited.stats_snapshot()["rate_limited"] == 1


async def test_without_a_limit_no_rate_headers_are_sent(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    token = await login(sim, http)
    _, _, headers = await get(sim, http, token, "/Units")
    assert not any(h.lower().startswith("x-ratelimit") for h in headers)


async def test_an_empty_fault_answers_204_with_a_zero_total(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    token = await login(sim, http)
    sim.add_fault("empty", path="/Units")
    status, body, headers = await get(sim, http, token, "/Units", PageSize=10, PageNumber=1)
    assert status == 204 and body is None and headers["X-Total-Results"] == "0"


async def test_a_malformed_fault_breaks_an_id_and_a_value(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    token = await login(sim, http)
    sim.add_fault("malformed", path="/Units")
    _, body, _ = await get(sim, http, token, "/Units", PageSize=10, PageNumber=1)
    assert body[0]["UnitID"] == "not-a-number"
    assert body[5]["MarketRent"] == "call for price"


async def test_truth_lists_live_and_deleted_ids(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    changed = sim.mutate("units", delete=2, create=1)
    async with http.get(sim.url + "/_sim/truth") as response:
        truth = (await response.json())["models"]
    assert set(truth) == {model for model, _ in RESOURCES.values()}
    assert truth["units"]["deleted"] == [str(i) for i in changed["deleted"]]
    assert str(changed["created"][0]) in truth["units"]["live"]
    token = await login(sim, http)
    _, units, _ = await get(sim, http, token, "/Units")
    assert sorted(str(u["UnitID"]) for u in units) == sorted(truth["units"]["live"])


async def test_the_same_seed_serves_the_same_records(http: aiohttp.ClientSession) -> None:
    bodies = []
    for _ in range(2):
        async with Simulator(RentManagerRenderer, seed=9, scale=20, rate_limit=0) as one:
            token = await login(one, http)
            bodies.append(await get(one, http, token, "/Prospects", embeds="PhoneNumbers"))
    assert bodies[0][1] == bodies[1][1] and bodies[0][1]
