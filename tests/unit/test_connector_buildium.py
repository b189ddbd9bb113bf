"""BuildiumConnector against a small scripted Buildium-like server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import anyio
import orjson
import pytest
from aiohttp import web

from syncd.connectors.base import ConnectorOptions
from syncd.connectors.buildium import (
    BuildiumConnector,
    buildium_error_message,
    format_timestamp,
)
from syncd.connectors.registry import get_connector_class, known_vendors
from syncd.domain import Capability, FetchWindow, Page
from syncd.errors import (
    AuthenticationError,
    ConfigError,
    CredentialError,
    IncompleteListing,
    PermanentError,
    PMSBadResponse,
    PMSNotFound,
    RequestRejected,
)

CREDENTIALS = {"client_id": "id-123", "client_secret": "secret-456"}


class FakeBuildium:
    """Serves ``count`` records at any path with Buildium's offset/limit paging."""

    def __init__(
        self,
        count: int,
        *,
        send_total: bool = True,
        reported_total: int | None = None,
        cap: int | None = None,
        delay: Callable[[int], float] | None = None,
        fail: dict[int, int] | None = None,
        body: Any = None,
        gather: int | None = None,
    ) -> None:
        self.records = [{"Id": i + 1} for i in range(count)]
        self.send_total = send_total
        self.reported_total = reported_total
        self.cap = cap
        self.delay = delay
        self.fail = dict(fail or {})
        self.body = body
        # Hold each request until this many are in flight (or 5 s pass): what
        # a client keeps in flight shows however slow the machine is.
        self.gather = gather
        self.paths: list[str] = []
        self.queries: list[dict[str, str]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled = 0
        self.url = ""

    @property
    def offsets(self) -> list[int]:
        return [int(q.get("offset", "0")) for q in self.queries]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.paths.append(request.path)
        self.queries.append(query)
        self.headers.append(dict(request.headers))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            offset = int(query.get("offset", "0"))
            limit = int(query.get("limit", "50"))
            if self.delay is not None:
                await anyio.sleep(self.delay(offset))
            if self.gather is not None and offset > 0:  # the first page comes alone
                with anyio.move_on_after(5):
                    while self.in_flight < self.gather and self.max_in_flight < self.gather:
                        await anyio.sleep(0.005)
            if offset in self.fail:
                code = self.fail.pop(offset) if self.fail[offset] >= 500 else self.fail[offset]
                error = {
                    "UserMessage": f"Failure at {offset}",
                    "ErrorCode": "Code",
                    "Errors": [{"Key": "offset", "Value": "is cursed"}],
                }
                return web.json_response(error, status=code)
            if self.body is not None:
                return web.json_response(self.body)
            if self.cap is not None:
                limit = min(limit, self.cap)
            headers = {}
            if self.send_total:
                total = self.reported_total
                headers["X-Total-Count"] = str(len(self.records) if total is None else total)
            chunk = self.records[offset : offset + limit]
            return web.Response(
                body=orjson.dumps(chunk), headers=headers, content_type="application/json"
            )
        except BaseException:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1


Serve = Callable[[FakeBuildium], Awaitable[FakeBuildium]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(fake: FakeBuildium) -> FakeBuildium:
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


def connector(url: str, **overrides: Any) -> BuildiumConnector:
    settings: dict[str, Any] = {
        "page_size": 5,
        "concurrency": 4,
        "rate_limit": 0,
        "max_attempts": 3,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "timeout": 5.0,
    }
    return BuildiumConnector(
        base_url=url, credentials=CREDENTIALS, options=ConnectorOptions(**(settings | overrides))
    )


async def collect(
    conn: BuildiumConnector,
    model: str,
    window: FetchWindow | None = None,
    cursor: str | None = None,
) -> list[Page]:
    async with conn.pages(model, window or FetchWindow(), cursor=cursor) as pages:
        return [page async for page in pages]


def ids(pages: list[Page]) -> list[int]:
    return [record["Id"] for page in pages for record in page.records]


async def test_sends_credentials_and_paging_params(serve: Serve) -> None:
    fake = await serve(FakeBuildium(3))
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units")
    assert ids(pages) == [1, 2, 3]
    assert fake.paths == ["/v1/rentals/units"]
    assert fake.queries == [{"orderby": "Id", "limit": "5", "offset": "0"}]
    headers = fake.headers[0]
    assert headers["x-buildium-client-id"] == "id-123"
    assert headers["x-buildium-client-secret"] == "secret-456"
    assert pages[0].total == 3
    # The position after the page and its last Id (the next page overlaps it).
    assert pages[0].cursor == "3:3"
    assert pages[0].model == "units"


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("properties", "/v1/rentals"),
        ("units", "/v1/rentals/units"),
        ("residents", "/v1/leases/tenants"),
        ("leases", "/v1/leases"),
        ("leads", "/v1/applicants"),
        ("employees", "/v1/users"),
    ],
)
async def test_model_endpoints(serve: Serve, model: str, path: str) -> None:
    fake = await serve(FakeBuildium(1))
    async with connector(fake.url) as conn:
        await collect(conn, model)
    assert fake.paths == [path]


