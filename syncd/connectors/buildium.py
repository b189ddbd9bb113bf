"""Buildium Open API connector.

Wire facts: every request carries ``x-buildium-client-id`` and
``x-buildium-client-secret``; list endpoints page with ``offset``/``limit``
(at most 1000), answer a bare JSON array and report the size of the whole
result set in ``X-Total-Count``; ``lastupdatedfrom``/``lastupdatedto`` filter
by update time on every endpoint syncd reads except ``/v1/users``. The
documented limit is 10 requests per second; errors come as
``{"UserMessage", "ErrorCode", "Errors": [{"Key", "Value"}]}``.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

import anyio
import anyio.abc
import structlog

from syncd.connectors.base import Connector, ConnectorOptions
from syncd.connectors.http import JsonHttpClient, QueryValue
from syncd.connectors.ratelimit import TokenBucket
from syncd.domain import Capability, FetchWindow, Page, RawRecord
from syncd.errors import CredentialError, PermanentError, PMSBadResponse

log = structlog.get_logger(__name__)

_MAX_LIMIT = 1000

_ENDPOINTS: Mapping[str, str] = {
    "properties": "/v1/rentals",
    "units": "/v1/rentals/units",
    "residents": "/v1/leases/tenants",
    "leases": "/v1/leases",
    "leads": "/v1/applicants",
    "employees": "/v1/users",
}

# Fixed filters per model: /v1/users also lists rental owners and vendors,
# who are not employees.
_FILTERS: Mapping[str, Mapping[str, str]] = {"employees": {"usertypes": "Staff"}}

# /v1/users has no lastupdatedfrom/lastupdatedto parameters.
_WINDOWED = frozenset(_ENDPOINTS) - {"employees"}

_READ = frozenset({Capability.READ})
_CAPABILITIES: Mapping[str, frozenset[Capability]] = {
    **dict.fromkeys(_ENDPOINTS, _READ),
    "leads": frozenset({Capability.READ, Capability.CREATE}),
}

_BASE_URLS = {
    "production": "https://api.buildium.com",
    "sandbox": "https://apisandbox.buildium.com",
}


def buildium_error_message(body: Any) -> str | None:
    """The text of a Buildium error body: ``UserMessage`` plus each ``Key: Value``."""
    if not isinstance(body, Mapping):
        return body if isinstance(body, str) and body else None
    parts: list[str] = []
    user_message = body.get("UserMessage")
    if isinstance(user_message, str) and user_message:
        parts.append(user_message)
    errors = body.get("Errors")
    if isinstance(errors, list):
        details = []
        for item in errors:
            if isinstance(item, Mapping):
                key, value = item.get("Key"), item.get("Value")
                if key and value:
                    details.append(f"{key}: {value}")
                elif value or key:
                    details.append(str(value or key))
        if details:
            parts.append("; ".join(details))
    code = body.get("ErrorCode")
    if code:
        parts.append(f"[{code}]")
    return " ".join(parts) or None


def format_timestamp(moment: datetime) -> str:
    """``moment`` as Buildium's filter format, UTC ``YYYY-MM-DDTHH:MM:SSZ`` (naive = UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class BuildiumConnector(Connector):
    """Reads Buildium rentals, units, tenants, leases, applicants and users."""

    vendor: ClassVar[str] = "BUILDIUM"
    credential_keys: ClassVar[tuple[str, ...]] = ("client_id", "client_secret")

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Mapping[str, str],
        options: ConnectorOptions | None = None,
    ) -> None:
        super().__init__(base_url=base_url, credentials=credentials, options=options)
        missing = [key for key in self.credential_keys if not credentials.get(key)]
        if missing:
            raise CredentialError(f"Buildium credentials lack {', '.join(missing)}")
        self._client = JsonHttpClient(
            self.base_url,
            options=self.options,
            stats=self.stats,
            headers={
                "x-buildium-client-id": credentials["client_id"],
                "x-buildium-client-secret": credentials["client_secret"],
            },
            error_message=buildium_error_message,
            # Buildium counts requests per second: spread them evenly rather
            # than bursting a second's worth at once, which it answers with 429.
            bucket=TokenBucket(self.options.rate_limit, burst=1),
        )

    @classmethod
    def default_base_url(cls, environment: str) -> str:
        """``https://api.buildium.com`` or ``https://apisandbox.buildium.com`` (paths add /v1)."""
        try:
            return _BASE_URLS[environment.lower()]
        except KeyError:
            known = ", ".join(_BASE_URLS)
            raise ValueError(f"unknown environment {environment!r} (known: {known})") from None

    @classmethod
    def capabilities(cls) -> Mapping[str, frozenset[Capability]]:
        """All six models are readable; leads (applicants) can also be created."""
        return _CAPABILITIES

    @classmethod
    def supports_window(cls, model: str) -> bool:
        """Every endpoint filters by update time except users (employees)."""
        return model in _WINDOWED

    @property
    def page_limit(self) -> int:
        """The ``limit`` sent per page: ``options.page_size`` clamped to 1..1000."""
        return min(max(1, self.options.page_size), _MAX_LIMIT)

    @property
    def client(self) -> JsonHttpClient:
        """The HTTP client (open between :meth:`open` and :meth:`close`)."""
        return self._client

    async def open(self) -> None:
        """Open the HTTP session."""
        await self._client.open()

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._client.close()

    async def check_auth(self) -> None:
        """One single-record request; 401 raises AuthenticationError."""
        await self._client.get("/v1/rentals", {"limit": 1})

    def pages(
        self,
        model: str,
        window: FetchWindow,
        *,
        cursor: str | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[Page]]:
        """Pages of ``model`` in order; ``cursor`` is the offset to resume from.

        After the first page reveals ``X-Total-Count``, up to
        ``options.concurrency`` later pages are fetched at once. Each page's
        ``cursor`` is the offset just after its records. The first page is
        yielded even when empty, so the caller learns the total.
        """
        endpoint = _ENDPOINTS.get(model)
        if endpoint is None:
            supported = ", ".join(sorted(_ENDPOINTS))
            raise PermanentError(f"Buildium has no {model!r} resource (supported: {supported})")
        if not self._client.is_open:
            raise RuntimeError("BuildiumConnector is not open; use 'async with connector'")
        params: dict[str, QueryValue] = {
            "orderby": "Id",
            "limit": self.page_limit,
            **_FILTERS.get(model, {}),
        }
        if model in _WINDOWED:
            if window.since is not None:
                params["lastupdatedfrom"] = format_timestamp(window.since)
            if window.until is not None:
                params["lastupdatedto"] = format_timestamp(window.until)
        return self._pages(model, endpoint, params, _parse_cursor(cursor, model))

    @asynccontextmanager
    async def _pages(
        self, model: str, endpoint: str, params: dict[str, QueryValue], start: int
    ) -> AsyncIterator[AsyncIterator[Page]]:
        error: BaseException | None = None
        async with anyio.create_task_group() as tg:
            stream = _PageStream(
                self,
                tg,
                model=model,
                endpoint=endpoint,
                params=params,
                start=start,
                concurrency=max(1, self.options.concurrency),
            )
            try:
                yield stream
            except BaseException as exc:
                if isinstance(exc, anyio.get_cancelled_exc_class()):
                    raise
                # Re-raised below, outside the task group, so callers catch the
                # ConnectorError (or an interrupt) itself rather than an
                # ExceptionGroup around it.
                error = exc
            finally:
                stream.closed = True
                tg.cancel_scope.cancel()
        if error is not None:
            raise error

    async def fetch_page(
        self, endpoint: str, params: Mapping[str, QueryValue], offset: int
    ) -> tuple[list[RawRecord], int | None]:
        """One page at ``offset``: its records and the ``X-Total-Count`` if sent."""
        response = await self._client.get(endpoint, {**params, "offset": offset})
        body = response.body
        if not isinstance(body, list):
            raise PMSBadResponse(
                f"GET {endpoint}: expected a JSON array, got {type(body).__name__}",
                status=response.status,
                url=self.base_url + endpoint,
            )
        return body, _parse_total(response.headers.get("X-Total-Count"))


