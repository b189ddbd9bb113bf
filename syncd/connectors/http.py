"""A vendor-neutral JSON-over-HTTP client shared by every connector.

It owns one :class:`aiohttp.ClientSession` per connector and does what every
PMS needs alike: a per-request timeout, a token bucket before each attempt,
retries of transient faults (with exponential backoff, full jitter and
``Retry-After``), and translation of every HTTP status or transport failure
into :mod:`syncd.errors`. Vendor specifics (credentials, how the PMS words
its error bodies) come in through constructor arguments.

Credentials come from an :class:`~syncd.connectors.auth.Auth`, asked for
headers before every attempt; a 401 lets it renew them once per logical
request (a session token that expired). The PMS's own rate-limit headers
(``X-RateLimit-Remaining``/``-Reset`` or the IETF draft's
``RateLimit-Remaining``/``-Reset``) pause the token bucket until the window
reopens, so the next request does not run into a 429.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import aiohttp
import anyio
import orjson
import structlog

from syncd.connectors.auth import Auth, HeaderAuth
from syncd.connectors.base import ConnectorOptions, ConnectorStats
from syncd.connectors.ratelimit import TokenBucket
from syncd.egress import host_allowed
from syncd.errors import (
    AuthenticationError,
    ConnectorError,
    EgressRefused,
    PermanentError,
    PermissionDenied,
    PMSBadResponse,
    PMSConnectionError,
    PMSNotFound,
    PMSServerError,
    PMSTimeout,
    RateLimited,
    RequestRejected,
)

log = structlog.get_logger(__name__)

#: Extracts a human-readable message from a parsed error body (None: no message).
ErrorMessageHook = Callable[[Any], str | None]

QueryValue = str | int | float
Query = Mapping[str, QueryValue]
#: Fields of an ``application/x-www-form-urlencoded`` body.
Form = Mapping[str, QueryValue]

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_REJECTED = frozenset({400, 415, 422})
_MAX_ERROR_TEXT = 300
#: The longest wait between two tries of a throttled request without Retry-After.
_THROTTLE_CAP = 10.0
#: Rate-limit headers, the common names first, then the IETF draft's.
_REMAINING_HEADERS = ("X-RateLimit-Remaining", "RateLimit-Remaining")
_RESET_HEADERS = ("X-RateLimit-Reset", "RateLimit-Reset")
#: The pause when the PMS says its window is used up but not when it reopens.
_EXHAUSTED_PAUSE = 1.0
#: A reset above this is a Unix timestamp rather than seconds from now (2001-09-09).
_EPOCH_THRESHOLD = 1e9


@dataclass(frozen=True, slots=True)
class JsonResponse:
    """A successful answer: status, headers (case-insensitive) and parsed JSON body.

    ``body`` is None when a 2xx answer had no body at all (e.g. 204).
    """

    status: int
    headers: Mapping[str, str]
    body: Any


class _Failure(Exception):
    """One failed attempt: the translated error and whether to try again."""

    def __init__(
        self,
        error: ConnectorError,
        *,
        retry: bool,
        status: int | None = None,
        not_sent: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry = retry
        self.status = status
        self.retry_after = retry_after
        # True when the request surely never reached the PMS (connect failed).
        self.not_sent = not_sent


class JsonHttpClient:
    """JSON HTTP client of one connector; use as an async context manager.

    ``auth`` supplies the credential headers of every request (never
    logged); ``headers`` is shorthand for ``auth=HeaderAuth(headers)``,
    so pass one or the other. ``error_message`` turns the PMS's parsed
    error body into a message for the raised exception. ``bucket``
    defaults to one built from ``options.rate_limit`` with a burst of one
    second's worth (see :func:`~syncd.connectors.ratelimit.shared_bucket`
    for one shared by every client of the same credential).
    """

    def __init__(
        self,
        base_url: str,
        *,
        options: ConnectorOptions,
        stats: ConnectorStats | None = None,
        headers: Mapping[str, str] | None = None,
        auth: Auth | None = None,
        error_message: ErrorMessageHook | None = None,
        bucket: TokenBucket | None = None,
    ) -> None:
        if headers is not None and auth is not None:
            raise ValueError("pass credentials as headers or as auth, not both")
        self.base_url = base_url.rstrip("/")
        self.options = options
        self.stats = stats if stats is not None else ConnectorStats()
        self.bucket = bucket if bucket is not None else TokenBucket(options.rate_limit)
        self.auth: Auth | None = HeaderAuth(headers) if headers is not None else auth
        self._headers = {"Accept": "application/json"}
        self._error_message = error_message or _default_error_message
        self._session: aiohttp.ClientSession | None = None

    @property
    def is_open(self) -> bool:
        """True between :meth:`open` and :meth:`close`."""
        return self._session is not None

    async def open(self) -> None:
        """Create the HTTP session (idempotent)."""
        if self._session is not None:
            return
        # The connection pool matches the number of pages in flight, plus one
        # for the sequential request that reveals the total.
        connector = aiohttp.TCPConnector(limit=max(1, self.options.concurrency) + 1)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=self.options.timeout),
            raise_for_status=False,
        )

    async def close(self) -> None:
        """Close the HTTP session and its connections (idempotent)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> JsonHttpClient:
        await self.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def get(self, path: str, params: Query | None = None) -> JsonResponse:
        """GET ``path`` (relative to the base URL) with query ``params``."""
        return await self.request("GET", path, params=params)

    async def get_list(
        self, path: str, params: Query | None = None
    ) -> tuple[list[Any], JsonResponse]:
        """GET a listing answered as a bare JSON array (no body: empty); PMSBadResponse if not."""
        response = await self.get(path, params)
        body = response.body
        if body is None:
            return [], response
        if not isinstance(body, list):
            raise PMSBadResponse(
                f"GET {path}: expected a JSON array, got {type(body).__name__}",
                status=response.status,
                url=self.base_url + path,
            )
        return body, response

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Query | None = None,
        json: Any = None,
        form: Form | None = None,
        idempotent: bool | None = None,
        authenticate: bool = True,
    ) -> JsonResponse:
        """Send one logical request, retrying transient faults; return the parsed answer.

        The body is ``json`` (sent as JSON) or ``form`` (sent form-encoded),
        not both. Non-idempotent requests (POST/PATCH unless
        ``idempotent=True``, e.g. a read-only form POST) are only repeated
        when the PMS surely did not act on them: a 429, a 401 after the
        credentials were renewed, or a connection that could not be opened.
        ``authenticate=False`` sends no credentials (the login request itself).
        """
        if not host_allowed(self.base_url, self.options.allowed_hosts):
            raise EgressRefused(
                "the PMS host is not on SYNCD_EGRESS_ALLOWED_HOSTS", url=self.base_url
            )
        session = self._session
        if session is None:
            raise RuntimeError("JsonHttpClient is not open; use 'async with' or call open()")
        if json is not None and form is not None:
            raise ValueError("a request has a JSON body or a form body, not both")
        method = method.upper()
        if idempotent is None:
            idempotent = method in _IDEMPOTENT
        url = self.base_url + path
        data: bytes | None = None
        content: dict[str, str] = {}
        if form is not None:
            data = urllib.parse.urlencode(form).encode("ascii")
            content["Content-Type"] = "application/x-www-form-urlencoded"
        elif json is not None:
            data = orjson.dumps(json)
            content["Content-Type"] = "application/json"
        auth = self.auth if authenticate else None
        renewed = False  # the credentials were renewed once for this request
        attempts = max(1, self.options.max_attempts)
        attempt = 0  # failed attempts other than 429s and 401s
        throttled = 0  # 429s answered to this request
        storm_started: float | None = None
        while True:
            # Asked per attempt: a token renewed meanwhile is the one to send.
            credentials = dict(await auth.headers()) if auth is not None else {}
            await self.bucket.acquire()
            self.stats.requests += 1
            try:
                return await self._attempt(
                    session,
                    method,
                    url,
                    path,
                    params=params,
                    data=data,
                    headers={**content, **credentials} or None,
                )
            except _Failure as failure:
                error = failure.error
                if isinstance(error, AuthenticationError) and auth is not None and not renewed:
                    # The PMS refused the credentials, so it did not act on the
                    # request: with renewed ones (an expired session token) it
                    # may be sent again, once, whatever its method.
                    renewed = True
                    if await auth.refresh(credentials):
                        log.info("pms.auth.renewed", method=method, path=path)
                        continue
                    raise error from failure.__cause__
                if isinstance(error, RateLimited):
                    # A rate-limit storm is waited out (within a time budget),
                    # not counted against the attempts: a throttled request
                    # cannot have been acted upon, so it is always repeatable.
                    self.stats.throttled += 1
                    throttled += 1
                    now = time.monotonic()
                    storm_started = now if storm_started is None else storm_started
                    delay = self._throttle_delay(throttled, failure.retry_after)
                    waited = now - storm_started
                    budget = max(0.0, self.options.rate_limit_wait)
                    if waited + delay > budget:
                        raise RateLimited(
                            f"{error} (still rate limited after waiting {waited:.1f} s; "
                            f"the limit is {budget:g} s)",
                            retry_after=error.retry_after,
                            url=error.url,
                        ) from failure.__cause__
                    # Everyone sharing the bucket is over the limit, not just us.
                    self.bucket.pause(delay)
                    self.stats.retries += 1
                    log.warning(
                        "pms.rate_limited",
                        method=method,
                        path=path,
                        wait_seconds=round(delay, 3),
                        waited_seconds=round(waited, 3),
                        budget_seconds=budget,
                        retry_after=failure.retry_after,
                    )
                    await anyio.sleep(delay)
                    continue
                attempt += 1
                # A never-sent request cannot have been acted upon either.
                repeatable = idempotent or failure.not_sent
                retry = failure.retry and repeatable
                if not retry or attempt >= attempts:
                    raise error from failure.__cause__
                delay = self._delay(attempt, failure.retry_after)
                self.stats.retries += 1
                log.info(
                    "pms.request.retry",
                    method=method,
                    path=path,
                    status=failure.status,
                    error=type(error).__name__,
                    attempt=attempt,
                    delay=round(delay, 3),
                )
                await anyio.sleep(delay)

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        path: str,
        *,
        params: Query | None,
        data: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> JsonResponse:
        where = f"{method} {path}"
        try:
            async with session.request(
                method, url, params=params, data=data, headers=headers
            ) as response:
                status = response.status
                # Before the body: an answer cut short still told the limit.
                self._honour_rate_limit(response.headers, method, path)
                raw = await response.read()
                if 200 <= status < 300:
                    body = _parse_ok(raw, status, where, url)
                    return JsonResponse(status, response.headers, body)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
        except TimeoutError as exc:
            raise _Failure(
                PMSTimeout(f"{where}: no answer within {self.options.timeout:g}s", url=url),
                retry=True,
            ) from exc
        except aiohttp.ClientPayloadError as exc:
            raise _Failure(
                PMSBadResponse(f"{where}: incomplete response body ({exc})", url=url),
                retry=True,
            ) from exc
        except aiohttp.InvalidURL as exc:
            raise _Failure(PermanentError(f"invalid URL {url!r}", url=url), retry=False) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise _Failure(
                PMSConnectionError(f"{where}: {_describe_transport(exc)}", url=url),
                retry=True,
                not_sent=isinstance(exc, aiohttp.ClientConnectorError),
            ) from exc
        raise _Failure(
            self._status_error(status, raw, where, url, retry_after),
            retry=_is_transient_status(status),
            status=status,
            retry_after=retry_after,
        )

    def _honour_rate_limit(self, headers: Mapping[str, str], method: str, path: str) -> None:
        """Pause the bucket when the PMS says its rate-limit window is used up."""
        pause = parse_rate_limit(headers)
        if pause is None:
            return
        # A reset far off would stall every request silently: wait at most
        # what a 429 storm may take; a 429 after that is handled as one.
        pause = min(pause, max(0.0, self.options.rate_limit_wait))
        if pause <= 0:
            return
        already = self.bucket.paused_for > 0
        self.bucket.pause(pause)
        if not already:
            log.warning(
                "pms.rate_limit.exhausted",
                method=method,
                path=path,
                remaining=_first_header(headers, _REMAINING_HEADERS),
                reset_seconds=round(pause, 3),
            )

    def _status_error(
        self, status: int, raw: bytes, where: str, url: str, retry_after: float | None
    ) -> ConnectorError:
        parsed = _parsed(raw)
        detail = self._describe_body(raw, parsed)
        message = f"{where}: HTTP {status}" + (f": {detail}" if detail else "")
        error: ConnectorError
        if status == 429:
            error = RateLimited(message, retry_after=retry_after, url=url)
        elif status == 401:
            error = AuthenticationError(message, status=status, url=url)
        elif status == 403:
            error = PermissionDenied(message, status=status, url=url)
        elif status == 404:
            error = PMSNotFound(message, status=status, url=url)
        elif status == 408:
            error = PMSTimeout(message, status=status, url=url)
        elif status >= 500:
            error = PMSServerError(message, status=status, url=url)
        elif 400 <= status < 500:
            error = RequestRejected(message, status=status, url=url)
        else:
            error = PMSBadResponse(message, status=status, url=url)
        # A refused write reports the PMS's own messages one by one from it.
        error.body = parsed
        return error

    def _describe_body(self, raw: bytes, parsed: Any) -> str | None:
        if not raw:
            return None
        if parsed is None:
            text = raw[:_MAX_ERROR_TEXT].decode("utf-8", "replace").strip()
            return " ".join(text.split()) or None
        try:
            message = self._error_message(parsed)
        except Exception:  # a vendor hook must never hide the HTTP error itself
            message = None
        return message

    def _throttle_delay(self, throttled: int, retry_after: float | None) -> float:
        """The wait after the ``throttled``-th 429 of one request.

        ``Retry-After`` is honoured as sent (the PMS knows when its window
        reopens); without it the wait doubles from ``backoff_base`` up to
        ``min(backoff_max, 10 s)``, drawn from its upper half so a storm is
        really waited out. Never below ``backoff_base``: a PMS answering
        ``Retry-After: 0`` in a loop is not hammered.
        """
        floor = max(0.0, self.options.backoff_base)
        if retry_after is not None:
            return max(retry_after, floor)
        cap = min(max(0.0, self.options.backoff_max), _THROTTLE_CAP)
        ceiling = min(cap, floor * (2 ** (throttled - 1)))
        return max(floor, random.uniform(ceiling / 2, ceiling))

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        cap = max(0.0, self.options.backoff_max)
        if retry_after is not None:
            # Sent with 429 and sometimes 503; the PMS knows best when to come back.
            return min(retry_after, cap)
        # Full jitter: concurrent clients that failed together spread out.
        ceiling = min(cap, self.options.backoff_base * (2 ** (attempt - 1)))
        return random.uniform(0.0, ceiling)


