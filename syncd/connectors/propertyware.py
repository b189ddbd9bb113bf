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

Writes (the document marks every write BETA, open to accounts in the beta
program):

- **Leads** are prospects: ``POST /prospects`` with a ``SaveProspect``
  (``contacts[0]`` is the person, ``firstName`` and ``lastName`` required;
  ``buildingID``, ``source``, ``moveInDate``, ``numberBedrooms``,
  ``numberBathrooms``, ``rentMax`` in dollars, ``comments`` and the
  ``property*`` fields of the prospect's current address), answered 201
  with the ``Prospect``. The document has no prospect update (no
  ``PUT /prospects/{id}``), and ``SaveProspect`` carries no unit, agent or
  lease term: those are not writable.
- **Residents** are ``TENANT`` contacts: ``PUT /contacts/{contactID}`` with a
  ``SaveContact`` (``firstName`` and ``lastName`` required). Its body is
  the whole contact [UNCONFIRMED whether fields left out are cleared], so
  the contact is read first and sent back merged with the change. A
  contact is made a tenant by a lease, and ``SaveContact`` has no type:
  no resident creates.
- Phones go to the field of their type (``mobilePhone``, ``homePhone``,
  ``workPhone``, ``otherPhone``; ``fax`` on contacts only); a number
  without a type is mobile for phone_1 and home for phone_2, the fields
  the transform reads back. A refusal (a 4xx other than 401, 403 and 429)
  raises :class:`~syncd.errors.WriteRejected` with each of the
  ``errors`` (or the ``userMessage``).
"""

from __future__ import annotations

import math
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
    WriteRequest,
    WriteResult,
)
from syncd.connectors.http import (
    JsonHttpClient,
    JsonResponse,
    QueryValue,
    keyed_error_message,
    keyed_error_messages,
    parse_count,
)
from syncd.connectors.paging import (
    ListingAudit,
    OffsetPager,
    int_id,
    paged,
    resume_from,
)
from syncd.connectors.ratelimit import bucket_key, shared_bucket
from syncd.domain import ALL_PROPERTIES, Capability, FetchWindow, PropertyScope, RawRecord
from syncd.errors import (
    PermanentError,
    PMSBadResponse,
    PMSNotFound,
    RequestRejected,
    WriteRejected,
)

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
    # POST /prospects (SaveProspect); no prospect update is documented.
    "leads": frozenset({Capability.READ, Capability.CREATE}),
    # PUT /contacts/{contactID} (SaveContact); a tenant is made by a lease.
    "residents": frozenset({Capability.READ, Capability.UPDATE}),
}

_PHONE_KEYS = frozenset({"phone_1", "phone_1_type", "phone_2", "phone_2_type"})
_ADDRESS_KEYS = frozenset({"address_1", "address_2", "city", "state", "zip"})

#: Unified lead fields a SaveProspect body can carry (its contact, wishes, source).
_PROSPECT_FIELDS: frozenset[str] = frozenset(
    {
        "property_id",  # buildingID
        "first_name",  # contacts[0].firstName (required)
        "last_name",  # contacts[0].lastName (required)
        "email_1",  # contacts[0].email
        *_PHONE_KEYS,  # contacts[0].<kind>Phone
        "address_1",  # propertyAddress (the prospect's current address)
        "address_2",  # propertyAddress2
        "city",  # propertyCity
        "state",  # propertyState
        "zip",  # propertyZip
        "lead_source",  # source (free text: Propertyware has no lead-source records)
        "target_move_in_date",  # moveInDate
        "desired_num_bedrooms",  # numberBedrooms
        "desired_num_bathrooms",  # numberBathrooms
        "desired_max_rent_in_cents",  # rentMax (dollars)
        "notes",  # comments
    }
)
#: Unified resident fields a SaveContact body carries.
_CONTACT_FIELDS: frozenset[str] = frozenset(
    {
        "first_name",  # firstName
        "last_name",  # lastName
        "email_1",  # email
        *_PHONE_KEYS,
        *_ADDRESS_KEYS,  # address{address, addressCont, city, stateRegion, postalCode}
        "notes",  # comments
        "date_of_birth",  # birthDate
    }
)
_WRITABLE: Mapping[tuple[str, Capability], frozenset[str]] = {
    ("leads", Capability.CREATE): _PROSPECT_FIELDS,
    ("residents", Capability.UPDATE): _CONTACT_FIELDS,
}
_REQUIRED: Mapping[tuple[str, Capability], frozenset[str]] = {
    ("leads", Capability.CREATE): frozenset({"first_name", "last_name"}),
}
_PHONE_NOTE = (
    "a number goes to the field of its type (mobilePhone, homePhone, workPhone, "
    "otherPhone), not to a position: syncd reads the mobile phone back as phone_1 and "
    "the home phone as phone_2 whatever order they were written in, and a WORK or "
    "OTHER number only in custom_data"
)
_LIMITS: Mapping[tuple[str, Capability], Mapping[str, str]] = {
    ("leads", Capability.CREATE): {
        "idempotency": (
            "Propertyware takes no idempotency key: a create whose answer was lost is "
            "looked up among the prospects modified since it was sent "
            "(lastModifiedDateTimeStart), by first and last name, email (else phone) "
            "and building"
        ),
        "phones": _PHONE_NOTE + "; a prospect contact has no fax",
        "unit_id": "not writable: SaveProspect has no unit",
        "lead_source": "free text (source); Propertyware has no lead-source records",
        "beta": "Propertyware opens writes only to accounts in its beta program",
    },
    ("leads", Capability.UPDATE): {
        "update": "not supported: Propertyware documents no prospect update",
    },
    ("residents", Capability.CREATE): {
        "create": "not supported: a contact becomes a tenant through a lease",
    },
    ("residents", Capability.UPDATE): {
        "replacement": (
            "PUT sends the whole contact: syncd reads it first and sends it back with "
            "the change (a change made in between by someone else is overwritten)"
        ),
        "phones": _PHONE_NOTE,
        "beta": "Propertyware opens writes only to accounts in its beta program",
    },
}

#: Unified phone type -> the contact field holding it.
_PHONE_FIELDS: Mapping[str, str] = {
    "MOBILE": "mobilePhone",
    "HOME": "homePhone",
    "WORK": "workPhone",
    "OTHER": "otherPhone",
    "FAX": "fax",
}
#: The kind a phone number without a type is given: phone_1 mobile, phone_2 home.
_DEFAULT_PHONE_TYPES = ("MOBILE", "HOME")
#: SaveContact's fields, all of which a Contact answer also carries.
_SAVE_CONTACT_KEYS = (
    "allowESignature",
    "altEmail",
    "birthDate",
    "category",
    "comments",
    "company",
    "email",
    "fax",
    "firstName",
    "gender",
    "homePhone",
    "jobTitle",
    "lastName",
    "middleName",
    "mobilePhone",
    "nameOnCheck",
    "namedOnLease",
    "otherPhone",
    "salutation",
    "suffix",
    "workPhone",
)
_ADDRESS_PARTS = ("address", "addressCont", "city", "stateRegion", "postalCode", "country")
_US = "United States"


_PRODUCTION_URL = "https://api.propertyware.com" + API_PATH
_ENVIRONMENTS = ("production", "sandbox")


def propertyware_error_message(body: Any) -> str | None:
    """The text of a Propertyware error body: ``userMessage``, each ``key: message``, the code."""
    return keyed_error_message(
        body, message="userMessage", errors="errors", key="key", value="message", code="errorCode"
    )


def propertyware_error_messages(body: Any) -> list[str]:
    """A Propertyware error body as one message per problem: each ``key: message``, else text."""
    return keyed_error_messages(
        body, message="userMessage", errors="errors", key="key", value="message"
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
    credential_labels: ClassVar[Mapping[str, tuple[str, str]]] = {
        "client_id": (
            "Client ID",
            "From Propertyware: Setup → Administration Setup → API Keys",
        ),
        "client_secret": ("Client secret", "Shown once, when the API key is generated"),
        "system_id": ("System ID", "The customer's Propertyware system (organization) id"),
    }
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
        """All five models are readable; leads can be created, residents updated."""
        return _CAPABILITIES

    @classmethod
    def writable_fields(cls, model: str, operation: Capability) -> frozenset[str]:
        """Lead creates: what a SaveProspect carries; resident updates: a SaveContact's."""
        return _WRITABLE.get((model, operation), frozenset())

    @classmethod
    def required_write_fields(cls, model: str, operation: Capability) -> frozenset[str]:
        """A prospect's contact needs a first and a last name; updates need nothing."""
        return _REQUIRED.get((model, operation), frozenset())

    @classmethod
    def write_limits(cls, model: str, operation: Capability) -> Mapping[str, str]:
        """What Propertyware's prospect and contact writes cannot do."""
        return _LIMITS.get((model, operation), {})

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

    # -- writes ------------------------------------------------------------------

    async def write(self, request: WriteRequest) -> WriteResult:
        """Create a prospect, or update a tenant contact (see the module docstring)."""
        key = (request.model, request.operation)
        if key not in _WRITABLE:
            return await super().write(request)
        if not self._client.is_open:
            raise RuntimeError("PropertywareConnector is not open; use 'async with connector'")
        if request.model == "residents":
            return await self._update_contact(_record_id(request), request.payload)
        response = await self._send("POST", "/prospects", save_prospect(request.payload))
        prospect = _record(response)
        x_id = prospect.get("id")
        if isinstance(x_id, bool) or not isinstance(x_id, int):
            raise PMSBadResponse(
                "POST /prospects: Propertyware answered without the prospect's id",
                status=response.status,
            )
        return WriteResult(x_id=str(x_id), raw=prospect)

    async def _update_contact(self, record_id: str, payload: Mapping[str, Any]) -> WriteResult:
        path = f"/contacts/{record_id}"
        current = _record(await self._send("GET", path))
        if current.get("type") != "TENANT":
            raise WriteRejected(
                [f"contact {record_id} is a {current.get('type') or 'contact'}, not a tenant"]
            )
        body = save_contact(current)
        for field, name in (
            ("first_name", "firstName"),
            ("last_name", "lastName"),
            ("email_1", "email"),
            ("notes", "comments"),
            ("date_of_birth", "birthDate"),
        ):
            if field in payload:
                body[name] = payload[field]
        body.update(_phone_fields(payload, fax=True))
        if _ADDRESS_KEYS & set(payload):
            address = dict(body.get("address") or {})
            address.setdefault("country", _US)
            for field, name in (
                ("address_1", "address"),
                ("address_2", "addressCont"),
                ("city", "city"),
                ("state", "stateRegion"),
                ("zip", "postalCode"),
            ):
                if field in payload:
                    address[name] = payload[field]
            body["address"] = _without_nulls(address)
        contact = _record(await self._send("PUT", path, _without_nulls(body)))
        return WriteResult(x_id=record_id, raw=contact)

    async def _send(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> JsonResponse:
        """One request of a write; a refusal (400, 404, 409, 415, 422) raises WriteRejected."""
        try:
            return await self._client.request(method, path, json=body)
        except (RequestRejected, PMSNotFound) as exc:
            messages = propertyware_error_messages(exc.body)
            raise WriteRejected(messages or [str(exc)], status=exc.status, url=exc.url) from exc

    async def find_written(self, request: WriteRequest, since: datetime) -> str | None:
        """The prospect a lost create made: modified since ``since``, matching its natural key.

        Lists ``/prospects`` with ``lastModifiedDateTimeStart`` (a new
        prospect's last modification is its creation; the caller's
        ``since`` already allows for clock drift), newest first, and
        matches the first contact's first and last name, then email if
        given (else a phone number) and the building if given,
        case-insensitively and trimmed. An update returns None: a PUT is
        safe to resend.
        """
        if request.operation is not Capability.CREATE:
            if (request.model, request.operation) in _WRITABLE:
                return None
            return await super().find_written(request, since)
        if request.model != "leads":
            return await super().find_written(request, since)
        params: dict[str, QueryValue] = {
            "orderby": "id desc",
            _SINCE_PARAM: format_timestamp(since),
            "limit": _MAX_LIMIT,
        }
        offset = 0
        while True:
            records, total = await self.fetch_page("/prospects", params, offset)
            for record in records:
                if isinstance(record, dict) and _matches(record, request.payload):
                    return str(record.get("id"))
            offset += len(records)
            if not records or (total is not None and offset >= total):
                return None


def save_prospect(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The ``SaveProspect`` body of a lead create ``payload`` (unified fields)."""
    contact: dict[str, Any] = {
        "firstName": payload.get("first_name"),
        "lastName": payload.get("last_name"),
        "email": payload.get("email_1"),
        **_phone_fields(payload, fax=False),
    }
    body: dict[str, Any] = {"contacts": [_without_nulls(contact)]}
    if payload.get("property_id") is not None:
        body["buildingID"] = _integer("property_id", payload["property_id"])
    for field, name in (
        ("lead_source", "source"),
        ("target_move_in_date", "moveInDate"),
        ("notes", "comments"),
        ("address_1", "propertyAddress"),
        ("address_2", "propertyAddress2"),
        ("city", "propertyCity"),
        ("state", "propertyState"),
        ("zip", "propertyZip"),
    ):
        body[name] = payload.get(field)
    if payload.get("desired_num_bedrooms") is not None:
        body["numberBedrooms"] = _integer("desired_num_bedrooms", payload["desired_num_bedrooms"])
    if payload.get("desired_num_bathrooms") is not None:
        body["numberBathrooms"] = float(payload["desired_num_bathrooms"])
    if payload.get("desired_max_rent_in_cents") is not None:
        # Propertyware's money is dollars (a JSON number).
        body["rentMax"] = int(payload["desired_max_rent_in_cents"]) / 100
    return _without_nulls(body)


def save_contact(contact: Mapping[str, Any]) -> dict[str, Any]:
    """A ``SaveContact`` that leaves ``contact`` (a ``Contact`` answer) as it is."""
    body: dict[str, Any] = {key: contact.get(key) for key in _SAVE_CONTACT_KEYS}
    address = contact.get("address")
    if isinstance(address, Mapping) and any(address.get(k) for k in _ADDRESS_PARTS):
        body["address"] = _without_nulls({k: address.get(k) for k in _ADDRESS_PARTS})
    return body


def _phone_fields(payload: Mapping[str, Any], *, fax: bool) -> dict[str, Any]:
    """The phone fields the payload's phone_1 and phone_2 set (None: cleared)."""
    out: dict[str, Any] = {}
    for position, (number_key, type_key) in enumerate(
        (("phone_1", "phone_1_type"), ("phone_2", "phone_2_type"))
    ):
        if number_key not in payload:
            continue
        kind = str(payload.get(type_key) or _DEFAULT_PHONE_TYPES[position]).upper()
        field = _PHONE_FIELDS.get(kind)
        if field is None or (field == "fax" and not fax):
            allowed = "HOME, MOBILE, WORK, OTHER" + (" or FAX" if fax else "")
            raise WriteRejected([f"{type_key}: Propertyware takes {allowed} numbers, not {kind}"])
        if field in out:
            raise WriteRejected([f"{type_key}: Propertyware holds one {kind} number"])
        number = payload[number_key]
        out[field] = str(number).strip() if number is not None and str(number).strip() else None
    return out


def _integer(field: str, value: Any) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or not number.is_integer():
        raise WriteRejected([f"{field} {value!r}: Propertyware takes a whole number"])
    return int(number)


def _record_id(request: WriteRequest) -> str:
    x_id = (request.x_id or "").strip()
    if not x_id.isdigit():
        raise WriteRejected([f"{request.model} id {request.x_id!r}: Propertyware ids are integers"])
    return x_id


def _record(response: JsonResponse) -> dict[str, Any]:
    body = response.body
    return body if isinstance(body, dict) else {}


def _without_nulls(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def _folded(value: Any) -> str:
    return " ".join(str(value).split()).casefold() if value is not None else ""


def _digits(value: Any) -> str:
    return "".join(c for c in str(value or "") if c.isdigit())


def _matches(prospect: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    """Whether ``prospect`` carries the natural key of the create ``payload``."""
    contacts = prospect.get("contacts")
    person = contacts[0] if isinstance(contacts, list) and contacts else None
    if not isinstance(person, Mapping):
        return False
    for field, name in (("first_name", "firstName"), ("last_name", "lastName")):
        if _folded(payload.get(field)) != _folded(person.get(name)):
            return False
    if payload.get("email_1"):
        if _folded(payload["email_1"]) != _folded(person.get("email")):
            return False
    else:
        wanted = {_digits(payload.get(k)) for k in ("phone_1", "phone_2")} - {""}
        held = {_digits(person.get(f)) for f in _PHONE_FIELDS.values()} - {""}
        if wanted and not wanted & held:
            return False
    building = payload.get("property_id")
    return building is None or str(building).strip() == str(prospect.get("buildingID"))


#: Propertyware ids are integers; anything else is an unreadable id.
_ID = int_id("id")
