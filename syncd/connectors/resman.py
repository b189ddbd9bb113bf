"""ResMan connector: the Partners API (v2) and the classic API, per model.

Wire facts. ResMan has two APIs, both keyed by the same integration
partner credential (``IntegrationPartnerID`` + ``ApiKey``) and the
customer's ``AccountID``:

- **classic** (``https://api.myresman.com``): ``POST /{Area}/{Method}``,
  ``Content-Type: application/x-www-form-urlencoded``, the credentials,
  ``AccountID`` and ``PropertyID`` as form fields; ``Accept:
  application/json`` answers JSON (XML otherwise). Answers carry
  ``Status`` (``Success``/``Failed``) and, when failed, ``ErrorDescription``;
  lists sit at the top level (``{"ProspectSources": [...]}``).
- **Partners API** (``https://partners-api.myresman.com``): ``GET`` with
  HTTP Basic ``IntegrationPartnerID:ApiKey`` and the header
  ``ResMan-Account-Id``; query parameters; lists wrapped in an object
  (``{"properties": [...]}``); ``modifiedSince`` (UTC) filters prospects and
  leases by their ``lastModified``. Errors are HTTP statuses with a JSON
  body ``{"code", "message"}``. Neither API pages: each answers a whole list,
  per property where the call takes a ``propertyId``.

Source of each model, and why:

- ``properties``: ``GET /Properties`` — the account's whole property list
  in one request, with ResMan's property ``type``. The per-property models
  below iterate it, so it is also the list of parts they are fetched in.
- ``floor_plans``: ``GET /UnitTypes?propertyId``; ``units``:
  ``GET /Units/Availability?propertyId``. Both list every unit type and unit
  with the GUIDs that leases reference (``unitId``, ``unitTypeId``), and
  the availability listing adds vacancy and marketing status. The classic
  MITS marketing feed (``MITS/GetMarketing4_0``) is an ILS feed: integrators
  add the units it leaves out (those not marketed online) from a separate
  units call, and its floor plans are keyed by unit-type codes unique only
  within a property, so a listing of it cannot prove a property's units
  complete, and deletion detection would drop real units.
- ``residents``: classic ``Leasing/GetCurrentResidents`` per property — the
  residents as people, keyed by ``PersonID`` (the ``personId`` of lease
  people, so resident links resolve), with three phones and a birth date.
  The Partners API's ``/CreditReporting/Residents`` would also hand out
  social security numbers, which syncd has no business holding; lease
  people repeat a person on every lease they signed.
- ``leases``: ``GET /Leasing/Leases?propertyId&modifiedSince&includeLeaseHistory=true``
  — incremental by modification time; ``people[]`` gives the resident links;
  the lease history carries the rent.
- ``lead_sources``: classic ``Leasing/GetProspectSources`` per property
  (the Partners API has no prospect-source resource).
- ``leads``: ``GET /Prospects?propertyId&modifiedSince`` — incremental.
- ``employees``: ``GET /Employees`` — the whole account at once, with names,
  contacts and ``personId`` (the id prospects' leasing agents carry); the
  classic ``Leasing/GetEmployees`` gives only an id and a name per property.

Writes (leads only; ResMan takes no resident writes from partners):
``POST {classic}/MITS/PostLeadManagement4_0``, form-encoded with the
credentials, ``AccountID``, ``PropertyID`` and ``Xml``: a MITS Lead
Management 4.0 document (``LeadManagement/Prospects/Prospect`` with
``Customers/Customer[@Type]`` (``Identification[@IDType=ProspectID|PersonID]``
for an update, ``Name``, ``Address``, ``Phone[@PhoneType]``, ``Email``),
``CustomerPreferences`` and ``Events/Event`` whose ``Agent/AgentID`` is the
leasing agent's person id and ``TransactionSource`` the prospect source id;
its ``Comments`` carry the notes). The answer (``Status`` as on every
classic call) returns the prospect's ``Identification`` under
``Response/LeadManagement``. ResMan merges what an update sends into the
prospect, so an update sends only the changes, plus the names and the
main person's id read back first (``Name`` is required on every customer,
and without the ``PersonID`` ResMan would add a person). ``fetch_one``
reads a prospect back from ``GET /Prospects?propertyId&prospectId``,
exactly as the listing renders it. A create whose answer was lost is
looked for in ``GET /Prospects?propertyId&modifiedSince`` by name and
e-mail (else phone): MITS carries no idempotency key.

Per-property listings never ask for a property in the scope's excluded
set. Each is listed by :class:`~syncd.connectors.paging.WholeListPager`, a
page per property, properties ordered by id; a page's cursor names the
last property it completes, so a resumed run starts after it even if the
property list changed meanwhile (a property added before it is then left
for the next run, which lists everything; resumed runs do not sweep).

Decisions on points ResMan does not document publicly (UNCONFIRMED):

- A classic failure may come with HTTP 200: the body's ``Status`` is
  checked on every answer, and ``ErrorDescription`` decides the error
  class (refused credentials → AuthenticationError, an account the
  partner may not read → PermissionDenied, an unknown property →
  PMSNotFound, anything else → RequestRejected).
- ``modifiedSince`` is treated as required (the public client never omits
  it): a full listing sends ``2000-01-01T00:00:00Z``, before any ResMan
  record. There is no upper bound: a window's ``until`` is not sent, so a
  listing may include later changes (a superset is safe). The format sent
  is ISO 8601 UTC.
- The rate limit is assumed to be 2 requests per second per partner
  credential across both APIs (:data:`RATE_LIMIT`); ``Retry-After`` on a
  429 is honoured by the shared HTTP client.
- Writes: the answer's JSON shape (``Accept: application/json``) mirrors
  the MITS XML (``Response.LeadManagement.Prospects.Prospect[].Customers
  .Customer[].Identification[]`` of ``{IDType, IDValue}``), so the prospect
  id is looked for wherever an ``Identification`` of ``IDType`` ProspectID
  sits (with or without ``@`` before attribute names). Phone types are
  MITS's words (home, cell, office, fax, other); a desired unit goes as
  ``DesiredUnit/Identification[@IDType=UnitID]``, a floor plan as the unit
  type id in ``DesiredFloorplan``; money in dollars (``DesiredRent@Max``).
  A later event's ``TransactionSource`` and ``Agent`` replace the
  prospect's source and leasing agent, and its ``Comments`` its notes.
- Sandbox: ResMan issues partners a development account on the production
  hosts rather than a separate sandbox host, so both environments use them.
- The Partners API host follows from the base URL: beside the production
  classic host it is ``https://partners-api.myresman.com``; any other base
  URL (a simulator, a proxy) serves both APIs, whose paths do not collide.
  The vendor option ``partners_api_url`` overrides it.
"""

