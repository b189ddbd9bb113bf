"""A vendor-neutral JSON-over-HTTP client shared by every connector.

It owns one :class:`aiohttp.ClientSession` per connector and does what every
PMS needs alike: a per-request timeout, a token bucket before each attempt,
retries of transient faults (with exponential backoff, full jitter and
``Retry-After``), and translation of every HTTP status or transport failure
into :mod:`syncd.errors`. Vendor specifics (auth headers, how the PMS words
its error bodies) come in through constructor arguments.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import aiohttp
import anyio
import orjson
import structlog

from syncd.connectors.base import ConnectorOptions, ConnectorStats
from syncd.connectors.ratelimit import TokenBucket
from syncd.errors import (
    AuthenticationError,
    ConnectorError,
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

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_REJECTED = frozenset({400, 415, 422})
_MAX_ERROR_TEXT = 300
#: The longest wait between two tries of a throttled request without Retry-After.
_THROTTLE_CAP = 10.0


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

    ``headers`` are sent with every request (credentials belong here; they
    are never logged). ``error_message`` turns the PMS's parsed error body
    into a message for the raised exception. ``bucket`` defaults to one
    built from ``options.rate_limit`` with a burst of one second's worth.
    """

    def __init__(
        self,
        base_url: str,
        *,
        options: ConnectorOptions,
        stats: ConnectorStats | None = None,
        headers: Mapping[str, str] | None = None,
        error_message: ErrorMessageHook | None = None,
        bucket: TokenBucket | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.options = options
        self.stats = stats if stats is not None else ConnectorStats()
        self.bucket = bucket if bucket is not None else TokenBucket(options.rate_limit)
        self._headers = {"Accept": "application/json", **(headers or {})}
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

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Query | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> JsonResponse:
        """Send one logical request, retrying transient faults; return the parsed answer.

        Non-idempotent requests (POST/PATCH unless ``idempotent=True``) are
        only repeated when the PMS surely did not act on them: a 429, or a
        connection that could not be opened.
        """
        session = self._session
        if session is None:
            raise RuntimeError("JsonHttpClient is not open; use 'async with' or call open()")
        method = method.upper()
        if idempotent is None:
            idempotent = method in _IDEMPOTENT
        url = self.base_url + path
        data = orjson.dumps(json) if json is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else None
        attempts = max(1, self.options.max_attempts)
        attempt = 0  # failed attempts other than 429s
        throttled = 0  # 429s answered to this request
        storm_started: float | None = None
        while True:
            await self.bucket.acquire()
            self.stats.requests += 1
            try:
                return await self._attempt(
                    session, method, url, path, params=params, data=data, headers=headers
                )
            except _Failure as failure:
                error = failure.error
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
                raw = await response.read()
                status = response.status
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

    def _status_error(
        self, status: int, raw: bytes, where: str, url: str, retry_after: float | None
    ) -> ConnectorError:
        detail = self._describe_body(raw)
        message = f"{where}: HTTP {status}" + (f": {detail}" if detail else "")
        if status == 429:
            return RateLimited(message, retry_after=retry_after, url=url)
        if status == 401:
            return AuthenticationError(message, status=status, url=url)
        if status == 403:
            return PermissionDenied(message, status=status, url=url)
        if status == 404:
            return PMSNotFound(message, status=status, url=url)
        if status == 408:
            return PMSTimeout(message, status=status, url=url)
        if status >= 500:
            return PMSServerError(message, status=status, url=url)
        if 400 <= status < 500:
            return RequestRejected(message, status=status, url=url)
        return PMSBadResponse(message, status=status, url=url)

    def _describe_body(self, raw: bytes) -> str | None:
        if not raw:
            return None
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
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
