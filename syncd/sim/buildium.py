"""The Buildium simulator: Buildium's documented wire format on the vendor-neutral server.

:class:`BuildiumRenderer` serves the list and single-record ``GET``
endpoints of rentals, units, tenants, leases, applicants and users with
Buildium's auth headers, paging (``offset``/``limit``, ``X-Total-Count``),
``orderby``, incremental ``lastupdatedfrom``/``lastupdatedto`` filters,
error bodies (``ApiErrorResponse``) and rate limit. Auth, the rate limit,
faults, statistics and the ``/_sim/`` control plane are
:class:`~syncd.sim.server.Simulator`'s.

Writes, as the OpenAPI document describes them: ``POST /v1/applicants``
(``ApplicantPostMessage``; 201, ``Location`` and the applicant),
``PUT /v1/applicants/{applicantId}`` (``ApplicantPutMessage``), applicant
notes (``GET|POST /v1/applicants/{applicantId}/notes``, ``GET`` of one)
and ``PUT /v1/leases/tenants/{tenantId}`` (``RentalTenantPutMessage``).
A PUT replaces what its message carries (what it leaves out becomes
null), as documented. Bodies must be ``application/json`` (else 415); a
missing or malformed field is a 400 naming it (``Errors`` ``Key``/``Value``,
ASP.NET-style wording: Buildium's exact words are not documented); a unit
that does not exist is a 422 [UNCONFIRMED: the document lists 404 and 422
for these requests without saying which a bad reference gets]; an
unknown applicant or tenant in the path is a 404.

Buildium keeps its own data rather than a :class:`~syncd.sim.world.World`:
:class:`~syncd.sim.buildium_data.BuildiumStore`, generated lazily from a
seed and a scale, so a simulator of ten million units costs no memory
until it is mutated. :class:`BuildiumSimulator` is a
:class:`~syncd.sim.server.Simulator` of this renderer with Buildium's
constructor.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from http import HTTPStatus
from typing import Any, ClassVar, Final, Self, overload

import orjson
from aiohttp import web
from multidict import MultiMapping

from syncd.sim.buildium_data import (
    FIRST_ID,
    FIRST_NOTE_ID,
    RESOURCES,
    BuildiumStore,
    ListQuery,
    OrderTerm,
    Record,
    Selection,
    applicant_group_id,
    default_credentials,
    format_timestamp,
)
from syncd.sim.faults import Fault, FaultKind
from syncd.sim.server import Handler, Renderer, SimError, Simulator, json_response, serve_forever
from syncd.sim.world import World

__all__ = ["BuildiumRenderer", "BuildiumSimulator", "run_buildium_simulator"]

_MAX_LIMIT = 1000
_DEFAULT_LIMIT = 50
_MAX_QUERY_STRING = 4096  # documented: longer query strings get a 500

# List endpoints: path -> (resource, filters the endpoint documents).
_LISTS: dict[str, tuple[str, frozenset[str]]] = {
    "/v1/rentals": ("rentals", frozenset({"updated", "property", "status"})),
    "/v1/rentals/units": ("units", frozenset({"updated", "property"})),
    "/v1/leases/tenants": ("tenants", frozenset({"updated", "property"})),
    "/v1/leases": ("leases", frozenset({"updated", "created", "property"})),
    "/v1/applicants": ("applicants", frozenset({"updated"})),
    "/v1/users": ("users", frozenset()),
}
# Single-record endpoints: the list path plus an id; registered after the
# list routes so "/v1/rentals/units" never parses as a rental id.
_SINGLE: dict[str, str] = {
    "/v1/rentals/units/{id:[0-9]+}": "units",
    "/v1/rentals/{id:[0-9]+}": "rentals",
    "/v1/leases/tenants/{id:[0-9]+}": "tenants",
    "/v1/leases/{id:[0-9]+}": "leases",
    "/v1/applicants/{id:[0-9]+}": "applicants",
    "/v1/users/{id:[0-9]+}": "users",
}

#: Buildium resource -> the unified model the connector reads from it.
MODEL_OF: Final[Mapping[str, str]] = {
    "rentals": "properties",
    "units": "units",
    "tenants": "residents",
    "leases": "leases",
    "applicants": "leads",
    "users": "employees",
}
# Every name /_sim/mutate accepts (Buildium's and the unified ones) -> resource.
_RESOURCE_OF: Final[Mapping[str, str]] = {
    **{resource: resource for resource in RESOURCES},
    **{model: resource for resource, model in MODEL_OF.items()},
}
# The connector lists /v1/users with usertypes=Staff: only staff are employees.
_EMPLOYEE_TYPE = "Staff"

# What a "malformed" fault breaks in the second corrupted record of a page.
_CORRUPTIONS: dict[str, tuple[tuple[str, ...], Any]] = {
    "rentals": (("Reserve",), "lots"),
    "units": (("MarketRent",), "call for price"),
    "tenants": (("DateOfBirth",), "2024-02-31"),
    "leases": (("AccountDetails", "Rent"), "n/a"),
    "applicants": (("LastUpdatedDateTime",), "2024-02-31T25:61:00Z"),
    "users": (("LastLogin",), "2024-02-31T00:00:00Z"),
}

_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,7})?)?)?Z?"
)
_INTEGER = re.compile(r"[0-9]+")
_NOT_FOUND = "The requested resource was not found."


def _bad_request(key: str, value: str) -> SimError:
    return SimError(400, "The request is invalid.", code="BadRequest", details=[(key, value)])


def _not_found() -> SimError:
    return SimError(404, _NOT_FOUND, code="NotFound")


#: PhoneNumbersMessage key (written) -> PhoneNumberMessage.Type (read).
_PHONE_TYPES: Final[Mapping[str, str]] = {
    "Home": "Home",
    "Work": "Office",
    "Mobile": "Cell",
    "Fax": "Fax",
}
_NAME_MAX = 127
_TEXT_MAX = 65_535
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TAX_ID = re.compile(r"\d{2}-\d{7}|\d{3}-\d{2}-\d{4}|\d{9}")
_COUNTRY = re.compile(r"[A-Za-z]+")  # a Country enumeration name (the ~250 names are not kept)
_MAILING_PREFERENCES = ("PrimaryAddress", "AlternateAddress")
# When Country is UnitedStates, State must be a state's name or abbreviation.
_US_STATES: Final[Mapping[str, str]] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan",
    "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota",
    "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee",
    "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington",
    "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming", "PR": "Puerto Rico",
    "GU": "Guam", "VI": "Virgin Islands", "AS": "American Samoa",
    "MP": "Northern Mariana Islands",
}  # fmt: skip
_US_STATE_WORDS = frozenset(word.casefold() for pair in _US_STATES.items() for word in pair)


def _parse_datetime(name: str, raw: str) -> int:
    """A query datetime (UTC; ``Z`` optional; date alone means midnight) as epoch seconds."""
    m = _DATETIME.fullmatch(raw.strip())
    if m is None:
        raise _bad_request(name, f"'{raw}' is not a valid date-time (YYYY-MM-DDTHH:MM:SSZ).")
    year, month, day, hour, minute, second = (int(p) if p else 0 for p in m.groups())
    try:
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise _bad_request(name, f"'{raw}' is not a valid date-time.") from None
    return calendar.timegm(moment.timetuple())


def _parse_int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if _INTEGER.fullmatch(raw.strip()) is None:
        raise _bad_request(name, f"'{raw}' is not a valid integer.")
    value = int(raw)
    if not low <= value <= high:
        raise _bad_request(name, f"{name} must be between {low} and {high}.")
    return value


def _parse_filters(query: MultiMapping[str], filters: frozenset[str]) -> ListQuery:
    """The documented filters of an endpoint; the others are ignored, as Buildium does."""

    def when(name: str) -> int | None:
        raw = query.get(name)
        return None if raw is None or raw == "" else _parse_datetime(name, raw)

    values: dict[str, Any] = {}
    if "updated" in filters:
        values["updated_from"] = when("lastupdatedfrom")
        values["updated_to"] = when("lastupdatedto")
    if "created" in filters:
        values["created_from"] = when("createddatetimefrom")
        values["created_to"] = when("createddatetimeto")
    if "property" in filters and "propertyids" in query:
        ids: set[int] = set()
        for raw in query.getall("propertyids"):
            for part in (p.strip() for p in raw.split(",")):
                if not part:
                    continue
                if _INTEGER.fullmatch(part) is None:
                    raise _bad_request("propertyids", f"'{part}' is not a valid integer.")
                ids.add(int(part))
        if ids:
            values["property_ids"] = tuple(sorted(ids))
    if "status" in filters and query.get("status"):
        status = query["status"].strip().lower()
        if status not in ("active", "inactive"):
            raise _bad_request("status", "status must be Active or InActive.")
        values["active"] = status == "active"
    return ListQuery(**values)


def _error_code(status: int) -> str:
    """Buildium's ``ErrorCode`` for an error that names none: the status phrase, unspaced."""
    try:
        return HTTPStatus(status).phrase.replace(" ", "")
    except ValueError:
        return "Error"