from __future__ import annotations

import bisect
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar
from xml.etree import ElementTree as ET

import anyio
import structlog

from syncd.connectors.auth import BasicAuth
from syncd.connectors.base import (
    Connector,
    ConnectorOptions,
    PageStream,
    RateLimitSpec,
    WriteRequest,
    WriteResult,
)
from syncd.connectors.http import JsonHttpClient, JsonResponse, QueryValue
from syncd.connectors.paging import KeyFn, WholeListPager, paged
from syncd.connectors.ratelimit import bucket_key, shared_bucket
from syncd.domain import (
    ALL_PROPERTIES,
    Capability,
    FetchWindow,
    ListingProof,
    Page,
    PropertyScope,
    RawRecord,
)
from syncd.errors import (
    AuthenticationError,
    ConnectorError,
    CredentialError,
    PermanentError,
    PermissionDenied,
    PMSBadResponse,
    PMSNotFound,
    RateLimited,
    RequestRejected,
    WriteRejected,
)

log = structlog.get_logger(__name__)

CLASSIC_URL = "https://api.myresman.com"
PARTNERS_URL = "https://partners-api.myresman.com"

#: ResMan publishes no request limit; this is the assumed one (see the module docstring).
RATE_LIMIT = RateLimitSpec(
    120,
    60.0,
    "not published by ResMan; assumed 2 requests/s per partner credential, over both APIs",
)

#: ``modifiedSince`` of a full listing: before any record ResMan can hold.
FULL_LISTING_SINCE = datetime(2000, 1, 1, tzinfo=UTC)

#: A per-property listing's cursor: the id of the last property it completed.
_CURSOR_PREFIX = "after:"


@dataclass(frozen=True, slots=True)
class _Resource:
    """Where one unified model is read from."""

    classic: bool
    path: str
    list_key: str
    id_field: str
    per_property: bool
    modified_since: bool = False
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return "classic" if self.classic else "partners"


_RESOURCES: Mapping[str, _Resource] = {
    "properties": _Resource(False, "/Properties", "properties", "propertyId", False),
    "floor_plans": _Resource(False, "/UnitTypes", "unitTypes", "unitTypeId", True),
    "units": _Resource(False, "/Units/Availability", "units", "unitId", True),
    "residents": _Resource(True, "/Leasing/GetCurrentResidents", "Residents", "PersonID", True),
    "leases": _Resource(
        False,
        "/Leasing/Leases",
        "leases",
        "leaseId",
        True,
        modified_since=True,
        params={"includeLeaseHistory": "true"},
    ),
    "lead_sources": _Resource(True, "/Leasing/GetProspectSources", "ProspectSources", "ID", True),
    "leads": _Resource(False, "/Prospects", "prospects", "prospectId", True, modified_since=True),
    "employees": _Resource(False, "/Employees", "employees", "personId", False),
}

_READ = frozenset({Capability.READ})
_CAPABILITIES: Mapping[str, frozenset[Capability]] = {
    **dict.fromkeys(_RESOURCES, _READ),
    # MITS/PostLeadManagement4_0 creates and updates guest cards.
    "leads": frozenset({Capability.READ, Capability.CREATE, Capability.UPDATE}),
}