def parse_count(value: str | None) -> int | None:
    """A record count from a header (``X-Total-Count``, ``X-Total-Results``); None if unreadable."""
    if value is None:
        return None
    try:
        count = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(count) or count < 0 or not count.is_integer():
        return None
    return int(count)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def parse_rate_limit(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to hold back all requests, from the PMS's rate-limit headers.

    None unless ``X-RateLimit-Remaining`` (or the IETF draft's
    ``RateLimit-Remaining``) says no request is left (0 or less). Then the
    pause lasts until ``X-RateLimit-Reset`` (``RateLimit-Reset``): seconds
    from now, a Unix timestamp (a number above 10^9) or an HTTP date; one
    second when no readable reset is given. Header names are matched
    case-insensitively; a list of values (one per policy) counts its
    tightest.
    """
    remaining = _numbers(_first_header(headers, _REMAINING_HEADERS))
    if not remaining or min(remaining) > 0:
        return None
    reset = parse_rate_limit_reset(_first_header(headers, _RESET_HEADERS), now=now)
    return reset if reset is not None else _EXHAUSTED_PAUSE


def parse_rate_limit_reset(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds until a rate-limit window reopens, from a ``*RateLimit-Reset`` value.

    Accepts seconds from now, a Unix timestamp (above 10^9) or an HTTP
    date; None when absent or unreadable. Never negative.
    """
    numbers = _numbers(value)
    if not numbers:
        return parse_retry_after(value, now=now) if value and value.strip() else None
    seconds = max(numbers)
    if seconds > _EPOCH_THRESHOLD:
        seconds -= time.time() if now is None else now
    return max(0.0, seconds)


def _first_header(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    """The value of the first of ``names`` present, matched case-insensitively."""
    for name in names:
        value = headers.get(name)
        if value is not None:
            return value
    wanted = {name.lower(): index for index, name in enumerate(names)}
    found = sorted(
        (wanted[key.lower()], value) for key, value in headers.items() if key.lower() in wanted
    )
    return found[0][1] if found else None


def _numbers(value: str | None) -> list[float]:
    """The finite numbers of a comma-separated header value ([] if any is unreadable)."""
    if value is None:
        return []
    numbers: list[float] = []
    for item in value.split(","):
        try:
            number = float(item.strip())
        except ValueError:
            return []
        if not math.isfinite(number):
            return []
        numbers.append(number)
    return numbers


def _parse_ok(raw: bytes, status: int, where: str, url: str) -> Any:
    if not raw and status != 200:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _Failure(
            PMSBadResponse(
                f"{where}: HTTP {status} body is not valid JSON ({len(raw)} bytes: {exc})",
                status=status,
                url=url,
            ),
            retry=True,
            status=status,
        ) from exc


def _is_transient_status(status: int) -> bool:
    return status in (408, 429) or not 400 <= status < 500


def _describe_transport(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def keyed_error_message(
    body: Any, *, message: str, errors: str, key: str, value: str, code: str
) -> str | None:
    """An error body of the ``{message, errors: [{key, value}], code}`` shape as text.

    Buildium (``UserMessage``/``Errors``/``Key``/``Value``/``ErrorCode``) and
    Propertyware (``userMessage``/``errors``/``key``/``message``/``errorCode``)
    word their errors this way: the message, each ``key: value``, then
    ``[code]``. A bare string body is its own message.
    """
    if not isinstance(body, Mapping):
        return body if isinstance(body, str) and body else None
    parts: list[str] = []
    text = body.get(message)
    if isinstance(text, str) and text:
        parts.append(text)
    details = _keyed_items(body, errors=errors, key=key, value=value)
    if details:
        parts.append("; ".join(details))
    if body.get(code):
        parts.append(f"[{body[code]}]")
    return " ".join(parts) or None


def _default_error_message(body: Any) -> str | None:
    """Common shapes: ``{"message": ...}``, ``{"error": ...}`` or a bare string."""
    if isinstance(body, str):
        return body[:_MAX_ERROR_TEXT] or None
    if isinstance(body, Mapping):
        for key in ("message", "Message", "error_description", "error", "detail", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:_MAX_ERROR_TEXT]
    return None


def keyed_error_messages(
    body: Any, *, message: str, errors: str, key: str, value: str
) -> list[str]:
    """The same error body as one message per problem: each ``key: value``, else the message.

    What a refused write reports (``WriteRejected.messages``).
    """
    if not isinstance(body, Mapping):
        return [body] if isinstance(body, str) and body else []
    out = _keyed_items(body, errors=errors, key=key, value=value)
    text = body.get(message)
    if not out and isinstance(text, str) and text:
        out.append(text)
    return out


def _keyed_items(body: Mapping[str, Any], *, errors: str, key: str, value: str) -> list[str]:
    out: list[str] = []
    items = body.get(errors)
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping):
            name, said = item.get(key), item.get(value)
            if name and said:
                out.append(f"{name}: {said}")
            elif name or said:
                out.append(str(said or name))
    return out


def _parsed(raw: bytes) -> Any:
    """An answer's body as JSON; None when empty or not JSON."""
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