async def test_pages_in_order_even_when_later_pages_answer_first(serve: Serve) -> None:
    # Later offsets answer faster, so completions arrive out of order.
    fake = await serve(FakeBuildium(23, delay=lambda offset: max(0.0, 0.2 - offset / 100)))
    async with connector(fake.url, concurrency=4) as conn:
        pages = await collect(conn, "leases")
    assert ids(pages) == list(range(1, 24))
    # Each page after the first starts on the previous page's last record.
    assert [page.cursor for page in pages] == ["5:5", "9:9", "13:13", "17:17", "21:21", "23:23"]
    assert {page.total for page in pages} == {23}
    assert sorted(fake.offsets) == [0, 4, 8, 12, 16, 20]
    assert 2 <= fake.max_in_flight <= 4
    assert conn.stats.requests == 6
    assert conn.stats.retries == 0


async def test_concurrency_bounds_pages_in_flight(serve: Serve) -> None:
    fake = await serve(FakeBuildium(100, gather=3))
    async with connector(fake.url, concurrency=3, page_size=10) as conn:
        pages = await collect(conn, "units")
    assert ids(pages) == list(range(1, 101))
    assert fake.max_in_flight == 3


async def test_sequential_consumer_still_gets_prefetch(serve: Serve) -> None:
    fake = await serve(FakeBuildium(40, gather=4))
    async with connector(fake.url, concurrency=4, page_size=5) as conn:
        pages = await collect(conn, "units")
    assert ids(pages) == list(range(1, 41))
    # Measured by requests in flight, not seconds (a busy machine slows both):
    # while the consumer takes one page, the next four are already asked for.
    assert fake.max_in_flight == 4


async def test_resume_from_cursor(serve: Serve) -> None:
    fake = await serve(FakeBuildium(23))
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units", cursor="10")
    assert ids(pages) == list(range(11, 24))
    assert fake.offsets[0] == 10
    assert sorted(fake.offsets) == [10, 14, 18, 22]
    assert [page.cursor for page in pages] == ["15:15", "19:19", "23:23"]


async def test_resume_overlaps_the_last_stored_record(serve: Serve) -> None:
    fake = await serve(FakeBuildium(23))
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units", cursor="10:10")
    assert ids(pages) == list(range(11, 24))
    assert fake.offsets[0] == 9


async def test_cursor_at_end_gives_one_empty_page(serve: Serve) -> None:
    fake = await serve(FakeBuildium(10))
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units", cursor="10")
    assert [(page.records, page.cursor, page.total) for page in pages] == [([], "10", 10)]


async def test_invalid_cursor_starts_over(serve: Serve) -> None:
    fake = await serve(FakeBuildium(3))
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units", cursor="not-a-number")
    assert ids(pages) == [1, 2, 3]


async def test_empty_result(serve: Serve) -> None:
    fake = await serve(FakeBuildium(0))
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units")
    assert len(pages) == 1
    assert pages[0].records == []
    assert pages[0].total == 0
    assert pages[0].cursor == "0"
    assert fake.offsets == [0]


async def test_exact_multiple_of_page_size(serve: Serve) -> None:
    fake = await serve(FakeBuildium(9))
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units")
    assert [len(page.records) for page in pages] == [5, 4]
    # A full page reaching the total is confirmed by one more (short) page.
    assert sorted(fake.offsets) == [0, 4, 8]


