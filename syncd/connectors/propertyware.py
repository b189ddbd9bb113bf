"""Propertyware Open API connector (REST, ``/pw/api/rest/v1``).

Wire facts (Propertyware's OpenAPI document): every request carries
``x-propertyware-client-id``, ``x-propertyware-client-secret`` and
``x-propertyware-system-id`` (the organization id); without them, 401. List
endpoints page with ``offset`` (zero-based) and ``limit`` (default 100, at
most 500; a larger one is served as 500), answer a bare JSON array and
report the size of the whole result set in ``X-Total-Count``; ``orderby``
takes ``field [asc|desc]`` terms, field names case-insensitive (``id`` is
sortable on every list). ``lastModifiedDateTimeStart`` /
``lastModifiedDateTimeEnd`` filter every list by modification time, both
bounds inclusive, written ``YYYY-MM-DDTHH:MM:SSZ``; no list filters by
creation time. Errors come as ``{"errorCode", "errors": [{"key",
"message"}], "userMessage"}``. Buildings and units leave deactivated
records out unless ``includeDeactivated=true``.

Endpoints read: ``/buildings`` (properties), ``/units``, ``/contacts?type=TENANT``
(residents), ``/leases`` (their ``contacts`` give the resident links) and
``/prospects`` (leads).

Decisions on points the documents leave open:

- **Base URL.** ``servers`` gives ``https://api.propertyware.com/pw/api/rest/v1``
  (the overview text once writes ``/pw/api/v1/rest``; the ``servers`` entry
  and both request examples agree on ``/rest/v1``, so that is used). A base
  URL naming only a host gets that path appended, so an operator may give
  the host alone or the full API root (any other path is used as given).
- **Sandbox.** No sandbox host is documented [UNCONFIRMED]: test accounts
  are organizations on the same API, so ``sandbox`` uses the production URL.
- **Rate limit.** Only a commented-out "FUTURE" section exists: 10 requests
  per second, 429 beyond, retry after ~200 ms [UNCONFIRMED]. syncd keeps to
  it, with requests spread evenly (a burst of one) from one bucket per
  organization and key, shared by every integration using them.
- **Deactivated records.** Buildings and units are listed with
  ``includeDeactivated=true``: a deactivated property is still a property
  (``is_active`` false), and leaving it out would read as a deletion.
- **Property scope.** ``buildingID`` selects one building; nothing excludes
  one, so the scope is left to the runner (listing everything is a superset).
- **Primary tenant.** A lease's ``contacts`` flag the primary one
  (``primary``) in no documented order; the transform ranks links by
  position, so the primary contact is moved to the front (the others keep
  their order).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import structlog

from syncd.connectors.auth import HeaderAuth
from syncd.connectors.base import (
    Connector,
    ConnectorOptions,
    PageStream,
    RateLimitSpec,
)
from syncd.connectors.http import JsonHttpClient, QueryValue, keyed_error_message, parse_count
from syncd.connectors.paging import (
    ListingAudit,
    OffsetPager,
    int_id,
    paged,
    resume_from,
)
from syncd.connectors.ratelimit import bucket_key, shared_bucket
from syncd.domain import ALL_PROPERTIES, Capability, FetchWindow, PropertyScope, RawRecord
from syncd.errors import PermanentError, PMSNotFound

log = structlog.get_logger(__name__)

#: The API root path of the ``servers`` entry.
API_PATH = "/pw/api/rest/v1"

_MAX_LIMIT = 500

_ENDPOINTS: Mapping[str, str] = {
    "properties": "/buildings",
    "units": "/units",
    "residents": "/contacts",
    "leases": "/leases",
    "leads": "/prospects",
}

# Fixed filters per model: /contacts also lists prospects, owners and vendors,
# who are not residents; deactivated buildings and units are still records.
_FILTERS: Mapping[str, Mapping[str, str]] = {
    "properties": {"includeDeactivated": "true"},
    "units": {"includeDeactivated": "true"},
    "residents": {"type": "TENANT"},
}

_SINCE_PARAM = "lastModifiedDateTimeStart"
_UNTIL_PARAM = "lastModifiedDateTimeEnd"

_UPDATED = frozenset({"updated"})

_CAPABILITIES: Mapping[str, frozenset[Capability]] = {
    **dict.fromkeys(_ENDPOINTS, frozenset({Capability.READ})),
    # POST /prospects (SaveProspect); the write itself is not carried yet.
    "leads": frozenset({Capability.READ, Capability.CREATE}),
}

#: Unified lead fields a SaveProspect body can carry (its contact, wishes, source).
_PROSPECT_FIELDS: frozenset[str] = frozenset(
    {
        "property_id",  # buildingID
        "first_name",  # contacts[0].firstName (required)
        "last_name",  # contacts[0].lastName (required)
        "email_1",  # contacts[0].email
        "phone_1",  # contacts[0].mobilePhone
        "phone_2",  # contacts[0].homePhone
        "address_1",  # contacts[0].address / propertyAddress
        "address_2",
        "city",
        "state",
        "zip",
        "country",
        "lead_source",  # source
        "status",  # status
        "target_move_in_date",  # moveInDate
        "desired_num_bedrooms",  # numberBedrooms
        "desired_num_bathrooms",  # numberBathrooms
        "desired_min_rent_in_cents",  # rentMin
        "desired_max_rent_in_cents",  # rentMax
        "notes",  # comments
    }
)

_PRODUCTION_URL = "https://api.propertyware.com" + API_PATH
_ENVIRONMENTS = ("production", "sandbox")


def propertyware_error_message(body: Any) -> str | None:
    """The text of a Propertyware error body: ``userMessage``, each ``key: message``, the code."""
    return keyed_error_message(
        body, message="userMessage", errors="errors", key="key", value="message", code="errorCode"
    )


def format_timestamp(moment: datetime) -> str:
    """``moment`` as Propertyware's date-time, UTC ``YYYY-MM-DDTHH:MM:SSZ`` (naive = UTC).

    Fractions of a second are dropped: the start bound moves earlier and the
    end bound is inclusive, so the window asked for is never narrowed.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def api_root(base_url: str) -> str:
    """The API root of ``base_url``: a bare host gets ``/pw/api/rest/v1``; a path stays."""
    url = base_url.rstrip("/")
    if urlsplit(url).path in ("", "/"):
        return url + API_PATH
    return url


