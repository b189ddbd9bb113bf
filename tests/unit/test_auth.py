"""Auth strategies: fixed headers, HTTP Basic, and a session token with single-flight login."""

from __future__ import annotations

import base64
from typing import Any

import anyio
import pytest
import structlog

from syncd.connectors.auth import BasicAuth, HeaderAuth, TokenAuth, parse_login_token
from syncd.errors import AuthenticationError, PMSBadResponse, PMSConnectionError

HEADER = "X-RM12Api-ApiToken"


class Login:
    """A scripted login: hands out tok-1, tok-2, … or raises what ``fail`` holds.

    ``gate``, when set, holds every login until the test opens it, so a
    test can pile up callers behind one login.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.fail: list[Exception] = []
        self.gate: anyio.Event | None = None
        self.started = anyio.Event()

    async def __call__(self) -> str:
        self.calls += 1
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise self.fail.pop(0)
        return f"tok-{self.calls}"


async def test_header_auth_sends_fixed_headers_and_never_refreshes() -> None:
    auth = HeaderAuth({"x-client-id": "id", "x-client-secret": "s3cret"})
    assert await auth.headers() == {"x-client-id": "id", "x-client-secret": "s3cret"}
    assert await auth.refresh(await auth.headers()) is False
    assert "s3cret" not in repr(auth)


async def test_basic_auth_header_and_extras() -> None:
    auth = BasicAuth("partner-1", "api-key-xyz", extra_headers={"ResMan-Account-Id": "400"})
    headers = await auth.headers()
    scheme, _, encoded = headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded) == b"partner-1:api-key-xyz"
    assert headers["ResMan-Account-Id"] == "400"
    assert await auth.refresh(headers) is False
    assert "api-key-xyz" not in repr(auth) and encoded not in repr(auth)


def test_basic_auth_username_with_a_colon_is_rejected() -> None:
    with pytest.raises(ValueError, match="cannot contain ':'"):
        BasicAuth("a:b", "pw")


async def test_token_auth_logs_in_lazily_once() -> None:
    login = Login()
    auth = TokenAuth(login, header=HEADER)
    assert login.calls == 0
    assert await auth.headers() == {HEADER: "tok-1"}
    assert await auth.headers() == {HEADER: "tok-1"}
    assert login.calls == 1 and auth.logins == 1
    assert "tok-1" not in repr(auth)


async def test_concurrent_first_calls_share_one_login() -> None:
    login = Login()
    login.gate = anyio.Event()
    auth = TokenAuth(login, header=HEADER)
    got: list[dict[str, str]] = []

    async def call() -> None:
        got.append(dict(await auth.headers()))

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(call)
        await login.started.wait()
        # Every caller is now parked behind the one login in flight.
        await anyio.wait_all_tasks_blocked()
        login.gate.set()
    assert login.calls == 1
    assert got == [{HEADER: "tok-1"}] * 8


async def test_refresh_with_the_current_token_logs_in_again() -> None:
    login = Login()
    auth = TokenAuth(login, header=HEADER)
    stale = dict(await auth.headers())
    assert await auth.refresh(stale) is True
    assert await auth.headers() == {HEADER: "tok-2"}
    assert login.calls == 2


async def test_refresh_after_another_task_refreshed_does_not_log_in() -> None:
    login = Login()
    auth = TokenAuth(login, header=HEADER)
    stale = dict(await auth.headers())
    assert await auth.refresh(stale) is True  # the first of two tasks
    # The second task saw the same 401 with the same old token.
    assert await auth.refresh({HEADER.lower(): stale[HEADER]}) is True
    assert login.calls == 2


async def test_concurrent_refreshes_of_one_stale_token_log_in_once() -> None:
    login = Login()
    auth = TokenAuth(login, header=HEADER)
    stale = dict(await auth.headers())
    login.gate = anyio.Event()
    login.started = anyio.Event()
    results: list[bool] = []

    async def refresh() -> None:
        results.append(await auth.refresh(stale))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(refresh)
        await login.started.wait()
        await anyio.wait_all_tasks_blocked()
        login.gate.set()
    assert results == [True] * 5
    assert login.calls == 2
    assert await auth.headers() == {HEADER: "tok-2"}


async def test_a_refused_login_is_shared_by_its_waiters_and_not_tried_again() -> None:
    login = Login()
    login.fail = [AuthenticationError("login: HTTP 401: bad password", status=401)]
    login.gate = anyio.Event()
    auth = TokenAuth(login, header=HEADER)
    errors: list[AuthenticationError] = []

    async def call() -> None:
        try:
            await auth.headers()
        except AuthenticationError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(call)
        await login.started.wait()
        await anyio.wait_all_tasks_blocked()
        login.gate.set()
    assert login.calls == 1
    assert len(errors) == 4
    assert all("bad password" in str(e) and e.status == 401 for e in errors)
    # Each waiter got its own exception object.
    assert len({id(e) for e in errors}) == 4
    # Later calls do not try the refused password again either.
    with pytest.raises(AuthenticationError, match="bad password"):
        await auth.headers()
    assert login.calls == 1


async def test_a_transient_login_failure_is_tried_again_by_the_next_call() -> None:
    login = Login()
    login.fail = [PMSConnectionError("login: connection refused")]
    auth = TokenAuth(login, header=HEADER)
    with pytest.raises(PMSConnectionError):
        await auth.headers()
    assert await auth.headers() == {HEADER: "tok-2"}


async def test_a_failed_refresh_raises() -> None:
    login = Login()
    auth = TokenAuth(login, header=HEADER)
    stale = dict(await auth.headers())
    login.fail = [AuthenticationError("login: HTTP 401: locked", status=401)]
    with pytest.raises(AuthenticationError, match="locked"):
        await auth.refresh(stale)


async def test_an_empty_token_from_login_is_a_bad_response() -> None:
    async def login() -> str:
        return ""

    with pytest.raises(PMSBadResponse, match="empty token"):
        await TokenAuth(login, header=HEADER).headers()


async def test_token_auth_logs_no_token() -> None:
    auth = TokenAuth(Login(), header=HEADER)
    with structlog.testing.capture_logs() as logs:
        stale = dict(await auth.headers())
        await auth.refresh(stale)
    assert [entry["event"] for entry in logs] == ["pms.auth.login", "pms.auth.login"]
    assert "tok-" not in repr(logs)


@pytest.mark.parametrize(
    ("body", "token"),
    [
        ("abc123", "abc123"),
        (" abc123\n", "abc123"),
        ({"Token": "abc123"}, "abc123"),
        ({"token": "abc123", "Expires": "x"}, "abc123"),
    ],
)
def test_parse_login_token(body: Any, token: str) -> None:
    assert parse_login_token(body) == token


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "got null"),
        (12, "got a number"),
        ([], "got an array"),
        ({"Message": "nope"}, r"no Token field \(fields: Message\)"),
        ({"Token": 5}, "got a number"),
        ("", "empty token"),
        ({"Token": "  "}, "empty token"),
    ],
)
def test_parse_login_token_rejects_other_answers(body: Any, message: str) -> None:
    with pytest.raises(PMSBadResponse, match=message):
        parse_login_token(body, where="POST /Authentication/AuthorizeUser")
