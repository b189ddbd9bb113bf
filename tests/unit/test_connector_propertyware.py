"""PropertywareConnector against a small scripted Propertyware-like server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from syncd.connectors.base import ConnectorOptions
from syncd.connectors.propertyware import (
    API_PATH,
    PropertywareConnector,
    api_root,
    format_timestamp,
    primary_contact_first,
    propertyware_error_message,
)
from syncd.connectors.registry import get_connector_class
from syncd.domain import Capability, FetchWindow, Page
from syncd.errors import (
    AuthenticationError,
    ConfigError,
    CredentialError,
    IncompleteListing,
    PermanentError,
    PMSBadResponse,
    RequestRejected,
)

CREDENTIALS = {"client_id": "id-123", "client_secret": "secret-456", "system_id": "98765"}


class FakePropertyware:
    """Serves ``records`` (default: ``count`` bare ids) with Propertyware's offset/limit paging."""

    def __init__(
        self,
        count: int = 0,
        *,
        records: list[dict[str, Any]] | None = None,
        reported_total: int | None = None,
        fail: dict[int, int] | None = None,
        body: Any = None,
        single: dict[str, Any] | None = None,
    ) -> None:
        self.records = records if records is not None else [{"id": i + 1} for i in range(count)]
        self.reported_total = reported_total
        self.fail = dict(fail or {})
        self.body = body
        self.single = single
        self.paths: list[str] = []
        self.queries: list[dict[str, str]] = []
        self.headers: list[dict[str, str]] = []
        self.url = ""

    @property
    def offsets(self) -> list[int]:
        return [int(q.get("offset", "0")) for q in self.queries]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.paths.append(request.path)
        self.queries.append(query)
        self.headers.append(dict(request.headers))
        offset = int(query.get("offset", "0"))
        if offset in self.fail:
            status = self.fail[offset]
            error = {
                "errorCode": "BAD_REQUEST" if status == 400 else "UNAUTHORIZED",
                "errors": [{"key": "offset", "message": "is cursed"}],
                "userMessage": f"Failure at {offset}",
            }
            return web.json_response(error, status=status)
        if request.path.rsplit("/", 1)[-1].isdigit():
            if self.single is None:
                return web.json_response({"errorCode": "NOT_FOUND", "errors": []}, status=404)
            return web.json_response(self.single)
        if self.body is not None:
            return web.json_response(self.body)
        limit = min(int(query.get("limit", "100")), 500)
        total = len(self.records) if self.reported_total is None else self.reported_total
        chunk = self.records[offset : offset + limit]
        return web.Response(
            body=orjson.dumps(chunk),
            headers={"X-Total-Count": str(total)},
            content_type="application/json",
        )


Serve = Callable[[FakePropertyware], Awaitable[FakePropertyware]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(fake: FakePropertyware) -> FakePropertyware:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", fake.handle)
        runner = web.AppRunner(app, shutdown_timeout=1.0)
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


def connector(
    url: str, credentials: dict[str, str] | None = None, **overrides: Any
) -> PropertywareConnector:
    settings: dict[str, Any] = {
        "page_size": 5,
        "concurrency": 4,
        "rate_limit": 0,
        "max_attempts": 3,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "timeout": 5.0,
    }
    return PropertywareConnector(
        base_url=url,
        credentials=credentials or CREDENTIALS,
        options=ConnectorOptions(**(settings | overrides)),
    )


async def collect(
    conn: PropertywareConnector,
    model: str,
    window: FetchWindow | None = None,
    cursor: str | None = None,
) -> list[Page]:
    async with conn.pages(model, window or FetchWindow(), cursor=cursor) as pages:
        return [page async for page in pages]


def ids(pages: list[Page]) -> list[int]:
    return [record["id"] for page in pages for record in page.records]


# -- wire format -----------------------------------------------------------------


async def test_sends_the_three_credentials_and_paging_params(serve: Serve) -> None:
    fake = await serve(FakePropertyware(3))
    async with connector(fake.url) as conn:
        pages = await collect(conn, "leases")
    assert ids(pages) == [1, 2, 3]
    assert fake.paths == [f"{API_PATH}/leases"]
    assert fake.queries == [{"orderby": "id", "limit": "5", "offset": "0"}]
    headers = fake.headers[0]
    assert headers["x-propertyware-client-id"] == "id-123"
    assert headers["x-propertyware-client-secret"] == "secret-456"
    assert headers["x-propertyware-system-id"] == "98765"
    assert pages[0].total == 3
    assert pages[0].cursor == "3:3"


@pytest.mark.parametrize(
    ("model", "path", "fixed"),
    [
        # Deactivated buildings and units are still records, not deletions.
        ("properties", "/buildings", {"includeDeactivated": "true"}),
        ("units", "/units", {"includeDeactivated": "true"}),
        # /contacts also lists prospects, owners and vendors.
        ("residents", "/contacts", {"type": "TENANT"}),
        ("leases", "/leases", {}),
        ("leads", "/prospects", {}),
    ],
)
async def test_model_endpoints_and_fixed_filters(
    serve: Serve, model: str, path: str, fixed: dict[str, str]
) -> None:
    fake = await serve(FakePropertyware(1))
    async with connector(fake.url) as conn:
        await collect(conn, model)
    assert fake.paths == [API_PATH + path]
    assert fake.queries[0] == {"orderby": "id", "limit": "5", "offset": "0", **fixed}


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("https://api.propertyware.com", "https://api.propertyware.com/pw/api/rest/v1"),
        ("https://api.propertyware.com/", "https://api.propertyware.com/pw/api/rest/v1"),
        (
            "https://api.propertyware.com/pw/api/rest/v1/",
            "https://api.propertyware.com/pw/api/rest/v1",
        ),
        # A path given is the operator's: e.g. the overview text's spelling.
        (
            "https://api.propertyware.com/pw/api/v1/rest",
            "https://api.propertyware.com/pw/api/v1/rest",
        ),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/pw/api/rest/v1"),
    ],
)
def test_base_url_gets_the_api_root_when_it_names_only_a_host(given: str, root: str) -> None:
    assert api_root(given) == root
    assert connector(given).base_url == root


