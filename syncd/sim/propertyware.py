"""A Propertyware simulator: the Open API's wire format over a seeded world.

Served under ``/pw/api/rest/v1`` (the OpenAPI document's ``servers`` entry;
its overview text once writes ``/pw/api/v1/rest``, which answers 404 here as
any path without the documented version does):

- lists ``/buildings``, ``/units``, ``/contacts``, ``/leases``, ``/prospects``
  and single records ``/<list>/{id}``; ``/leases/{leaseId}/contacts``;
  ``/leases/statuses`` and ``/prospects/statuses``;
- auth by ``x-propertyware-client-id``, ``-client-secret`` and ``-system-id``
  (all three, else 401);
- ``offset`` (zero-based) / ``limit`` (default 100; above 500 it is served as
  500, as documented; below 1 or not a number, 400), total in
  ``X-Total-Count``; the parameter names are case-sensitive (``Limit`` is a
  404, as documented); ``orderby`` with each list's documented sortable
  fields (case-insensitive names, ``asc``/``desc``);
- filters: ``lastModifiedDateTimeStart``/``End`` (inclusive,
  ``YYYY-MM-DDTHH:MM:SS`` with ``Z`` or an offset) on every list, and each
  list's documented ones (``buildingID``, ``unitID``, ``portfolioID``,
  ``status``, ``type``, ``vacant``, ``publishedForRent``, ``leaseID``, the
  lease date ranges, ``includeDeactivated``); a malformed value is a 400
  naming the parameter. Deactivated buildings, and the units of one, are
  left out unless ``includeDeactivated=true``; ``type`` on units and
  prospects matches nothing (the simulated records carry no type);
- errors as ``ErrorResponse`` ``{"errorCode", "errors": [{"key",
  "message"}], "userMessage"}``; 429 in that format, without ``Retry-After``
  (none is documented).

Writes (BETA in the document): ``POST /prospects`` takes a ``SaveProspect``
and answers 201 with the ``Prospect`` (no ``Location`` is documented);
``PUT /contacts/{contactID}`` takes a ``SaveContact`` and answers 200 with
the ``Contact``. Bodies must be ``application/json`` (else 415); a missing
or malformed field is a 400 naming it in ``errors`` (the wording is the
simulator's: Propertyware documents none); a building that does not exist
is the 404 "Entity not found." the document lists for ``POST /prospects``.
A prospect needs at least one contact, and its ``status`` must be one of
``/prospects/statuses`` [both UNCONFIRMED]. A ``SaveContact`` replaces the
contact's fields (what it leaves out is cleared, its two flags excepted)
[UNCONFIRMED]. What the world holds (names, email, phones, the wishes) is
stored there; the rest of a body (comments, a free-text ``source`` that
names none of the building's lead sources, pets, a contact's other phone,
fax and address ...) is kept beside it and rendered on top.

Data comes from :class:`~syncd.sim.world.World`: world properties are
buildings (one portfolio each), residents are ``TENANT`` contacts, leads are
prospects (each with one ``PROSPECT`` contact, also listed by
``/contacts``). Ids are the world's ids plus a block offset per model, so an
id of one model is never valid for another. Decisions where the documents
say nothing: the default order is by id; prospect and lease status names
are an account's configuration in Propertyware, so the simulator serves a
plausible set (also from the ``statuses`` endpoints); a lease lists its
contacts by name, not primary first; fields without a value are left out
(the schemas declare no ``nullable``).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

import orjson
from aiohttp import web
from multidict import MultiMapping

from syncd.sim.server import (
    Handler,
    Record,
    Renderer,
    SimError,
    Simulator,
    json_response,
)
from syncd.sim.world import Entity, World

__all__ = ["API_ROOT", "PropertywareRenderer"]

#: The path prefix of every Propertyware endpoint.
API_ROOT: Final = "/pw/api/rest/v1"

_DEFAULT_LIMIT = 100
_MAX_LIMIT = 500

# Each model's ids live in their own block; the world's ids are added to it.
_BLOCK = 100_000_000
_ID_BASE: Final[Mapping[str, int]] = {
    "properties": 1 * _BLOCK,
    "units": 2 * _BLOCK,
    "residents": 3 * _BLOCK,
    "leases": 4 * _BLOCK,
    "leads": 5 * _BLOCK,
}
_PROSPECT_CONTACT_BASE = 6 * _BLOCK
_PORTFOLIO_BASE = 7 * _BLOCK
_USER_BASE = 8 * _BLOCK
_SERVED_MODELS: Final = ("properties", "units", "residents", "leases", "leads")

_COUNTRY = "United States"
_STAMP = "%Y-%m-%dT%H:%M:%SZ"

#: World property type → Building.propertyType.
_PROPERTY_TYPES: Final[Mapping[str, str]] = {
    "MULTI_FAMILY": "APARTMENT",
    "SINGLE_FAMILY": "HOUSE",
    "STUDENT": "STUDENT",
    "SENIOR": "SENIOR",
    "CONDO": "CONDO",
}
#: World lead status → prospect status (an account's own list in Propertyware).
_PROSPECT_STATUSES: Final[Mapping[str, str]] = {
    "NEW": "New",
    "CONTACTED": "Active",
    "TOURED": "Showing",
    "APPLIED": "Applied",
    "LOST": "Lost",
    "CONVERTED": "Leased",
}
#: Lease statuses served, with whether each counts as active (LeaseStatus.defineActive).
_LEASE_STATUSES: Final[Mapping[str, bool]] = {
    "Active": True,
    "Active - Notice Given": True,
    "Eviction": True,
    "Draft": False,
    "Terminated": False,
}
_CONTACT_TYPES: Final = ("TENANT", "PROSPECT", "OWNER", "VENDOR", "OTHER")
_PHONE_FIELDS: Final[Mapping[str, str]] = {
    "MOBILE": "mobilePhone",
    "HOME": "homePhone",
    "WORK": "workPhone",
}
#: World lead status of each prospect status (what a SaveProspect's status sets).
_WORLD_LEAD_STATUS: Final[Mapping[str, str]] = {v: k for k, v in _PROSPECT_STATUSES.items()}
_PHONE_MAX = 22
_NAME_MAX = 30
_GENDERS: Final = ("UNKNOWN", "MALE", "FEMALE", "DECLINE_TO_STATE")
#: Countries whose addresses need street, city, state and postal code (SaveAddress).
_FULL_ADDRESS_COUNTRIES: Final = ("united states", "usa", "us", "canada")
_SAVE_ADDRESS_KEYS: Final = (
    "address",
    "addressCont",
    "city",
    "country",
    "postalCode",
    "stateRegion",
)
#: SaveContact text fields kept beside the world (it holds names, email, phones, birth date).
_CONTACT_EXTRA_TEXT: Final = (
    "altEmail", "category", "comments", "company", "fax", "jobTitle", "nameOnCheck",
    "otherPhone", "salutation", "suffix",
)  # fmt: skip
_CONTACT_FLAGS: Final = ("allowESignature", "namedOnLease")
#: SaveProspect fields kept beside the world, by kind.
_PROSPECT_EXTRA_TEXT: Final = (
    "currentHomeType", "neighborhoodDesired", "petType", "petWeights",
    "preferredContactMethod", "propertyCountry", "reasonForMoving",
    "timeAtCurrentResidence", "type", "typeOfInquiry",
)  # fmt: skip
_PROSPECT_EXTRA_NUMBERS: Final = ("currentRentMortgage", "propertyNumberBathrooms", "rentMin")
_PROSPECT_EXTRA_INTEGERS: Final = ("numberOfPets", "propertyNumberBedrooms")
_EXTRA_CONTACT_BASE = 9 * _BLOCK

# Documented sortable fields per list (orderby name → record field).
_COMMON_SORT: Final[Mapping[str, str]] = {
    "createddate": "createdDateTime",
    "lastmodifieddatetime": "lastModifiedDateTime",
    "id": "id",
}
_PLACE_SORT: Final[Mapping[str, str]] = {
    **_COMMON_SORT,
    "idnumber": "idNumber",
    "name": "name",
    "abbreviation": "abbreviation",
}
_LEASE_SORT: Final[Mapping[str, str]] = {
    "startdate": "startDate",
    "idnumber": "idNumber",
    "scheduledmoveoutdate": "scheduleMoveOutDate",
    "enddate": "endDate",
    "lastmodifieddatetime": "lastModifiedDateTime",
    "status": "status",
    "moveoutdate": "moveOutDate",
    "id": "id",
    "moveindate": "moveInDate",
}
_CONTACT_SORT: Final[Mapping[str, str]] = {
    **_COMMON_SORT,
    "firstname": "firstName",
    "lastname": "lastName",
    "email": "email",
    "type": "type",
}
_PROSPECT_SORT: Final[Mapping[str, str]] = {**_COMMON_SORT, "type": "type", "status": "status"}

# What a "malformed" fault breaks in the second corrupted record of a page.
_CORRUPTIONS: Final[Mapping[str, tuple[str, Any]]] = {
    "properties": ("yearBuilt", "nineteen-ninety"),
    "units": ("targetRent", "call for price"),
    "residents": ("birthDate", "2024-02-31"),
    "leases": ("baseRent", "n/a"),
    "leads": ("lastModifiedDateTime", "2024-02-31T25:61:00Z"),
}

_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(Z|[+-]\d{2}:\d{2})"
)
_INTEGER = re.compile(r"-?[0-9]+")
_ORDER_TERM = re.compile(r"([A-Za-z]+)(?:\s+(asc|desc))?", re.IGNORECASE)
_PAGING_PARAMS: Final = ("offset", "limit")

_ERROR_CODES: Final[Mapping[int, str]] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
}


def _bad(key: str, message: str) -> SimError:
    return SimError(400, "The request is invalid.", code="BAD_REQUEST", details=[(key, message)])


async def _json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; 415 without a JSON content type, 400 if unreadable."""
    if request.content_type != "application/json":
        raise SimError(
            415,
            "The Content-Type header is missing or unsupported; send application/json.",
        )
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise _bad("body", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _bad("body", "The request body must be a JSON object.")
    return body


class _Fields:
    """Validates one request body, collecting every problem as (key, message)."""

    def __init__(self, body: Mapping[str, Any], prefix: str = "") -> None:
        self.body = body
        self.prefix = prefix
        self.errors: list[tuple[str, str]] = []

    def fail(self, key: str, message: str) -> None:
        """Record a problem with ``key``."""
        self.errors.append((self.prefix + key, message))

    def text(
        self, key: str, *, required: bool = False, max_length: int | None = None
    ) -> str | None:
        """A string field (``required``: present and not blank)."""
        value = self.body.get(key)
        if value is None or (required and isinstance(value, str) and not value.strip()):
            if required:
                self.fail(key, "may not be empty")
            return None
        if not isinstance(value, str):
            self.fail(key, "must be a string")
            return None
        if max_length is not None and not 1 <= len(value) <= max_length:
            self.fail(key, f"size must be between 1 and {max_length}")
        return value

    def long(self, key: str) -> int | None:
        """An integer field."""
        value = self.body.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, "must be an integer")
            return None
        return value

    def number(self, key: str) -> float | None:
        """A number field (not negative: counts and amounts)."""
        value = self.body.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            self.fail(key, "must be a number, 0 or more")
            return None
        return float(value)

    def flag(self, key: str) -> bool | None:
        """A boolean field."""
        value = self.body.get(key)
        if value is not None and not isinstance(value, bool):
            self.fail(key, "must be true or false")
            return None
        return value

    def date(self, key: str) -> str | None:
        """A ``YYYY-MM-DD`` date field."""
        value = self.text(key)
        if value is None:
            return None
        try:
            datetime.strptime(value, "%Y-%m-%d")
        except ValueError:
            self.fail(key, f"'{value}' is not a valid date (YYYY-MM-DD)")
            return None
        return value

    def nested(self, key: str, value: Any = None) -> _Fields | None:
        """The object at ``key`` (or ``value``), whose problems are named ``key.child``."""
        value = self.body.get(key) if value is None else value
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(key, "must be an object")
            return None
        child = _Fields(value, f"{self.prefix}{key}.")
        child.errors = self.errors
        return child

    def check(self) -> None:
        """Raise the 400 naming every problem found, if any."""
        if self.errors:
            raise SimError(400, "The request is invalid.", code="BAD_REQUEST", details=self.errors)


