"""Buildium Open API connector.

Wire facts: every request carries ``x-buildium-client-id`` and
``x-buildium-client-secret``; list endpoints page with ``offset``/``limit``
(at most 1000), answer a bare JSON array and report the size of the whole
result set in ``X-Total-Count``; ``lastupdatedfrom``/``lastupdatedto`` filter
by update time on every endpoint syncd reads except ``/v1/users``. The
documented limit is 10 requests per second; errors come as
``{"UserMessage", "ErrorCode", "Errors": [{"Key", "Value"}]}``.

Writes (the OpenAPI document's request messages):

- **Leads** are applicants. A create is ``POST /v1/applicants``
  (``ApplicantPostMessage``: ``FirstName``, ``LastName`` and
  ``SendRentalApplicationEmail`` required, always sent ``false`` so that
  syncd never mails anyone; ``UnitId``, ``Email``, ``PhoneNumbers``
  optional), answered 201 with the applicant. An update is
  ``PUT /v1/applicants/{applicantId}`` (``ApplicantPutMessage``), which
  Buildium documents as a full replacement: the applicant is read first and
  sent back whole with the change. ``notes`` become an applicant note
  (``POST /v1/applicants/{applicantId}/notes``), a second request: if it
  fails, the applicant stands and the write is a partial success.
- **Residents** are tenants. An update is ``PUT /v1/leases/tenants/{tenantId}``
  (``RentalTenantPutMessage``, a full replacement requiring ``FirstName``,
  ``LastName`` and ``Address``): the tenant is read first and sent back
  merged; ``notes`` are its ``Comment``. ``POST /v1/leases/tenants``
  requires a ``LeaseId``, so a resident cannot be created on its own: no
  resident creates.
- Phone numbers go into ``PhoneNumbers`` by kind (``Home``, ``Work``,
  ``Mobile``, ``Fax``); a refusal (a 4xx other than 401, 403 and 429)
  raises :class:`~syncd.errors.WriteRejected` with each of Buildium's
  ``Errors`` (or its ``UserMessage``).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, ClassVar

import structlog

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
    ConnectorError,
    PermanentError,
    PMSBadResponse,
    PMSNotFound,
    RequestRejected,
    WriteRejected,
)

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
    "leads": frozenset({Capability.READ, Capability.CREATE, Capability.UPDATE}),
    # POST /v1/leases/tenants requires a LeaseId: no resident of its own.
    "residents": frozenset({Capability.READ, Capability.UPDATE}),
}

_PHONE_FIELDS = frozenset({"phone_1", "phone_1_type", "phone_2", "phone_2_type"})
_PERSON_FIELDS = frozenset({"first_name", "last_name", "email_1", *_PHONE_FIELDS})
#: ApplicantPostMessage / ApplicantPutMessage, plus notes (a second request).
_LEAD_FIELDS = frozenset({"unit_id", *_PERSON_FIELDS, "notes"})
#: RentalTenantPutMessage: notes are its Comment.
_RESIDENT_FIELDS = frozenset(
    {*_PERSON_FIELDS, "address_1", "address_2", "city", "state", "zip", "notes", "date_of_birth"}
)
_WRITABLE: Mapping[tuple[str, Capability], frozenset[str]] = {
    ("leads", Capability.CREATE): _LEAD_FIELDS,
    ("leads", Capability.UPDATE): _LEAD_FIELDS,
    ("residents", Capability.UPDATE): _RESIDENT_FIELDS,
}
_REQUIRED: Mapping[tuple[str, Capability], frozenset[str]] = {
    # Updates send the record back whole, so its names are always there.
    ("leads", Capability.CREATE): frozenset({"first_name", "last_name"}),
}
_NO_IDEMPOTENCY = (
    "Buildium takes no idempotency key: a create whose answer was lost is looked up "
    "among the applicants updated since it was sent (lastupdatedfrom), by first and "
    "last name, email (else phone) and unit"
)
_PHONE_NOTE = (
    "Buildium keeps one number per kind (Home, Work, Mobile, Fax): OTHER cannot be "
    "written and two numbers of one kind are refused; an update keeps the numbers "
    "it does not change"
)
_LIMITS: Mapping[tuple[str, Capability], Mapping[str, str]] = {
    ("leads", Capability.CREATE): {
        "idempotency": _NO_IDEMPOTENCY,
        "notes": (
            "stored as an applicant note by a second request "
            "(POST /v1/applicants/{id}/notes); if it fails the applicant stays "
            "(a partial success); applicant records carry no notes to read back, and an "
            "applicant found after a lost answer gets no note"
        ),
        "phones": _PHONE_NOTE,
        "property_id": "not writable: an applicant's property is its unit's (unit_id)",
        "email": "no rental application email is ever sent (SendRentalApplicationEmail false)",
    },
    ("leads", Capability.UPDATE): {
        "replacement": (
            "PUT replaces the applicant: syncd reads it first and sends it back "
            "with the change (a change made in between by someone else is overwritten)"
        ),
        "notes": "adds a new applicant note (earlier notes stay); a resent update adds it again",
        "phones": _PHONE_NOTE,
    },
    ("residents", Capability.CREATE): {
        "create": "not supported: Buildium creates a tenant only on a lease (LeaseId required)",
    },
    ("residents", Capability.UPDATE): {
        "replacement": (
            "PUT replaces the tenant: syncd reads it first and sends it back with the "
            "change; Buildium refuses it if the tenant has no address (Address required)"
        ),
        "notes": "the tenant's Comment (replaced, not appended)",
        "phones": _PHONE_NOTE,
    },
}

#: Unified phone type -> PhoneNumbersMessage key.
_PHONE_SLOTS: Mapping[str, str] = {"HOME": "Home", "WORK": "Work", "MOBILE": "Mobile", "FAX": "Fax"}
#: PhoneNumberMessage.Type (as read) -> PhoneNumbersMessage key (as written).
_READ_SLOTS: Mapping[str, str] = {"Home": "Home", "Office": "Work", "Cell": "Mobile", "Fax": "Fax"}
#: The kind a phone number without a type is given: phone_1 mobile, phone_2 home.
_DEFAULT_PHONE_TYPES = ("MOBILE", "HOME")


_BASE_URLS = {
    "production": "https://api.buildium.com",
    "sandbox": "https://apisandbox.buildium.com",
}


def buildium_error_message(body: Any) -> str | None:
    """The text of a Buildium error body: ``UserMessage`` plus each ``Key: Value``."""
    return keyed_error_message(
        body, message="UserMessage", errors="Errors", key="Key", value="Value", code="ErrorCode"
    )


def buildium_error_messages(body: Any) -> list[str]:
    """A Buildium error body as one message per problem: each ``Key: Value``, else the text."""
    return keyed_error_messages(
        body, message="UserMessage", errors="Errors", key="Key", value="Value"
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
    credential_labels: ClassVar[Mapping[str, tuple[str, str]]] = {
        "client_id": (
            "Client ID",
            "From Buildium: Settings → Developer tools → API keys (the key's Client ID)",
        ),
        "client_secret": (
            "Client secret",
            "Shown once by Buildium when the API key is created",
        ),
    }
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
            # Buildium counts requests per second and per API key, whichever
            # sync or write sends them: one bucket per key in this process,
            # spreading them evenly rather than bursting a second's worth at
            # once, which it answers with 429.
            bucket=shared_bucket(
                bucket_key(self.vendor, self.base_url, credentials["client_id"]),
                self.options.rate_limit,
                burst=1,
            ),
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
        """All six models are readable; leads can be created and updated, residents updated."""
        return _CAPABILITIES

    @classmethod
    def writable_fields(cls, model: str, operation: Capability) -> frozenset[str]:
        """The unified fields Buildium's applicant and tenant messages carry."""
        return _WRITABLE.get((model, operation), frozenset())

    @classmethod
    def required_write_fields(cls, model: str, operation: Capability) -> frozenset[str]:
        """A new applicant needs a first and a last name; updates need nothing."""
        return _REQUIRED.get((model, operation), frozenset())

    @classmethod
    def write_limits(cls, model: str, operation: Capability) -> Mapping[str, str]:
        """What Buildium's applicant and tenant writes cannot do."""
        return _LIMITS.get((model, operation), {})

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

    # -- writes ------------------------------------------------------------------

    async def write(self, request: WriteRequest) -> WriteResult:
        """Create or update an applicant, or update a tenant (see the module docstring)."""
        key = (request.model, request.operation)
        if key not in _WRITABLE:
            return await super().write(request)
        if not self._client.is_open:
            raise RuntimeError("BuildiumConnector is not open; use 'async with connector'")
        payload = request.payload
        if request.operation is Capability.UPDATE:
            record_id = _record_id(request)
            if request.model == "residents":
                return await self._update_tenant(record_id, payload)
            return await self._update_applicant(record_id, payload)
        body: dict[str, Any] = {
            "FirstName": payload.get("first_name"),
            "LastName": payload.get("last_name"),
            # Never mail an application form to someone on syncd's behalf.
            "SendRentalApplicationEmail": False,
        }
        _apply_applicant_fields(body, payload)
        phones = _phone_slots([], payload)
        if phones:
            body["PhoneNumbers"] = phones
        response = await self._send("POST", "/v1/applicants", _without_nulls(body))
        applicant = _record(response)
        x_id = _id_of(applicant, response)
        if x_id is None:
            raise PMSBadResponse(
                "POST /v1/applicants: Buildium answered without the applicant's id",
                status=response.status,
            )
        warnings = await self._add_note(x_id, payload)
        return WriteResult(x_id=x_id, raw=applicant, warnings=warnings)

    async def _update_applicant(self, record_id: str, payload: Mapping[str, Any]) -> WriteResult:
        path = f"/v1/applicants/{record_id}"
        current = _record(await self._send("GET", path))
        if set(payload) <= {"notes"}:
            # Only a note: the applicant stays as it is, and the note's
            # failure is the write's.
            await self._send("POST", f"{path}/notes", {"Note": payload.get("notes")})
            return WriteResult(x_id=record_id, raw=current)
        body: dict[str, Any] = {
            "UnitId": current.get("UnitId"),
            "FirstName": current.get("FirstName"),
            "LastName": current.get("LastName"),
            "Email": current.get("Email"),
        }
        if "first_name" in payload:
            body["FirstName"] = payload["first_name"]
        if "last_name" in payload:
            body["LastName"] = payload["last_name"]
        _apply_applicant_fields(body, payload)
        body["PhoneNumbers"] = _phone_slots(current.get("PhoneNumbers"), payload)
        applicant = _record(await self._send("PUT", path, _without_nulls(body)))
        warnings = await self._add_note(record_id, payload)
        return WriteResult(x_id=record_id, raw=applicant, warnings=warnings)

    async def _add_note(self, applicant_id: str, payload: Mapping[str, Any]) -> tuple[str, ...]:
        """Post ``notes`` as an applicant note; a failure is a warning, the applicant stands."""
        note = payload.get("notes")
        if not isinstance(note, str) or not note.strip():
            return ()
        try:
            await self._send("POST", f"/v1/applicants/{applicant_id}/notes", {"Note": note})
        except WriteRejected as exc:
            return tuple(f"the applicant note was not added: {m}" for m in exc.messages)
        except ConnectorError as exc:
            # The applicant exists: failing the write now would make a retry
            # create a second one, so the note is reported, not retried.
            return (f"the applicant note may not have been added: {exc}",)
        return ()

    async def _update_tenant(self, record_id: str, payload: Mapping[str, Any]) -> WriteResult:
        path = f"/v1/leases/tenants/{record_id}"
        current = _record(await self._send("GET", path))
        body = _tenant_put_message(current)
        for field, name in (
            ("first_name", "FirstName"),
            ("last_name", "LastName"),
            ("email_1", "Email"),
            ("notes", "Comment"),
            ("date_of_birth", "DateOfBirth"),
        ):
            if field in payload:
                body[name] = payload[field]
        address_fields = {"address_1", "address_2", "city", "state", "zip"} & set(payload)
        if address_fields:
            address = dict(body.get("Address") or {})
            address.setdefault("Country", "UnitedStates")
            for field, name in (
                ("address_1", "AddressLine1"),
                ("city", "City"),
                ("state", "State"),
                ("zip", "PostalCode"),
            ):
                if field in payload:
                    address[name] = payload[field]
            if "address_2" in payload:
                # The transform reads address_2 as lines 2 and 3 joined: the
                # value written replaces both.
                address["AddressLine2"] = payload["address_2"]
                address["AddressLine3"] = None
            body["Address"] = _without_nulls(address)
        body["PhoneNumbers"] = _phone_slots(current.get("PhoneNumbers"), payload)
        tenant = _record(await self._send("PUT", path, _without_nulls(body)))
        return WriteResult(x_id=record_id, raw=tenant)

    async def _send(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> JsonResponse:
        """One request of a write; a refusal (400, 404, 409, 415, 422) raises WriteRejected."""
        try:
            return await self._client.request(method, path, json=body)
        except (RequestRejected, PMSNotFound) as exc:
            messages = buildium_error_messages(exc.body)
            raise WriteRejected(messages or [str(exc)], status=exc.status, url=exc.url) from exc

    async def find_written(self, request: WriteRequest, since: datetime) -> str | None:
        """The applicant a lost create made: updated since ``since``, matching its natural key.

        Lists ``/v1/applicants`` with ``lastupdatedfrom`` (a new applicant's
        last update is its creation; the caller's ``since`` already allows
        for clock drift), newest first, and matches first and last name,
        then email if given (else a phone number) and the unit if given,
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
            "orderby": "Id desc",
            "lastupdatedfrom": format_timestamp(since),
            "limit": _MAX_LIMIT,
        }
        offset = 0
        while True:
            records, total = await self.fetch_page("/v1/applicants", params, offset)
            for record in records:
                if isinstance(record, dict) and _matches(record, request.payload):
                    return str(record.get("Id"))
            offset += len(records)
            if not records or (total is not None and offset >= total):
                return None


def _record_id(request: WriteRequest) -> str:
    x_id = (request.x_id or "").strip()
    if not x_id.isdigit():
        raise WriteRejected([f"{request.model} id {request.x_id!r}: Buildium ids are integers"])
    return x_id


def _record(response: JsonResponse) -> dict[str, Any]:
    body = response.body
    return body if isinstance(body, dict) else {}


def _id_of(record: Mapping[str, Any], response: JsonResponse) -> str | None:
    """The created record's id: from the body, else the ``Location`` header's last segment."""
    value = record.get("Id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    location = response.headers.get("Location") or ""
    tail = location.rstrip("/").rsplit("/", 1)[-1]
    return tail if tail.isdigit() else None


def _apply_applicant_fields(body: dict[str, Any], payload: Mapping[str, Any]) -> None:
    if "unit_id" in payload:
        unit = payload["unit_id"]
        if unit is None or unit == "":
            body["UnitId"] = None
        elif str(unit).strip().isdigit():
            body["UnitId"] = int(str(unit).strip())
        else:
            raise WriteRejected([f"unit_id {unit!r}: Buildium unit ids are integers"])
    if "email_1" in payload:
        body["Email"] = payload["email_1"]


def _phone_slots(current: Any, payload: Mapping[str, Any]) -> dict[str, str]:
    """A ``PhoneNumbersMessage``: the numbers held (``current``) with the payload's applied.

    phone_1 and phone_2 are the first and second numbers held. One the
    payload sets takes its type's slot (without a type: the slot it held,
    else mobile for phone_1 and home for phone_2); null or "" removes it.
    Numbers the payload leaves alone keep their slot (a Personal or Other
    one, which has none to write, takes a free one). The slots come in
    phone order. OTHER, or two numbers in one slot, is refused.
    """
    held: list[tuple[str | None, str]] = []
    for phone in current if isinstance(current, list) else ():
        if isinstance(phone, Mapping) and phone.get("Number"):
            held.append((_READ_SLOTS.get(str(phone.get("Type"))), str(phone["Number"])))
    chosen: dict[int, tuple[str, str] | None] = {}
    for position, (number_key, type_key) in enumerate(
        (("phone_1", "phone_1_type"), ("phone_2", "phone_2_type"))
    ):
        if number_key not in payload and type_key not in payload:
            continue
        old = held[position] if position < len(held) else None
        number = payload[number_key] if number_key in payload else (old[1] if old else None)
        if number is None or not str(number).strip():
            chosen[position] = None
            continue
        kind = payload.get(type_key)
        if kind:
            slot = _PHONE_SLOTS.get(str(kind).upper())
            if slot is None:
                raise WriteRejected(
                    [f"{type_key}: Buildium takes HOME, MOBILE, WORK or FAX numbers, not {kind}"]
                )
        elif old is not None and old[0] is not None:
            slot = old[0]
        else:
            slot = _PHONE_SLOTS[_DEFAULT_PHONE_TYPES[position]]
        if any(entry is not None and entry[0] == slot for entry in chosen.values()):
            raise WriteRejected([f"{type_key}: Buildium holds one {slot} number"])
        chosen[position] = (slot, str(number).strip())
    taken = {entry[0] for entry in chosen.values() if entry is not None}
    ordered: list[tuple[str | None, str]] = []
    for position in range(max([len(held), *(p + 1 for p in chosen)])):
        if position in chosen:
            entry = chosen[position]
            if entry is not None:
                ordered.append(entry)
        elif position < len(held):
            slot, number = held[position]
            if slot in taken:
                raise WriteRejected(
                    [f"phone numbers: Buildium holds one {slot} number and {number} is one"]
                )
            ordered.append((slot, number))
    slots: dict[str, str] = {}
    for held_slot, number in ordered:
        free = [s for s in ("Home", "Work", "Mobile", "Fax") if s not in taken]
        slot = held_slot if held_slot is not None else (free[0] if free else None)
        if slot is None:
            continue
        taken.add(slot)
        slots[slot] = number
    return slots


def _tenant_put_message(tenant: Mapping[str, Any]) -> dict[str, Any]:
    """A ``RentalTenantPutMessage`` that leaves ``tenant`` (a ``TenantMessage``) as it is."""
    body: dict[str, Any] = {
        name: tenant.get(name)
        for name in (
            "FirstName",
            "LastName",
            "Email",
            "AlternateEmail",
            "DateOfBirth",
            "Comment",
            "TaxId",
            "MailingPreference",
        )
    }
    contact = tenant.get("EmergencyContact")
    if isinstance(contact, Mapping):
        body["EmergencyContact"] = _without_nulls(
            {k: contact.get(k) for k in ("Name", "RelationshipDescription", "Phone", "Email")}
        )
    for name in ("Address", "AlternateAddress"):
        address = tenant.get(name)
        if isinstance(address, Mapping) and any(address.values()):
            body[name] = _without_nulls(
                {
                    k: address.get(k)
                    for k in (
                        "AddressLine1",
                        "AddressLine2",
                        "AddressLine3",
                        "City",
                        "State",
                        "PostalCode",
                        "Country",
                    )
                }
            )
    return body


def _without_nulls(body: Mapping[str, Any]) -> dict[str, Any]:
    # Buildium sets what a PUT leaves out to null: sending null says the same.
    return {k: v for k, v in body.items() if v is not None}


def _folded(value: Any) -> str:
    return " ".join(str(value).split()).casefold() if value is not None else ""


def _digits(value: Any) -> str:
    return "".join(c for c in str(value or "") if c.isdigit())


def _matches(applicant: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    """Whether ``applicant`` carries the natural key of the create ``payload``."""
    for field, name in (("first_name", "FirstName"), ("last_name", "LastName")):
        if _folded(payload.get(field)) != _folded(applicant.get(name)):
            return False
    if payload.get("email_1"):
        if _folded(payload["email_1"]) != _folded(applicant.get("Email")):
            return False
    else:
        wanted = {_digits(payload.get(k)) for k in ("phone_1", "phone_2")} - {""}
        held = {
            _digits(p.get("Number"))
            for p in applicant.get("PhoneNumbers") or ()
            if isinstance(p, Mapping)
        }
        if wanted and not wanted & held:
            return False
    unit = payload.get("unit_id")
    return not unit or str(unit).strip() == str(applicant.get("UnitId"))


#: Buildium ids are integers; anything else is an unreadable id.
_ID = int_id("Id")