async def test_a_full_api_root_is_used_as_given(serve: Serve) -> None:
    fake = await serve(FakePropertyware(1))
    async with connector(fake.url + "/custom/root") as conn:
        await collect(conn, "units")
    assert fake.paths == ["/custom/root/units"]


def test_default_base_urls() -> None:
    production = "https://api.propertyware.com/pw/api/rest/v1"
    assert PropertywareConnector.default_base_url("production") == production
    # No sandbox host is documented: test accounts live on the same API.
    assert PropertywareConnector.default_base_url("SANDBOX") == production
    with pytest.raises(ValueError, match="unknown environment"):
        PropertywareConnector.default_base_url("staging")


# -- paging ----------------------------------------------------------------------


async def test_pages_overlap_by_one_and_arrive_in_order(serve: Serve) -> None:
    fake = await serve(FakePropertyware(23))
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units")
    assert ids(pages) == list(range(1, 24))
    assert [page.cursor for page in pages] == ["5:5", "9:9", "13:13", "17:17", "21:21", "23:23"]
    assert sorted(fake.offsets) == [0, 4, 8, 12, 16, 20]


@pytest.mark.parametrize(("page_size", "limit"), [(5000, "500"), (0, "1"), (250, "250")])
async def test_page_size_is_clamped_to_500(serve: Serve, page_size: int, limit: str) -> None:
    fake = await serve(FakePropertyware(1))
    async with connector(fake.url, page_size=page_size) as conn:
        await collect(conn, "units")
    assert fake.queries[0]["limit"] == limit


async def test_resume_overlaps_the_last_stored_record(serve: Serve) -> None:
    fake = await serve(FakePropertyware(23))
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units", cursor="10:10")
    assert ids(pages) == list(range(11, 24))
    assert fake.offsets[0] == 9


async def test_invalid_cursor_starts_over(serve: Serve) -> None:
    fake = await serve(FakePropertyware(3))
    async with connector(fake.url) as conn:
        with capture_logs() as logs:
            pages = await collect(conn, "units", cursor="garbage")
    assert ids(pages) == [1, 2, 3]
    assert [e["event"] for e in logs] == ["propertyware.cursor.invalid"]


async def test_a_listing_short_of_its_total_is_incomplete(serve: Serve) -> None:
    fake = await serve(FakePropertyware(12, reported_total=40))
    async with connector(fake.url, concurrency=2) as conn:
        with pytest.raises(IncompleteListing, match="40 were announced"):
            await collect(conn, "units")


async def test_non_array_body_is_bad_response(serve: Serve) -> None:
    fake = await serve(FakePropertyware(body={"id": 1}))
    async with connector(fake.url) as conn:
        with pytest.raises(PMSBadResponse, match="JSON array"):
            await collect(conn, "units")


# -- date windows ----------------------------------------------------------------