def _save_address(fields: _Fields | None) -> Record | None:
    """A valid ``SaveAddress`` as an ``Address`` (empty parts left out)."""
    if fields is None:
        return None
    values = {key: fields.text(key) for key in _SAVE_ADDRESS_KEYS}
    country = values["country"]
    if country is None or not country.strip():
        fields.fail("country", "may not be empty")
    elif country.strip().lower() in _FULL_ADDRESS_COUNTRIES:
        for key in ("address", "city", "postalCode", "stateRegion"):
            if not values[key]:
                fields.fail(key, f"may not be empty when country is {country}")
    return _compact(values)


def _contact_fields(fields: _Fields, *, limits: bool) -> Record:
    """A SaveContact's or SaveProspectContact's person (``limits``: SaveContact's sizes)."""
    name_max = _NAME_MAX if limits else None
    phone_max = _PHONE_MAX if limits else None
    values: Record = {
        "firstName": fields.text("firstName", required=True, max_length=name_max),
        "lastName": fields.text("lastName", required=True, max_length=name_max),
        "email": fields.text("email"),
        **{
            key: fields.text(key, max_length=phone_max)
            for key in ("mobilePhone", "homePhone", "workPhone", "otherPhone")
        },
        "address": _save_address(fields.nested("address")),
    }
    if values["email"] and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", values["email"]) is None:
        fields.fail("email", "must be a well-formed email address")
    return values