#: Unified lead fields MITS/PostLeadManagement4_0 accepts.
_LEAD_WRITE_FIELDS = frozenset(
    {
        "lead_source_id",
        "employee_id",
        "property_id",
        "first_name",
        "last_name",
        "unit_id",
        "floor_plan_id",
        "email_1",
        "phone_1",
        "phone_1_type",
        "phone_2",
        "phone_2_type",
        "city",
        "address_1",
        "address_2",
        "state",
        "zip",
        "notes",
        "desired_num_bedrooms",
        "desired_num_bathrooms",
        "desired_max_rent_in_cents",
        "desired_lease_term_in_months",
        "target_move_in_date",
    }
)

#: What ResMan itself requires of a new guest card (an agent and a source on its first event).
_LEAD_CREATE_REQUIRED = frozenset(
    {"lead_source_id", "employee_id", "property_id", "first_name", "last_name"}
)

#: The classic method that creates and updates prospects.
LEAD_MANAGEMENT_PATH = "/MITS/PostLeadManagement4_0"

#: Unified phone types as MITS words them.
_MITS_PHONE_TYPES = {
    "HOME": "home",
    "MOBILE": "cell",
    "WORK": "office",
    "FAX": "fax",
    "OTHER": "other",
}

_LEAD_LIMITS_COMMON: Mapping[str, str] = {
    "idempotency": (
        "no idempotency key: a lost answer is resolved by listing the property's prospects "
        "modified since the attempt and matching first name, last name and e-mail (else phone)"
    ),
    "phone_1_type": "HOME when not given; phone_2_type: MOBILE when not given",
    "read_back": (
        "the Partners API prospect shows names, one e-mail, one phone, source, leasing agent "
        "and status: address, phone_2, unit, floor plan, desired criteria and notes are "
        "stored by ResMan but not read back"
    ),
}
_LEAD_LIMITS: Mapping[Capability, Mapping[str, str]] = {
    Capability.CREATE: {
        **_LEAD_LIMITS_COMMON,
        "notes": "sent as the comments of the guest card's first-contact event",
    },
    Capability.UPDATE: {
        **_LEAD_LIMITS_COMMON,
        "property_id": (
            "names the property the prospect is in; a prospect cannot move to another "
            "property (ResMan does not find it there)"
        ),
        "lead_source_id": (
            "sent with employee_id and notes as a follow-up event (not a first contact), "
            "which replaces the prospect's source, leasing agent and notes"
        ),
    },
}

# Words of a classic ErrorDescription, by the error they mean (checked in order).
_ACCOUNT_WORDS = ("accountid", "account id")
_DENIED_WORDS = ("access", "authoriz", "permission", "not allowed")
_CREDENTIAL_WORDS = (
    "apikey",
    "api key",
    "integrationpartnerid",
    "integration partner",
    "credential",
    "authenticat",
    "unauthorized",
)
_THROTTLE_WORDS = ("too many requests", "rate limit")
_NOT_FOUND_WORDS = ("not found", "does not exist", "no property")


def resman_error_message(body: Any) -> str | None:
    """The text of a ResMan error body, classic or Partners API.

    Classic: ``{"Status": "Failed", "ErrorDescription": …}``; Partners API:
    ``{"code", "message"}`` (or ASP.NET's ``{"title", "detail", "errors"}``).
    """
    if isinstance(body, str):
        return body.strip()[:300] or None
    if not isinstance(body, Mapping):
        return None
    parts: list[str] = []
    for key in ("ErrorDescription", "message", "Message", "title", "detail"):
        value = body.get(key)
        if isinstance(value, str) and value.strip() and value.strip() not in parts:
            parts.append(value.strip())
    errors = body.get("errors")
    if isinstance(errors, Mapping):
        for name, problems in errors.items():
            texts = problems if isinstance(problems, list) else [problems]
            shown = "; ".join(str(t) for t in texts if t)
            if shown:
                parts.append(f"{name}: {shown}")
    code = body.get("code")
    if isinstance(code, str) and code:
        parts.append(f"[{code}]")
    return " ".join(parts) or None


def classic_failure(description: str | None, *, where: str, url: str) -> ConnectorError:
    """The syncd error a classic ``"Status": "Failed"`` answer means, from its description.

    ResMan words its failures in ``ErrorDescription`` only, so the words
    decide: an account the partner may not read is a PermissionDenied,
    refused credentials an AuthenticationError, an unknown property a
    PMSNotFound, a rate limit RateLimited; anything else RequestRejected.
    """
    text = (description or "").strip() or "no ErrorDescription"
    message = f"{where}: ResMan answered Status Failed: {text}"
    folded = text.lower()
    if any(w in folded for w in _ACCOUNT_WORDS) and any(w in folded for w in _DENIED_WORDS):
        return PermissionDenied(message, url=url)
    if any(w in folded for w in _CREDENTIAL_WORDS):
        return AuthenticationError(message, url=url)
    if any(w in folded for w in _THROTTLE_WORDS):
        return RateLimited(message, url=url)
    if any(w in folded for w in _NOT_FOUND_WORDS):
        return PMSNotFound(message, url=url)
    return RequestRejected(message, url=url)


