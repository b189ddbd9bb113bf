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

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, ClassVar

import structlog

from syncd.connectors.base import Connector, ConnectorOptions, PageStream, RateLimitSpec
from syncd.connectors.http import JsonHttpClient, QueryValue, keyed_error_message, parse_count
from syncd.connectors.paging import (
    ListingAudit,
    OffsetPager,
    int_id,
    paged,
    resume_from,
)
from syncd.connectors.ratelimit import TokenBucket
from syncd.domain import ALL_PROPERTIES, Capability, FetchWindow, PropertyScope, RawRecord
from syncd.errors import PermanentError, PMSNotFound

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

# Date filter parameters per field, and the models whose endpoint takes them
# (the OpenAPI document: /v1/users takes none, only /v1/leases the created date).
_DATE_PARAMS: Mapping[str, tuple[str, str]] = {
    "updated": ("lastupdatedfrom", "lastupdatedto"),
    "created": ("createddatetimefrom", "createddatetimeto"),
}
_DATE_FIELDS: Mapping[str, frozenset[str]] = {
    **dict.fromkeys(set(_ENDPOINTS) - {"employees"}, frozenset({"updated"})),
    "leases": frozenset({"updated", "created"}),
}

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
    return keyed_error_message(
        body, message="UserMessage", errors="Errors", key="Key", value="Value", code="ErrorCode"
    )


def format_timestamp(moment: datetime) -> str:
    """``moment`` as Buildium's filter format, UTC ``YYYY-MM-DDTHH:MM:SSZ`` (naive = UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class BuildiumConnector(Connector):
    """Reads Buildium rentals, units, tenants, leases, applicants and users."""

    vendor: ClassVar[str] = "BUILDIUM"
    display_name: ClassVar[str] = "Buildium"
    credential_keys: ClassVar[tuple[str, ...]] = ("client_id", "client_secret")
    rate_limit: ClassVar[RateLimitSpec | None] = RateLimitSpec(
        10, 1.0, "Buildium Open API: 10 concurrent requests per second"
    )

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Mapping[str, str],
        options: ConnectorOptions | None = None,
    ) -> None:
        super().__init__(base_url=base_url, credentials=credentials, options=options)
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
    def date_fields(cls, model: str) -> frozenset[str]:
        """Every endpoint filters by update time except users; leases by creation time too."""
        return _DATE_FIELDS.get(model, frozenset())

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
        scope: PropertyScope = ALL_PROPERTIES,
    ) -> AbstractAsyncContextManager[PageStream]:
        """Pages of ``model`` in Id order; ``cursor`` resumes after the last stored page.

        Buildium's ``propertyids`` filter includes, it cannot exclude, so
        ``scope`` is left to the runner (listing everything is a superset).

        Listings are sorted by ``Id`` (``orderby=Id``), so the shared pager
        proves them gap-free: consecutive pages overlap by one record (see
        :mod:`syncd.connectors.paging`). After the first page reveals
        ``X-Total-Count``, up to ``options.concurrency`` later pages are
        fetched at once. The first page is yielded even when empty, so the
        caller learns the total.
        """
        endpoint = _ENDPOINTS.get(model)
        if endpoint is None:
            supported = ", ".join(sorted(_ENDPOINTS))
            raise PermanentError(f"Buildium has no {model!r} resource (supported: {supported})")
        if not self._client.is_open:
            raise RuntimeError("BuildiumConnector is not open; use 'async with connector'")
        params: dict[str, QueryValue] = {"orderby": "Id", **_FILTERS.get(model, {})}
        bounded = window.since is not None or window.until is not None
        if bounded and window.field not in self.date_fields(model):
            # Never filter by another date than the one asked for: list
            # everything instead (a superset is safe; another set is not).
            log.warning(
                "pms.window.unsupported",
                model=model,
                field=window.field,
                supported=sorted(self.date_fields(model)),
            )
        elif bounded:
            since_param, until_param = _DATE_PARAMS[window.field]
            if window.since is not None:
                params[since_param] = format_timestamp(window.since)
            if window.until is not None:
                params[until_param] = format_timestamp(window.until)
        start, last_id = resume_from(cursor, model=model, vendor="buildium")
        audit = ListingAudit(
            model,
            key=_ID,
            ordered=True,
            start=start,
            last_key=last_id,
            drift_records=self.options.drift_records,
            drift_share=self.options.drift_share,
        )
        return self._pages(model, endpoint, params, audit)

    def _pages(
        self, model: str, endpoint: str, params: dict[str, QueryValue], audit: ListingAudit
    ) -> AbstractAsyncContextManager[PageStream]:
        async def fetch(offset: int, limit: int) -> tuple[list[RawRecord], int | None]:
            return await self.fetch_page(endpoint, {**params, "limit": limit}, offset)

        return paged(
            lambda tg: OffsetPager(
                tg,
                model=model,
                fetch=fetch,
                audit=audit,
                limit=self.page_limit,
                concurrency=max(1, self.options.concurrency),
            )
        )

    async def fetch_page(
        self, endpoint: str, params: Mapping[str, QueryValue], offset: int
    ) -> tuple[list[RawRecord], int | None]:
        """One page at ``offset``: its records and the ``X-Total-Count`` if sent."""
        records, response = await self._client.get_list(endpoint, {**params, "offset": offset})
        return records, parse_count(response.headers.get("X-Total-Count"))

    async def fetch_one(self, model: str, x_id: str) -> RawRecord | None:
        """``GET <endpoint>/{id}``: the record, or None when Buildium answers 404."""
        endpoint = _ENDPOINTS.get(model)
        if endpoint is None or not x_id.isdigit():
            return None
        try:
            response = await self._client.get(f"{endpoint}/{x_id}")
        except PMSNotFound:
            return None
        body = response.body
        return body if isinstance(body, dict) else None


#: Buildium ids are integers; anything else is an unreadable id.
_ID = int_id("Id")