def _world_phones(values: Mapping[str, Any]) -> list[dict[str, str]]:
    """The world's phones of a contact's mobile, home and work numbers."""
    return [
        {"type": kind, "number": values[field]}
        for kind, field in _PHONE_FIELDS.items()
        if values.get(field)
    ]


def _stamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(_STAMP)


def _money(cents: int | None) -> float | None:
    return None if cents is None else cents / 100


def _compact(record: Mapping[str, Any]) -> Record:
    """``record`` without its empty values (Propertyware's schemas declare no nulls)."""
    return {k: v for k, v in record.items() if v is not None}


def _parse_datetime(name: str, raw: str) -> float:
    """A ``date-time`` query value (offset required) as epoch seconds."""
    match = _DATETIME.fullmatch(raw.strip())
    if match is None:
        raise _bad(name, f"'{raw}' is not a valid date-time (YYYY-MM-DDTHH:MM:SSZ).")
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _bad(name, f"'{raw}' is not a valid date-time.") from None
    return moment.timestamp()


def _parse_bool(name: str, raw: str) -> bool:
    folded = raw.strip().lower()
    if folded not in ("true", "false"):
        raise _bad(name, f"'{raw}' is not a valid boolean (true or false).")
    return folded == "true"


def _parse_long(name: str, raw: str) -> int:
    if _INTEGER.fullmatch(raw.strip()) is None:
        raise _bad(name, f"'{raw}' is not a valid integer.")
    return int(raw)


def _parse_paging(query: MultiMapping[str]) -> tuple[int, int]:
    for key in query:
        if key.lower() in _PAGING_PARAMS and key not in _PAGING_PARAMS:
            # Documented: misspelt paging parameter names are a 404.
            raise SimError(404, f"Unknown request parameter '{key}'.")
    offset, limit = 0, _DEFAULT_LIMIT
    raw = query.get("offset")
    if raw is not None:
        if _INTEGER.fullmatch(raw.strip()) is None or int(raw) < 0:
            raise _bad("offset", f"'{raw}' is not a valid offset (an integer from 0).")
        offset = int(raw)
    raw = query.get("limit")
    if raw is not None:
        if _INTEGER.fullmatch(raw.strip()) is None or int(raw) < 1:
            raise _bad("limit", f"'{raw}' is not a valid limit (an integer from 1 to 500).")
        # Documented: a limit above the maximum is served as the maximum.
        limit = min(int(raw), _MAX_LIMIT)
    return offset, limit


@dataclass(frozen=True, slots=True)
class _Order:
    """A parsed ``orderby``: record fields with their direction."""

    terms: tuple[tuple[str, bool], ...]  # (record field, descending)

    @property
    def by_id(self) -> bool | None:
        """True/False: by id descending/ascending only; None: by other fields."""
        if len(self.terms) == 1 and self.terms[0][0] == "id":
            return self.terms[0][1]
        return None


def _parse_order(raw: str | None, sortable: Mapping[str, str]) -> _Order:
    if raw is None or not raw.strip():
        return _Order((("id", False),))
    terms: list[tuple[str, bool]] = []
    for part in raw.split(","):
        match = _ORDER_TERM.fullmatch(part.strip())
        field = sortable.get(match.group(1).lower()) if match else None
        if match is None or field is None:
            known = ", ".join(sortable)
            raise _bad("orderby", f"'{part.strip()}' is not a sortable field (sortable: {known}).")
        terms.append((field, (match.group(2) or "asc").lower() == "desc"))
    return _Order(tuple(terms))


class _Key:
    """A sort key of one field value: missing values first, text case-insensitively."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value.casefold() if isinstance(value, str) else value

    def __lt__(self, other: _Key) -> bool:
        if self.value is None or other.value is None:
            return self.value is None and other.value is not None
        return bool(self.value < other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


def _sort(records: list[Record], order: _Order) -> list[Record]:
    # Stable sorts from the last term to the first give the combined order;
    # ties left after every term stay in id order.
    out = sorted(records, key=lambda r: _Key(r.get("id")))
    for field, descending in reversed(order.terms):
        out.sort(key=_field_key(field), reverse=descending)
    return out


def _field_key(field: str) -> Callable[[Record], _Key]:
    return lambda record: _Key(record.get(field))


def _with_custom_fields(render: Callable[[Entity], Record]) -> Callable[[Entity], Record]:
    """``render`` plus an empty ``customFields`` (the simulated account defines none)."""
    return lambda entity: {**render(entity), "customFields": []}


class _Lookups:
    """World look-ups one request needs, made at most once per request."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._properties: dict[int, Entity] | None = None
        self._employees: dict[int, Entity] | None = None
        self._staff: list[str] | None = None
        self._occupied: set[int] | None = None
        self._listed: set[int] | None = None

    def property(self, pid: int | None) -> Entity | None:
        """The world property ``pid`` (None: none)."""
        if pid is None:
            return None
        if self._properties is None:
            self._properties = {e["id"]: e for e in self.world.all("properties")}
        return self._properties.get(pid)

    def employee(self, eid: int | None) -> Entity | None:
        """The world employee ``eid`` (None: none)."""
        if eid is None:
            return None
        if self._employees is None:
            self._employees = {e["id"]: e for e in self.world.all("employees")}
        return self._employees.get(eid)

    def staff_name(self, index: int) -> str | None:
        """One of the account's users by ``index`` (who created or changed a record)."""
        if self._staff is None:
            self._staff = [
                f"{e['first_name']} {e['last_name']}" for e in self.world.all("employees")
            ]
        return self._staff[index % len(self._staff)] if self._staff else None

    def occupied_properties(self) -> set[int]:
        """Ids of the properties with an occupied unit."""
        if self._occupied is None:
            self._occupied = {
                u["property_id"] for u in self.world.all("units") if not u["is_vacant"]
            }
        return self._occupied

    def listed_properties(self) -> set[int]:
        """Ids of the properties with a unit published for rent."""
        if self._listed is None:
            self._listed = {u["property_id"] for u in self.world.all("units") if u["is_listed"]}
        return self._listed


Predicate = Callable[[Entity], bool]
#: Builds a predicate from a query value (raising a 400 for a malformed one).
FilterFn = Callable[[str, "_Lookups"], Predicate]