def format_timestamp(moment: datetime) -> str:
    """``moment`` as ResMan's ``modifiedSince``: UTC ``YYYY-MM-DDTHH:MM:SSZ`` (naive = UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def partners_url_for(base_url: str, override: str | None = None) -> str:
    """The Partners API base URL that goes with the integration's ``base_url``."""
    if override:
        return override.rstrip("/")
    if _host(base_url) == _host(CLASSIC_URL):
        return PARTNERS_URL
    return base_url.rstrip("/")


def classic_url_for(base_url: str) -> str:
    """The classic API base URL: ``base_url``, unless it names the Partners API host."""
    if _host(base_url) == _host(PARTNERS_URL):
        return CLASSIC_URL
    return base_url.rstrip("/")


def _host(url: str) -> str:
    return (urllib.parse.urlsplit(url).hostname or "").lower()


def guid_key(field_name: str) -> KeyFn:
    """A key function reading a GUID field (compared case-insensitively; None if absent)."""

    def key(record: RawRecord) -> str | None:
        value = record.get(field_name) if isinstance(record, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
        return None

    return key


class _ResumeAfterProperty(PageStream):
    """Pages of a per-property listing whose cursors name the last property completed."""

    def __init__(self, inner: WholeListPager[str], parts: list[str]) -> None:
        self._inner = inner
        self._parts = parts

    async def __anext__(self) -> Page:
        page = await self._inner.__anext__()
        done = int(page.cursor) if page.cursor is not None else 0
        cursor = f"{_CURSOR_PREFIX}{self._parts[done - 1]}" if done > 0 else None
        return replace(page, cursor=cursor)

    @property
    def proof(self) -> ListingProof | None:
        """The inner pager's proof (set once every property was listed)."""
        return self._inner.proof


class ResManConnector(Connector):
    """Reads ResMan properties, unit types, units, residents, leases, sources, prospects, staff."""

    vendor: ClassVar[str] = "RESMAN"
    display_name: ClassVar[str] = "ResMan"
    credential_keys: ClassVar[tuple[str, ...]] = ("integration_partner_id", "api_key", "account_id")
    credential_labels: ClassVar[Mapping[str, tuple[str, str]]] = {
        "integration_partner_id": (
            "Integration partner ID",
            "Your company's partner id, issued by ResMan",
        ),
        "api_key": ("API key", "Your partner API key, issued by ResMan"),
        "account_id": ("Account ID", "The customer's ResMan account id"),
    }
    rate_limit: ClassVar[RateLimitSpec | None] = RATE_LIMIT
    option_keys: ClassVar[Mapping[str, str]] = {
        "partners_api_url": (
            "base URL of the ResMan Partners API (v2), when not the one that follows from the "
            "base URL (https://partners-api.myresman.com beside https://api.myresman.com; "
            "the base URL itself otherwise)"
        ),
    }

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Mapping[str, str],
        options: ConnectorOptions | None = None,
    ) -> None:
        super().__init__(base_url=base_url, credentials=credentials, options=options)
        partner = credentials["integration_partner_id"]
        if ":" in partner:
            raise CredentialError("a ResMan integration_partner_id cannot contain ':'")
        self._form: dict[str, QueryValue] = {
            "IntegrationPartnerID": partner,
            "ApiKey": credentials["api_key"],
            "AccountID": credentials["account_id"],
        }
        # ResMan counts requests per partner credential, whichever API and
        # integration sends them: one bucket for all of them in this process.
        # A burst of one spreads them evenly.
        bucket = shared_bucket(
            bucket_key(self.vendor, self.base_url, partner, credentials["api_key"]),
            self.options.rate_limit,
            burst=1,
        )
        # Prospect GUID (lower case) -> its property's, learned from writes and
        # look-ups: the Partners API reads a prospect only within its property.
        self._lead_property: dict[str, str] = {}
        override = self.options.extra.get("partners_api_url")
        self.classic_url = classic_url_for(self.base_url)
        self.partners_url = partners_url_for(
            self.base_url, str(override) if isinstance(override, str) else None
        )
        self._classic = JsonHttpClient(
            self.classic_url,
            options=self.options,
            stats=self.stats,
            error_message=resman_error_message,
            bucket=bucket,
        )
        self._partners = JsonHttpClient(
            self.partners_url,
            options=self.options,
            stats=self.stats,
            auth=BasicAuth(
                partner,
                credentials["api_key"],
                extra_headers={"ResMan-Account-Id": credentials["account_id"]},
            ),
            error_message=resman_error_message,
            bucket=bucket,
        )

    @classmethod
    def default_base_url(cls, environment: str) -> str:
        """``https://api.myresman.com`` for production and sandbox (development accounts)."""
        if environment.lower() not in ("production", "sandbox"):
            raise ValueError(f"unknown environment {environment!r} (known: production, sandbox)")
        return CLASSIC_URL

    @classmethod
    def capabilities(cls) -> Mapping[str, frozenset[Capability]]:
        """Every model is readable; leads can also be created and updated (MITS lead management)."""
        return _CAPABILITIES

    @classmethod
    def writable_fields(cls, model: str, operation: Capability) -> frozenset[str]:
        """The unified lead fields ``MITS/PostLeadManagement4_0`` accepts."""
        if model == "leads" and operation in (Capability.CREATE, Capability.UPDATE):
            return _LEAD_WRITE_FIELDS
        return frozenset()

    @classmethod
    def required_write_fields(cls, model: str, operation: Capability) -> frozenset[str]:
        """A new guest card needs its property, names, leasing agent and prospect source."""
        if model == "leads" and operation is Capability.CREATE:
            return _LEAD_CREATE_REQUIRED
        return frozenset()

    @classmethod
    def write_limits(cls, model: str, operation: Capability) -> Mapping[str, str]:
        """What MITS lead management cannot do, per operation."""
        if model == "leads":
            return _LEAD_LIMITS.get(operation, {})
        return {}

    @classmethod
    def date_fields(cls, model: str) -> frozenset[str]:
        """Prospects and leases filter by modification time; nothing else filters by date."""
        resource = _RESOURCES.get(model)
        if resource is not None and resource.modified_since:
            return frozenset({"updated"})
        return frozenset()

    async def open(self) -> None:
        """Open both HTTP sessions."""
        await self._classic.open()
        await self._partners.open()

    async def close(self) -> None:
        """Close both HTTP sessions."""
        try:
            await self._partners.close()
        finally:
            await self._classic.close()

    async def check_auth(self) -> None:
        """``GET /Properties``: refused credentials raise AuthenticationError."""
        await self.property_ids()

    def pages(
        self,
        model: str,
        window: FetchWindow,
        *,
        cursor: str | None = None,
        scope: PropertyScope = ALL_PROPERTIES,
    ) -> AbstractAsyncContextManager[PageStream]:
        """Pages of ``model``: one per property for per-property calls, else a single one.

        A window on a date the model cannot be filtered by lists everything
        (``pms.window.unsupported``). Properties in ``scope.excluded`` are
        never asked for; ``properties`` and ``employees`` are listed whole
        (the runner drops excluded properties' records).
        """
        resource = _RESOURCES.get(model)
        if resource is None:
            supported = ", ".join(sorted(_RESOURCES))
            raise PermanentError(f"ResMan has no {model!r} resource (supported: {supported})")
        if not (self._classic.is_open and self._partners.is_open):
            raise RuntimeError("ResManConnector is not open; use 'async with connector'")
        params: dict[str, QueryValue] = dict(resource.params)
        since: datetime | None = None
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
            since = window.since
        if resource.modified_since:
            params["modifiedSince"] = format_timestamp(since or FULL_LISTING_SINCE)
        if resource.per_property:
            return self._per_property(model, resource, params, cursor, scope)
        return self._whole(model, resource, params, cursor)

    def _whole(
        self,
        model: str,
        resource: _Resource,
        params: Mapping[str, QueryValue],
        cursor: str | None,
    ) -> AbstractAsyncContextManager[PageStream]:
        start = _whole_start(cursor, model)

        async def fetch(_: str) -> list[RawRecord]:
            return await self.fetch_list(resource, params)

        return paged(
            lambda tg: WholeListPager(
                tg,
                model=model,
                parts=["account"],
                fetch_part=fetch,
                key=guid_key(resource.id_field),
                start=start,
            )
        )

    @asynccontextmanager
    async def _per_property(
        self,
        model: str,
        resource: _Resource,
        params: Mapping[str, QueryValue],
        cursor: str | None,
        scope: PropertyScope,
    ) -> AsyncIterator[PageStream]:
        listed = await self.property_ids()
        excluded = {x.lower() for x in scope.excluded}
        parts = [pid for pid in listed if pid.lower() not in excluded]
        start = _property_start(cursor, parts, model)
        log.info(
            "resman.listing.properties",
            model=model,
            properties=len(parts),
            excluded=len(listed) - len(parts),
            start=start,
        )

        first = parts[start] if start < len(parts) else None
        answered = anyio.Event()
        first_failed = False

        async def fetch(property_id: str) -> list[RawRecord]:
            nonlocal first_failed
            # The first property goes alone: refused credentials or a rate
            # limit then cost one request, not one per property in flight.
            if property_id != first:
                await answered.wait()
                if first_failed:
                    # Never handed out: the first property's error ends the listing.
                    raise PermanentError(f"{model}: not listed after the first property failed")
                return await self.fetch_list(resource, params, property_id=property_id)
            try:
                return await self.fetch_list(resource, params, property_id=property_id)
            except BaseException:
                first_failed = True
                raise
            finally:
                answered.set()

        async with paged(
            lambda tg: WholeListPager(
                tg,
                model=model,
                parts=parts,
                fetch_part=fetch,
                key=guid_key(resource.id_field),
                concurrency=max(1, self.options.concurrency),
                start=start,
                # Properties' small lists share a page (one transaction) up to a page's size.
                batch=max(1, self.options.page_size),
            )
        ) as pages:
            yield _ResumeAfterProperty(pages, parts)

    async def property_ids(self) -> list[str]:
        """The account's property GUIDs (``GET /Properties``), deduplicated, ordered by id."""
        records = await self.fetch_list(_RESOURCES["properties"], {})
        ids = {key: None for r in records if (key := _raw_guid(r, "propertyId")) is not None}
        return sorted(ids, key=str.lower)

    async def fetch_list(
        self,
        resource: _Resource,
        params: Mapping[str, QueryValue],
        *,
        property_id: str | None = None,
    ) -> list[RawRecord]:
        """The whole list one call answers (of one property when ``property_id`` is given)."""
        if resource.classic:
            return await self._classic_list(resource, params, property_id)
        query = dict(params)
        if property_id is not None:
            query["propertyId"] = property_id
        response = await self._partners.get(resource.path, query)
        return self._records(response, resource, self.partners_url)

    async def _classic_list(
        self, resource: _Resource, params: Mapping[str, QueryValue], property_id: str | None
    ) -> list[RawRecord]:
        form: dict[str, QueryValue] = {**self._form, **params}
        if property_id is not None:
            form["PropertyID"] = property_id
        # A read-only call, however it is sent: safe to repeat.
        response = await self._classic.request("POST", resource.path, form=form, idempotent=True)
        url = self.classic_url + resource.path
        body = response.body
        if isinstance(body, Mapping):
            status = body.get("Status")
            if isinstance(status, str) and status.strip().lower() != "success":
                description = body.get("ErrorDescription")
                raise classic_failure(
                    description if isinstance(description, str) else None,
                    where=f"POST {resource.path}",
                    url=url,
                )
        records = self._records(response, resource, self.classic_url)
        # Classic answers name the property once, beside the list: each record
        # gets it, as the Partners API's records carry their propertyId.
        named = body.get("PropertyID") if isinstance(body, Mapping) else None
        owner = named if isinstance(named, str) and named else property_id
        if owner is not None:
            for record in records:
                record.setdefault("PropertyID", owner)
        return records

    def _records(self, response: JsonResponse, resource: _Resource, base: str) -> list[RawRecord]:
        body = response.body
        where = f"{'POST' if resource.classic else 'GET'} {resource.path}"
        if not isinstance(body, Mapping):
            raise PMSBadResponse(
                f"{where}: expected a JSON object holding {resource.list_key!r}, "
                f"got {type(body).__name__}",
                status=response.status,
                url=base + resource.path,
            )
        if resource.list_key not in body:
            keys = ", ".join(sorted(str(k) for k in body)[:10]) or "none"
            raise PMSBadResponse(
                f"{where}: the answer has no {resource.list_key!r} list (fields: {keys})",
                status=response.status,
                url=base + resource.path,
            )
        items = body[resource.list_key]
        if items is None:
            return []
        if not isinstance(items, list):
            raise PMSBadResponse(
                f"{where}: {resource.list_key!r} is {type(items).__name__}, not a list",
                status=response.status,
                url=base + resource.path,
            )
        return [item for item in items if isinstance(item, dict)]

    # -- one record and writes -------------------------------------------------

    async def fetch_one(self, model: str, x_id: str) -> RawRecord | None:
        """A prospect as ``GET /Prospects`` lists it (None: ResMan has none); leads only.

        The Partners API reads prospects per property: the property learned
        from a write is asked first, else each property in turn.
        """
        if model != "leads":
            return await super().fetch_one(model, x_id)
        wanted = x_id.strip().lower()
        known = self._lead_property.get(wanted)
        candidates = [known] if known is not None else await self.property_ids()
        for property_id in candidates:
            found = await self._prospect_in(property_id, wanted)
            if found is not None:
                return found
        return None

    async def _prospect_in(self, property_id: str, wanted: str) -> RawRecord | None:
        params: dict[str, QueryValue] = {
            "modifiedSince": format_timestamp(FULL_LISTING_SINCE),
            "prospectId": wanted,
        }
        try:
            records = await self.fetch_list(_RESOURCES["leads"], params, property_id=property_id)
        except PMSNotFound:
            return None
        for record in records:
            if (_raw_guid(record, "prospectId") or "").lower() == wanted:
                self._lead_property[wanted] = property_id
                return record
        return None

    async def write(self, request: WriteRequest) -> WriteResult:
        """Create or update a guest card with ``MITS/PostLeadManagement4_0``."""
        if request.model != "leads" or request.operation not in (
            Capability.CREATE,
            Capability.UPDATE,
        ):
            return await super().write(request)
        payload = request.payload
        current: RawRecord | None = None
        if request.operation is Capability.UPDATE:
            if not request.x_id:
                raise PermanentError("a ResMan prospect update needs the prospect's id")
            current = await self.fetch_one("leads", request.x_id)
            if current is None:
                raise WriteRejected(
                    [f"ResMan lists no prospect {request.x_id}"],
                    url=self.partners_url + "/Prospects",
                )
        property_id = _text(payload.get("property_id")) or request.property_x_id
        if property_id is None and current is not None:
            property_id = _raw_guid(current, "propertyId")
        if property_id is None:
            raise WriteRejected(["PropertyID is required."], url=self.classic_url)
        document = lead_management_xml(payload, current=current, now=datetime.now(UTC))
        form: dict[str, QueryValue] = {**self._form, "PropertyID": property_id, "Xml": document}
        url = self.classic_url + LEAD_MANAGEMENT_PATH
        try:
            # Never repeated by the HTTP layer once sent: a lost answer is the
            # write worker's to resolve, through find_written.
            response = await self._classic.request(
                "POST", LEAD_MANAGEMENT_PATH, form=form, idempotent=False
            )
        except (RequestRejected, PMSNotFound) as exc:
            raise WriteRejected([str(exc)], status=exc.status, url=exc.url or url) from exc
        body = response.body
        if not isinstance(body, Mapping):
            raise PMSBadResponse(
                f"POST {LEAD_MANAGEMENT_PATH}: expected a JSON object, got {type(body).__name__}",
                status=response.status,
                url=url,
            )
        status = body.get("Status")
        if not isinstance(status, str) or status.strip().lower() != "success":
            description = body.get("ErrorDescription")
            text = description.strip() if isinstance(description, str) else ""
            error = classic_failure(text or None, where=f"POST {LEAD_MANAGEMENT_PATH}", url=url)
            if isinstance(error, (AuthenticationError, PermissionDenied, RateLimited)):
                raise error
            raise WriteRejected([text or "ResMan answered Status Failed"], url=url)
        x_id = prospect_id_of(body) or (request.x_id if current is not None else None)
        if x_id is None:
            raise PMSBadResponse(
                f"POST {LEAD_MANAGEMENT_PATH}: the answer names no ProspectID",
                status=response.status,
                url=url,
            )
        self._lead_property[x_id.lower()] = property_id
        return WriteResult(x_id=x_id, raw=body)

    async def find_written(self, request: WriteRequest, since: datetime) -> str | None:
        """The prospect a lost create made: listed since ``since``, same names and e-mail/phone."""
        if request.model != "leads" or request.operation is not Capability.CREATE:
            return await super().find_written(request, since)
        payload = request.payload
        property_id = _text(payload.get("property_id")) or request.property_x_id
        if property_id is None:
            raise PermanentError("a ResMan prospect is looked for within its property")
        params = {"modifiedSince": format_timestamp(since)}
        try:
            records = await self.fetch_list(_RESOURCES["leads"], params, property_id=property_id)
        except PMSNotFound:
            return None
        for record in records:
            if _prospect_matches(record, payload):
                x_id = _raw_guid(record, "prospectId")
                if x_id is not None:
                    self._lead_property[x_id.lower()] = property_id
                    return x_id
        return None


