"""Rent Manager 12 Web API connector.

Wire facts (public Rent Manager clients; ``PMS_APIS.md`` §2): each company
has its own host, ``https://{company}.api.rentmanager.com``, for sandbox and
production alike. ``POST /Authentication/AuthorizeUser`` with JSON
``{"Username", "Password", "LocationID"}`` answers a session token as a
quoted JSON string; every other request sends it in ``X-RM12Api-ApiToken``.
A 401 means the token expired: log in once more, then give up. Lists page
with ``PageSize`` + ``PageNumber`` (1-based, at most 1000 records), report
the size of the whole result in ``X-Total-Results`` and link the next page
with ``Link: <…>; rel="next"``; 200 and 206 both carry records, 204 none.
The query language filters with ``filters=Field,op,value;…``, sorts with
``orderby`` and adds related records with ``embeds``. Every record carries
``CreateDate``/``UpdateDate``, written without a time zone. The limit is 500
requests per minute per credential, announced in ``X-RateLimit-Limit``,
``-Remaining`` and ``-Reset`` (seconds). Errors come as
``{"Message", "ModelState"}`` (4xx) or ``{"UserMessage", "DeveloperMessage",
"ErrorCode", "MoreInfoUri", "Details"}`` (5xx).

Decisions where the sources are silent (UNCONFIRMED):

- Datetimes without a zone are UTC. An integration whose company writes
  local times sets ``connector.time_zone``: filter bounds are then sent in
  that zone (the transforms still read record dates as UTC, so stored
  ``x_*_at`` values are off by the zone's offset).
- Windows: ``UpdateDate,ge,<since>;UpdateDate,le,<until>`` (``CreateDate``
  for the created date) on every resource, seconds rounded outwards so the
  window asked is never narrower than the one wanted.
- Property scope: ``PropertyID,ni,(1,2)`` excludes disabled properties on
  the resources that carry ``PropertyID`` (properties, units, tenants,
  leases, prospects). Unit types, lead sources and users belong to no
  property and are listed whole.
- ``orderby=<IdField>`` keeps pages stable between requests. Page numbers
  cannot overlap, so the shared audit checks these listings as unordered:
  no id may repeat, and the distinct count must meet ``X-Total-Results``
  (sweep-safe only when exact). Only the ``Link`` header says whether more
  pages follow; whether a page answers 200 or 206 is not relied on.
- ``embeds`` per model (addresses, phone numbers, the primary contact for
  e-mail; a lease's tenant with its contacts) so the transforms find every
  field they map.

Writes: ``POST /Prospects`` (leads) and ``POST /Tenants`` (residents) take a
JSON array of records and answer the array as saved, each with its id; the
same POST carrying ``ProspectID`` / ``TenantID`` updates that record. Notes
are history records of their own in Rent Manager, so ``notes`` is written
to neither. UNCONFIRMED where public clients are silent:

- E-mail is saved on the record's primary contact (``Contacts[]`` with
  ``IsPrimary``), where the API shows it; phones as ``PhoneNumbers[]`` with a
  ``PhoneNumberTypeID`` (the company's own types: the ids of Home, Cell,
  Work, Fax and Other are the vendor option ``phone_type_ids``, default
  ``HOME=1,WORK=2,MOBILE=3,FAX=5,OTHER=6``); the address as
  ``Addresses[]`` (``Street``, ``City``, ``State``, ``PostalCode``), one
  street line only.
- An update sends the record merged: the current one (with its embeds) is
  read first, the change applied to it, sub-records keeping their ids, so
  a save that replaced the record whole would lose nothing either.
- A lost answer to a create is resolved by listing the records created
  since the attempt (``CreateDate,ge``, in the record's property) and
  matching first name, last name and e-mail (else phone).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog

from syncd.connectors.auth import TokenAuth, parse_login_token
from syncd.connectors.base import (
    Connector,
    ConnectorOptions,
    PageStream,
    RateLimitSpec,
    WriteRequest,
    WriteResult,
)
from syncd.connectors.http import JsonHttpClient, QueryValue, parse_count
from syncd.connectors.paging import (
    Fetched,
    ListingAudit,
    OffsetPager,
    int_id,
    page_number_fetch,
    paged,
    parse_link_next,
    resume_from,
)
from syncd.connectors.ratelimit import bucket_key, shared_bucket
from syncd.domain import ALL_PROPERTIES, Capability, FetchWindow, PropertyScope, RawRecord
from syncd.errors import (
    ConfigError,
    CredentialError,
    PermanentError,
    PMSBadResponse,
    PMSNotFound,
    RequestRejected,
    WriteRejected,
)

log = structlog.get_logger(__name__)

#: The header that carries the session token.
TOKEN_HEADER = "X-RM12Api-ApiToken"
LOGIN_PATH = "/Authentication/AuthorizeUser"
MAX_PAGE_SIZE = 1000

_COMPANY = re.compile(r"[A-Za-z0-9-]+")
_ENVIRONMENTS = ("production", "sandbox")


@dataclass(frozen=True, slots=True)
class _Resource:
    """How one unified model is listed: path, id field, embeds, property filter."""

    path: str
    id_field: str
    embeds: str | None = None
    #: The resource carries ``PropertyID``, so the property scope is sent to it.
    scoped: bool = False


_RESOURCES: Mapping[str, _Resource] = {
    "properties": _Resource("/Properties", "PropertyID", "Addresses,PhoneNumbers", scoped=True),
    "floor_plans": _Resource("/UnitTypes", "UnitTypeID"),
    "units": _Resource("/Units", "UnitID", "Addresses", scoped=True),
    "residents": _Resource(
        "/Tenants", "TenantID", "Addresses,PhoneNumbers,PrimaryContact", scoped=True
    ),
    # The tenant's status is the lease's; its contacts name the tenant the
    # lease links to (see transforms/rentmanager/leases.yaml).
    "leases": _Resource("/Leases", "LeaseID", "Tenant.Contacts", scoped=True),
    "leads": _Resource(
        "/Prospects", "ProspectID", "Addresses,PhoneNumbers,PrimaryContact", scoped=True
    ),
    "lead_sources": _Resource("/LeadSources", "LeadSourceID"),
    "employees": _Resource("/Users", "UserID", "PhoneNumbers"),
}

#: The record date each window field filters on.
_DATE_FILTERS: Mapping[str, str] = {"updated": "UpdateDate", "created": "CreateDate"}
_DATES = frozenset(_DATE_FILTERS)

_READ = frozenset({Capability.READ})
_WRITABLE = frozenset({Capability.READ, Capability.CREATE, Capability.UPDATE})
_CAPABILITIES: Mapping[str, frozenset[Capability]] = {
    **dict.fromkeys(_RESOURCES, _READ),
    # POST /Prospects and POST /Tenants create a record, or update the one
    # their ProspectID / TenantID names.
    "leads": _WRITABLE,
    "residents": _WRITABLE,
}
#: What a prospect and a tenant both take: the person, their phones and address.
_PERSON_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "email_1",
        "phone_1",
        "phone_1_type",
        "phone_2",
        "phone_2_type",
        "address_1",
        "city",
        "state",
        "zip",
    }
)
_WRITE_FIELDS: Mapping[tuple[str, Capability], frozenset[str]] = {
    ("leads", Capability.CREATE): _PERSON_FIELDS | {"property_id", "lead_source_id"},
    ("leads", Capability.UPDATE): _PERSON_FIELDS | {"lead_source_id"},
    ("residents", Capability.CREATE): _PERSON_FIELDS | {"property_id", "date_of_birth"},
    ("residents", Capability.UPDATE): _PERSON_FIELDS | {"date_of_birth"},
}
#: A prospect and a tenant belong to a property and need a last name (a
#: first name may be empty, as for a company).
_REQUIRED = frozenset({"property_id", "last_name"})
_WRITE_LIMITS_COMMON: Mapping[str, str] = {
    "notes": "not written: Rent Manager keeps notes as history records of their own",
    "address_2": "not written: a Rent Manager address has one street line",
    "phone_1_type": (
        "sent as the company's phone number type id (connector option phone_type_ids); "
        "HOME when not given, phone_2_type MOBILE"
    ),
}
_CREATE_LIMITS: Mapping[str, str] = {
    **_WRITE_LIMITS_COMMON,
    "idempotency": (
        "no idempotency key: a lost answer is resolved by listing the records created since "
        "the attempt in the property and matching first name, last name and e-mail (else phone)"
    ),
}
_UPDATE_LIMITS: Mapping[str, str] = {
    **_WRITE_LIMITS_COMMON,
    "property_id": "not changed by an update (a record stays in its property)",
}
#: The resource written for each model, and its id field.
_SAVES: Mapping[str, tuple[str, str]] = {
    "leads": ("/Prospects", "ProspectID"),
    "residents": ("/Tenants", "TenantID"),
}
#: Phone number type ids of a stock Rent Manager company (UNCONFIRMED; see the docstring).
DEFAULT_PHONE_TYPE_IDS: Mapping[str, int] = {
    "HOME": 1,
    "WORK": 2,
    "MOBILE": 3,
    "FAX": 5,
    "OTHER": 6,
}


def rentmanager_error_message(body: Any) -> str | None:
    """The text of a Rent Manager error body, 4xx (``Message``) or 5xx (``UserMessage``)."""
    if isinstance(body, str):
        return body.strip() or None
    if not isinstance(body, Mapping):
        return None
    parts: list[str] = []
    for key in ("Message", "UserMessage"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            parts.append(value.strip())
    developer = body.get("DeveloperMessage")
    if isinstance(developer, str) and developer.strip() and developer.strip() not in parts:
        parts.append(developer.strip())
    state = body.get("ModelState")
    if isinstance(state, Mapping):
        details = []
        for field, messages in state.items():
            texts = messages if isinstance(messages, list) else [messages]
            shown = "; ".join(str(m) for m in texts if m)
            details.append(f"{field}: {shown}" if shown else str(field))
        if details:
            parts.append("; ".join(details))
    extra = body.get("Details")
    if isinstance(extra, str) and extra.strip():
        parts.append(extra.strip())
    code = body.get("ErrorCode")
    if code not in (None, ""):
        parts.append(f"[{code}]")
    return " ".join(parts) or None


def rentmanager_error_messages(body: Any) -> list[str]:
    """A Rent Manager error body's messages, one per problem (``ModelState`` entries first)."""
    if isinstance(body, str):
        return [body.strip()] if body.strip() else []
    if not isinstance(body, Mapping):
        return []
    out: list[str] = []
    state = body.get("ModelState")
    if isinstance(state, Mapping):
        for field, messages in state.items():
            texts = messages if isinstance(messages, list) else [messages]
            out.extend(f"{field}: {text}" for text in texts if text)
    if not out:
        for key in ("Message", "UserMessage"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                out.append(value.strip())
                break
    return out


def format_timestamp(moment: datetime, zone: tzinfo = UTC, *, round_up: bool = False) -> str:
    """``moment`` as a Rent Manager filter value: ``YYYY-MM-DDTHH:MM:SS`` in ``zone``, no zone.

    A naive ``moment`` is UTC. Fractions of a second are dropped, or rounded
    up to the next second with ``round_up`` (for an upper bound).
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if round_up and moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def company_base_url(company: str) -> str:
    """``https://{company}.api.rentmanager.com``; ConfigError for a malformed company code."""
    code = company.strip()
    if not _COMPANY.fullmatch(code) or code.startswith("-") or code.endswith("-"):
        raise ConfigError(
            "a Rent Manager company code has letters, digits and hyphens only",
            field="credentials.company",
        )
    return f"https://{code.lower()}.api.rentmanager.com"


class RentManagerConnector(Connector):
    """Reads Rent Manager properties, units, unit types, tenants, leases, prospects, users."""

    vendor: ClassVar[str] = "RENTMANAGER"
    display_name: ClassVar[str] = "Rent Manager"
    credential_keys: ClassVar[tuple[str, ...]] = ("username", "password", "location_id")
    optional_credential_keys: ClassVar[tuple[str, ...]] = ("company",)
    credential_labels: ClassVar[Mapping[str, tuple[str, str]]] = {
        "username": ("Username", "A Rent Manager user the company created for the API"),
        "password": ("Password", "That user's password"),
        "location_id": ("Location ID", "The Rent Manager location (database) to read"),
        "company": (
            "Company code",
            "Optional: the company's code in https://{company}.api.rentmanager.com",
        ),
    }
    rate_limit: ClassVar[RateLimitSpec | None] = RateLimitSpec(
        500, 60.0, "Rent Manager 12 Web API: 500 requests per minute per credential"
    )
    option_keys: ClassVar[Mapping[str, str]] = {
        "time_zone": (
            "IANA time zone the company's Rent Manager database writes dates in "
            "(default UTC); date filter bounds are sent in it"
        ),
        "phone_type_ids": (
            "the company's phone number type ids written for each phone type, "
            "e.g. HOME=1,WORK=2,MOBILE=3,FAX=5,OTHER=6 (the default)"
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
        try:
            self._location = _location_id(credentials["location_id"])
        except ConfigError as exc:
            raise CredentialError(str(exc)) from None
        self._zone = _time_zone(self.options.extra.get("time_zone"))
        self._phone_type_ids = _phone_type_ids(self.options.extra.get("phone_type_ids"))
        self._auth = TokenAuth(self._login, header=TOKEN_HEADER)
        self._client = JsonHttpClient(
            self.base_url,
            options=self.options,
            stats=self.stats,
            auth=self._auth,
            error_message=rentmanager_error_message,
            # Rent Manager counts requests per credential: every integration of
            # this user at this company draws from one bucket in this process.
            # Spread evenly (a burst of one): a limit counted over a sliding
            # window answers a burst with 429s even when the average is within it.
            bucket=shared_bucket(
                bucket_key(self.vendor, self.base_url, credentials["username"]),
                self.options.rate_limit,
                burst=1,
            ),
        )

    # -- what the PMS is ----------------------------------------------------

    @classmethod
    def default_base_url(cls, environment: str) -> str:
        """None exists: every company has its own host (see :meth:`base_url_for`)."""
        _check_environment(environment)
        raise ConfigError(
            "Rent Manager has one host per company: set credentials.company "
            "or the integration's base URL",
            field="credentials.company",
        )

    @classmethod
    def base_url_for(cls, environment: str, credentials: Mapping[str, str]) -> str:
        """``https://{company}.api.rentmanager.com``, for sandbox and production alike."""
        _check_environment(environment)
        company = credentials.get("company")
        if not company or not str(company).strip():
            return cls.default_base_url(environment)
        return company_base_url(str(company))

    @classmethod
    def validate_credentials(
        cls, credentials: Mapping[str, str], *, base_url: str | None = None
    ) -> None:
        """The common checks, an integer ``location_id``, and a company unless given a base URL."""
        super().validate_credentials(credentials, base_url=base_url)
        _location_id(credentials["location_id"])
        company = credentials.get("company")
        if company is not None:
            company_base_url(str(company))
        elif base_url is None:
            raise ConfigError(
                "RENTMANAGER needs company (the account's host is "
                "https://{company}.api.rentmanager.com) unless the integration has a base URL",
                field="credentials.company",
            )

    @classmethod
    def capabilities(cls) -> Mapping[str, frozenset[Capability]]:
        """All eight models are readable; prospects (leads) can be created and updated."""
        return _CAPABILITIES

    @classmethod
    def writable_fields(cls, model: str, operation: Capability) -> frozenset[str]:
        """What a Prospect or Tenant accepts (no notes: Rent Manager keeps them as history)."""
        return _WRITE_FIELDS.get((model, operation), frozenset())

    @classmethod
    def required_write_fields(cls, model: str, operation: Capability) -> frozenset[str]:
        """A new prospect or tenant needs its property and a last name."""
        if operation is Capability.CREATE and (model, operation) in _WRITE_FIELDS:
            return _REQUIRED
        return frozenset()

    @classmethod
    def write_limits(cls, model: str, operation: Capability) -> Mapping[str, str]:
        """What a Prospect or Tenant save cannot carry."""
        if (model, operation) not in _WRITE_FIELDS:
            return {}
        return _CREATE_LIMITS if operation is Capability.CREATE else _UPDATE_LIMITS

    @classmethod
    def date_fields(cls, model: str) -> frozenset[str]:
        """Every resource filters by ``UpdateDate`` and ``CreateDate``."""
        return _DATES if model in _RESOURCES else frozenset()

    @property
    def page_size(self) -> int:
        """The ``PageSize`` sent: ``options.page_size`` clamped to 1..1000."""
        return min(max(1, self.options.page_size), MAX_PAGE_SIZE)

    @property
    def client(self) -> JsonHttpClient:
        """The HTTP client (open between :meth:`open` and :meth:`close`)."""
        return self._client

    @property
    def auth(self) -> TokenAuth:
        """The session token holder (logs in on first use)."""
        return self._auth

    # -- session ------------------------------------------------------------

    async def open(self) -> None:
        """Open the HTTP session (the login waits for the first request)."""
        await self._client.open()

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._client.close()

    async def _login(self) -> str:
        response = await self._client.request(
            "POST",
            LOGIN_PATH,
            json={
                "Username": self.credentials["username"],
                "Password": self.credentials["password"],
                "LocationID": self._location,
            },
            # A second login only issues a second token: safe to repeat.
            idempotent=True,
            authenticate=False,
        )
        return parse_login_token(response.body, where=f"POST {LOGIN_PATH}")

    async def check_auth(self) -> None:
        """Log in and read one property; a refusal raises AuthenticationError."""
        await self._client.get("/Properties", {"PageSize": 1, "PageNumber": 1})

    # -- listing ------------------------------------------------------------

    def pages(
        self,
        model: str,
        window: FetchWindow,
        *,
        cursor: str | None = None,
        scope: PropertyScope = ALL_PROPERTIES,
    ) -> AbstractAsyncContextManager[PageStream]:
        """Pages of ``model`` in id order; ``cursor`` resumes after the last stored page.

        Pages are asked by number (``PageSize`` = ``options.page_size``);
        after the first reveals ``X-Total-Results``, up to
        ``options.concurrency`` later pages are fetched at once. The first
        page is yielded even when empty, so the caller learns the total.
        """
        resource = _RESOURCES.get(model)
        if resource is None:
            supported = ", ".join(sorted(_RESOURCES))
            raise PermanentError(f"Rent Manager has no {model!r} resource (supported: {supported})")
        if not self._client.is_open:
            raise RuntimeError("RentManagerConnector is not open; use 'async with connector'")
        params: dict[str, QueryValue] = {"orderby": resource.id_field}
        if resource.embeds:
            params["embeds"] = resource.embeds
        filters = self._window_filters(model, window)
        if resource.scoped:
            filters.extend(_scope_filters(model, scope))
        if filters:
            params["filters"] = ";".join(filters)
        start = resume_from(cursor, model=model, vendor="rentmanager")[0]
        audit = ListingAudit(
            model,
            key=int_id(resource.id_field),
            # Page numbers cannot overlap: see the module docstring.
            ordered=False,
            start=start,
            drift_records=self.options.drift_records,
            drift_share=self.options.drift_share,
        )

        async def fetch_page(number: int, size: int) -> Fetched:
            return await self.fetch_page(
                resource.path, {**params, "PageSize": size, "PageNumber": number}
            )

        return paged(
            lambda tg: OffsetPager(
                tg,
                model=model,
                fetch=page_number_fetch(fetch_page),
                audit=audit,
                limit=self.page_size,
                concurrency=max(1, self.options.concurrency),
                overlap=False,
            )
        )

    def _window_filters(self, model: str, window: FetchWindow) -> list[str]:
        if window.since is None and window.until is None:
            return []
        if window.field not in self.date_fields(model):
            # Never filter by another date than the one asked for: list
            # everything instead (a superset is safe; another set is not).
            log.warning(
                "pms.window.unsupported",
                model=model,
                field=window.field,
                supported=sorted(self.date_fields(model)),
            )
            return []
        field = _DATE_FILTERS[window.field]
        filters = []
        if window.since is not None:
            filters.append(f"{field},ge,{format_timestamp(window.since, self._zone)}")
        if window.until is not None:
            until = format_timestamp(window.until, self._zone, round_up=True)
            filters.append(f"{field},le,{until}")
        return filters

    async def fetch_page(self, path: str, params: Mapping[str, QueryValue]) -> Fetched:
        """One page: its records, ``X-Total-Results`` and whether a next page is linked."""
        # 204 No Content (no body) is an empty result.
        records, response = await self._client.get_list(path, params)
        total = parse_count(response.headers.get("X-Total-Results"))
        more = parse_link_next(response.headers.get("Link")) is not None
        return Fetched(records, total, more)

    async def fetch_one(self, model: str, x_id: str) -> RawRecord | None:
        """``GET /{Resource}/{id}`` with the model's embeds; None when Rent Manager answers 404."""
        resource = _RESOURCES.get(model)
        if resource is None or not x_id.isdigit():
            return None
        params: dict[str, QueryValue] = {"embeds": resource.embeds} if resource.embeds else {}
        try:
            response = await self._client.get(f"{resource.path}/{x_id}", params)
        except PMSNotFound:
            return None
        body = response.body
        if isinstance(body, list):
            # Some Rent Manager resources answer a one-record array.
            body = body[0] if len(body) == 1 else None
        return body if isinstance(body, dict) else None

    # -- writes -------------------------------------------------------------

    async def write(self, request: WriteRequest) -> WriteResult:
        """``POST /Prospects`` or ``POST /Tenants`` with one record; an update merged first."""
        save = _SAVES.get(request.model)
        if save is None or request.operation not in (Capability.CREATE, Capability.UPDATE):
            return await super().write(request)
        path, id_field = save
        current: RawRecord | None = None
        if request.operation is Capability.UPDATE:
            if not request.x_id or not request.x_id.strip().isdigit():
                raise PermanentError(f"a Rent Manager {request.model} update needs an integer id")
            current = await self.fetch_one(request.model, request.x_id.strip())
            if current is None:
                raise WriteRejected(
                    [f"No {path[1:]} record has {id_field} {request.x_id}."],
                    status=404,
                    url=f"{self.base_url}{path}/{request.x_id}",
                )
        record = self.record_for(request, current)
        try:
            # Never repeated by the HTTP layer once sent: a lost answer is the
            # write worker's to resolve, through find_written.
            response = await self._client.request("POST", path, json=[record], idempotent=False)
        except (RequestRejected, PMSNotFound) as exc:
            refusal = rentmanager_error_messages(exc.body)
            raise WriteRejected(refusal or [str(exc)], status=exc.status, url=exc.url) from exc
        saved = response.body
        first = saved[0] if isinstance(saved, list) and saved else saved
        x_id = first.get(id_field) if isinstance(first, Mapping) else None
        if isinstance(x_id, bool) or not isinstance(x_id, int | str) or not str(x_id).strip():
            raise PMSBadResponse(
                f"POST {path}: the answer carries no {id_field}",
                status=response.status,
                url=self.base_url + path,
            )
        return WriteResult(x_id=str(x_id).strip(), raw=saved)

    def record_for(self, request: WriteRequest, current: RawRecord | None) -> dict[str, Any]:
        """The Prospect or Tenant object ``request`` saves (``current``: the record updated)."""
        payload = request.payload
        _, id_field = _SAVES[request.model]
        record: dict[str, Any] = {}
        if current is not None:
            record[id_field] = current.get(id_field)
            for key in _KEPT_FIELDS:
                if key in current:
                    record[key] = current[key]
        elif payload.get("property_id") is not None:
            record["PropertyID"] = _integer(payload["property_id"], "property_id")
        for field, key in (("first_name", "FirstName"), ("last_name", "LastName")):
            if field in payload:
                record[key] = payload[field]
        if payload.get("lead_source_id") is not None:
            record["LeadSourceID"] = _integer(payload["lead_source_id"], "lead_source_id")
        if any(k in payload for k in ("address_1", "city", "state", "zip")):
            record["Addresses"] = _merged_addresses(payload, current)
        if any(k in payload for k in ("phone_1", "phone_2", "phone_1_type", "phone_2_type")):
            record["PhoneNumbers"] = self._merged_phones(payload, current)
        if any(k in payload for k in ("email_1", "date_of_birth", "first_name", "last_name")):
            record["Contacts"] = [_merged_contact(payload, current, record)]
        return record

    def _merged_phones(
        self, payload: Mapping[str, Any], current: RawRecord | None
    ) -> list[dict[str, Any]]:
        phones = current.get("PhoneNumbers") if current is not None else None
        out = (
            [dict(p) for p in phones if isinstance(p, Mapping)] if isinstance(phones, list) else []
        )
        for slot, (number_key, type_key, default) in enumerate(
            (("phone_1", "phone_1_type", "HOME"), ("phone_2", "phone_2_type", "MOBILE"))
        ):
            if number_key not in payload and type_key not in payload:
                continue
            while len(out) <= slot:
                out.append({})
            phone = out[slot]
            # Only the fields Rent Manager saves: its type record is read-only.
            kept = {
                k: phone[k] for k in ("PhoneNumberID", "PhoneNumber", "Extension") if k in phone
            }
            if number_key in payload:
                kept["PhoneNumber"] = payload[number_key]
            kind = str(payload.get(type_key) or default).upper()
            if type_key in payload or "PhoneNumberTypeID" not in phone:
                kept["PhoneNumberTypeID"] = self._phone_type_ids.get(
                    kind, self._phone_type_ids["OTHER"]
                )
            else:
                kept["PhoneNumberTypeID"] = phone["PhoneNumberTypeID"]
            kept["IsPrimary"] = slot == 0
            out[slot] = kept
        saved = ("PhoneNumberID", "PhoneNumberTypeID", "PhoneNumber", "Extension", "IsPrimary")
        return [{k: p[k] for k in saved if k in p} for p in out if p.get("PhoneNumber")]

    async def find_written(self, request: WriteRequest, since: datetime) -> str | None:
        """A record a lost create made: created since ``since``, same names and e-mail/phone."""
        save = _SAVES.get(request.model)
        if save is None or request.operation is not Capability.CREATE:
            return await super().find_written(request, since)
        path, id_field = save
        payload = request.payload
        filters = [f"CreateDate,ge,{format_timestamp(since, self._zone)}"]
        property_id = payload.get("property_id") or request.property_x_id
        if property_id is not None and str(property_id).strip().isdigit():
            filters.append(f"PropertyID,eq,{int(str(property_id).strip())}")
        params: dict[str, QueryValue] = {
            "filters": ";".join(filters),
            "embeds": "PhoneNumbers,PrimaryContact",
            "orderby": id_field,
            "PageSize": MAX_PAGE_SIZE,
        }
        number = 1
        while True:
            fetched = await self.fetch_page(path, {**params, "PageNumber": number})
            for record in fetched.records:
                if isinstance(record, Mapping) and _person_matches(record, payload):
                    return str(record.get(id_field))
            if not fetched.more or not fetched.records:
                return None
            number += 1


def _check_environment(environment: str) -> None:
    if environment.lower() not in _ENVIRONMENTS:
        known = ", ".join(_ENVIRONMENTS)
        raise ValueError(f"unknown environment {environment!r} (known: {known})")


def _location_id(value: str) -> int:
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(
            "a Rent Manager location id is a positive integer", field="credentials.location_id"
        )
    return int(text)


def _time_zone(value: Any) -> tzinfo:
    if value is None or value == "":
        return UTC
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {value!r} (an IANA name such as America/New_York)",
            field="connector.time_zone",
        ) from None


def _scope_filters(model: str, scope: PropertyScope) -> list[str]:
    """``PropertyID,ni,(…)`` for the excluded properties (ids that are not integers skipped)."""
    ids = sorted({int(x) for x in scope.excluded if x.strip().isdigit()})
    ignored = len(scope.excluded) - len(ids)
    if ignored:
        log.warning("rentmanager.scope.ignored_ids", model=model, ignored=ignored)
    if not ids:
        return []
    return [f"PropertyID,ni,({','.join(str(i) for i in ids)})"]


#: Top-level fields an update sends back as they are, so that a save that
#: replaced the record whole would keep them.
_KEPT_FIELDS = ("PropertyID", "FirstName", "LastName", "LeadSourceID", "Comment")


def _integer(value: Any, field: str) -> int:
    text = str(value).strip()
    if not text.isdigit():
        raise WriteRejected([f"{field}: a Rent Manager id is an integer, not {value!r}"])
    return int(text)


def _merged_addresses(
    payload: Mapping[str, Any], current: RawRecord | None
) -> list[dict[str, Any]]:
    addresses = current.get("Addresses") if current is not None else None
    found = [a for a in addresses if isinstance(a, Mapping)] if isinstance(addresses, list) else []
    primary = next((a for a in found if a.get("IsPrimary")), found[0] if found else {})
    address = {
        k: primary[k]
        for k in ("AddressID", "AddressTypeID", "Street", "City", "State", "PostalCode")
        if k in primary
    }
    for field, key in (
        ("address_1", "Street"),
        ("city", "City"),
        ("state", "State"),
        ("zip", "PostalCode"),
    ):
        if field in payload:
            address[key] = payload[field]
    address.setdefault("AddressTypeID", 1)
    address["IsPrimary"] = True
    return [address]


def _merged_contact(
    payload: Mapping[str, Any], current: RawRecord | None, record: Mapping[str, Any]
) -> dict[str, Any]:
    primary = current.get("PrimaryContact") if current is not None else None
    contact: dict[str, Any] = {}
    if isinstance(primary, Mapping):
        contact = {
            k: primary[k]
            for k in ("ContactID", "FirstName", "LastName", "Email", "DateOfBirth")
            if k in primary
        }
    contact["FirstName"] = record.get("FirstName", contact.get("FirstName"))
    contact["LastName"] = record.get("LastName", contact.get("LastName"))
    if "email_1" in payload:
        contact["Email"] = payload["email_1"]
    if "date_of_birth" in payload:
        born = payload["date_of_birth"]
        contact["DateOfBirth"] = f"{str(born)[:10]}T00:00:00" if born else None
    contact["IsPrimary"] = True
    return contact


def _fold(value: Any) -> str:
    return str(value).strip().casefold() if value is not None else ""


def _digits(value: Any) -> str:
    return "".join(c for c in str(value or "") if c.isdigit())


def _person_matches(record: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    """Whether a listed prospect or tenant carries the request's natural key."""
    if _fold(record.get("FirstName")) != _fold(payload.get("first_name")):
        return False
    if _fold(record.get("LastName")) != _fold(payload.get("last_name")):
        return False
    contact = record.get("PrimaryContact")
    email = contact.get("Email") if isinstance(contact, Mapping) else None
    if _fold(payload.get("email_1")):
        return _fold(email) == _fold(payload.get("email_1"))
    if _digits(payload.get("phone_1")):
        phones = record.get("PhoneNumbers")
        numbers: Sequence[Any] = phones if isinstance(phones, list) else []
        return any(
            isinstance(p, Mapping) and _digits(p.get("PhoneNumber")) == _digits(payload["phone_1"])
            for p in numbers
        )
    return True


def _phone_type_ids(value: Any) -> dict[str, int]:
    """``HOME=1,WORK=2,…`` over the defaults; ConfigError for anything else."""
    out = dict(DEFAULT_PHONE_TYPE_IDS)
    if value is None or value == "":
        return out
    if isinstance(value, Mapping):
        items: list[list[Any]] = [[k, v] for k, v in value.items()]
    else:
        items = [part.split("=", 1) for part in str(value).split(",") if part.strip()]
    for item in items:
        pair = list(item)
        if len(pair) != 2 or str(pair[0]).strip().upper() not in DEFAULT_PHONE_TYPE_IDS:
            raise ConfigError(
                f"expected TYPE=ID pairs of {', '.join(DEFAULT_PHONE_TYPE_IDS)}, got {value!r}",
                field="connector.phone_type_ids",
            )
        kind, number = str(pair[0]).strip().upper(), str(pair[1]).strip()
        if not number.isdigit():
            raise ConfigError(f"{kind}: {number!r} is not an id", field="connector.phone_type_ids")
        out[kind] = int(number)
    return out