@dataclass(frozen=True, slots=True)
class _Resource:
    """One list endpoint and its single-record sibling."""

    path: str
    model: str
    param: str  # the single-record path parameter
    sortable: Mapping[str, str]
    filters: Mapping[str, FilterFn]


def _unit_filter(name: str) -> FilterFn:
    def build(raw: str, _: _Lookups) -> Predicate:
        wanted = _parse_long(name, raw) - _ID_BASE["units"]
        return lambda e: e.get("unit_id") == wanted

    return build


def _building_filter(name: str) -> FilterFn:
    def build(raw: str, _: _Lookups) -> Predicate:
        wanted = _parse_long(name, raw) - _ID_BASE["properties"]
        return lambda e: e.get("property_id") == wanted

    return build


def _portfolio_filter(name: str, *, own: bool = False) -> FilterFn:
    """Portfolios are one per building: portfolio N holds building N."""

    def build(raw: str, _: _Lookups) -> Predicate:
        wanted = _parse_long(name, raw) - _PORTFOLIO_BASE
        key = "id" if own else "property_id"
        return lambda e: e.get(key) == wanted

    return build


def _bool_filter(name: str, test: Callable[[Entity, _Lookups], bool]) -> FilterFn:
    def build(raw: str, lookups: _Lookups) -> Predicate:
        wanted = _parse_bool(name, raw)
        return lambda e: test(e, lookups) is wanted

    return build


def _equals_filter(compute: Callable[[Entity], Any]) -> FilterFn:
    def build(raw: str, _: _Lookups) -> Predicate:
        return lambda e: compute(e) == raw

    return build


def _never(_raw: str, _: _Lookups) -> Predicate:
    """A filter on a field the simulator never fills: nothing matches."""
    return lambda e: False


def lease_status(entity: Entity) -> str:
    """The Propertyware status of a world lease."""
    status, lid = entity["status"], int(entity["id"])
    if status == "PAST":
        return "Terminated"
    if status == "FUTURE":
        return "Draft"
    if entity.get("balance_cents") and lid % 23 == 0:
        return "Eviction"
    return "Active - Notice Given" if lid % 9 == 0 else "Active"


def prospect_status(entity: Entity) -> str:
    """The Propertyware status of a world lead."""
    return _PROSPECT_STATUSES.get(str(entity["status"]), "New")