async def test_listing_short_of_its_total_is_incomplete(serve: Serve) -> None:
    fake = await serve(FakeBuildium(12, reported_total=40))
    received: list[Page] = []
    async with connector(fake.url, concurrency=2) as conn:
        with pytest.raises(IncompleteListing, match="where 5 were asked, yet 40 were announced"):
            async with conn.pages("units", FetchWindow()) as pages:
                async for page in pages:
                    received.append(page)
        assert pages.proof is None
    assert ids(received) == list(range(1, 10))


async def test_without_total_pages_sequentially_until_short_page(serve: Serve) -> None:
    fake = await serve(FakeBuildium(12, send_total=False, delay=lambda _: 0.01))
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units")
    assert ids(pages) == list(range(1, 13))
    assert fake.offsets == [0, 4, 8]
    assert fake.max_in_flight == 1
    assert {page.total for page in pages} == {None}
    assert [page.cursor for page in pages] == ["5:5", "9:9", "12:12"]


async def test_without_total_stops_at_a_short_page(serve: Serve) -> None:
    fake = await serve(FakeBuildium(9, send_total=False))
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units")
    assert [len(page.records) for page in pages] == [5, 4]
    assert fake.offsets == [0, 4, 8]


async def test_server_capping_page_size_loses_nothing(serve: Serve) -> None:
    fake = await serve(FakeBuildium(20, cap=3))
    async with connector(fake.url, page_size=5) as conn:
        pages = await collect(conn, "units")
    assert ids(pages) == list(range(1, 21))
    assert fake.queries[-1]["limit"] == "3"


@pytest.mark.parametrize(("page_size", "limit"), [(5000, "1000"), (0, "1"), (250, "250")])
async def test_page_size_is_clamped(serve: Serve, page_size: int, limit: str) -> None:
    fake = await serve(FakeBuildium(1))
    async with connector(fake.url, page_size=page_size) as conn:
        await collect(conn, "units")
    assert fake.queries[0]["limit"] == limit


async def test_window_becomes_lastupdated_params(serve: Serve) -> None:
    fake = await serve(FakeBuildium(1))
    window = FetchWindow(
        since=datetime(2024, 3, 1, 8, 30, 15, 999_000, tzinfo=UTC),
        until=datetime(2024, 3, 2, 1, 0, 0, tzinfo=timezone(timedelta(hours=2))),
    )
    async with connector(fake.url) as conn:
        await collect(conn, "leases", window)
    assert fake.queries[0]["lastupdatedfrom"] == "2024-03-01T08:30:15Z"
    assert fake.queries[0]["lastupdatedto"] == "2024-03-01T23:00:00Z"


async def test_open_ended_window_sends_only_since(serve: Serve) -> None:
    fake = await serve(FakeBuildium(1))
    async with connector(fake.url) as conn:
        await collect(conn, "units", FetchWindow(since=datetime(2024, 1, 1)))
    assert fake.queries[0]["lastupdatedfrom"] == "2024-01-01T00:00:00Z"
    assert "lastupdatedto" not in fake.queries[0]


async def test_full_window_sends_no_date_filter(serve: Serve) -> None:
    fake = await serve(FakeBuildium(1))
    async with connector(fake.url) as conn:
        await collect(conn, "units", FetchWindow())
    assert not {"lastupdatedfrom", "lastupdatedto"} & fake.queries[0].keys()


async def test_users_ignore_the_window(serve: Serve) -> None:
    fake = await serve(FakeBuildium(2))
    window = FetchWindow(since=datetime(2024, 1, 1, tzinfo=UTC), until=datetime.now(UTC))
    async with connector(fake.url) as conn:
        pages = await collect(conn, "employees", window)
    assert ids(pages) == [1, 2]
    assert fake.paths == ["/v1/users"]
    assert not {"lastupdatedfrom", "lastupdatedto"} & fake.queries[0].keys()


def test_supports_window() -> None:
    for model in ("properties", "units", "residents", "leases", "leads"):
        assert BuildiumConnector.supports_window(model)
    assert not BuildiumConnector.supports_window("employees")
    assert not BuildiumConnector.supports_window("floor_plans")
    assert BuildiumConnector.supports_window("leases", "created")
    assert not BuildiumConnector.supports_window("units", "created")