async def test_window_becomes_last_modified_params(serve: Serve) -> None:
    fake = await serve(FakePropertyware(1))
    window = FetchWindow(
        since=datetime(2024, 3, 1, 8, 30, 15, 999_000, tzinfo=UTC),
        until=datetime(2024, 3, 2, 1, 0, 0, tzinfo=timezone(timedelta(hours=2))),
    )
    async with connector(fake.url) as conn:
        await collect(conn, "leads", window)
    assert fake.queries[0]["lastModifiedDateTimeStart"] == "2024-03-01T08:30:15Z"
    assert fake.queries[0]["lastModifiedDateTimeEnd"] == "2024-03-01T23:00:00Z"


async def test_open_ended_and_full_windows(serve: Serve) -> None:
    fake = await serve(FakePropertyware(1))
    async with connector(fake.url) as conn:
        await collect(conn, "residents", FetchWindow(since=datetime(2024, 1, 1)))
        await collect(conn, "residents", FetchWindow())
    assert fake.queries[0]["lastModifiedDateTimeStart"] == "2024-01-01T00:00:00Z"
    assert "lastModifiedDateTimeEnd" not in fake.queries[0]
    assert fake.queries[0]["type"] == "TENANT"
    assert not {"lastModifiedDateTimeStart", "lastModifiedDateTimeEnd"} & fake.queries[1].keys()


async def test_a_created_window_lists_everything_rather_than_another_set(serve: Serve) -> None:
    fake = await serve(FakePropertyware(3))
    window = FetchWindow(since=datetime(2024, 3, 1, tzinfo=UTC), field="created")
    async with connector(fake.url) as conn:
        with capture_logs() as logs:
            pages = await collect(conn, "leases", window)
    assert ids(pages) == [1, 2, 3]
    assert not any(key.startswith("lastModified") for key in fake.queries[0])
    (event,) = [e for e in logs if e["event"] == "pms.window.unsupported"]
    assert event["model"] == "leases"
    assert event["field"] == "created"
    assert event["supported"] == ["updated"]


def test_supports_window() -> None:
    for model in ("properties", "units", "residents", "leases", "leads"):
        assert PropertywareConnector.supports_window(model)
        assert not PropertywareConnector.supports_window(model, "created")
    assert not PropertywareConnector.supports_window("employees")


def test_format_timestamp() -> None:
    assert format_timestamp(datetime(2024, 5, 6, 7, 8, 9, 123456)) == "2024-05-06T07:08:09Z"
    eastern = timezone(timedelta(hours=-5))
    assert format_timestamp(datetime(2024, 5, 6, 22, 0, tzinfo=eastern)) == "2024-05-07T03:00:00Z"


# -- leases: the primary contact ---------------------------------------------------


def _lease(lease_id: int, *contacts: tuple[int, bool]) -> dict[str, Any]:
    return {"id": lease_id, "contacts": [{"id": c, "primary": p} for c, p in contacts]}


async def test_the_primary_lease_contact_comes_first(serve: Serve) -> None:
    records = [
        _lease(1, (30, False), (20, True), (10, False)),
        _lease(2, (40, True), (50, False)),
        _lease(3, (60, False)),
        {"id": 4, "contacts": "not a list"},
        {"id": 5},
    ]
    fake = await serve(FakePropertyware(records=records))
    async with connector(fake.url, page_size=10) as conn:
        pages = await collect(conn, "leases")
    contacts = [[c["id"] for c in r["contacts"]] for r in pages[0].records[:3]]
    assert contacts == [[20, 30, 10], [40, 50], [60]]
    assert pages[0].records[3:] == records[3:]


def test_primary_contact_first_leaves_other_records_alone() -> None:
    no_primary = _lease(1, (3, False), (2, False))
    assert primary_contact_first(no_primary) is no_primary
    odd = {"id": 1, "contacts": ["x", {"id": 2, "primary": True}]}
    assert primary_contact_first(odd)["contacts"] == [{"id": 2, "primary": True}, "x"]


# -- single records ----------------------------------------------------------------


async def test_fetch_one(serve: Serve) -> None:
    fake = await serve(FakePropertyware(single=_lease(7, (1, False), (2, True))))
    async with connector(fake.url) as conn:
        lease = await conn.fetch_one("leases", "7")
        assert lease is not None
        assert [c["id"] for c in lease["contacts"]] == [2, 1]
        assert await conn.fetch_one("leases", "abc") is None
        assert await conn.fetch_one("floor_plans", "7") is None
    assert fake.paths == [f"{API_PATH}/leases/7"]


async def test_fetch_one_of_a_contact_that_is_no_tenant(serve: Serve) -> None:
    fake = await serve(FakePropertyware(single={"id": 9, "type": "PROSPECT"}))
    async with connector(fake.url) as conn:
        assert await conn.fetch_one("residents", "9") is None
        fake.single = {"id": 9, "type": "TENANT"}
        assert await conn.fetch_one("residents", "9") == {"id": 9, "type": "TENANT"}


