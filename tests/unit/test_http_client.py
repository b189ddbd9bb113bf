"""JsonHttpClient against throwaway aiohttp servers with scripted answers."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import anyio
import orjson
import pytest
import structlog
from aiohttp import web

from syncd.connectors.auth import BasicAuth, HeaderAuth, TokenAuth, parse_login_token
from syncd.connectors.base import ConnectorOptions, ConnectorStats
from syncd.connectors.http import (
    JsonHttpClient,
    JsonResponse,
    parse_rate_limit,
    parse_rate_limit_reset,
    parse_retry_after,
)
from syncd.errors import (
    AuthenticationError,
    ConnectorError,
    PermissionDenied,
    PMSBadResponse,
    PMSConnectionError,
    PMSNotFound,
    PMSServerError,
    PMSTimeout,
    RateLimited,
    RequestRejected,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    handler: Handler
    url: str = ""
    seen: list[Seen] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                await request.read(),
            )
        )
        return await self.handler(request)


Serve = Callable[[Handler], Awaitable[Server]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> Server:
        server = Server(handler)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", server.handle)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        server.url = f"http://{host}:{port}"
        return server

    yield start
    for runner in runners:
        await runner.cleanup()


def json_response(
    body: Any = None, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body) if body is not None else None,
        status=status,
        headers=headers,
        content_type="application/json",
    )


def script(*responses: Callable[[], web.StreamResponse]) -> Handler:
    """Answer each request with the next response; the last one repeats."""
    queue = list(responses)

    async def handler(_: web.Request) -> web.StreamResponse:
        make = queue.pop(0) if len(queue) > 1 else queue[0]
        return make()

    return handler


def ok(body: Any = None, **headers: str) -> Callable[[], web.StreamResponse]:
    return lambda: json_response(body if body is not None else {"ok": True}, headers=headers)


def status(code: int, body: Any = None, **headers: str) -> Callable[[], web.StreamResponse]:
    return lambda: json_response(body, status=code, headers=headers)


def options(**overrides: Any) -> ConnectorOptions:
    defaults: dict[str, Any] = {
        "rate_limit": 0,
        "max_attempts": 4,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "timeout": 5.0,
        "concurrency": 4,
    }
    return ConnectorOptions(**(defaults | overrides))


def client(url: str, headers: dict[str, str] | None = None, **overrides: Any) -> JsonHttpClient:
    return JsonHttpClient(url, options=options(**overrides), headers=headers)


async def test_sends_headers_and_query_and_returns_body_and_headers(serve: Serve) -> None:
    server = await serve(script(ok([{"Id": 1}], **{"X-Total-Count": "7"})))
    secret = {"x-api-key": "k-123"}
    async with client(server.url + "/", headers=secret) as http:
        response = await http.get("/v1/things", {"limit": 5, "orderby": "Id"})
    assert isinstance(response, JsonResponse)
    assert response.status == 200
    assert response.body == [{"Id": 1}]
    assert response.headers["x-total-count"] == "7"  # case-insensitive
    (seen,) = server.seen
    assert seen.method == "GET"
    assert seen.path == "/v1/things"
    assert seen.query == {"limit": "5", "orderby": "Id"}
    assert seen.headers["x-api-key"] == "k-123"
    assert seen.headers["Accept"] == "application/json"
    assert http.stats == ConnectorStats(requests=1, retries=0, throttled=0)


async def test_post_sends_json_body(serve: Serve) -> None:
    server = await serve(script(lambda: json_response({"Id": 9}, status=201)))
    async with client(server.url) as http:
        response = await http.request("POST", "/v1/items", json={"Name": "x"})
    assert response.status == 201
    assert response.body == {"Id": 9}
    assert orjson.loads(server.seen[0].body) == {"Name": "x"}
    assert server.seen[0].headers["Content-Type"] == "application/json"


async def test_no_content_gives_none_body(serve: Serve) -> None:
    server = await serve(script(lambda: web.Response(status=204)))
    async with client(server.url) as http:
        response = await http.request("DELETE", "/v1/items/1")
    assert response.status == 204
    assert response.body is None


async def test_429_retried_honouring_retry_after(serve: Serve) -> None:
    throttled = status(429, {"message": "slow down"}, **{"Retry-After": "1"})
    server = await serve(script(throttled, ok()))
    async with client(server.url, backoff_max=5.0) as http:
        started = time.monotonic()
        response = await http.get("/x")
        elapsed = time.monotonic() - started
    assert response.body == {"ok": True}
    assert elapsed >= 0.95
    assert len(server.seen) == 2
    assert http.stats == ConnectorStats(requests=2, retries=1, throttled=1)


async def test_429_retry_after_http_date(serve: Serve) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    server = await serve(script(status(429, **{"Retry-After": when}), ok()))
    async with client(server.url, backoff_max=5.0) as http:
        started = time.monotonic()
        await http.get("/x")
        elapsed = time.monotonic() - started
    # HTTP dates have whole-second precision.
    assert elapsed >= 0.9


async def test_a_retry_after_beyond_the_wait_budget_fails_at_once(serve: Serve) -> None:
    server = await serve(script(status(429, **{"Retry-After": "120"}), ok()))
    async with client(server.url, backoff_max=0.1, rate_limit_wait=5.0) as http:
        started = time.monotonic()
        with pytest.raises(RateLimited, match=r"still rate limited after waiting 0\.0 s"):
            await http.get("/x")
    assert time.monotonic() - started < 1.0
    assert len(server.seen) == 1


async def test_a_burst_of_429s_without_retry_after_is_waited_out(
    serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    # Ten 429s in a row: more than max_attempts, yet within the wait budget.
    server = await serve(script(*[status(429)] * 10, ok({"done": True})))
    async with client(server.url, max_attempts=3, rate_limit_wait=60.0) as http:
        response = await http.get("/x")
    assert response.body == {"done": True}
    assert len(server.seen) == 11
    assert http.stats.throttled == 10
    # Each wait is shown, with how long the storm has lasted.
    assert capsys.readouterr().out.count("pms.rate_limited") == 10


async def test_429_holds_back_other_requests_sharing_the_bucket(serve: Serve) -> None:
    server = await serve(script(status(429, **{"Retry-After": "0.5"}), ok()))
    async with client(server.url, rate_limit=0, backoff_max=1.0) as http:
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(http.get, "/a")
            while not server.seen:
                await anyio.sleep(0.01)
            await anyio.sleep(0.05)
            # Sent after the 429: it waits out the Retry-After too.
            await http.get("/b")
            second_done = time.monotonic() - started
    assert second_done >= 0.45
    assert [seen.path for seen in server.seen] == ["/a", "/a", "/b"] or [
        seen.path for seen in server.seen
    ] == ["/a", "/b", "/a"]
    assert http.stats.throttled == 1


async def test_429_storm_beyond_the_wait_budget_raises_rate_limited(serve: Serve) -> None:
    server = await serve(script(status(429, **{"Retry-After": "0"})))
    async with client(server.url, max_attempts=3, backoff_base=0.05, rate_limit_wait=0.3) as http:
        with pytest.raises(RateLimited, match="still rate limited after waiting") as info:
            await http.get("/x")
    assert info.value.status == 429
    assert info.value.retry_after == 0
    # Retry-After: 0 is not a licence to hammer: at least backoff_base apart.
    assert 3 <= len(server.seen) <= 8
    assert http.stats.throttled == len(server.seen)


async def test_5xx_retried_then_success(serve: Serve) -> None:
    server = await serve(script(status(500), status(503, {"message": "busy"}), ok([1, 2])))
    async with client(server.url) as http:
        response = await http.get("/x")
    assert response.body == [1, 2]
    assert len(server.seen) == 3
    assert http.stats == ConnectorStats(requests=3, retries=2, throttled=0)


async def test_503_retry_after_is_honoured(serve: Serve) -> None:
    server = await serve(script(status(503, **{"Retry-After": "0.4"}), ok()))
    async with client(server.url, backoff_max=5.0) as http:
        started = time.monotonic()
        await http.get("/x")
        elapsed = time.monotonic() - started
    assert elapsed >= 0.35
    assert http.stats == ConnectorStats(requests=2, retries=1, throttled=0)


async def test_retries_exhausted_raise_last_error(serve: Serve) -> None:
    server = await serve(script(status(502, {"message": "bad gateway"})))
    async with client(server.url, max_attempts=3) as http:
        with pytest.raises(PMSServerError) as info:
            await http.get("/v1/x", {"offset": 0})
    assert info.value.status == 502
    assert "bad gateway" in str(info.value)
    assert "GET /v1/x" in str(info.value)
    assert info.value.url == server.url + "/v1/x"
    assert len(server.seen) == 3
    assert http.stats.retries == 2


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, RequestRejected),
        (401, AuthenticationError),
        (403, PermissionDenied),
        (404, PMSNotFound),
        (415, RequestRejected),
        (422, RequestRejected),
        (409, RequestRejected),
    ],
)
async def test_permanent_statuses_are_not_retried(
    serve: Serve, code: int, error: type[ConnectorError]
) -> None:
    server = await serve(script(status(code, {"message": f"refused {code}"})))
    async with client(server.url) as http:
        with pytest.raises(error) as info:
            await http.get("/x")
    assert type(info.value) is error
    assert info.value.status == code
    assert f"refused {code}" in str(info.value)
    assert len(server.seen) == 1
    assert http.stats == ConnectorStats(requests=1, retries=0, throttled=0)


async def test_vendor_error_hook_and_plain_text_errors(serve: Serve) -> None:
    server = await serve(
        script(
            status(422, {"Detail": "field X is bad"}),
            lambda: web.Response(status=400, text="nope\n"),
        )
    )
    hook_calls: list[Any] = []

    def hook(body: Any) -> str | None:
        hook_calls.append(body)
        return str(body["Detail"])

    async with JsonHttpClient(server.url, options=options(), error_message=hook) as http:
        with pytest.raises(RequestRejected, match="field X is bad"):
            await http.get("/x")
        with pytest.raises(RequestRejected, match=r"HTTP 400: nope$"):
            await http.get("/x")
    assert hook_calls == [{"Detail": "field X is bad"}]


async def test_broken_error_hook_does_not_hide_the_status(serve: Serve) -> None:
    server = await serve(script(status(404, {"a": 1})))

    def hook(body: Any) -> str | None:
        raise KeyError("boom")

    async with JsonHttpClient(server.url, options=options(), error_message=hook) as http:
        with pytest.raises(PMSNotFound, match=r"HTTP 404$"):
            await http.get("/x")


def truncated() -> web.StreamResponse:
    return web.Response(body=b'[{"Id": 1}, {"Id', content_type="application/json")


async def test_invalid_json_body_is_retried(serve: Serve) -> None:
    server = await serve(script(truncated, ok([{"Id": 1}])))
    async with client(server.url) as http:
        response = await http.get("/x")
    assert response.body == [{"Id": 1}]
    assert http.stats == ConnectorStats(requests=2, retries=1, throttled=0)


async def test_invalid_json_body_exhausted(serve: Serve) -> None:
    server = await serve(script(truncated))
    async with client(server.url, max_attempts=2) as http:
        with pytest.raises(PMSBadResponse, match="not valid JSON"):
            await http.get("/x")
    assert len(server.seen) == 2


async def test_connection_cut_mid_body_is_retried(serve: Serve) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            response = web.StreamResponse(headers={"Content-Length": "1000"})
            response.content_type = "application/json"
            await response.prepare(request)
            await response.write(b'[{"Id": 1},')
            assert request.transport is not None
            request.transport.close()
            return response
        return json_response([{"Id": 1}])

    server = await serve(handler)
    async with client(server.url) as http:
        response = await http.get("/x")
    assert response.body == [{"Id": 1}]
    assert http.stats.retries == 1


async def test_connection_cut_exhausted_is_transient_error(serve: Serve) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "1000"})
        await response.prepare(request)
        await response.write(b"[")
        assert request.transport is not None
        request.transport.close()
        return response

    server = await serve(handler)
    async with client(server.url, max_attempts=2) as http:
        with pytest.raises((PMSBadResponse, PMSConnectionError)):
            await http.get("/x")
    assert http.stats.requests == 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused() -> None:
    async with client(f"http://127.0.0.1:{free_port()}", max_attempts=3) as http:
        with pytest.raises(PMSConnectionError) as info:
            await http.get("/x")
    assert info.value.status is None
    assert http.stats == ConnectorStats(requests=3, retries=2, throttled=0)


async def test_timeout(serve: Serve) -> None:
    async def slow(_: web.Request) -> web.StreamResponse:
        await anyio.sleep(2)
        return json_response([])

    server = await serve(slow)
    async with client(server.url, timeout=0.2, max_attempts=2) as http:
        started = time.monotonic()
        with pytest.raises(PMSTimeout, match=r"0\.2s"):
            await http.get("/x")
    assert time.monotonic() - started < 1.5
    assert http.stats.requests == 2


async def test_post_is_not_repeated_after_a_server_error(serve: Serve) -> None:
    server = await serve(script(status(500)))
    async with client(server.url) as http:
        with pytest.raises(PMSServerError):
            await http.request("POST", "/v1/items", json={"a": 1})
    assert len(server.seen) == 1


async def test_post_is_repeated_after_429(serve: Serve) -> None:
    server = await serve(script(status(429), lambda: json_response({"Id": 1}, status=201)))
    async with client(server.url) as http:
        response = await http.request("POST", "/v1/items", json={"a": 1})
    assert response.status == 201
    assert len(server.seen) == 2


async def test_post_is_repeated_when_no_connection_could_be_made() -> None:
    async with client(f"http://127.0.0.1:{free_port()}", max_attempts=2) as http:
        with pytest.raises(PMSConnectionError):
            await http.request("POST", "/v1/items", json={})
    assert http.stats.requests == 2


async def test_token_bucket_limits_request_rate(serve: Serve) -> None:
    server = await serve(script(ok()))
    async with client(server.url, rate_limit=10, concurrency=20) as http:
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(http.get, "/x")
        elapsed = time.monotonic() - started
    # A burst of 10, then 10 more at 10 per second.
    assert elapsed >= 0.9
    assert len(server.seen) == 20


async def test_zero_rate_is_unlimited(serve: Serve) -> None:
    server = await serve(script(ok()))
    async with client(server.url, rate_limit=0, concurrency=20) as http:
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(http.get, "/x")
        elapsed = time.monotonic() - started
    assert elapsed < 0.8
    assert len(server.seen) == 20


async def test_retry_is_logged_without_secrets(serve: Serve) -> None:
    server = await serve(script(status(503), ok()))
    headers = {"x-client-secret": "s3cr3t-value"}
    with structlog.testing.capture_logs() as logs:
        async with client(server.url, headers=headers) as http:
            await http.get("/v1/rentals", {"offset": 0})
    retries = [entry for entry in logs if entry["event"] == "pms.request.retry"]
    assert len(retries) == 1
    entry = retries[0]
    assert entry["method"] == "GET"
    assert entry["path"] == "/v1/rentals"
    assert entry["status"] == 503
    assert entry["attempt"] == 1
    assert entry["delay"] >= 0
    assert "s3cr3t-value" not in repr(logs)


async def test_request_before_open_is_an_error() -> None:
    http = client("http://127.0.0.1:1")
    with pytest.raises(RuntimeError, match="not open"):
        await http.get("/x")
    await http.close()  # closing a never-opened client is harmless


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        ("0.25", 0.25),
        ("-5", 0.0),
        ("soon", None),
        ("inf", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_future_date() -> None:
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(header, now=now.timestamp()) == pytest.approx(30.0)


# -- auth: session tokens, renewal after 401, no credentials on the login ------------

TOKEN_HEADER = "X-RM12Api-ApiToken"
LOGIN_PATH = "/Authentication/AuthorizeUser"


class TokenServer:
    """A PMS with a login that hands out tok-1, tok-2, …; other paths need a valid token.

    ``gate``, when set, holds every login until the test opens it;
    ``refuse_login`` answers the login with 401; ``valid`` is the set of
    tokens accepted (clearing it expires the session).
    """

    def __init__(self) -> None:
        self.logins = 0
        self.valid: set[str] = set()
        self.gate: anyio.Event | None = None
        self.login_started = anyio.Event()
        self.refuse_login = False
        self.reject_every_token = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == LOGIN_PATH:
            self.logins += 1
            self.login_started.set()
            if self.gate is not None:
                await self.gate.wait()
            if self.refuse_login:
                return json_response({"Message": "invalid user name or password"}, status=401)
            token = f"tok-{self.logins}"
            self.valid = {token}
            return json_response(token)  # a quoted JSON string, as Rent Manager sends
        token = request.headers.get(TOKEN_HEADER)
        if self.reject_every_token or token not in self.valid:
            return json_response({"Message": "token expired"}, status=401)
        return json_response({"ok": True, "token": token})


def token_client(url: str, **overrides: Any) -> tuple[JsonHttpClient, TokenAuth]:
    async def login() -> str:
        response = await http.request(
            "POST",
            LOGIN_PATH,
            json={"Username": "api-user", "Password": "pw-s3cret", "LocationID": 1},
            authenticate=False,
            idempotent=True,
        )
        return parse_login_token(response.body, where=f"POST {LOGIN_PATH}")

    auth = TokenAuth(login, header=TOKEN_HEADER)
    http = JsonHttpClient(url, options=options(**overrides), auth=auth)
    return http, auth


async def test_token_login_once_then_the_token_on_every_request(serve: Serve) -> None:
    pms = TokenServer()
    server = await serve(pms.handle)
    http, auth = token_client(server.url)
    async with http:
        first = await http.get("/Tenants")
        second = await http.get("/Units")
    assert first.body == {"ok": True, "token": "tok-1"}
    assert second.body == {"ok": True, "token": "tok-1"}
    assert [seen.path for seen in server.seen] == [LOGIN_PATH, "/Tenants", "/Units"]
    login = server.seen[0]
    # The login itself carries no token, only its JSON body.
    assert TOKEN_HEADER not in login.headers
    assert orjson.loads(login.body)["Username"] == "api-user"
    assert all(seen.headers[TOKEN_HEADER] == "tok-1" for seen in server.seen[1:])
    assert auth.logins == 1


async def test_an_expired_token_is_renewed_once_and_the_request_repeated(serve: Serve) -> None:
    pms = TokenServer()
    server = await serve(pms.handle)
    http, auth = token_client(server.url, max_attempts=1)
    async with http:
        await http.get("/Tenants")
        pms.valid.clear()  # the session expired on the PMS
        # A POST too: a 401 means the PMS did not act on it.
        response = await http.request("POST", "/Prospects", json=[{"FirstName": "Ann"}])
    assert response.body == {"ok": True, "token": "tok-2"}
    assert [(seen.path, seen.headers.get(TOKEN_HEADER)) for seen in server.seen] == [
        (LOGIN_PATH, None),
        ("/Tenants", "tok-1"),
        ("/Prospects", "tok-1"),
        (LOGIN_PATH, None),
        ("/Prospects", "tok-2"),
    ]
    assert auth.logins == 2
    # The repeat after renewal is not a retry of a transient fault.
    assert http.stats.retries == 0


async def test_a_401_after_renewal_raises_authentication_error(serve: Serve) -> None:
    pms = TokenServer()
    pms.reject_every_token = True
    server = await serve(pms.handle)
    http, _ = token_client(server.url)
    async with http:
        with pytest.raises(AuthenticationError, match="token expired") as info:
            await http.get("/Tenants")
    assert info.value.status == 401
    assert [seen.path for seen in server.seen] == [LOGIN_PATH, "/Tenants", LOGIN_PATH, "/Tenants"]


async def test_a_refused_login_raises_and_is_not_repeated(serve: Serve) -> None:
    pms = TokenServer()
    pms.refuse_login = True
    server = await serve(pms.handle)
    http, _ = token_client(server.url)
    async with http:
        with pytest.raises(AuthenticationError, match="invalid user name or password"):
            await http.get("/Tenants")
        with pytest.raises(AuthenticationError, match="invalid user name or password"):
            await http.get("/Units")
    # One refused login, no data request: a wrong password is not tried twice.
    assert [seen.path for seen in server.seen] == [LOGIN_PATH]


async def test_concurrent_first_requests_log_in_once(serve: Serve) -> None:
    pms = TokenServer()
    pms.gate = anyio.Event()
    server = await serve(pms.handle)
    http, auth = token_client(server.url, concurrency=10)
    bodies: list[Any] = []

    async def get(path: str) -> None:
        bodies.append((await http.get(path)).body)

    async with http, anyio.create_task_group() as tg:
        for i in range(10):
            tg.start_soon(get, f"/Tenants/{i}")
        await pms.login_started.wait()
        # Every request is parked behind the one login now in flight.
        await anyio.wait_all_tasks_blocked()
        pms.gate.set()
    assert pms.logins == 1 and auth.logins == 1
    assert bodies == [{"ok": True, "token": "tok-1"}] * 10


async def test_concurrent_401s_renew_the_token_once(serve: Serve) -> None:
    pms = TokenServer()
    server = await serve(pms.handle)
    http, auth = token_client(server.url, concurrency=6)
    bodies: list[Any] = []

    async def get(path: str) -> None:
        bodies.append((await http.get(path)).body)

    async with http:
        await http.get("/warm-up")
        pms.valid.clear()
        pms.gate = anyio.Event()
        pms.login_started = anyio.Event()
        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(get, f"/Units/{i}")
            await pms.login_started.wait()
            await anyio.wait_all_tasks_blocked()
            pms.gate.set()
    assert pms.logins == 2 and auth.logins == 2
    assert bodies == [{"ok": True, "token": "tok-2"}] * 6


async def test_authenticate_false_sends_no_credentials(serve: Serve) -> None:
    server = await serve(script(ok()))
    async with client(server.url, headers={"x-client-secret": "s3cr3t"}) as http:
        await http.request("POST", "/login", json={}, authenticate=False)
        await http.get("/x")
    assert "x-client-secret" not in server.seen[0].headers
    assert server.seen[1].headers["x-client-secret"] == "s3cr3t"


async def test_authenticate_false_does_not_log_in(serve: Serve) -> None:
    server = await serve(script(ok()))
    http, auth = token_client(server.url)
    async with http:
        await http.request("GET", "/status", authenticate=False)
    assert auth.logins == 0
    assert [seen.path for seen in server.seen] == ["/status"]
    assert TOKEN_HEADER not in server.seen[0].headers


async def test_basic_auth_with_extra_headers(serve: Serve) -> None:
    server = await serve(script(status(401, {"message": "bad key"})))
    auth = BasicAuth("partner", "key-123", extra_headers={"ResMan-Account-Id": "400"})
    async with JsonHttpClient(server.url, options=options(), auth=auth) as http:
        with pytest.raises(AuthenticationError, match="bad key"):
            await http.get("/Properties")
    (seen,) = server.seen  # fixed credentials: a 401 is final
    assert seen.headers["Authorization"].startswith("Basic ")
    assert seen.headers["ResMan-Account-Id"] == "400"


def test_headers_and_auth_together_are_an_error() -> None:
    with pytest.raises(ValueError, match="not both"):
        JsonHttpClient(
            "http://127.0.0.1:1", options=options(), headers={"a": "b"}, auth=HeaderAuth({})
        )


async def test_secrets_and_tokens_are_not_logged(serve: Serve) -> None:
    pms = TokenServer()
    server = await serve(pms.handle)
    http, _ = token_client(server.url)
    with structlog.testing.capture_logs() as logs:
        async with http:
            await http.get("/Tenants")
            pms.valid.clear()
            await http.get("/Tenants")
    events = [entry["event"] for entry in logs]
    assert "pms.auth.renewed" in events
    assert events.count("pms.auth.login") == 2
    assert "tok-" not in repr(logs) and "pw-s3cret" not in repr(logs)


# -- form bodies ---------------------------------------------------------------------


async def test_form_post_is_form_encoded(serve: Serve) -> None:
    server = await serve(script(ok({"Employees": []})))
    form = {"IntegrationPartnerID": "p-1", "ApiKey": "k&=y", "PropertyID": 7}
    async with client(server.url) as http:
        response = await http.request("POST", "/Leasing/GetEmployees", form=form)
    assert response.body == {"Employees": []}
    (seen,) = server.seen
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen.body == b"IntegrationPartnerID=p-1&ApiKey=k%26%3Dy&PropertyID=7"


async def test_an_idempotent_form_post_is_retried_a_plain_one_is_not(serve: Serve) -> None:
    server = await serve(script(status(503), ok()))
    async with client(server.url) as http:
        await http.request("POST", "/MITS/GetMarketing4_0", form={"a": "1"}, idempotent=True)
    assert len(server.seen) == 2
    assert server.seen[1].body == b"a=1"
    server = await serve(script(status(503), ok()))
    async with client(server.url) as http:
        with pytest.raises(PMSServerError):
            await http.request("POST", "/MITS/PostLeadManagement4_0", form={"a": "1"})
    assert len(server.seen) == 1


async def test_json_and_form_together_are_an_error(serve: Serve) -> None:
    server = await serve(script(ok()))
    async with client(server.url) as http:
        with pytest.raises(ValueError, match="not both"):
            await http.request("POST", "/x", json={}, form={})
    assert server.seen == []


# -- the PMS's own rate-limit headers ---------------------------------------------------


async def test_an_exhausted_rate_limit_pauses_the_bucket_until_reset(serve: Serve) -> None:
    exhausted = ok(**{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0.8"})
    server = await serve(script(exhausted, ok()))
    async with client(server.url) as http:
        with structlog.testing.capture_logs() as logs:
            await http.get("/a")
        left = http.bucket.paused_for
        assert 0 < left <= 0.8
        started = time.monotonic()
        await http.get("/b")
        waited = time.monotonic() - started
    assert waited >= left - 0.05
    (entry,) = [e for e in logs if e["event"] == "pms.rate_limit.exhausted"]
    assert entry["remaining"] == "0"
    assert entry["reset_seconds"] == pytest.approx(0.8)
    # Nothing was refused: no 429, no retry.
    assert http.stats == ConnectorStats(requests=2, retries=0, throttled=0)


async def test_rate_limit_headers_on_an_error_answer_pause_too(serve: Serve) -> None:
    server = await serve(
        script(status(404, **{"RateLimit-Remaining": "0", "RateLimit-Reset": "5"}))
    )
    async with client(server.url) as http:
        with pytest.raises(PMSNotFound):
            await http.get("/gone")
        assert http.bucket.paused_for > 4


async def test_a_remaining_budget_does_not_pause(serve: Serve) -> None:
    server = await serve(script(ok(**{"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "60"})))
    async with client(server.url) as http:
        await http.get("/a")
        assert http.bucket.paused_for == 0


async def test_a_far_reset_pauses_no_longer_than_the_rate_limit_wait(serve: Serve) -> None:
    server = await serve(script(ok(**{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3600"})))
    async with client(server.url, rate_limit_wait=2.0) as http:
        await http.get("/a")
        assert 1.0 < http.bucket.paused_for <= 2.0


async def test_concurrent_exhausted_answers_log_one_pause(serve: Serve) -> None:
    gate = anyio.Event()
    arrived = 0

    async def handler(_: web.Request) -> web.StreamResponse:
        nonlocal arrived
        arrived += 1
        if arrived == 3:
            gate.set()
        await gate.wait()
        return json_response({}, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2"})

    server = await serve(handler)
    async with client(server.url) as http:
        with structlog.testing.capture_logs() as logs:
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(http.get, "/x")
    assert [e["event"] for e in logs].count("pms.rate_limit.exhausted") == 1
    assert len(server.seen) == 3


NOW = 1_900_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "30"}, None),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "30"}, 30.0),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2.5"}, 2.5),
        ({"X-RateLimit-Remaining": "-1", "X-RateLimit-Reset": "4"}, 4.0),
        ({"X-RateLimit-Remaining": "0"}, 1.0),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "soon"}, 1.0),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 42)}, 42.0),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) - 42)}, 0.0),
        (
            {
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": format_datetime(
                    datetime.fromtimestamp(NOW + 20, UTC), usegmt=True
                ),
            },
            20.0,
        ),
        ({"RateLimit-Remaining": "0", "RateLimit-Reset": "7"}, 7.0),
        ({"RateLimit-Remaining": "10, 0", "RateLimit-Reset": "3, 9"}, 9.0),
        ({"X-RateLimit-Remaining": "lots"}, None),
        ({"X-RateLimit-Remaining": "nan"}, None),
    ],
)
def test_parse_rate_limit(headers: dict[str, str], expected: float | None) -> None:
    result = parse_rate_limit(headers, now=NOW)
    assert result == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("12", 12.0), ("-3", 0.0), (str(int(NOW) + 5), 5.0), ("x", None)],
)
def test_parse_rate_limit_reset(value: str | None, expected: float | None) -> None:
    assert parse_rate_limit_reset(value, now=NOW) == expected