class _Slot:
    """The result of one prefetched page, filled in by its fetch task."""

    __slots__ = ("done", "error", "offset", "records")

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.done = anyio.Event()
        self.records: list[RawRecord] = []
        self.error: Exception | None = None


class _PageStream:
    """Async iterator over the pages of one listing, prefetching ahead in order.

    The first page is fetched by the consumer itself. If it carries a total,
    later offsets are fetched by tasks in the connector's task group, at most
    ``concurrency`` pages ahead of the consumer; results wait in per-offset
    slots so pages come out in order whatever order they arrive in. Without
    a total, pages are fetched one by one until a short page.
    """

    def __init__(
        self,
        connector: BuildiumConnector,
        tg: anyio.abc.TaskGroup,
        *,
        model: str,
        endpoint: str,
        params: Mapping[str, QueryValue],
        start: int,
        concurrency: int,
    ) -> None:
        self._connector = connector
        self._tg = tg
        self._model = model
        self._endpoint = endpoint
        self._params = params
        self._limit = int(params["limit"])
        self._concurrency = concurrency
        self._next_offset = start  # next offset to request
        self._total: int | None = None
        self._started = False
        self._finished = False
        self._slots: collections.deque[_Slot] = collections.deque()
        self.closed = False

    def __aiter__(self) -> _PageStream:
        return self

    async def __anext__(self) -> Page:
        if self.closed:
            raise RuntimeError("pages iterated after leaving their 'async with' block")
        if self._finished:
            raise StopAsyncIteration
        if not self._started:
            self._started = True
            return await self._first_page()
        if self._total is None:
            offset = self._next_offset
            records = await self._fetch(offset)
            self._next_offset = offset + self._limit
            if not records:
                self._finished = True
                raise StopAsyncIteration
            return self._page(offset, records)
        if not self._slots:
            self._finished = True
            raise StopAsyncIteration
        slot = self._slots.popleft()
        await slot.done.wait()
        if slot.error is not None:
            self._finished = True
            raise slot.error
        if not slot.records:
            # The result set shrank since the total was reported.
            self._finished = True
            raise StopAsyncIteration
        self._schedule()
        return self._page(slot.offset, slot.records)

    async def _first_page(self) -> Page:
        offset = self._next_offset
        records, total = await self._connector.fetch_page(self._endpoint, self._params, offset)
        self._total = total
        if total is not None and 0 < len(records) < self._limit and offset + len(records) < total:
            # The PMS caps pages below what was asked: step by what it really
            # sends, or the prefetched offsets would skip records.
            log.warning(
                "buildium.page_size.capped",
                model=self._model,
                requested=self._limit,
                received=len(records),
            )
            self._limit = len(records)
            self._params = {**self._params, "limit": self._limit}
        self._next_offset = offset + self._limit
        page = self._page(offset, records)
        if not records:
            self._finished = True
        elif total is not None:
            self._schedule()
        return page

    def _page(self, offset: int, records: list[RawRecord]) -> Page:
        if self._total is None and len(records) < self._limit:
            self._finished = True
        return Page(
            model=self._model,
            records=records,
            cursor=str(offset + len(records)),
            total=self._total,
        )

    def _schedule(self) -> None:
        total = self._total
        assert total is not None
        while len(self._slots) < self._concurrency and self._next_offset < total:
            slot = _Slot(self._next_offset)
            self._next_offset += self._limit
            self._slots.append(slot)
            self._tg.start_soon(self._fill, slot)

    async def _fill(self, slot: _Slot) -> None:
        try:
            slot.records = await self._fetch(slot.offset)
        except Exception as exc:
            # Delivered to the consumer at this page's turn, after earlier pages.
            slot.error = exc
        finally:
            slot.done.set()

    async def _fetch(self, offset: int) -> list[RawRecord]:
        records, _ = await self._connector.fetch_page(self._endpoint, self._params, offset)
        return records


def _parse_cursor(cursor: str | None, model: str) -> int:
    if cursor is None:
        return 0
    try:
        offset = int(cursor)
    except ValueError:
        offset = -1
    if offset < 0:
        # Starting over is always safe: the store upserts what it sees again.
        log.warning("buildium.cursor.invalid", model=model, cursor=cursor)
        return 0
    return offset


def _parse_total(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        total = int(value.strip())
    except ValueError:
        return None
    return total if total >= 0 else None
