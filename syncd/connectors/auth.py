"""How a connector proves who it is to the PMS, request by request.

:class:`~syncd.connectors.http.JsonHttpClient` asks its :class:`Auth` for
headers before every attempt, and after a 401 asks it once per logical
request to :meth:`Auth.refresh` the credentials. Fixed credentials
(:class:`HeaderAuth`, :class:`BasicAuth`) cannot be refreshed; a session
token (:class:`TokenAuth`) is obtained by logging in, lazily and once for
all concurrent requests, and obtained again when the PMS stops accepting it.

Secrets never leave these objects except in the headers they hand out: the
``repr`` of each is masked and nothing here logs a token or a password.
"""

from __future__ import annotations

import abc
import base64
import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import structlog

from syncd.errors import PermanentError, PMSBadResponse

log = structlog.get_logger(__name__)

#: Logs in and returns a fresh session token (raises a ConnectorError if refused).
LoginFn = Callable[[], Awaitable[str]]


class Auth(abc.ABC):
    """The credentials of one PMS account, as request headers."""

    @abc.abstractmethod
    async def headers(self) -> Mapping[str, str]:
        """The headers to send with the next request (may log in first)."""

    @abc.abstractmethod
    async def refresh(self, stale: Mapping[str, str]) -> bool:
        """Renew the credentials after a 401 answered a request sent with ``stale``.

        True: new credentials were obtained (or another task already
        obtained them), so the request may be tried once more. False: there
        is nothing to renew; the 401 stands.
        """


class HeaderAuth(Auth):
    """Fixed headers sent with every request (e.g. a client id and secret)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    async def headers(self) -> Mapping[str, str]:
        """The fixed headers."""
        return self._headers

    async def refresh(self, stale: Mapping[str, str]) -> bool:
        """Fixed credentials cannot be renewed: always False."""
        return False

    def __repr__(self) -> str:
        return f"HeaderAuth(headers={sorted(self._headers)!r})"


class BasicAuth(Auth):
    """HTTP Basic credentials (RFC 7617), plus fixed ``extra_headers``."""

    def __init__(
        self, username: str, password: str, *, extra_headers: Mapping[str, str] | None = None
    ) -> None:
        if ":" in username:
            # RFC 7617: the user-id ends at the first colon; one inside it
            # would silently move into the password.
            raise ValueError("a Basic auth username cannot contain ':'")
        pair = f"{username}:{password}".encode()
        self._headers = {
            **(extra_headers or {}),
            "Authorization": "Basic " + base64.b64encode(pair).decode("ascii"),
        }

    async def headers(self) -> Mapping[str, str]:
        """``Authorization: Basic …`` and the extra headers."""
        return self._headers

    async def refresh(self, stale: Mapping[str, str]) -> bool:
        """Fixed credentials cannot be renewed: always False."""
        return False

    def __repr__(self) -> str:
        return "BasicAuth(***)"


class TokenAuth(Auth):
    """A session token from ``login``, sent in ``header``; obtained again after a 401.

    The first :meth:`headers` call logs in; concurrent callers wait for
    that one login rather than each logging in. Callers that queued
    behind a login share its outcome, success or failure: a refused login
    is not repeated by every waiting request, since repeated failed logins
    can lock the account. A login refused outright (a
    :class:`~syncd.errors.PermanentError`, e.g. a wrong password) is not
    tried again by this object at all; any other failure (the PMS was
    unreachable) is tried again by the next request.
    """

    def __init__(self, login: LoginFn, *, header: str) -> None:
        self._login = login
        self._header = header
        self._token: str | None = None
        self._lock = anyio.Lock()
        # Login attempts finished so far: a waiter that sees it change while
        # it waited for the lock takes that attempt's outcome.
        self._attempts = 0
        self._failure: Exception | None = None
        self._refused: PermanentError | None = None
        self.logins = 0  # successful logins, for tests and diagnostics

    @property
    def header(self) -> str:
        """The name of the header that carries the token."""
        return self._header

    async def headers(self) -> Mapping[str, str]:
        """``{header: token}``, logging in first if there is no token yet."""
        token = self._token
        if token is None:
            token = await self._obtain(self._attempts)
        return {self._header: token}

    async def refresh(self, stale: Mapping[str, str]) -> bool:
        """Log in again unless the token in ``stale`` was already replaced.

        Raises what the login raises when it fails.
        """
        attempts = self._attempts
        current = self._token
        if current is not None and current != _lookup(stale, self._header):
            # Another request already replaced the rejected token.
            return True
        # New requests must not go out with the rejected token meanwhile.
        self._token = None
        await self._obtain(attempts)
        return True

    async def _obtain(self, attempts: int) -> str:
        """Log in, unless an attempt finished since the caller saw ``attempts``."""
        async with self._lock:
            if self._refused is not None:
                raise _again(self._refused)
            if self._attempts != attempts:
                if self._failure is not None:
                    raise _again(self._failure)
                if self._token is not None:
                    return self._token
            self._failure = None
            try:
                token = await self._login()
                if not isinstance(token, str) or not token:
                    raise PMSBadResponse("the login answered an empty token")
            except Exception as exc:
                self._token = None
                self._failure = exc
                if isinstance(exc, PermanentError):
                    self._refused = exc
                log.warning("pms.auth.login_failed", error=type(exc).__name__)
                raise
            finally:
                self._attempts += 1
            self._token = token
            self._failure = None
            self.logins += 1
            log.info("pms.auth.login", logins=self.logins)
            return token

    def __repr__(self) -> str:
        state = "logged in" if self._token is not None else "not logged in"
        return f"TokenAuth(header={self._header!r}, {state})"


def parse_login_token(body: Any, *, where: str = "login") -> str:
    """The session token in a login answer: a JSON string, or ``{"Token": "…"}``.

    Rent Manager answers the token as a quoted JSON string (a ``str`` once
    parsed); some servers wrap it in an object. Anything else, or an empty
    token, raises :class:`~syncd.errors.PMSBadResponse`. The message never
    shows the token.
    """
    token: Any = body
    if isinstance(body, Mapping):
        token = next(
            (
                value
                for key, value in body.items()
                if isinstance(key, str) and key.lower() == "token"
            ),
            None,
        )
        if token is None:
            keys = ", ".join(sorted(str(key) for key in body)[:10]) or "none"
            raise PMSBadResponse(f"{where}: the answer has no Token field (fields: {keys})")
    if not isinstance(token, str):
        raise PMSBadResponse(f"{where}: expected the token as a JSON string, got {_kind(token)}")
    text: str = token.strip()
    if not text:
        raise PMSBadResponse(f"{where}: the answer holds an empty token")
    return text


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _lookup(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value by case-insensitive name."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _again(error: Exception) -> Exception:
    """A copy of ``error`` for another waiter, so one instance is not raised in many tasks."""
    try:
        clone = copy.copy(error)
    except Exception:  # an exception that cannot be copied is raised as it is
        return error
    clone.__cause__ = error
    return clone