async def test_fetch_one_not_found(serve: Serve) -> None:
    fake = await serve(FakePropertyware())
    async with connector(fake.url) as conn:
        assert await conn.fetch_one("units", "12") is None


# -- errors and auth ---------------------------------------------------------------


async def test_check_auth(serve: Serve) -> None:
    fake = await serve(FakePropertyware(3))
    async with connector(fake.url) as conn:
        await conn.check_auth()
    assert fake.paths == [f"{API_PATH}/buildings"]
    assert fake.queries == [{"limit": "1", "includeDeactivated": "true"}]


async def test_check_auth_refused(serve: Serve) -> None:
    fake = await serve(FakePropertyware(3, fail={0: 401}))
    async with connector(fake.url) as conn:
        with pytest.raises(AuthenticationError, match="Failure at 0") as info:
            await conn.check_auth()
    assert info.value.status == 401
    assert conn.stats.requests == 1


async def test_a_rejected_request_is_not_retried_and_names_the_key(serve: Serve) -> None:
    fake = await serve(FakePropertyware(30, fail={8: 400}))
    async with connector(fake.url, concurrency=1) as conn:
        with pytest.raises(RequestRejected, match=r"offset: is cursed \[BAD_REQUEST\]"):
            await collect(conn, "units")
    assert fake.offsets.count(8) == 1


def test_error_message_formatting() -> None:
    body = {
        "errorCode": "BAD_REQUEST",
        "errors": [{"key": "limit", "message": "is invalid"}, {"key": "", "message": "general"}],
        "userMessage": "The request is invalid.",
    }
    assert (
        propertyware_error_message(body)
        == "The request is invalid. limit: is invalid; general [BAD_REQUEST]"
    )
    assert propertyware_error_message({"userMessage": "Nope"}) == "Nope"
    assert propertyware_error_message({}) is None
    assert propertyware_error_message([1]) is None
    assert propertyware_error_message("plain") == "plain"


def test_missing_credentials() -> None:
    with pytest.raises(CredentialError, match="system_id"):
        PropertywareConnector(
            base_url="http://x", credentials={"client_id": "a", "client_secret": "b"}
        )
    with pytest.raises(ConfigError, match="system_id"):
        PropertywareConnector.validate_credentials({"client_id": "a", "client_secret": "b"})
    PropertywareConnector.validate_credentials(CREDENTIALS)


async def test_unsupported_model(serve: Serve) -> None:
    fake = await serve(FakePropertyware(1))
    async with connector(fake.url) as conn:
        with pytest.raises(PermanentError, match="employees"):
            conn.pages("employees", FetchWindow())
    assert fake.queries == []


def test_pages_before_open_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not open"):
        connector("http://127.0.0.1:1").pages("units", FetchWindow())


# -- declarations ------------------------------------------------------------------


def test_capabilities_and_writable_fields() -> None:
    caps = PropertywareConnector.capabilities()
    assert set(caps) == {"properties", "units", "residents", "leases", "leads"}
    assert caps["leads"] == {Capability.READ, Capability.CREATE}
    assert caps["units"] == {Capability.READ}
    fields = PropertywareConnector.writable_fields("leads", Capability.CREATE)
    assert {"first_name", "last_name", "email_1", "lead_source", "target_move_in_date"} <= fields
    assert PropertywareConnector.writable_fields("leads", Capability.UPDATE) == frozenset()
    assert PropertywareConnector.writable_fields("units", Capability.CREATE) == frozenset()


def test_rate_limit_and_registry() -> None:
    spec = PropertywareConnector.rate_limit
    assert spec is not None
    assert spec.per_second == 10.0
    assert get_connector_class("propertyware") is PropertywareConnector
    assert PropertywareConnector.vendor == "PROPERTYWARE"
    assert PropertywareConnector.display_name == "Propertyware"


def test_one_bucket_per_organization_and_key() -> None:
    # Own credentials: a limited bucket must not reach the other tests' connectors.
    creds = {**CREDENTIALS, "client_id": "bucket-test"}
    first = connector("http://x", creds, rate_limit=10)
    same = connector("http://x", creds, rate_limit=10)
    other = connector("http://x", {**creds, "system_id": "11111"}, rate_limit=10)
    # Another host (a simulator, a proxy) is another PMS: it counts on its own.
    elsewhere = connector("http://y", creds, rate_limit=10)
    assert first.client.bucket is same.client.bucket
    assert first.client.bucket is not other.client.bucket
    assert first.client.bucket is not elsewhere.client.bucket
    assert first.client.bucket.capacity == 1.0