async def _json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; 415 without a JSON content type, 400 if unreadable."""
    if request.content_type != "application/json":
        raise SimError(
            415,
            "The Content-Type header is missing or unsupported; send application/json.",
            code="UnsupportedMediaType",
        )
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise _bad_request("body", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _bad_request("body", "The request body must be a JSON object.")
    return body


class _Fields:
    """Validates one request message, collecting every problem (``Key``, ``Value``)."""

    def __init__(self, body: Mapping[str, Any], prefix: str = "") -> None:
        self.body = body
        self.prefix = prefix
        self.errors: list[tuple[str, str]] = []

    def _missing(self, key: str) -> None:
        self.errors.append((self.prefix + key, f"The {key} field is required."))

    def text(
        self, key: str, *, required: bool = False, max_length: int | None = None
    ) -> str | None:
        """A string field (``required``: present and not blank)."""
        value = self.body.get(key)
        if value is None or (required and isinstance(value, str) and not value.strip()):
            if required:
                self._missing(key)
            return None
        if not isinstance(value, str):
            self.errors.append((self.prefix + key, f"The {key} field must be a string."))
            return None
        if max_length is not None and len(value) > max_length:
            self.errors.append(
                (
                    self.prefix + key,
                    f"The field {key} must be a string with a maximum length of {max_length}.",
                )
            )
        return value

    def email(self, key: str) -> str | None:
        """An email address field."""
        value = self.text(key)
        if value and _EMAIL.fullmatch(value.strip()) is None:
            self.errors.append(
                (self.prefix + key, f"The {key} field is not a valid e-mail address.")
            )
        return value

    def integer(self, key: str) -> int | None:
        """An int32 field."""
        value = self.body.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
            self.errors.append((self.prefix + key, f"The {key} field must be a valid integer."))
            return None
        return value

    def boolean(self, key: str, *, required: bool = False) -> bool | None:
        """A boolean field."""
        value = self.body.get(key)
        if value is None:
            if required:
                self._missing(key)
            return None
        if not isinstance(value, bool):
            self.errors.append((self.prefix + key, f"The {key} field must be true or false."))
            return None
        return value

    def date(self, key: str) -> str | None:
        """A ``YYYY-MM-DD`` date field."""
        value = self.text(key)
        if value is None:
            return None
        try:
            if _DATE.fullmatch(value) is None:
                raise ValueError(value)
            datetime.strptime(value, "%Y-%m-%d")
        except ValueError:
            self.errors.append(
                (self.prefix + key, f"The {key} field must be formatted YYYY-MM-DD.")
            )
            return None
        return value

    def choice(self, key: str, allowed: Sequence[str]) -> str | None:
        """A field of an enumeration."""
        value = self.text(key)
        if value is not None and value not in allowed:
            self.errors.append(
                (self.prefix + key, f"The {key} field must be one of {', '.join(allowed)}.")
            )
            return None
        return value

    def nested(self, key: str, *, required: bool = False) -> _Fields | None:
        """A nested message; its problems are named ``Key.Child``."""
        value = self.body.get(key)
        if value is None:
            if required:
                self._missing(key)
            return None
        if not isinstance(value, dict):
            self.errors.append((self.prefix + key, f"The {key} field must be an object."))
            return None
        child = _Fields(value, f"{self.prefix}{key}.")
        child.errors = self.errors
        return child

    def phones(self, key: str) -> list[Record]:
        """A ``PhoneNumbersMessage``, as the ``PhoneNumbers`` list a record shows."""
        child = self.nested(key)
        if child is None:
            return []
        out: list[Record] = []
        for name, value in child.body.items():
            kind = _PHONE_TYPES.get(name)
            if kind is None or value is None:
                continue  # unknown properties are ignored, as model binding does
            number = child.text(name)
            if number is None:
                continue
            if not 10 <= len(number) <= 20:
                self.errors.append(
                    (
                        f"{child.prefix}{name}",
                        f"The {name} phone number must be between 10 and 20 characters.",
                    )
                )
                continue
            out.append({"Number": number, "Type": kind})
        return out

    def check(self) -> None:
        """Raise the 400 naming every problem found, if any."""
        if self.errors:
            raise SimError(400, "The request is invalid.", code="BadRequest", details=self.errors)


def _unprocessable(key: str, value: str) -> SimError:
    return SimError(
        422,
        "The request data could not be used to fulfill the request.",
        code="UnprocessableEntity",
        details=[(key, value)],
    )


def _resource(model: str) -> str:
    """The Buildium resource of a resource or unified model name; ValueError if neither."""
    try:
        return _RESOURCE_OF[model]
    except KeyError:
        known = ", ".join(_RESOURCE_OF)
        raise ValueError(f"unknown model {model!r}; expected one of {known}") from None


def _as_is(record: Record) -> Record:
    return record


class _Listing(Sequence[Record]):
    """The records of a selection, built only for the slice asked for.

    What :meth:`Simulator.page` slices: a deep page of millions of ids
    costs one page of records, never the whole listing.
    """

    def __init__(self, store: BuildiumStore, resource: str, selection: Selection) -> None:
        self._store = store
        self._resource = resource
        self._selection = selection

    def __len__(self) -> int:
        return len(self._selection)

    @overload
    def __getitem__(self, index: int) -> Record: ...

    @overload
    def __getitem__(self, index: slice) -> list[Record]: ...

    def __getitem__(self, index: int | slice) -> Record | list[Record]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("a listing is sliced in order only")
            ids = self._selection.page(start, max(0, stop - start))
            return self._store.get_many(self._resource, ids)
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError(index)
        return self._store.get_many(self._resource, self._selection.page(position, 1))[0]

    def __iter__(self) -> Iterator[Record]:
        # Sequence's default iterates by index, a selection lookup per record.
        return iter(self[:])


class BuildiumRenderer(Renderer):
    """Buildium's wire format over a :class:`~syncd.sim.buildium_data.BuildiumStore`.

    List faults (``empty``, ``repeat``, ``short``, ``total``,
    ``malformed``, ``drift``) act through :meth:`Simulator.page`; a
    ``malformed`` page has a string ``Id`` and a bad date or amount. On
    single-record endpoints ``empty`` answers ``{}``, ``malformed`` a
    string ``Id``, ``drift`` mutates first (a deleted record is a 404);
    ``repeat``, ``total`` and ``short`` do not apply there: the record is
    served as is, though the fault's unit is still used up.

    ``/_sim/mutate`` takes Buildium's resource names (``rentals``,
    ``units``, ``tenants``, ``leases``, ``applicants``, ``users``) and the
    unified ones (``properties``, ``residents``, ``leads``,
    ``employees``); counts are by resource name.
    """

    name: ClassVar[str] = "buildium"
    credential_keys: ClassVar[tuple[str, ...]] = ("client_id", "client_secret")
    default_rate_limit: ClassVar[float] = 10.0
    max_query_string: ClassVar[int] = _MAX_QUERY_STRING

    def __init__(
        self,
        world: World,
        credentials: Mapping[str, str],
        *,
        store: BuildiumStore | None = None,
    ) -> None:
        super().__init__(world, credentials)
        # Without a store: Buildium data of the world's seed and scale (not its entities).
        self.store = (
            store if store is not None else BuildiumStore(seed=world.seed, scale=world.scale)
        )
        # The store forgets created records once deleted; truth must still list them.
        self._deleted: dict[str, list[int]] = {resource: [] for resource in RESOURCES}
        # Applicant notes clients added: applicant id -> NoteMessages, oldest first.
        self.notes: dict[int, list[Record]] = {}
        self._next_note = FIRST_NOTE_ID

    @classmethod
    def create(
        cls,
        *,
        seed: int,
        scale: int,
        credentials: Mapping[str, str],
        world: World | None = None,
    ) -> Self:
        """A renderer over a new store of ``seed`` and ``scale``.

        Its world is an empty one: Buildium's data is the store, so no world
        of the simulator's scale is built (a given ``world`` is not served).
        """
        store = BuildiumStore(seed=seed, scale=scale)
        return cls(World(seed=seed, scale=0), credentials, store=store)

    @classmethod
    def default_credentials(cls, seed: int) -> dict[str, str]:
        """Buildium-shaped credentials (a client id and a secret) that follow the seed."""
        return default_credentials(seed)

    # -- wire format ----------------------------------------------------------

    def routes(self, sim: Simulator) -> Iterable[tuple[str, str, Handler]]:
        """The list endpoints, the single-record ones, then the writes."""
        for path, (resource, filters) in _LISTS.items():
            yield "GET", path, self._list_handler(sim, resource, filters)
        for path, resource in _SINGLE.items():
            yield "GET", path, self._single_handler(sim, resource)
        yield "POST", "/v1/applicants", self._create_applicant
        yield "PUT", "/v1/applicants/{id:[0-9]+}", self._update_applicant
        yield "GET", "/v1/applicants/{id:[0-9]+}/notes", self._applicant_notes
        yield "POST", "/v1/applicants/{id:[0-9]+}/notes", self._add_applicant_note
        yield "GET", "/v1/applicants/{id:[0-9]+}/notes/{note:[0-9]+}", self._applicant_note
        yield "PUT", "/v1/leases/tenants/{id:[0-9]+}", self._update_tenant

    async def authenticate(self, request: web.Request) -> str:
        """The client id, if both ``x-buildium-client-*`` headers match the account."""
        client_id = request.headers.get("x-buildium-client-id")
        secret = request.headers.get("x-buildium-client-secret")
        if (
            client_id != self.credentials["client_id"]
            or secret != self.credentials["client_secret"]
        ):
            raise SimError(
                401,
                "The API client ID and secret were not provided or are not valid.",
                code="Unauthorized",
            )
        return self.credentials["client_id"]

    def error(self, error: SimError, headers: Mapping[str, str] | None = None) -> web.Response:
        """An ``ApiErrorResponse``: ``UserMessage``, ``ErrorCode`` and ``Errors`` (key/value)."""
        body = {
            "UserMessage": error.message,
            "ErrorCode": error.code or _error_code(error.status),
            "Errors": [{"Key": key, "Value": value} for key, value in error.details],
        }
        return json_response(body, status=error.status, headers=headers)

    def query_too_long(self) -> SimError:
        """Buildium documents a 500 for query strings over 4096 characters."""
        return SimError(500, "The query string is too long.", code="InternalServerError")

    def throttled(self, retry_after: float | None) -> SimError:
        """Buildium's 429 body (it sends no rate-limit headers)."""
        return SimError(
            429, "Too many requests. Retry after a short interval.", code="TooManyRequests"
        )

    def corrupt(self, model: str, records: list[Record]) -> list[Record]:
        """A copy of ``records`` with two broken: a string ``Id``, and a bad date or amount."""
        out = list(records)
        if out:
            out[0] = {**out[0], "Id": "not-a-number"}
        if len(out) >= 2:
            i = len(out) // 2
            path, bad = _CORRUPTIONS[_resource(model)]
            record = dict(out[i])
            if len(path) == 1:
                record[path[0]] = bad
            else:
                record[path[0]] = {**(record.get(path[0]) or {}), path[1]: bad}
            out[i] = record
        return out

    def _list_handler(
        self, sim: Simulator, resource: str, filters: frozenset[str]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return self._list(sim, request, resource, filters)

        return handle

    def _single_handler(
        self, sim: Simulator, resource: str
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return self._single(sim, request, resource)

        return handle

    def _list(
        self, sim: Simulator, request: web.Request, resource: str, filters: frozenset[str]
    ) -> web.Response:
        query = request.query
        for key in query:
            if key.lower() in ("limit", "offset") and key not in ("limit", "offset"):
                # Documented: these names are case-sensitive, and a miscased one is a 404.
                raise _not_found()
        offset = _parse_int(query, "offset", 0, 0, 2**31 - 1)
        limit = _parse_int(query, "limit", _DEFAULT_LIMIT, 1, _MAX_LIMIT)
        list_query = _parse_filters(query, filters)
        order = self._parse_orderby(resource, query.get("orderby"))
        model = MODEL_OF[resource]
        # After validation: a refused request changes nothing.
        sim.drift(request, model)
        selection = self.store.select(resource, list_query, order)
        listing = _Listing(self.store, resource, selection)
        records, total = sim.page(request, model, listing, offset, limit, _as_is)
        return json_response(records, headers={"X-Total-Count": str(total)})

    def _single(self, sim: Simulator, request: web.Request, resource: str) -> web.Response:
        sim.drift(request, MODEL_OF[resource])
        record = self.store.get(resource, int(request.match_info["id"]))
        if record is None:
            raise _not_found()
        fault: Fault | None = sim.fault_of(request)
        kind = None if fault is None else fault.kind
        body: Record = record
        if kind is FaultKind.EMPTY:
            body = {}
        elif kind is FaultKind.MALFORMED:
            body = {**record, "Id": "not-a-number"}
        return json_response(body)

    def _parse_orderby(self, resource: str, raw: str | None) -> list[OrderTerm]:
        if raw is None or not raw.strip():
            return []
        fields = self.store.sort_fields(resource)
        terms: list[OrderTerm] = []
        for part in raw.split(","):
            words = part.split()
            if not words or len(words) > 2:
                raise _bad_request("orderby", f"'{part.strip()}' is not a valid sort term.")
            path = fields.get(words[0].lower())
            if path is None:
                raise _bad_request("orderby", f"'{words[0]}' is not a sortable property.")
            direction = words[1].lower() if len(words) == 2 else "asc"
            if direction not in ("asc", "desc"):
                raise _bad_request("orderby", f"'{words[1]}' is not asc or desc.")
            terms.append((path, direction == "desc"))
        return terms

    # -- writes -----------------------------------------------------------------

    def _unit_of(self, unit_id: int | None) -> Record | None:
        """The unit an applicant names (None: none named); 422 if it does not exist."""
        if unit_id is None:
            return None
        unit = self.store.get("units", unit_id)
        if unit is None:
            raise _unprocessable("UnitId", f"The unit {unit_id} does not exist.")
        return unit

    @staticmethod
    def _rental_index(property_id: Any) -> int | None:
        return property_id - FIRST_ID["rentals"] if isinstance(property_id, int) else None

    def _applicant_fields(self, body: Mapping[str, Any], *, post: bool) -> Record:
        """The fields an ``ApplicantPostMessage`` / ``ApplicantPutMessage`` sets."""
        fields = _Fields(body)
        first = fields.text("FirstName", required=True, max_length=_NAME_MAX)
        last = fields.text("LastName", required=True, max_length=_NAME_MAX)
        email = fields.email("Email")
        unit_id = fields.integer("UnitId")
        phones = fields.phones("PhoneNumbers")
        if post:
            fields.boolean("SendRentalApplicationEmail", required=True)
        fields.check()
        unit = self._unit_of(unit_id)
        return {
            "PropertyId": None if unit is None else unit["PropertyId"],
            "UnitId": unit_id,
            "FirstName": first,
            "LastName": last,
            "Email": email,
            "PhoneNumbers": phones,
        }

    async def _create_applicant(self, request: web.Request) -> web.Response:
        fields = self._applicant_fields(await _json_body(request), post=True)
        now = int(time.time())

        def build(applicant_id: int) -> Record:
            return {
                "Id": applicant_id,
                "ApplicantGroupId": applicant_group_id(applicant_id),
                "PropertyId": fields["PropertyId"],
                "UnitId": fields["UnitId"],
                "TenantId": None,
                "FirstName": fields["FirstName"],
                "LastName": fields["LastName"],
                "Email": fields["Email"],
                "PhoneNumbers": fields["PhoneNumbers"],
                "Status": "New",
                # Nothing submitted yet: the rental application is never mailed here.
                "Applications": [],
                "UnsubmittedApplications": [],
                "LastUpdatedDateTime": format_timestamp(now),
            }

        record = self.store.add(
            "applicants",
            build,
            now=now,
            rental_index=self._rental_index(fields["PropertyId"]),
        )
        location = f"{request.url.origin()}/v1/applicants/{record['Id']}"
        return json_response(record, status=201, headers={"Location": location})

    async def _update_applicant(self, request: web.Request) -> web.Response:
        applicant_id = int(request.match_info["id"])
        current = self.store.get("applicants", applicant_id)
        if current is None:
            raise _not_found()
        fields = self._applicant_fields(await _json_body(request), post=False)
        now = int(time.time())
        record = {**current, **fields, "LastUpdatedDateTime": format_timestamp(now)}
        self.store.replace(
            "applicants",
            applicant_id,
            record,
            now=now,
            rental_index=self._rental_index(record["PropertyId"]),
        )
        return json_response(record)

    def _applicant_or_404(self, request: web.Request) -> int:
        applicant_id = int(request.match_info["id"])
        if self.store.get("applicants", applicant_id) is None:
            raise _not_found()
        return applicant_id

    async def _applicant_notes(self, request: web.Request) -> web.Response:
        notes = self.notes.get(self._applicant_or_404(request), [])
        offset = _parse_int(request.query, "offset", 0, 0, 2**31 - 1)
        limit = _parse_int(request.query, "limit", _DEFAULT_LIMIT, 1, _MAX_LIMIT)
        return json_response(
            notes[offset : offset + limit], headers={"X-Total-Count": str(len(notes))}
        )

    async def _applicant_note(self, request: web.Request) -> web.Response:
        note_id = int(request.match_info["note"])
        for note in self.notes.get(self._applicant_or_404(request), []):
            if note["Id"] == note_id:
                return json_response(note)
        raise _not_found()

    async def _add_applicant_note(self, request: web.Request) -> web.Response:
        applicant_id = self._applicant_or_404(request)
        fields = _Fields(await _json_body(request))
        text = fields.text("Note", required=True, max_length=_TEXT_MAX)
        fields.check()
        user = self.store.get("users", FIRST_ID["users"]) or {}
        note: Record = {
            "Id": self._next_note,
            "Note": text,
            "LastUpdatedByUser": {
                "Id": user.get("Id"),
                "FirstName": user.get("FirstName"),
                "LastName": user.get("LastName"),
                "Href": None,
                "UpdatedDateTime": format_timestamp(int(time.time())),
            },
        }
        self._next_note += 1
        self.notes.setdefault(applicant_id, []).append(note)
        location = f"{request.url.origin()}/v1/applicants/{applicant_id}/notes/{note['Id']}"
        return json_response(note, status=201, headers={"Location": location})

    async def _update_tenant(self, request: web.Request) -> web.Response:
        tenant_id = int(request.match_info["id"])
        current = self.store.get("tenants", tenant_id)
        if current is None:
            raise _not_found()
        fields = _Fields(await _json_body(request))
        values: Record = {
            "FirstName": fields.text("FirstName", required=True, max_length=_NAME_MAX),
            "LastName": fields.text("LastName", required=True, max_length=_NAME_MAX),
            "Email": fields.email("Email"),
            "AlternateEmail": fields.email("AlternateEmail"),
            "PhoneNumbers": fields.phones("PhoneNumbers"),
            "DateOfBirth": fields.date("DateOfBirth"),
            "Comment": fields.text("Comment", max_length=_TEXT_MAX),
            "TaxId": fields.text("TaxId"),
            "EmergencyContact": None,
            "Address": _address(fields.nested("Address", required=True)),
            "AlternateAddress": _address(fields.nested("AlternateAddress")),
            "MailingPreference": fields.choice("MailingPreference", _MAILING_PREFERENCES),
        }
        if values["TaxId"] and _TAX_ID.fullmatch(values["TaxId"]) is None:
            fields.errors.append(
                ("TaxId", "The TaxId must be formatted 12-1234567, 123-12-1234 or 123456789.")
            )
        contact = fields.nested("EmergencyContact")
        if contact is not None:
            values["EmergencyContact"] = {
                "Name": contact.text("Name"),
                "RelationshipDescription": contact.text("RelationshipDescription"),
                "Phone": contact.text("Phone"),
                "Email": contact.email("Email"),
            }
        fields.check()
        if values["MailingPreference"] is None:
            # Documented: without a preference, the primary address is the one.
            values["MailingPreference"] = "PrimaryAddress"
        record = {**current, **values}
        leases = current.get("Leases") or [{}]
        self.store.replace(
            "tenants",
            tenant_id,
            record,
            now=int(time.time()),
            rental_index=self._rental_index(leases[0].get("PropertyId")),
        )
        return json_response(record)

    # -- data -------------------------------------------------------------------

    def x_id(self, model: str, entity_id: int) -> str:
        """Buildium's ids are the store's integer ids."""
        return str(entity_id)

    def models(self) -> Sequence[str]:
        """The unified models the Buildium connector reads."""
        return tuple(MODEL_OF.values())

    def mutable_models(self) -> Sequence[str]:
        """Buildium's resource names, then the unified names mapped to them."""
        return tuple(_RESOURCE_OF)

    def mutate(
        self, model: str, *, create: int, update: int, delete: int, now: int
    ) -> dict[str, list[Any]]:
        """Change the store's records of ``model`` (a resource or unified name).

        Updates change a visible field and set the last-updated time to
        ``now``; creates get ids above every existing one.
        """
        resource = _resource(model)
        changed = self.store.mutate(resource, create=create, update=update, delete=delete, now=now)
        self._deleted[resource].extend(changed["deleted"])
        return dict(changed)

    def counts(self) -> dict[str, int]:
        """Live records per Buildium resource name."""
        return self.store.counts()

    def truth(self) -> dict[str, dict[str, list[str]]]:
        """Per unified model, the live ids and those deleted since start, in id order.

        Lists every live id: O(records), fine up to some 100,000 units, not
        for the largest scales. Employees are the users of type Staff only,
        as the connector lists them.
        """
        out: dict[str, dict[str, list[str]]] = {}
        for resource, model in MODEL_OF.items():
            selection = self.store.select(resource, ListQuery())
            live = selection.page(0, len(selection))
            deleted = sorted(self._deleted[resource])
            if resource == "users":
                live = [i for i in live if self._is_staff(i)]
                deleted = [i for i in deleted if self._is_staff(i)]
            out[model] = {
                "live": [self.x_id(model, i) for i in live],
                "deleted": [self.x_id(model, i) for i in deleted],
            }
        return out

    def _is_staff(self, user_id: int) -> bool:
        # From the generator, which also knows deleted users: updates never
        # change a user's types.
        record = self.store.data.record("users", user_id - FIRST_ID["users"])
        return _EMPLOYEE_TYPE in (record.get("UserTypes") or ())


def _address(fields: _Fields | None) -> Record | None:
    """A ``SaveAddressMessage`` as an ``AddressMessage`` (every key present)."""
    if fields is None:
        return None
    line1 = fields.text("AddressLine1", required=True, max_length=100)
    country = fields.text("Country", required=True)
    postal = fields.text("PostalCode", required=True)
    state = fields.text("State", max_length=100)
    if country is not None and _COUNTRY.fullmatch(country) is None:
        fields.errors.append((f"{fields.prefix}Country", "Country must be a valid Country value."))
    if (
        country == "UnitedStates"
        and state is not None
        and state.strip().casefold() not in _US_STATE_WORDS
    ):
        fields.errors.append(
            (f"{fields.prefix}State", f"'{state}' is not a valid state name or abbreviation.")
        )
    return {
        "AddressLine1": line1,
        "AddressLine2": fields.text("AddressLine2", max_length=100),
        "AddressLine3": fields.text("AddressLine3", max_length=100),
        "City": fields.text("City", max_length=100),
        "State": state,
        "PostalCode": postal,
        "Country": country,
    }


class BuildiumSimulator(Simulator):
    """A fake Buildium account served over HTTP.

    ``scale`` is the number of rental units (other counts follow from it,
    see :class:`~syncd.sim.buildium_data.BuildiumData`); the same ``seed``
    and ``scale`` always serve the same bytes. ``rate_limit`` is requests
    per second per client id (None: the documented 10; 0: none).
    ``faults`` are queued as if added with :meth:`add_fault`. ``store`` is
    the data served.
    """

    renderer: BuildiumRenderer

    def __init__(
        self,
        *,
        seed: int = 0,
        scale: int = 100,
        credentials: Mapping[str, str] | None = None,
        rate_limit: float | None = None,
        faults: Iterable[Fault | Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(
            BuildiumRenderer,
            seed=seed,
            scale=scale,
            credentials=credentials,
            rate_limit=rate_limit,
            faults=faults,
        )
        self.store: BuildiumStore = self.renderer.store


async def run_buildium_simulator(
    *,
    host: str,
    port: int,
    seed: int,
    scale: int,
    credentials: Mapping[str, str] | None,
    rate_limit: float,
    on_ready: Callable[[str, Mapping[str, str]], None],
) -> None:
    """Serve a :class:`BuildiumSimulator` until cancelled.

    ``on_ready`` is called once with the base URL and the credentials it
    accepts, as soon as the server listens.
    """
    sim = BuildiumSimulator(seed=seed, scale=scale, credentials=credentials, rate_limit=rate_limit)
    await serve_forever(sim, host=host, port=port, on_ready=on_ready)