class PropertywareRenderer(Renderer):
    """Propertyware's Open API over a :class:`~syncd.sim.world.World`."""

    name: ClassVar[str] = "propertyware"
    credential_keys: ClassVar[tuple[str, ...]] = ("client_id", "client_secret", "system_id")
    #: The documents' (unpublished) figure: 10 requests per second.
    default_rate_limit: ClassVar[float] = 10.0

    def __init__(self, world: World, credentials: Mapping[str, str]) -> None:
        super().__init__(world, credentials)
        # What client writes set that the world holds no key for, by world id:
        # a tenant contact's SaveContact fields, a prospect's SaveProspect ones.
        self.contact_extra: dict[int, Record] = {}
        self.prospect_extra: dict[int, Record] = {}
        self._next_extra_contact = _EXTRA_CONTACT_BASE
        self._resources = (
            _Resource(
                "/buildings",
                "properties",
                "buildingID",
                _PLACE_SORT,
                {
                    "portfolioID": _portfolio_filter("portfolioID", own=True),
                    "leaseID": self._lease_building_filter,
                    "vacant": _bool_filter(
                        "vacant", lambda e, lk: e["id"] not in lk.occupied_properties()
                    ),
                    "publishedForRent": _bool_filter(
                        "publishedForRent", lambda e, lk: e["id"] in lk.listed_properties()
                    ),
                },
            ),
            _Resource(
                "/units",
                "units",
                "unitID",
                _PLACE_SORT,
                {
                    "buildingID": _building_filter("buildingID"),
                    "portfolioID": _portfolio_filter("portfolioID"),
                    "vacant": _bool_filter("vacant", lambda e, _: bool(e["is_vacant"])),
                    "publishedForRent": _bool_filter(
                        "publishedForRent", lambda e, _: bool(e["is_listed"])
                    ),
                    "type": _never,
                },
            ),
            _Resource("/contacts", "residents", "contactID", _CONTACT_SORT, {}),
            _Resource(
                "/leases",
                "leases",
                "leaseId",
                _LEASE_SORT,
                {
                    "buildingID": _building_filter("buildingID"),
                    "portfolioID": _portfolio_filter("portfolioID"),
                    "unitID": _unit_filter("unitID"),
                    "status": _equals_filter(lease_status),
                    **{name: self._lease_date_filter(name) for name in _LEASE_DATE_FILTERS},
                },
            ),
            _Resource(
                "/prospects",
                "leads",
                "prospectID",
                _PROSPECT_SORT,
                {
                    "buildingID": _building_filter("buildingID"),
                    "portfolioID": _portfolio_filter("portfolioID"),
                    "status": _equals_filter(prospect_status),
                    "type": _never,
                },
            ),
        )

    # -- Renderer hooks ---------------------------------------------------------

    def routes(self, sim: Simulator) -> Iterable[tuple[str, str, Handler]]:
        """Every list, single-record and status endpoint, under ``/pw/api/rest/v1``."""
        # Fixed paths before the {id} ones, so "statuses" is never read as an id.
        yield "GET", f"{API_ROOT}/leases/statuses", self._lease_statuses
        yield "GET", f"{API_ROOT}/prospects/statuses", self._prospect_statuses
        for resource in self._resources:
            yield "GET", API_ROOT + resource.path, self._list_handler(sim, resource)
            single = f"{API_ROOT}{resource.path}/{{{resource.param}}}"
            yield "GET", single, self._single_handler(sim, resource)
        yield "GET", f"{API_ROOT}/leases/{{leaseId}}/contacts", self._lease_contacts
        yield "POST", f"{API_ROOT}/prospects", self._create_prospect
        yield "PUT", f"{API_ROOT}/contacts/{{contactID}}", self._update_contact

    async def authenticate(self, request: web.Request) -> str:
        """The client id when all three headers match; else the documented 401."""
        headers = request.headers
        for key, header in (
            ("client_id", "x-propertyware-client-id"),
            ("client_secret", "x-propertyware-client-secret"),
            ("system_id", "x-propertyware-system-id"),
        ):
            if headers.get(header) != self.credentials[key]:
                raise SimError(
                    401,
                    "The API key couldn't be authorized.",
                    code="UNAUTHORIZED",
                    details=[(header, "missing or not valid for this organization")],
                )
        return self.credentials["client_id"]

    def error(self, error: SimError, headers: Mapping[str, str] | None = None) -> web.Response:
        """``ErrorResponse``: ``errorCode``, ``errors`` [{key, message}], ``userMessage``."""
        code = _ERROR_CODES.get(error.status) or (
            "INTERNAL_SERVER_ERROR" if error.status >= 500 else "ERROR"
        )
        body = {
            "errorCode": code,
            "errors": [{"key": key, "message": message} for key, message in error.details],
            "userMessage": error.message,
        }
        return json_response(body, status=error.status, headers=headers)

    def throttled(self, retry_after: float | None) -> SimError:
        """The (unpublished) rate limit's 429: retry after a short interval."""
        return SimError(
            429,
            "Too many requests against the API too quickly; retry after a short interval.",
            code="TOO_MANY_REQUESTS",
        )

    def corrupt(self, model: str, records: list[Record]) -> list[Record]:
        """Two records broken: the first's ``id`` becomes text, the second's typed field."""
        out = list(records)
        if out:
            out[0] = {**out[0], "id": "not-a-number"}
        if len(out) > 1:
            field, value = _CORRUPTIONS[model]
            out[1] = {**out[1], field: value}
        return out

    def x_id(self, model: str, entity_id: int) -> str:
        """The world id plus the model's block offset."""
        return str(_ID_BASE[model] + entity_id)

    def models(self) -> Sequence[str]:
        """Buildings, units, tenant contacts, leases and prospects."""
        return _SERVED_MODELS

    def mutable_models(self) -> Sequence[str]:
        """The served models (a world's floor plans or users are invisible here)."""
        return _SERVED_MODELS

    # -- handlers ----------------------------------------------------------------

    def _list_handler(self, sim: Simulator, resource: _Resource) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            query = request.query
            offset, limit = _parse_paging(query)
            order = _parse_order(query.get("orderby"), resource.sortable)
            custom = self._custom_fields(query, default=False)
            lookups = _Lookups(self.world)
            since, until = self._window(query)
            predicates = [
                build(raw, lookups)
                for name, build in resource.filters.items()
                if (raw := query.get(name)) is not None
            ]
            deactivated = False
            if resource.model in ("properties", "units"):
                raw = query.get("includeDeactivated")
                deactivated = raw is not None and _parse_bool("includeDeactivated", raw)
            contact_type: str | None = None
            if resource.model == "residents":
                contact_type = query.get("type")
                if contact_type is not None and contact_type not in _CONTACT_TYPES:
                    raise _bad(
                        "type", f"'{contact_type}' is not one of {', '.join(_CONTACT_TYPES)}."
                    )
            sim.drift(request, resource.model)
            items, render = self._items(
                resource.model, lookups, contact_type, since=since, until=until
            )
            if resource.model in ("properties", "units") and not deactivated:
                items = [e for e in items if self._active(resource.model, e, lookups)]
            for test in predicates:
                items = [e for e in items if test(e)]
            if custom:
                render = _with_custom_fields(render)
            descending = order.by_id
            if descending is False:
                chosen, draw = items, render
            elif descending is True:
                chosen, draw = items[::-1], render
            else:
                chosen, draw = _sort([render(e) for e in items], order), _same
            records, total = sim.page(request, resource.model, chosen, offset, limit, draw)
            return json_response(records, headers={"X-Total-Count": str(total)})

        return handle

    def _single_handler(self, sim: Simulator, resource: _Resource) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            raw = request.match_info[resource.param]
            pw_id = _parse_long(resource.param, raw)
            custom = self._custom_fields(request.query, default=True)
            sim.drift(request, resource.model)
            record = self._one(resource.model, pw_id, _Lookups(self.world))
            if record is None:
                raise SimError(404, f"No {resource.path[1:-1]} with id {raw} exists.")
            if custom:
                record = {**record, "customFields": []}
            return json_response(self._faulted(sim, request, resource.model, record))

        return handle

    async def _lease_contacts(self, request: web.Request) -> web.StreamResponse:
        raw = request.match_info["leaseId"]
        lid = _parse_long("leaseId", raw) - _ID_BASE["leases"]
        lease = self.world.get("leases", lid) if 0 < lid < _BLOCK else None
        if lease is None:
            raise SimError(404, f"No lease with id {raw} exists.")
        lookups = _Lookups(self.world)
        contacts = [
            self._tenant(e, lookups)
            for rid in lease["resident_ids"]
            if (e := self.world.get("residents", rid)) is not None
        ]
        return json_response(contacts)

    async def _lease_statuses(self, request: web.Request) -> web.StreamResponse:
        body = [
            {
                "defineActive": active,
                "id": i,
                "orderIndex": i,
                "portalLoginEnabled": active,
                "readonly": name in ("Active", "Terminated"),
                "status": name,
            }
            for i, (name, active) in enumerate(_LEASE_STATUSES.items(), start=1)
        ]
        return json_response(body)

    async def _prospect_statuses(self, request: web.Request) -> web.StreamResponse:
        body = [
            {"id": i, "readonly": name == "New", "status": name, "visibleOnPortal": True}
            for i, name in enumerate(_PROSPECT_STATUSES.values(), start=1)
        ]
        return json_response(body)

    # -- writes ------------------------------------------------------------------

    async def _create_prospect(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        fields = _Fields(body)
        building = fields.long("buildingID")
        contacts = body.get("contacts")
        people: list[Record] = []
        if not isinstance(contacts, list) or not contacts:
            fields.fail("contacts", "a prospect needs at least one contact")
        else:
            for i, item in enumerate(contacts):
                entry = fields.nested(f"contacts[{i}]", item if item is not None else {})
                if entry is not None:
                    people.append(_contact_fields(entry, limits=False))
        status = fields.text("status")
        if status is not None and status not in _WORLD_LEAD_STATUS:
            known = ", ".join(_WORLD_LEAD_STATUS)
            fields.fail("status", f"'{status}' is not a prospect status ({known})")
        wishes: dict[str, Any] = {
            "moveInDate": fields.date("moveInDate"),
            "numberBedrooms": fields.long("numberBedrooms"),
            "numberBathrooms": fields.number("numberBathrooms"),
            "rentMax": fields.number("rentMax"),
            "comments": fields.text("comments"),
            "source": fields.text("source"),
            **{key: fields.text(key) for key in ("propertyAddress", "propertyAddress2")},
            **{key: fields.text(key) for key in ("propertyCity", "propertyState", "propertyZip")},
        }
        extra: Record = {
            **{key: fields.text(key) for key in _PROSPECT_EXTRA_TEXT},
            **{key: fields.number(key) for key in _PROSPECT_EXTRA_NUMBERS},
            **{key: fields.long(key) for key in _PROSPECT_EXTRA_INTEGERS},
            "hasPets": bool(fields.flag("hasPets")),
        }
        low, high = extra["rentMin"], wishes["rentMax"]
        if low is not None and high is not None and low > high:
            fields.fail("rentMin", "must not be above rentMax")
        fields.check()
        pid = None
        if building is not None:
            pid = building - _ID_BASE["properties"]
            if not 0 < pid < _BLOCK or not self.world.exists("properties", pid):
                raise SimError(
                    404,
                    "Entity not found.",
                    code="NOT_FOUND",
                    details=[("buildingID", f"No building with id {building} exists.")],
                )
        person = people[0]
        source_id = self._lead_source(pid, wishes["source"])
        if source_id is None:
            extra["source"] = wishes["source"]
        # A ProspectContact shows no other phone or address: those are not kept.
        extra["more_contacts"] = [self._extra_contact(p) for p in people[1:]]
        rent_max = wishes["rentMax"]
        entity = self.world.insert(
            "leads",
            {
                "property_id": pid,
                "lead_source_id": source_id,
                "first_name": person["firstName"],
                "last_name": person["lastName"],
                "email": person["email"],
                "phones": _world_phones(person),
                "address_1": wishes["propertyAddress"],
                "address_2": wishes["propertyAddress2"],
                "city": wishes["propertyCity"],
                "state": wishes["propertyState"],
                "zip": wishes["propertyZip"],
                "status": _WORLD_LEAD_STATUS.get(status or "New", "NEW"),
                "target_move_in_date": wishes["moveInDate"],
                "desired_bedrooms": wishes["numberBedrooms"],
                "desired_bathrooms": wishes["numberBathrooms"],
                "desired_max_rent_cents": None if rent_max is None else round(rent_max * 100),
                "notes": wishes["comments"],
            },
            now=int(time.time()),
        )
        self.prospect_extra[int(entity["id"])] = extra
        return json_response(self._prospect(entity, _Lookups(self.world)), status=201)

    def _lead_source(self, pid: int | None, name: str | None) -> int | None:
        """The building's lead source named ``name`` (case-insensitive), if there is one."""
        if pid is None or not name:
            return None
        wanted = name.strip().casefold()
        for source in self.world.select("lead_sources", property_id=pid):
            if str(source["name"]).casefold() == wanted:
                return int(source["id"])
        return None

    def _extra_contact(self, person: Record) -> Record:
        """A prospect's second (or later) contact, with an id of its own."""
        self._next_extra_contact += 1
        shown = ("email", "firstName", "homePhone", "lastName", "mobilePhone", "workPhone")
        return _compact({"id": self._next_extra_contact, **{k: person[k] for k in shown}})

    async def _update_contact(self, request: web.Request) -> web.StreamResponse:
        raw = request.match_info["contactID"]
        pw_id = _parse_long("contactID", raw)
        rid = pw_id - _ID_BASE["residents"]
        lid = pw_id - _PROSPECT_CONTACT_BASE
        tenant = 0 < rid < _BLOCK and self.world.exists("residents", rid)
        prospect = 0 < lid < _BLOCK and self.world.exists("leads", lid)
        if not tenant and not prospect:
            raise SimError(404, f"No contact with id {raw} exists.")
        body = await _json_body(request)
        fields = _Fields(body)
        person = _contact_fields(fields, limits=True)
        middle = fields.text("middleName", max_length=_NAME_MAX)
        birth = fields.date("birthDate")
        gender = fields.text("gender")
        if gender is not None and gender not in _GENDERS:
            fields.fail("gender", f"must be one of {', '.join(_GENDERS)}")
        extra: Record = {key: fields.text(key) for key in _CONTACT_EXTRA_TEXT}
        for key in _CONTACT_FLAGS:
            flag = fields.flag(key)
            if flag is not None:
                extra[key] = flag
        fields.check()
        names = {
            "first_name": person["firstName"],
            "last_name": person["lastName"],
            "email": person["email"],
            "phones": _world_phones(person),
        }
        now = int(time.time())
        if prospect:
            # A prospect's contact: the lead holds its person, nothing more.
            lead = self.world.update("leads", lid, names, now=now)
            return json_response(self._prospect_contact(lead))
        entity = self.world.update(
            "residents",
            rid,
            {**names, "middle_name": middle, "date_of_birth": birth},
            now=now,
        )
        before = self.contact_extra.get(rid, {})
        flags: Record = {key: before[key] for key in _CONTACT_FLAGS if key in before}
        self.contact_extra[rid] = {
            **flags,
            **extra,
            "gender": gender,
            # None clears the address the tenant's unit gave it.
            "address": person["address"],
        }
        return json_response(self._tenant(entity, _Lookups(self.world)))

    # -- selection ---------------------------------------------------------------

    @staticmethod
    def _custom_fields(query: MultiMapping[str], *, default: bool) -> bool:
        raw = query.get("includeCustomFields")
        return default if raw is None else _parse_bool("includeCustomFields", raw)

    @staticmethod
    def _window(query: MultiMapping[str]) -> tuple[int | None, int | None]:
        since = until = None
        raw = query.get("lastModifiedDateTimeStart")
        if raw is not None:
            # World times are whole seconds: "on or after" a fraction is the next one.
            since = math.ceil(_parse_datetime("lastModifiedDateTimeStart", raw))
        raw = query.get("lastModifiedDateTimeEnd")
        if raw is not None:
            until = math.floor(_parse_datetime("lastModifiedDateTimeEnd", raw))
        return since, until

    def _items(
        self,
        model: str,
        lookups: _Lookups,
        contact_type: str | None,
        *,
        since: int | None,
        until: int | None,
    ) -> tuple[list[Entity], Callable[[Entity], Record]]:
        """The entities a list serves, in id order, and how to render one."""
        if model != "residents":
            entities = self.world.select(model, updated_since=since, updated_until=until)
            return entities, lambda e: self._render(model, e, lookups)

        def tenants() -> list[Entity]:
            return self.world.select("residents", updated_since=since, updated_until=until)

        def leads() -> list[Entity]:
            return self.world.select("leads", updated_since=since, updated_until=until)

        if contact_type == "TENANT":
            return tenants(), lambda e: self._tenant(e, lookups)
        if contact_type == "PROSPECT":
            return leads(), self._prospect_contact
        if contact_type is not None:
            return [], self._prospect_contact
        # Tenants' ids are below prospect contacts' ids: the two lists in
        # turn are in id order.
        mixed = [{"kind": "TENANT", "entity": e} for e in tenants()]
        mixed += [{"kind": "PROSPECT", "entity": e} for e in leads()]

        def render(item: Entity) -> Record:
            entity = item["entity"]
            if item["kind"] == "TENANT":
                return self._tenant(entity, lookups)
            return self._prospect_contact(entity)

        return mixed, render

    def _active(self, model: str, entity: Entity, lookups: _Lookups) -> bool:
        home = entity if model == "properties" else lookups.property(entity.get("property_id"))
        return bool(home["is_active"]) if home is not None else True

    def _one(self, model: str, pw_id: int, lookups: _Lookups) -> Record | None:
        if model == "residents" and 0 < pw_id - _PROSPECT_CONTACT_BASE < _BLOCK:
            lead = self.world.get("leads", pw_id - _PROSPECT_CONTACT_BASE)
            return None if lead is None else self._prospect_contact(lead)
        entity_id = pw_id - _ID_BASE[model]
        if not 0 < entity_id < _BLOCK:
            return None
        entity = self.world.get(model, entity_id)
        return None if entity is None else self._render(model, entity, lookups)

    def _faulted(self, sim: Simulator, request: web.Request, model: str, record: Record) -> Any:
        fault = sim.fault_of(request)
        kind = None if fault is None else fault.kind.value
        if kind == "malformed":
            return self.corrupt(model, [record])[0]
        if kind == "empty":
            return {}
        return record

    def _lease_building_filter(self, raw: str, _: _Lookups) -> Predicate:
        lid = _parse_long("leaseID", raw) - _ID_BASE["leases"]
        lease = self.world.get("leases", lid) if 0 < lid < _BLOCK else None
        home = None if lease is None else lease["property_id"]
        return lambda e: home is not None and e["id"] == home

    @staticmethod
    def _lease_date_filter(name: str) -> FilterFn:
        field, after = _LEASE_DATE_FILTERS[name]

        def build(raw: str, _: _Lookups) -> Predicate:
            try:
                bound = datetime.strptime(raw.strip(), "%Y-%m-%d").date().isoformat()
            except ValueError:
                raise _bad(name, f"'{raw}' is not a valid date (YYYY-MM-DD).") from None

            def test(e: Entity) -> bool:
                value = _lease_dates(e).get(field)
                if value is None:
                    return False
                return bool(value >= bound) if after else bool(value <= bound)

            return test

        return build

    # -- rendering ---------------------------------------------------------------

    def _render(self, model: str, entity: Entity, lookups: _Lookups) -> Record:
        if model == "properties":
            return self._building(entity, lookups)
        if model == "units":
            return self._unit(entity, lookups)
        if model == "residents":
            return self._tenant(entity, lookups)
        if model == "leases":
            return self._lease(entity, lookups)
        return self._prospect(entity, lookups)

    @staticmethod
    def _audit(entity: Entity, lookups: _Lookups) -> dict[str, Any]:
        eid = int(entity["id"])
        return {
            "createdBy": lookups.staff_name(eid),
            "createdDateTime": _stamp(entity["created"]),
            "lastModifiedBy": lookups.staff_name(eid + int(entity["updated"])),
            "lastModifiedDateTime": _stamp(entity["updated"]),
        }

    def _building(self, e: Entity, lookups: _Lookups) -> Record:
        pid = int(e["id"])
        manager = lookups.employee(e.get("manager_id"))
        managers = (
            []
            if manager is None
            else [
                {
                    "email": manager["email"],
                    "id": _USER_BASE + manager["id"],
                    "name": f"{manager['first_name']} {manager['last_name']}",
                    "roleAsString": "Property Manager",
                    "userID": _USER_BASE + manager["id"],
                }
            ]
        )
        return _compact(
            {
                "abbreviation": e["code"],
                "active": bool(e["is_active"]),
                "address": _compact(
                    {
                        "address": e["address_1"],
                        "city": e["city"],
                        "country": _COUNTRY,
                        "postalCode": e["zip"],
                        "stateRegion": e["state"],
                    }
                ),
                "category": "RESIDENTIAL",
                "countUnit": e["unit_count"],
                **self._audit(e, lookups),
                "id": _ID_BASE["properties"] + pid,
                "idNumber": pid,
                "marketing": {"marketingName": e["name"]},
                "multiUnit": "MULTI_UNIT" if e["unit_count"] > 1 else "SINGLE_UNIT",
                "name": e["name"],
                "portfolioID": _PORTFOLIO_BASE + pid,
                "propertyManagerList": managers,
                "propertyType": _PROPERTY_TYPES.get(str(e["type"]), "OTHER"),
                "website": e["website"],
                "yearBuilt": e["year_built"],
            }
        )

    def _unit(self, e: Entity, lookups: _Lookups) -> Record:
        uid = int(e["id"])
        pid = e.get("property_id")
        home = lookups.property(pid)
        vacant = bool(e["is_vacant"])
        lease = (
            _ID_BASE["leases"] + uid
            if not vacant and uid <= self.world.base.leases and self.world.exists("leases", uid)
            else None
        )
        return _compact(
            {
                "abbreviation": f"{home['code']}-{e['number']}" if home else str(e["number"]),
                "active": bool(home["is_active"]) if home else True,
                "address": _compact(
                    {
                        "address": e["address_1"] or None,
                        "addressCont": e["address_2"],
                        "city": e["city"] or None,
                        "country": _COUNTRY,
                        "postalCode": e["zip"] or None,
                        "stateRegion": e["state"] or None,
                    }
                ),
                "areaUnits": "Sq Ft",
                "buildingID": None if pid is None else _ID_BASE["properties"] + pid,
                "category": "RESIDENTIAL",
                **self._audit(e, lookups),
                "floorNumber": int(e["floor"]),
                "id": _ID_BASE["units"] + uid,
                "idNumber": uid,
                "leaseID": lease,
                "marketing": {"petsAllowed": uid % 3 != 0},
                "name": e["number"],
                "numberOfBathrooms": float(e["bathrooms"]),
                "numberOfBedrooms": e["bedrooms"],
                "portfolioID": None if pid is None else _PORTFOLIO_BASE + pid,
                "ready": vacant,
                "rentable": vacant,
                "status": "Vacant" if vacant else "Occupied",
                "syndicate": bool(e["is_listed"]),
                "targetDeposit": _money(e["market_rent_cents"]),
                "targetRent": _money(e["market_rent_cents"]),
                "totalArea": float(e["square_feet"]),
            }
        )

    @staticmethod
    def _phones(entity: Entity) -> dict[str, str]:
        out: dict[str, str] = {}
        for phone in entity.get("phones") or ():
            field = _PHONE_FIELDS.get(str(phone.get("type")))
            if field is not None and field not in out:
                out[field] = phone["number"]
        return out

    def _tenant(self, e: Entity, lookups: _Lookups) -> Record:
        rid = int(e["id"])
        unit = self.world.get("units", e["unit_id"]) if e.get("unit_id") else None
        address = (
            None
            if unit is None or not unit["address_1"]
            else {
                "address": unit["address_1"],
                "addressCont": unit["address_2"],
                "city": unit["city"],
                "country": _COUNTRY,
                "postalCode": unit["zip"],
                "stateRegion": unit["state"],
            }
        )
        return _compact(
            {
                "address": address,
                "allowESignature": True,
                "birthDate": e["date_of_birth"],
                **self._audit(e, lookups),
                "email": e["email"],
                "firstName": e["first_name"],
                "id": _ID_BASE["residents"] + rid,
                "lastName": e["last_name"],
                "middleName": e["middle_name"],
                "namedOnLease": True,
                **self._phones(e),
                "type": "TENANT",
                # A client's SaveContact fields the world has no key for.
                **self.contact_extra.get(rid, {}),
            }
        )

    def _prospect_contact(self, lead: Entity) -> Record:
        """The ``PROSPECT`` contact of a world lead, as ``/contacts`` lists it."""
        return _compact(
            {
                "createdDateTime": _stamp(lead["created"]),
                "email": lead["email"],
                "firstName": lead["first_name"],
                "id": _PROSPECT_CONTACT_BASE + int(lead["id"]),
                "lastModifiedDateTime": _stamp(lead["updated"]),
                "lastName": lead["last_name"],
                **self._phones(lead),
                "type": "PROSPECT",
            }
        )

    def _lease(self, e: Entity, lookups: _Lookups) -> Record:
        lid = int(e["id"])
        pid, uid = e.get("property_id"), e.get("unit_id")
        status = lease_status(e)
        people = [
            r for rid in e["resident_ids"] if (r := self.world.get("residents", rid)) is not None
        ]
        contacts = [
            _compact(
                {
                    "email": r["email"],
                    "firstName": r["first_name"],
                    "id": _ID_BASE["residents"] + int(r["id"]),
                    "lastName": r["last_name"],
                    **self._phones(r),
                    "namedOnLease": True,
                    "primary": r["id"] == e["primary_resident_id"],
                }
            )
            for r in sorted(people, key=lambda r: (r["last_name"], r["first_name"], r["id"]))
        ]
        unit = self.world.get("units", uid) if uid else None
        home = lookups.property(pid)
        primary = next((r for r in people if r["id"] == e["primary_resident_id"]), None)
        name = f"{primary['last_name']}, {primary['first_name']}" if primary else f"Lease {lid}"
        location = (
            f"{home['name']} - {unit['number']}"
            if home and unit
            else home["name"]
            if home
            else None
        )
        return _compact(
            {
                "active": _LEASE_STATUSES[status],
                "baseRent": _money(e["rent_cents"]),
                "buildingID": None if pid is None else _ID_BASE["properties"] + pid,
                "contacts": contacts,
                **self._audit(e, lookups),
                **_lease_dates(e),
                "id": _ID_BASE["leases"] + lid,
                "idNumber": lid,
                "leaseBalance": _money(e["balance_cents"]),
                "leaseName": name,
                "location": location,
                "portfolioID": None if pid is None else _PORTFOLIO_BASE + pid,
                "status": status,
                "unitID": None if uid is None else _ID_BASE["units"] + uid,
            }
        )

    def _prospect(self, e: Entity, lookups: _Lookups) -> Record:
        lid = int(e["id"])
        pid, uid = e.get("property_id"), e.get("unit_id")
        source = (
            self.world.get("lead_sources", e["lead_source_id"]) if e["lead_source_id"] else None
        )
        agent = lookups.employee(e.get("employee_id"))
        extra = self.prospect_extra.get(lid, {})
        more = extra.get("more_contacts") or []
        return _compact(
            {
                "assigneFullName": (
                    f"{agent['first_name']} {agent['last_name']}" if agent else None
                ),
                "buildingID": None if pid is None else _ID_BASE["properties"] + pid,
                "comments": e["notes"],
                "contacts": [
                    _compact(
                        {
                            "email": e["email"],
                            "firstName": e["first_name"],
                            "id": _PROSPECT_CONTACT_BASE + lid,
                            "lastName": e["last_name"],
                            **self._phones(e),
                        }
                    ),
                    *more,
                ],
                **self._audit(e, lookups),
                "hasPets": lid % 4 == 0,
                "id": _ID_BASE["leads"] + lid,
                "moveInDate": e["target_move_in_date"],
                "numberBathrooms": e.get("desired_bathrooms"),
                "numberBedrooms": e["desired_bedrooms"],
                "portfolioID": None if pid is None else _PORTFOLIO_BASE + pid,
                "preferredContactMethod": "Email" if lid % 2 else "Phone",
                "propertyAddress": e["address_1"] or None,
                "propertyAddress2": e.get("address_2") or None,
                "propertyCity": e["city"] or None,
                "propertyCountry": _COUNTRY if e["address_1"] else None,
                "propertyState": e["state"] or None,
                "propertyZip": e["zip"] or None,
                "rentMax": _money(e["desired_max_rent_cents"]),
                "source": None if source is None else source["name"],
                "status": prospect_status(e),
                "unitID": None if uid is None else _ID_BASE["units"] + uid,
                # A client's SaveProspect fields the world has no key for.
                **{k: v for k, v in extra.items() if k != "more_contacts"},
            }
        )


#: Lease date filters: parameter → (record field, True for "on or after").
_LEASE_DATE_FILTERS: Final[Mapping[str, tuple[str, bool]]] = {
    "startDateStart": ("startDate", True),
    "startDateEnd": ("startDate", False),
    "endDateStart": ("endDate", True),
    "endDateEnd": ("endDate", False),
    "moveInDateStart": ("moveInDate", True),
    "moveInDateEnd": ("moveInDate", False),
    "scheduleMoveOutDateStart": ("scheduleMoveOutDate", True),
    "scheduleMoveOutDateEnd": ("scheduleMoveOutDate", False),
}


def _lease_dates(e: Entity) -> dict[str, Any]:
    """A world lease's dates as Propertyware names them (empty ones left out)."""
    status = lease_status(e)
    end = datetime.fromisoformat(str(e["end_date"])).date()
    start = datetime.fromisoformat(str(e["start_date"])).date()
    notice = status == "Active - Notice Given"
    return _compact(
        {
            "endDate": e["end_date"],
            "moveInDate": e["move_in_date"] if status != "Draft" else None,
            "moveOutDate": e["move_out_date"],
            "noticeGivenDate": (end - timedelta(days=60)).isoformat() if notice else None,
            "scheduleMoveOutDate": e["end_date"] if notice else None,
            "signedDate": (start - timedelta(days=14)).isoformat(),
            "startDate": e["start_date"],
            "terminatedDate": e["move_out_date"] if status == "Terminated" else None,
        }
    )


def _same(record: Entity) -> Record:
    return record