def primary_contact_first(lease: RawRecord) -> RawRecord:
    """``lease`` with its primary contact (``primary: true``) first; others keep their order."""
    contacts = lease.get("contacts") if isinstance(lease, dict) else None
    if not isinstance(contacts, list) or len(contacts) < 2:
        return lease
    primary = [c for c in contacts if isinstance(c, dict) and c.get("primary") is True]
    if not primary or contacts[0] is primary[0]:
        return lease
    rest = [c for c in contacts if c is not primary[0]]
    return {**lease, "contacts": [primary[0], *rest]}


class PropertywareConnector(Connector):
    """Reads Propertyware buildings, units, tenant contacts, leases and prospects."""

    vendor: ClassVar[str] = "PROPERTYWARE"
    display_name: ClassVar[str] = "Propertyware"
    credential_keys: ClassVar[tuple[str, ...]] = ("client_id", "client_secret", "system_id")
    rate_limit: ClassVar[RateLimitSpec | None] = RateLimitSpec(
        10,
        1.0,
        "Propertyware Open API, an unpublished 'FUTURE' section: 10 concurrent requests "
        "per second, then 429 (assumed until Propertyware publishes a limit)",
    )

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Mapping[str, str],
        options: ConnectorOptions | None = None,
    ) -> None:
        super().__init__(base_url=api_root(base_url), credentials=credentials, options=options)
        # Propertyware counts requests per API key of an organization: every
        # integration using the same ones takes its turn from one bucket,
        # spread evenly (a second's worth at once is what draws 429s).
        bucket = shared_bucket(
            bucket_key(
                self.vendor, self.base_url, credentials["system_id"], credentials["client_id"]
            ),
            self.options.rate_limit,
            burst=1,
        )
        self._client = JsonHttpClient(
            self.base_url,
            options=self.options,
            stats=self.stats,
            auth=HeaderAuth(
                {
                    "x-propertyware-client-id": credentials["client_id"],
                    "x-propertyware-client-secret": credentials["client_secret"],
                    "x-propertyware-system-id": credentials["system_id"],
                }
            ),
            error_message=propertyware_error_message,
            bucket=bucket,
        )

    @classmethod
    def default_base_url(cls, environment: str) -> str:
        """``https://api.propertyware.com/pw/api/rest/v1`` (also for sandbox: no other host)."""
        if environment.lower() not in _ENVIRONMENTS:
            known = ", ".join(_ENVIRONMENTS)
            raise ValueError(f"unknown environment {environment!r} (known: {known})")
        return _PRODUCTION_URL

    @classmethod
    def capabilities(cls) -> Mapping[str, frozenset[Capability]]:
        """All five models are readable; leads (prospects) can also be created."""
        return _CAPABILITIES

    @classmethod
    def writable_fields(cls, model: str, operation: Capability) -> frozenset[str]:
        """The unified lead fields a SaveProspect body carries (creates only)."""
        if model == "leads" and operation is Capability.CREATE:
            return _PROSPECT_FIELDS
        return frozenset()

    @classmethod
    def date_fields(cls, model: str) -> frozenset[str]:
        """Every list filters by modification time; none by creation time."""
        return _UPDATED if model in _ENDPOINTS else frozenset()

    @property
    def page_limit(self) -> int:
        """The ``limit`` sent per page: ``options.page_size`` clamped to 1..500."""
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
        await self._client.get("/buildings", {"limit": 1, "includeDeactivated": "true"})

    def pages(
        self,
        model: str,
        window: FetchWindow,
        *,
        cursor: str | None = None,
        scope: PropertyScope = ALL_PROPERTIES,
    ) -> AbstractAsyncContextManager[PageStream]:
        """Pages of ``model`` in id order; ``cursor`` resumes after the last stored page.

        ``scope`` is left to the runner: ``buildingID`` includes one
        building, nothing excludes one. Listings are sorted by ``id``
        (``orderby=id``), so the shared pager proves them gap-free:
        consecutive pages overlap by one record (see
        :mod:`syncd.connectors.paging`). After the first page reveals
        ``X-Total-Count``, up to ``options.concurrency`` later pages are
        fetched at once. The first page is yielded even when empty.
        """
        endpoint = _ENDPOINTS.get(model)
        if endpoint is None:
            supported = ", ".join(sorted(_ENDPOINTS))
            raise PermanentError(f"Propertyware has no {model!r} resource (supported: {supported})")
        if not self._client.is_open:
            raise RuntimeError("PropertywareConnector is not open; use 'async with connector'")
        params: dict[str, QueryValue] = {"orderby": "id", **_FILTERS.get(model, {})}
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
            if window.since is not None:
                params[_SINCE_PARAM] = format_timestamp(window.since)
            if window.until is not None:
                params[_UNTIL_PARAM] = format_timestamp(window.until)
        start, last_id = resume_from(cursor, model=model, vendor="propertyware")
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
            records, total = await self.fetch_page(endpoint, {**params, "limit": limit}, offset)
            if model == "leases":
                records = [primary_contact_first(r) for r in records]
            return records, total

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
        """``GET <endpoint>/{id}``: the record, or None when Propertyware has none.

        A contact that is not a tenant is no resident, so it counts as none.
        """
        endpoint = _ENDPOINTS.get(model)
        if endpoint is None or not x_id.isdigit():
            return None
        try:
            response = await self._client.get(f"{endpoint}/{x_id}")
        except PMSNotFound:
            return None
        body = response.body
        if not isinstance(body, dict):
            return None
        if model == "residents" and body.get("type") != "TENANT":
            return None
        return primary_contact_first(body) if model == "leases" else body


#: Propertyware ids are integers; anything else is an unreadable id.
_ID = int_id("id")