async def test_a_created_window_asks_for_the_creation_date(serve: Serve) -> None:
    fake = await serve(FakeBuildium(1))
    window = FetchWindow(
        since=datetime(2024, 3, 1, tzinfo=UTC),
        until=datetime(2024, 3, 2, tzinfo=UTC),
        field="created",
    )
    async with connector(fake.url) as conn:
        await collect(conn, "leases", window)
    query = fake.queries[0]
    assert query["createddatetimefrom"] == "2024-03-01T00:00:00Z"
    assert query["createddatetimeto"] == "2024-03-02T00:00:00Z"
    assert not {"lastupdatedfrom", "lastupdatedto"} & query.keys()


async def test_a_date_the_pms_cannot_filter_by_is_never_swapped_for_another(
    serve: Serve,
) -> None:
    fake = await serve(FakeBuildium(3))
    window = FetchWindow(since=datetime(2024, 3, 1, tzinfo=UTC), field="created")
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units", window)
    # Units have no creation-date filter: everything is listed, never the
    # records updated since (another set than asked for).
    assert ids(pages) == [1, 2, 3]
    assert not {"lastupdatedfrom", "createddatetimefrom"} & fake.queries[0].keys()


def test_capabilities() -> None:
    caps = BuildiumConnector.capabilities()
    assert set(caps) == {"properties", "units", "residents", "leases", "leads", "employees"}
    assert caps["leads"] == {Capability.READ, Capability.CREATE, Capability.UPDATE}
    assert caps["units"] == {Capability.READ}


def test_default_base_urls() -> None:
    assert BuildiumConnector.default_base_url("production") == "https://api.buildium.com"
    assert BuildiumConnector.default_base_url("sandbox") == "https://apisandbox.buildium.com"
    with pytest.raises(ValueError, match="unknown environment"):
        BuildiumConnector.default_base_url("staging")


def test_missing_credentials() -> None:
    with pytest.raises(CredentialError, match="client_secret"):
        BuildiumConnector(base_url="http://x", credentials={"client_id": "a"})


async def test_unsupported_model(serve: Serve) -> None:
    fake = await serve(FakeBuildium(1))
    async with connector(fake.url) as conn:
        with pytest.raises(PermanentError, match="floor_plans"):
            conn.pages("floor_plans", FetchWindow())
    assert fake.queries == []


def test_pages_before_open_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not open"):
        connector("http://127.0.0.1:1").pages("units", FetchWindow())


async def test_check_auth(serve: Serve) -> None:
    fake = await serve(FakeBuildium(3))
    async with connector(fake.url) as conn:
        await conn.check_auth()
    assert fake.paths == ["/v1/rentals"]
    assert fake.queries == [{"limit": "1"}]


async def test_check_auth_refused(serve: Serve) -> None:
    fake = await serve(FakeBuildium(3, fail={0: 401}))
    async with connector(fake.url) as conn:
        with pytest.raises(AuthenticationError, match="Failure at 0") as info:
            await conn.check_auth()
    assert info.value.status == 401
    assert conn.stats.requests == 1


async def test_non_array_body_is_bad_response(serve: Serve) -> None:
    fake = await serve(FakeBuildium(3, body={"Id": 1}))
    async with connector(fake.url) as conn:
        with pytest.raises(PMSBadResponse, match="JSON array"):
            await collect(conn, "units")


async def test_failed_page_surfaces_after_earlier_pages(serve: Serve) -> None:
    fake = await serve(FakeBuildium(30, fail={8: 422}))
    received: list[Page] = []
    async with connector(fake.url, concurrency=4) as conn:
        with pytest.raises(RequestRejected, match="offset: is cursed") as info:
            async with conn.pages("units", FetchWindow()) as pages:
                async for page in pages:
                    received.append(page)
    assert ids(received) == list(range(1, 10))
    assert info.value.status == 422
    # A permanent error is not retried.
    assert fake.offsets.count(8) == 1