def _raw_guid(record: Mapping[str, Any], field_name: str) -> str | None:
    value = record.get(field_name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _whole_start(cursor: str | None, model: str) -> int:
    if cursor is None:
        return 0
    try:
        start = int(cursor)
    except ValueError:
        # Starting over is always safe: the store upserts what it sees again.
        log.warning("resman.cursor.invalid", model=model, cursor=cursor)
        return 0
    return start if start in (0, 1) else 0


def _property_start(cursor: str | None, parts: list[str], model: str) -> int:
    """Where a per-property listing resumes: after the property the cursor names."""
    if cursor is None:
        return 0
    if cursor.startswith(_CURSOR_PREFIX):
        done = cursor[len(_CURSOR_PREFIX) :].lower()
        return bisect.bisect_right([p.lower() for p in parts], done)
    log.warning("resman.cursor.invalid", model=model, cursor=cursor)
    return 0


def _text(value: Any) -> str | None:
    """``value`` as trimmed text (None when absent or blank)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _fold(value: Any) -> str:
    return (_text(value) or "").casefold()


def _digits(value: Any) -> str:
    return "".join(c for c in str(value or "") if c.isdigit())


def _number_text(value: Any) -> str:
    """A count as MITS writes it: ``2``, ``1.5``."""
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"


def _prospect_matches(record: RawRecord, payload: Mapping[str, Any]) -> bool:
    """Whether a listed prospect's main person carries the request's natural key."""
    people = record.get("people")
    person = people[0] if isinstance(people, list) and people else None
    if not isinstance(person, Mapping):
        return False
    if _fold(person.get("firstName")) != _fold(payload.get("first_name")):
        return False
    if _fold(person.get("lastName")) != _fold(payload.get("last_name")):
        return False
    if _text(payload.get("email_1")) is not None:
        return _fold(person.get("email")) == _fold(payload.get("email_1"))
    if _text(payload.get("phone_1")) is not None:
        return _digits(person.get("phone")) == _digits(payload.get("phone_1"))
    return True


def _sub(parent: ET.Element, tag: str, text: Any = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = str(text)
    return element


def _identification(parent: ET.Element, id_type: str, value: str) -> None:
    _sub(parent, "Identification", IDType=id_type, IDValue=value, OrganizationName="ResMan")


def lead_management_xml(
    payload: Mapping[str, Any], *, current: RawRecord | None, now: datetime
) -> str:
    """The MITS Lead Management 4.0 document of one create (``current`` None) or update.

    An update identifies the prospect and its main person (from ``current``,
    the prospect as the Partners API lists it) and repeats the names, which
    every customer must carry; everything else is sent only when set.
    """
    people = current.get("people") if current is not None else None
    person = people[0] if isinstance(people, list) and people else {}
    if not isinstance(person, Mapping):
        person = {}
    root = ET.Element("LeadManagement")
    prospect = _sub(_sub(root, "Prospects"), "Prospect")
    lost = current is not None and _fold(current.get("status")) == "lost"
    customer = _sub(_sub(prospect, "Customers"), "Customer", Type="lost" if lost else "prospect")
    if current is not None:
        for id_type, key in (("ProspectID", "prospectId"), ("PersonID", "mainPersonId")):
            value = _raw_guid(current, key)
            if key == "mainPersonId" and value is None:
                value = _raw_guid(person, "personId")
            if value is not None:
                _identification(customer, id_type, value)
    name = _sub(customer, "Name")
    _sub(name, "FirstName", _text(payload.get("first_name")) or _text(person.get("firstName")))
    _sub(name, "LastName", _text(payload.get("last_name")) or _text(person.get("lastName")))
    address_keys = ("address_1", "address_2", "city", "state", "zip")
    if any(_text(payload.get(k)) is not None for k in address_keys):
        address = _sub(customer, "Address", AddressType="current")
        for key, tag in zip(
            address_keys,
            ("AddressLine1", "AddressLine2", "City", "State", "PostalCode"),
            strict=True,
        ):
            if _text(payload.get(key)) is not None:
                _sub(address, tag, _text(payload.get(key)))
    phone_1 = _text(payload.get("phone_1"))
    phone_2 = _text(payload.get("phone_2"))
    if phone_1 is None and phone_2 is not None and current is not None:
        # Phones are the person's in order: the first stays where it is.
        phone_1 = _text(person.get("phone"))
        kept = _text(person.get("phoneType"))
        payload = {**payload, "phone_1_type": (kept or "HOME").upper()}
    for number, kind, default in (
        (phone_1, payload.get("phone_1_type"), "HOME"),
        (phone_2, payload.get("phone_2_type"), "MOBILE"),
    ):
        if number is not None:
            word = _MITS_PHONE_TYPES.get(str(kind or default).upper(), "other")
            _sub(_sub(customer, "Phone", PhoneType=word), "PhoneNumber", number)
    if _text(payload.get("email_1")) is not None:
        _sub(customer, "Email", _text(payload.get("email_1")))
    _preferences(prospect, payload)
    source = _text(payload.get("lead_source_id"))
    agent = _text(payload.get("employee_id"))
    notes = _text(payload.get("notes"))
    if current is None or source or agent or notes:
        event = _sub(
            _sub(prospect, "Events"),
            "Event",
            EventType="Other",
            EventDate=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        )
        if agent is not None:
            _sub(_sub(event, "Agent"), "AgentID", IDValue=agent)
        _sub(event, "FirstContact", "true" if current is None else "false")
        if source is not None:
            _sub(event, "TransactionSource", source)
        if notes is not None:
            _sub(event, "Comments", notes)
    return ET.tostring(root, encoding="unicode")


def _preferences(prospect: ET.Element, payload: Mapping[str, Any]) -> None:
    keys = (
        "target_move_in_date",
        "floor_plan_id",
        "unit_id",
        "desired_max_rent_in_cents",
        "desired_num_bedrooms",
        "desired_num_bathrooms",
        "desired_lease_term_in_months",
    )
    if all(payload.get(k) is None for k in keys):
        return
    preferences = _sub(prospect, "CustomerPreferences")
    if payload.get("target_move_in_date") is not None:
        _sub(preferences, "TargetMoveInDate", str(payload["target_move_in_date"])[:10])
    if _text(payload.get("floor_plan_id")) is not None:
        _sub(preferences, "DesiredFloorplan", _text(payload["floor_plan_id"]))
    if _text(payload.get("unit_id")) is not None:
        unit = _sub(preferences, "DesiredUnit")
        _identification(unit, "UnitID", str(_text(payload["unit_id"])))
    if payload.get("desired_max_rent_in_cents") is not None:
        dollars = float(payload["desired_max_rent_in_cents"]) / 100
        _sub(preferences, "DesiredRent", Max=f"{dollars:.2f}")
    for key, tag in (
        ("desired_num_bedrooms", "DesiredNumBedrooms"),
        ("desired_num_bathrooms", "DesiredNumBathrooms"),
    ):
        if payload.get(key) is not None:
            _sub(preferences, tag, Exact=_number_text(payload[key]))
    if payload.get("desired_lease_term_in_months") is not None:
        _sub(
            preferences, "DesiredLeaseTerms", _number_text(payload["desired_lease_term_in_months"])
        )


def prospect_id_of(body: Any) -> str | None:
    """The ProspectID an answer's ``Identification`` names, wherever it sits (None: none)."""
    if isinstance(body, Mapping):
        kind = body.get("IDType", body.get("@IDType"))
        if isinstance(kind, str) and kind.strip().lower() == "prospectid":
            value = body.get("IDValue", body.get("@IDValue"))
            if isinstance(value, str) and value.strip():
                return value.strip()
        children: Any = body.values()
    elif isinstance(body, list):
        children = body
    else:
        return None
    for child in children:
        found = prospect_id_of(child)
        if found is not None:
            return found
    return None
