"""ResManConnector against a small scripted ResMan-like server (both APIs on one host)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import anyio
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from syncd.connectors.base import ConnectorOptions
from syncd.connectors.registry import get_connector_class
from syncd.connectors.resman import (
    CLASSIC_URL,
    FULL_LISTING_SINCE,
    PARTNERS_URL,
    ResManConnector,
    classic_failure,
    classic_url_for,
    format_timestamp,
    partners_url_for,
    resman_error_message,
)
from syncd.domain import Capability, FetchWindow, Page, PropertyScope
from syncd.errors import (
    AuthenticationError,
    ConfigError,
    CredentialError,
    IncompleteListing,
    PermanentError,
    PermissionDenied,
    PMSBadResponse,
    PMSNotFound,
    RateLimited,
    RequestRejected,
)

CREDENTIALS = {"integration_partner_id": "partner-7", "api_key": "key-abc", "account_id": "1399"}
P1 = "11111111-1111-4111-8111-111111111111"
P2 = "22222222-2222-4222-8222-222222222222"
P3 = "33333333-3333-4333-8333-333333333333"

Answer = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse | None]]


class FakeResMan:
    """Serves ``/Properties`` and per-property lists of both APIs; records every request."""

    def __init__(self, properties: list[str], lists: dict[str, dict[str, list[Any]]]) -> None:
        self.properties = properties
        # path -> property id -> records
        self.lists = lists
        self.requests: list[dict[str, Any]] = []
        self.answer: Answer | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.url = ""

    def of(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        form = dict(await request.post()) if request.method == "POST" else {}
        params = {str(k): str(v) for k, v in form.items()} | dict(request.query)
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "form": {str(k): str(v) for k, v in form.items()},
                "headers": dict(request.headers),
            }
        )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.answer is not None:
                answered = await self.answer(request, params)
                if answered is not None:
                    return answered
            if request.path == "/Properties":
                return web.json_response(
                    {"properties": [{"propertyId": p} for p in self.properties]}
                )
            property_id = params.get("PropertyID") or params.get("propertyId") or ""
            records = self.lists.get(request.path, {}).get(property_id, [])
            if request.method == "POST":
                key = {
                    "/Leasing/GetProspectSources": "ProspectSources",
                    "/Leasing/GetCurrentResidents": "Residents",
                }[request.path]
                return web.json_response(
                    {
                        "MethodName": request.path.rsplit("/", 1)[-1],
                        "Status": "Success",
                        "AccountID": "1399",
                        "PropertyID": property_id,
                        key: records,
                    }
                )
            key = {
                "/UnitTypes": "unitTypes",
                "/Units/Availability": "units",
                "/Prospects": "prospects",
                "/Leasing/Leases": "leases",
                "/Employees": "employees",
            }[request.path]
            return web.json_response({key: records})
        finally:
            self.in_flight -= 1


Serve = Callable[[FakeResMan], Awaitable[FakeResMan]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(fake: FakeResMan) -> FakeResMan:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", fake.handle)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        fake.url = f"http://{host}:{port}"
        return fake

    yield start
    for runner in runners:
        await runner.cleanup()


def connector(url: str, **overrides: Any) -> ResManConnector:
    settings: dict[str, Any] = {
        "concurrency": 3,
        # A page per property (with records): larger pages join properties.
        "page_size": 1,
        "rate_limit": 0,
        "max_attempts": 3,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "timeout": 5.0,
    }
    return ResManConnector(
        base_url=url, credentials=CREDENTIALS, options=ConnectorOptions(**(settings | overrides))
    )


async def collect(
    conn: ResManConnector,
    model: str,
    window: FetchWindow | None = None,
    *,
    cursor: str | None = None,
    scope: PropertyScope | None = None,
) -> list[Page]:
    async with conn.pages(
        model, window or FetchWindow(), cursor=cursor, scope=scope or PropertyScope()
    ) as pages:
        got = [page async for page in pages]
    assert pages.proof is not None
    return got


def units(*ids: str, property_id: str) -> list[dict[str, Any]]:
    return [{"unitId": i, "propertyId": property_id} for i in ids]


def unit_fake() -> FakeResMan:
    return FakeResMan(
        [P2, P1, P3],
        {
            "/Units/Availability": {
                P1: units("u1", "u2", property_id=P1),
                P2: units("u3", property_id=P2),
                P3: units("u4", "u5", property_id=P3),
            }
        },
    )


# -- declarations ------------------------------------------------------------------


def test_registered_with_its_declarations() -> None:
    assert get_connector_class("resman") is ResManConnector
    assert ResManConnector.vendor == "RESMAN"
    assert ResManConnector.display_name == "ResMan"
    assert ResManConnector.credential_keys == ("integration_partner_id", "api_key", "account_id")
    caps = ResManConnector.capabilities()
    assert set(caps) == {
        "properties",
        "floor_plans",
        "units",
        "residents",
        "leases",
        "lead_sources",
        "leads",
        "employees",
    }
    assert all(Capability.READ in c for c in caps.values())
    assert caps["leads"] == {Capability.READ, Capability.CREATE, Capability.UPDATE}
    assert ResManConnector.date_fields("leads") == {"updated"}
    assert ResManConnector.date_fields("leases") == {"updated"}
    assert ResManConnector.date_fields("units") == frozenset()
    assert not ResManConnector.supports_window("leads", "created")
    fields = ResManConnector.writable_fields("leads", Capability.CREATE)
    assert {"first_name", "email_1", "desired_max_rent_in_cents", "target_move_in_date"} <= fields
    assert ResManConnector.writable_fields("leads", Capability.UPDATE) == fields
    assert ResManConnector.writable_fields("units", Capability.CREATE) == frozenset()
    assert ResManConnector.rate_limit is not None
    assert ResManConnector.rate_limit.per_second == 2


def test_base_urls_and_the_partners_host() -> None:
    assert ResManConnector.default_base_url("production") == CLASSIC_URL
    assert ResManConnector.default_base_url("sandbox") == CLASSIC_URL
    with pytest.raises(ValueError, match="unknown environment"):
        ResManConnector.default_base_url("staging")
    # Beside the production classic host the Partners API has its own host;
    # a simulator or proxy serves both.
    assert partners_url_for(CLASSIC_URL) == PARTNERS_URL
    assert partners_url_for(CLASSIC_URL + "/") == PARTNERS_URL
    assert partners_url_for("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert partners_url_for(CLASSIC_URL, "https://proxy.example/v2/") == "https://proxy.example/v2"
    assert classic_url_for(PARTNERS_URL) == CLASSIC_URL
    assert classic_url_for("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    conn = ResManConnector(base_url=CLASSIC_URL, credentials=CREDENTIALS)
    assert (conn.classic_url, conn.partners_url) == (CLASSIC_URL, PARTNERS_URL)
    options = ConnectorOptions(extra={"partners_api_url": "https://gw.example"})
    conn = ResManConnector(base_url=CLASSIC_URL, credentials=CREDENTIALS, options=options)
    assert conn.partners_url == "https://gw.example"


def test_credentials_are_checked() -> None:
    ResManConnector.validate_credentials(CREDENTIALS)
    with pytest.raises(ConfigError, match="account_id"):
        ResManConnector.validate_credentials({"integration_partner_id": "p", "api_key": "k"})
    with pytest.raises(ConfigError, match="takes no credential"):
        ResManConnector.validate_credentials({**CREDENTIALS, "password": "x"})
    with pytest.raises(CredentialError, match="api_key"):
        ResManConnector(base_url=CLASSIC_URL, credentials={**CREDENTIALS, "api_key": ""})
    with pytest.raises(CredentialError, match="':'"):
        ResManConnector(
            base_url=CLASSIC_URL, credentials={**CREDENTIALS, "integration_partner_id": "a:b"}
        )


def test_timestamps_are_utc() -> None:
    assert format_timestamp(datetime(2024, 3, 1, 9, 5, 7, tzinfo=UTC)) == "2024-03-01T09:05:07Z"
    eastern = timezone(timedelta(hours=-5))
    assert format_timestamp(datetime(2024, 3, 1, 4, 0, tzinfo=eastern)) == "2024-03-01T09:00:00Z"
    assert format_timestamp(datetime(2024, 3, 1)) == "2024-03-01T00:00:00Z"


# -- errors ------------------------------------------------------------------------


def test_error_messages_of_both_apis() -> None:
    assert (
        resman_error_message({"Status": "Failed", "ErrorDescription": "Invalid ApiKey."})
        == "Invalid ApiKey."
    )
    assert resman_error_message({"code": "NotFound", "message": "No such property."}) == (
        "No such property. [NotFound]"
    )
    problem = {"title": "Bad request", "errors": {"propertyId": ["is required"]}}
    assert resman_error_message(problem) == "Bad request propertyId: is required"
    assert resman_error_message("  plain text ") == "plain text"
    assert resman_error_message([1, 2]) is None


@pytest.mark.parametrize(
    ("description", "error"),
    [
        ("Invalid IntegrationPartnerID or ApiKey.", AuthenticationError),
        ("The API key supplied was not recognized", AuthenticationError),
        ("IntegrationPartnerID 7 does not have access to AccountID 1399.", PermissionDenied),
        ("Property 1234 was not found for AccountID 1399.", PMSNotFound),
        ("Too many requests", RateLimited),
        ("PropertyID is required.", RequestRejected),
        (None, RequestRejected),
    ],
)
def test_classic_failures_are_classified(description: str | None, error: type[Exception]) -> None:
    raised = classic_failure(description, where="POST /Leasing/GetProspectSources", url="u")
    assert type(raised) is error
    assert "POST /Leasing/GetProspectSources" in str(raised)


async def test_a_classic_failure_with_http_200_is_an_error_not_data(serve: Serve) -> None:
    fake = await serve(FakeResMan([P1], {}))

    async def refuse(request: web.Request, params: dict[str, str]) -> web.StreamResponse | None:
        if request.method != "POST":
            return None
        return web.json_response(
            {"MethodName": "GetProspectSources", "Status": "Failed",
             "ErrorDescription": "Invalid IntegrationPartnerID or ApiKey."}
        )  # fmt: skip

    fake.answer = refuse
    async with connector(fake.url) as conn:
        with pytest.raises(AuthenticationError, match="Invalid IntegrationPartnerID"):
            await collect(conn, "lead_sources")
    # Refused credentials are not retried.
    assert len(fake.of("/Leasing/GetProspectSources")) == 1


async def test_a_partners_api_401_is_an_authentication_error(serve: Serve) -> None:
    fake = await serve(FakeResMan([P1], {}))

    async def refuse(request: web.Request, params: dict[str, str]) -> web.StreamResponse:
        return web.json_response(
            {"code": "Unauthorized", "message": "Invalid integration partner credentials."},
            status=401,
        )

    fake.answer = refuse
    async with connector(fake.url) as conn:
        with pytest.raises(AuthenticationError, match="Invalid integration partner"):
            await conn.check_auth()
        with pytest.raises(AuthenticationError):
            await collect(conn, "units")
    assert [r["path"] for r in fake.requests] == ["/Properties", "/Properties"]


async def test_answers_without_the_list_are_bad_responses(serve: Serve) -> None:
    fake = await serve(FakeResMan([P1], {}))

    async def odd(request: web.Request, params: dict[str, str]) -> web.StreamResponse | None:
        if request.path == "/UnitTypes":
            return web.json_response({"items": []})
        if request.path == "/Units/Availability":
            return web.json_response([{"unitId": "u1"}])
        if request.path == "/Prospects":
            return web.json_response({"prospects": None})
        return None

    fake.answer = odd
    async with connector(fake.url) as conn:
        with pytest.raises(PMSBadResponse, match="no 'unitTypes' list"):
            await collect(conn, "floor_plans")
        with pytest.raises(PMSBadResponse, match="expected a JSON object"):
            await collect(conn, "units")
        # A null list is an empty one.
        pages = await collect(conn, "leads")
    assert [p.records for p in pages] == [[]]


def test_an_unknown_model_is_refused() -> None:
    conn = ResManConnector(base_url=CLASSIC_URL, credentials=CREDENTIALS)
    with pytest.raises(PermanentError, match="no 'charges' resource"):
        conn.pages("charges", FetchWindow())


# -- wire format --------------------------------------------------------------------


async def test_partners_api_requests_carry_basic_auth_and_the_account(serve: Serve) -> None:
    fake = await serve(unit_fake())
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units")
    # One page per property, properties in id order.
    assert [[r["unitId"] for r in p.records] for p in pages] == [["u1", "u2"], ["u3"], ["u4", "u5"]]
    assert [r["path"] for r in fake.requests] == ["/Properties"] + ["/Units/Availability"] * 3
    assert [r["query"] for r in fake.of("/Units/Availability")] == [
        {"propertyId": P1},
        {"propertyId": P2},
        {"propertyId": P3},
    ]
    for request in fake.requests:
        headers = request["headers"]
        expected = base64.b64encode(b"partner-7:key-abc").decode()
        assert headers["Authorization"] == f"Basic {expected}"
        assert headers["ResMan-Account-Id"] == "1399"
        assert headers["Accept"] == "application/json"
        assert request["method"] == "GET"


async def test_classic_requests_are_form_posts_with_the_credentials(serve: Serve) -> None:
    sources = {P1: [{"ID": "s1", "Name": "Website"}], P2: [{"ID": "s2", "Name": "Zillow"}]}
    fake = await serve(FakeResMan([P1, P2], {"/Leasing/GetProspectSources": sources}))
    async with connector(fake.url) as conn:
        pages = await collect(conn, "lead_sources")
    # The classic answer names its property once; every record then carries it.
    assert [p.records for p in pages] == [
        [{"ID": "s1", "Name": "Website", "PropertyID": P1}],
        [{"ID": "s2", "Name": "Zillow", "PropertyID": P2}],
    ]
    posts = fake.of("/Leasing/GetProspectSources")
    assert [p["method"] for p in posts] == ["POST", "POST"]
    assert posts[0]["form"] == {
        "IntegrationPartnerID": "partner-7",
        "ApiKey": "key-abc",
        "AccountID": "1399",
        "PropertyID": P1,
    }
    headers = posts[0]["headers"]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["Accept"] == "application/json"
    # No Basic auth on the classic API: the credentials travel in the form.
    assert "Authorization" not in headers


@pytest.mark.parametrize(
    ("model", "path", "extra"),
    [
        ("floor_plans", "/UnitTypes", {}),
        ("units", "/Units/Availability", {}),
        ("leads", "/Prospects", {"modifiedSince": format_timestamp(FULL_LISTING_SINCE)}),
        (
            "leases",
            "/Leasing/Leases",
            {"includeLeaseHistory": "true", "modifiedSince": "2000-01-01T00:00:00Z"},
        ),
    ],
)
async def test_model_endpoints(serve: Serve, model: str, path: str, extra: dict[str, str]) -> None:
    fake = await serve(FakeResMan([P1], {}))
    async with connector(fake.url) as conn:
        await collect(conn, model)
    assert [r["query"] for r in fake.of(path)] == [{"propertyId": P1, **extra}]


async def test_account_wide_lists_are_one_request(serve: Serve) -> None:
    staff = [{"personId": "e1"}, {"personId": "e2"}]
    fake = await serve(FakeResMan([P1, P2], {"/Employees": {"": staff}}))
    async with connector(fake.url) as conn:
        employees = await collect(conn, "employees")
        properties = await collect(conn, "properties")
    assert [p.records for p in employees] == [staff]
    assert [[r["propertyId"] for r in p.records] for p in properties] == [[P1, P2]]
    assert [r["path"] for r in fake.requests] == ["/Employees", "/Properties"]
    assert fake.of("/Employees")[0]["query"] == {}


async def test_a_window_is_sent_as_modified_since(serve: Serve) -> None:
    fake = await serve(FakeResMan([P1], {}))
    since = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    async with connector(fake.url) as conn:
        await collect(conn, "leads", FetchWindow(since=since, until=since + timedelta(hours=1)))
    # ResMan has no upper bound: the window's end is not sent.
    assert fake.of("/Prospects")[0]["query"] == {
        "propertyId": P1,
        "modifiedSince": "2024-05-01T12:30:00Z",
    }


async def test_a_window_the_model_cannot_filter_lists_everything(serve: Serve) -> None:
    fake = await serve(unit_fake())
    since = datetime(2024, 5, 1, tzinfo=UTC)
    async with connector(fake.url) as conn:
        with capture_logs() as logs:
            pages = await collect(conn, "units", FetchWindow(since=since))
            await collect(conn, "leads", FetchWindow(since=since, field="created"))
    assert sum(len(p.records) for p in pages) == 5
    assert all("modifiedSince" not in r["query"] for r in fake.of("/Units/Availability"))
    # Never another date than asked for: created leads are not filtered by modification.
    assert {r["query"]["modifiedSince"] for r in fake.of("/Prospects")} == {"2000-01-01T00:00:00Z"}
    unsupported = [e for e in logs if e["event"] == "pms.window.unsupported"]
    assert [(e["model"], e["field"]) for e in unsupported] == [
        ("units", "updated"),
        ("leads", "created"),
    ]


# -- property scope, resume, prefetch ------------------------------------------------


async def test_an_excluded_property_is_never_asked_for(serve: Serve) -> None:
    fake = await serve(unit_fake())
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units", scope=PropertyScope(frozenset({P2.upper()})))
    assert [[r["unitId"] for r in p.records] for p in pages] == [["u1", "u2"], ["u4", "u5"]]
    asked = [r["query"]["propertyId"] for r in fake.of("/Units/Availability")]
    assert asked == [P1, P3]


async def test_cursors_name_the_last_property_and_resume_after_it(serve: Serve) -> None:
    fake = await serve(unit_fake())
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units")
        assert [p.cursor for p in pages] == [f"after:{P1}", f"after:{P2}", f"after:{P3}"]
        resumed = await collect(conn, "units", cursor=pages[0].cursor)
        assert [[r["unitId"] for r in p.records] for p in resumed] == [["u3"], ["u4", "u5"]]
        # A property listed before the cursor's, added since, does not shift the resume.
        fake.properties.append("00000000-0000-4000-8000-000000000000")
        resumed = await collect(conn, "units", cursor=pages[1].cursor)
        assert [[r["unitId"] for r in p.records] for p in resumed] == [["u4", "u5"]]
        async with conn.pages("units", FetchWindow(), cursor=pages[2].cursor) as done:
            assert [p async for p in done] == []
        assert done.proof is not None and done.proof.start == 4
        with capture_logs() as logs:
            fresh = await collect(conn, "units", cursor="garbage")
    # From the start: the new, empty property shares the first property's page.
    assert [[r["unitId"] for r in p.records] for p in fresh] == [["u1", "u2"], ["u3"], ["u4", "u5"]]
    assert [e["event"] for e in logs].count("resman.cursor.invalid") == 1


async def test_the_first_property_goes_alone(serve: Serve) -> None:
    fake = await serve(unit_fake())

    async def refuse(request: web.Request, params: dict[str, str]) -> web.StreamResponse | None:
        if request.path != "/Units/Availability":
            return None
        return web.json_response({"code": "Unauthorized", "message": "no"}, status=401)

    fake.answer = refuse
    async with connector(fake.url, concurrency=3) as conn:
        with pytest.raises(AuthenticationError):
            await collect(conn, "units")
    # Refused credentials cost one request, not one per property in flight.
    assert [r["query"]["propertyId"] for r in fake.of("/Units/Availability")] == [P1]


async def test_after_the_first_property_others_are_fetched_ahead(serve: Serve) -> None:
    fake = await serve(unit_fake())

    async def gather(request: web.Request, params: dict[str, str]) -> web.StreamResponse | None:
        # Hold the later properties until two are in flight (or 5 s pass).
        if params.get("propertyId") not in (P2, P3):
            return None
        with anyio.move_on_after(5):
            while fake.max_in_flight < 2:
                await anyio.sleep(0.005)
        return None

    fake.answer = gather
    async with connector(fake.url, concurrency=3) as conn:
        pages = await collect(conn, "units")
    assert sum(len(p.records) for p in pages) == 5
    assert fake.max_in_flight == 2


async def test_an_id_repeated_across_properties_fails_the_listing(serve: Serve) -> None:
    lists = {
        "/Units/Availability": {P1: units("u1", property_id=P1), P2: units("U1", property_id=P2)}
    }
    fake = await serve(FakeResMan([P1, P2], lists))
    async with connector(fake.url) as conn:
        with pytest.raises(IncompleteListing, match="repeated"):
            await collect(conn, "units")


async def test_server_errors_are_retried(serve: Serve) -> None:
    fake = await serve(unit_fake())
    failures = {"left": 2}

    async def flaky(request: web.Request, params: dict[str, str]) -> web.StreamResponse | None:
        if request.path == "/Units/Availability" and failures["left"]:
            failures["left"] -= 1
            return web.json_response({"code": "InternalServerError", "message": "x"}, status=500)
        return None

    fake.answer = flaky
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units")
        assert conn.stats.retries == 2
    assert sum(len(p.records) for p in pages) == 5


async def test_classic_server_errors_are_retried_though_posted(serve: Serve) -> None:
    residents = {P1: [{"PersonID": "r1"}]}
    fake = await serve(FakeResMan([P1], {"/Leasing/GetCurrentResidents": residents}))
    failures = {"left": 1}

    async def flaky(request: web.Request, params: dict[str, str]) -> web.StreamResponse | None:
        if request.method == "POST" and failures["left"]:
            failures["left"] -= 1
            return web.json_response({"Status": "Failed", "ErrorDescription": "boom"}, status=503)
        return None

    fake.answer = flaky
    async with connector(fake.url) as conn:
        pages = await collect(conn, "residents")
    assert [p.records for p in pages] == [[{"PersonID": "r1", "PropertyID": P1}]]
    assert len(fake.of("/Leasing/GetCurrentResidents")) == 2