async def test_transient_page_failure_is_retried_transparently(serve: Serve) -> None:
    fake = await serve(FakeBuildium(20, fail={4: 503, 16: 500}))
    async with connector(fake.url) as conn:
        pages = await collect(conn, "units")
    assert ids(pages) == list(range(1, 21))
    # Offsets 0, 4, 8, 12 and 16 (a short page: the end), two of them retried.
    assert conn.stats.requests == 7
    assert conn.stats.retries == 2


async def test_early_exit_cancels_in_flight_fetches(serve: Serve) -> None:
    fake = await serve(FakeBuildium(50, delay=lambda offset: 0 if offset == 0 else 3.0))
    async with connector(fake.url, concurrency=4) as conn:
        started = time.monotonic()
        async with conn.pages("units", FetchWindow()) as pages:
            async for page in pages:
                assert page.cursor == "5:5"
                # Let the prefetches reach the server before leaving.
                while fake.in_flight < 4:
                    await anyio.sleep(0.01)
                break
        elapsed = time.monotonic() - started
        assert elapsed < 1.0
        # The session still works after the cancelled requests.
        fake.delay = None
        assert ids(await collect(conn, "units", cursor="45")) == list(range(46, 51))
    for _ in range(100):
        if fake.in_flight == 0:
            break
        await anyio.sleep(0.01)
    assert fake.in_flight == 0
    assert fake.cancelled == 4


async def test_consumer_error_propagates_unwrapped_and_cancels(serve: Serve) -> None:
    fake = await serve(FakeBuildium(50, delay=lambda offset: 0 if offset == 0 else 3.0))
    async with connector(fake.url) as conn:
        started = time.monotonic()
        with pytest.raises(KeyError, match="consumer failed"):
            async with conn.pages("units", FetchWindow()) as pages:
                async for _ in pages:
                    raise KeyError("consumer failed")
        assert time.monotonic() - started < 1.0


async def test_outer_cancellation_stops_everything(serve: Serve) -> None:
    fake = await serve(FakeBuildium(50, delay=lambda offset: 0 if offset == 0 else 3.0))
    received: list[Page] = []
    async with connector(fake.url) as conn:
        with anyio.move_on_after(0.3) as scope:
            async with conn.pages("units", FetchWindow()) as pages:
                async for page in pages:
                    received.append(page)
    assert scope.cancelled_caught
    assert len(received) == 1


async def test_iterating_after_the_block_is_an_error(serve: Serve) -> None:
    fake = await serve(FakeBuildium(20))
    async with connector(fake.url) as conn:
        async with conn.pages("units", FetchWindow()) as pages:
            pass
        with pytest.raises(RuntimeError, match="after leaving"):
            await anext(aiter(pages))


def test_error_message_formatting() -> None:
    body = {
        "UserMessage": "Validation failed",
        "ErrorCode": "ValidationError",
        "Errors": [{"Key": "Email", "Value": "is invalid"}, {"Key": "", "Value": "general"}],
    }
    assert (
        buildium_error_message(body)
        == "Validation failed Email: is invalid; general [ValidationError]"
    )
    assert buildium_error_message({"UserMessage": "Not found"}) == "Not found"
    assert buildium_error_message({}) is None
    assert buildium_error_message([1, 2]) is None
    assert buildium_error_message("plain") == "plain"


def test_format_timestamp() -> None:
    assert format_timestamp(datetime(2024, 5, 6, 7, 8, 9, 123456)) == "2024-05-06T07:08:09Z"
    eastern = timezone(timedelta(hours=-5))
    assert format_timestamp(datetime(2024, 5, 6, 22, 0, tzinfo=eastern)) == "2024-05-07T03:00:00Z"


def test_registry() -> None:
    assert known_vendors() == ("BUILDIUM", "PROPERTYWARE", "RENTMANAGER", "RESMAN")
    assert get_connector_class("buildium") is BuildiumConnector
    assert get_connector_class("BUILDIUM") is BuildiumConnector
    with pytest.raises(ConfigError, match="BUILDIUM"):
        get_connector_class("yardi")


async def test_not_found_maps(serve: Serve) -> None:
    fake = await serve(FakeBuildium(5, fail={0: 404}))
    async with connector(fake.url) as conn:
        with pytest.raises(PMSNotFound):
            await collect(conn, "units")
    assert len(fake.queries) == 1
