"""A Rent Manager 12 Web API simulator, rendered from the vendor-neutral world.

Wire format served (facts from public Rent Manager clients; see
``PMS_APIS.md`` §2), at the root of the simulator's URL as at
``https://{company}.api.rentmanager.com``:

- **Login**: ``POST /Authentication/AuthorizeUser`` with JSON
  ``{"Username", "Password", "LocationID"}`` answers the session token as a
  quoted JSON string. Every other request carries it in
  ``X-RM12Api-ApiToken``; a missing, unknown or expired token is a 401.
  Tokens are random, one per login, and stay valid until
  :meth:`RentManagerRenderer.expire_tokens`.
- **Resources**: ``/Properties``, ``/Units``, ``/UnitTypes``, ``/Tenants``,
  ``/Leases``, ``/Prospects``, ``/LeadSources``, ``/Users`` (bare JSON
  arrays) and ``/{Resource}/{id}`` (one object). Paths are matched as
  written (query parameter names are not: ASP.NET binds them
  case-insensitively, and public clients send both ``PageSize`` and
  ``pagesize``).
- **Query language**: ``filters=Field,op,value;Field,op,value`` with the
  operations ``eq ne lt le gt ge in ni bt``; lists are parenthesized:
  ``PropertyID,ni,(1,2)``, ``UpdateDate,bt,(a,b)``. Filterable fields are
  the record's id, ``PropertyID`` (where the record has one), ``CreateDate``,
  ``UpdateDate`` and ``IsActive`` (properties, users).
  ``orderby=Field[ desc][,Field…]`` on the same fields; ``embeds=A,B.C``
  adds related collections (nested with dots). Anything else wrong is a 400
  naming the parameter in ``ModelState``.
- **Paging**: ``PageSize`` (1..1000) + ``PageNumber`` (1-based). Answers
  carry ``X-Total-Results`` (the whole result set) and ``X-Results`` (this
  page), and ``Link: <…>; rel="next"`` while more pages follow. Without
  ``PageSize`` the whole result comes in one answer.
- **Datetimes** are written without a zone, ``2024-03-01T09:00:00``, and
  are UTC in this simulator; filter values with a zone are refused. Dates
  (move-in, birth) are datetimes at midnight. Money is a decimal number of
  dollars. Ids are integers (the world's ids).
- **Errors**: 4xx ``{"Message", "ModelState": {field: [messages]}}``; 5xx
  ``{"UserMessage", "DeveloperMessage", "ErrorCode", "MoreInfoUri",
  "Details"}``.
- **Rate limit**: 500 requests per minute per user (the server base's
  sliding window: 8 requests per 0.96 s). Every authenticated answer carries
  ``X-RateLimit-Limit`` (the window's capacity), ``X-RateLimit-Remaining``
  and ``X-RateLimit-Reset`` (seconds until a slot frees, as a decimal:
  UNCONFIRMED whether Rent Manager sends whole seconds); over the limit,
  429. With the limit disabled no rate headers are sent.

Decisions on points public sources leave open (UNCONFIRMED):

- A page followed by more answers **206 Partial Content**, the last page
  **200**, a page with no records **204 No Content** (still with
  ``X-Total-Results``). Public clients accept all three as success.
- ``orderby`` is honoured (one public client sends it; another names the
  parameter ``orderingOptions``); listings default to id order anyway.
- ``PageSize`` above 1000 is refused with a 400 rather than capped;
  ``PageNumber`` without ``PageSize`` too.
- Record shapes follow a public SDK's models: unit types and lead sources
  have no ``PropertyID`` (they are company-wide); a lease names one
  ``TenantID``, and a tenant's status (``Current``/``Past``/``Future``) is
  the lease's. Units carry ``Bedrooms``, ``Bathrooms``, ``SquareFootage``
  and ``MarketRent``; prospects carry ``LeadSourceID``. Tenants, prospects
  and users expose e-mail only through their ``PrimaryContact`` /
  ``Contacts`` embeds, phone numbers through ``PhoneNumbers``
  (``PhoneNumberType{Name}``: Home, Work, Cell, Office — data, not an enum).
- Writes: ``POST /Prospects`` and ``POST /Tenants`` take a JSON array of
  records and answer the array as saved (with the ``embeds`` asked for);
  a record with an existing ``ProspectID`` / ``TenantID`` updates it, the
  fields sent (others are kept; a sub-record with its id replaces that
  one, one without is added). A new record needs ``PropertyID`` (of an
  existing property) and ``LastName``; ``LeadSourceID`` and
  ``PhoneNumberTypeID`` must exist; e-mail and a tenant's birth date go on
  the primary contact (``Contacts[]`` or ``PrimaryContact``). Nothing is
  saved unless every record is valid; refusals are 400 with ``ModelState``
  keyed by ``[index].Field``. A tenant's written address is kept beside the
  world (whose residents live at their unit's).
- Every world resident is a tenant; a lease belongs to its primary
  resident's tenant (a roommate is a tenant of its own without the lease).
"""

from __future__ import annotations

import calendar
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

import orjson
import structlog
from aiohttp import web

from syncd.sim.faults import RateLimiter, format_retry_after
from syncd.sim.server import (
    Handler,
    Record,
    Renderer,
    SimError,
    Simulator,
    json_response,
)
from syncd.sim.world import Entity, World, mix64

log = structlog.get_logger(__name__)

#: The session token header.
TOKEN_HEADER: Final = "X-RM12Api-ApiToken"
#: The login path.
LOGIN_PATH: Final = "/Authentication/AuthorizeUser"
#: The largest ``PageSize`` accepted.
MAX_PAGE_SIZE: Final = 1000
#: The documented limit: 500 requests per minute per credential.
RATE_LIMIT_PER_MINUTE: Final = 500

#: A tree of embeds: name -> embeds inside it.
Embeds = Mapping[str, "Embeds"]

_CONTACT_EMBEDS: Final[Embeds] = {"PhoneNumbers": {}, "Addresses": {}}
_TENANT_EMBEDS: Final[Embeds] = {
    "Addresses": {},
    "PhoneNumbers": {},
    "PrimaryContact": _CONTACT_EMBEDS,
    "Contacts": _CONTACT_EMBEDS,
}


@dataclass(frozen=True, slots=True)
class _Resource:
    """One list endpoint: its world model, id field and what it can filter and embed."""

    name: str
    model: str
    id_field: str
    has_property: bool
    embeds: Embeds
    #: Boolean fields it can be filtered on (all read the entity's ``is_active``).
    flags: tuple[str, ...] = ()


_RESOURCES: Final[tuple[_Resource, ...]] = (
    _Resource(
        "Properties", "properties", "PropertyID", True, {"Addresses": {}, "PhoneNumbers": {}},
        ("IsActive",),
    ),
    _Resource("UnitTypes", "floor_plans", "UnitTypeID", False, {}),
    _Resource("Units", "units", "UnitID", True, {"Addresses": {}}),
    _Resource("Tenants", "residents", "TenantID", True, _TENANT_EMBEDS),
    _Resource("Leases", "leases", "LeaseID", True, {"Tenant": _TENANT_EMBEDS}),
    _Resource(
        "Prospects", "leads", "ProspectID", True,
        {"Addresses": {}, "PhoneNumbers": {}, "PrimaryContact": _CONTACT_EMBEDS},
    ),
    _Resource("LeadSources", "lead_sources", "LeadSourceID", False, {}),
    _Resource("Users", "employees", "UserID", False, {"PhoneNumbers": {}}, ("IsActive",)),
)  # fmt: skip
_BY_MODEL: Final = {r.model: r for r in _RESOURCES}

#: Phone number types of the simulated account (RM keeps them as records).
_PHONE_TYPES: Final[Mapping[str, tuple[int, str]]] = {
    "HOME": (1, "Home"),
    "WORK": (2, "Work"),
    "MOBILE": (3, "Cell"),
    "OFFICE": (4, "Office"),
    "FAX": (5, "Fax"),
    "OTHER": (6, "Other"),
}
_TENANT_STATUS: Final = {"CURRENT": "Current", "PAST": "Past", "FUTURE": "Future"}
_PROSPECT_STATUS: Final = {
    "NEW": "New",
    "CONTACTED": "Contacted",
    "TOURED": "Showing",
    "APPLIED": "Applied",
    "LOST": "Lost",
    "CONVERTED": "Converted",
}
_PROPERTY_TYPES: Final = {
    "MULTI_FAMILY": "Multi-Family",
    "SINGLE_FAMILY": "Single Family",
    "STUDENT": "Student Housing",
    "SENIOR": "Senior Living",
    "CONDO": "Condominium",
}
# Contacts and sub-records get ids of their own in RM; derive them from the
# parent's so they are stable.
_CONTACT_BASE: Final = {"Tenant": 1_000_000, "Prospect": 5_000_000}
_PARENT_CODE: Final = {"Property": 1, "Unit": 2, "Tenant": 3, "Prospect": 4, "User": 5}

# What a "malformed" fault breaks in the middle record of a page (field, value).
_CORRUPTIONS: Final[Mapping[str, tuple[str, Any]]] = {
    "properties": ("UnitCount", "twelve"),
    "floor_plans": ("UnitTypeID", {"broken": True}),
    "units": ("MarketRent", "call for price"),
    "residents": ("CreateDate", "2024-02-31T25:61:00"),
    "leases": ("MoveInDate", "2024-02-31T00:00:00"),
    "leads": ("UpdateDate", "2024-02-31T25:61:00"),
    "lead_sources": ("Name", {"broken": True}),
    "employees": ("IsActive", "maybe"),
}

_OPERATIONS: Final = frozenset({"eq", "ne", "lt", "le", "gt", "ge", "in", "ni", "bt"})
_LIST_OPERATIONS: Final = frozenset({"in", "ni", "bt"})
_INTEGER = re.compile(r"-?[0-9]+")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,7})?)?)?")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?")

#: A filter on world entities.
_Predicate = Callable[[Entity], bool]


def _bad_request(parameter: str, message: str) -> SimError:
    return SimError(400, "The request is invalid.", details=[(parameter, message)])


def _timestamp(epoch: int | float | None) -> str | None:
    """Epoch seconds as Rent Manager writes datetimes: no zone (UTC here)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _day(iso: str | None) -> str | None:
    """A world date as Rent Manager writes dates: a datetime at midnight."""
    return None if iso is None else f"{iso}T00:00:00"


def _dollars(cents: int | None) -> float | None:
    return None if cents is None else round(cents / 100, 2)


def _parse_datetime(raw: str) -> float | None:
    """A filter datetime (no zone) as epoch seconds; None if it is not one."""
    text = raw.strip()
    iso = _ISO.fullmatch(text)
    if iso is not None:
        year, month, day, hour, minute, second = (int(p) if p else 0 for p in iso.groups())
    else:
        us = _US_DATE.fullmatch(text)
        if us is None:
            return None
        month, day, year, hour, minute, second = (int(p) if p else 0 for p in us.groups())
    try:
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    fraction = float(text[text.index(".") :]) if "." in text and iso is not None else 0.0
    return calendar.timegm(moment.timetuple()) + fraction


class RentManagerRenderer(Renderer):
    """Rent Manager 12's Web API over a world: token login, filters, page numbers."""

    name: ClassVar[str] = "rentmanager"
    credential_keys: ClassVar[tuple[str, ...]] = ("username", "password", "location_id")
    default_rate_limit: ClassVar[float] = RATE_LIMIT_PER_MINUTE / 60.0

    def __init__(self, world: World, credentials: Mapping[str, str]) -> None:
        super().__init__(world, credentials)
        # token -> the user it was issued to (the rate-limit key).
        self._tokens: dict[str, str] = {}
        self.logins = 0
        # (model, id) -> a written address (street, city, state, zip): the
        # world's residents have none of their own (a tenant shows its unit's).
        self._addresses: dict[tuple[str, int], dict[str, Any]] = {}

    @classmethod
    def default_credentials(cls, seed: int) -> dict[str, str]:
        """A user name, a password and location 1 (Rent Manager location ids are integers)."""
        h = mix64(seed * 0x100000001B3 + 0x524D)
        return {
            "username": f"sim-api-{h & 0xFFFF:04x}",
            "password": f"sim-password-{mix64(h):016x}",
            "location_id": "1",
        }

    # -- tokens ---------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Make every token issued so far invalid (the next call with one is a 401)."""
        self._tokens.clear()

    @property
    def live_tokens(self) -> int:
        """How many issued tokens are still accepted."""
        return len(self._tokens)

    # -- the Renderer contract ------------------------------------------------

    def routes(self, sim: Simulator) -> Iterable[tuple[str, str, Handler]]:
        """The login, then every list and single-record endpoint."""
        yield "POST", LOGIN_PATH, self._login
        for resource in _RESOURCES:
            yield "GET", f"/{resource.name}", self._list_handler(sim, resource)
            yield "GET", f"/{resource.name}/{{id:[0-9]+}}", self._single_handler(sim, resource)
            if resource.model in ("leads", "residents"):
                yield "POST", f"/{resource.name}", self._save_handler(sim, resource)

    def public(self, request: web.Request) -> bool:
        """Only the login goes without a token."""
        return request.path == LOGIN_PATH

    async def authenticate(self, request: web.Request) -> str:
        """The user a valid ``X-RM12Api-ApiToken`` was issued to; 401 otherwise."""
        token = request.headers.get(TOKEN_HEADER)
        if not token:
            raise SimError(401, "Authorization has been denied for this request.")
        user = self._tokens.get(token.strip())
        if user is None:
            raise SimError(401, "The API token is invalid or has expired.")
        return user

    def error(self, error: SimError, headers: Mapping[str, str] | None = None) -> web.Response:
        """4xx as ``{"Message", "ModelState"}``, 5xx as Rent Manager's server error body."""
        body: dict[str, Any]
        if error.status >= 500:
            body = {
                "UserMessage": error.message,
                "DeveloperMessage": f"{error.code or 'ServerError'}: {error.message}",
                "ErrorCode": error.status,
                "MoreInfoUri": None,
                "Details": None,
            }
        else:
            state: dict[str, list[str]] = {}
            for key, value in error.details:
                state.setdefault(key, []).append(value)
            body = {"Message": error.message, "ModelState": state}
        return json_response(body, status=error.status, headers=headers)

    def throttled(self, retry_after: float | None) -> SimError:
        """Rent Manager's 429."""
        return SimError(429, "API rate limit exceeded. Try again later.", code="TooManyRequests")

    def rate_headers(self, limiter: RateLimiter, client: str) -> Mapping[str, str]:
        """``X-RateLimit-Limit``/``-Remaining``/``-Reset`` (seconds, decimal), if limited."""
        if not limiter.enabled:
            return {}
        capacity, remaining, reset = limiter.state(client)
        return {
            "X-RateLimit-Limit": str(capacity),
            "X-RateLimit-Remaining": str(remaining),
            # Rounded up to the millisecond: a client waiting that long finds
            # the slot free.
            "X-RateLimit-Reset": format_retry_after(math.ceil(reset * 1000) / 1000),
        }

    def corrupt(self, model: str, records: list[Record]) -> list[Record]:
        """Two broken records: a text id, and a bad value of a field the transform reads."""
        out = list(records)
        resource = _BY_MODEL[model]
        if out:
            out[0] = {**out[0], resource.id_field: "not-a-number"}
        if len(out) >= 2:
            field, bad = _CORRUPTIONS[model]
            i = len(out) // 2
            out[i] = {**out[i], field: bad}
        return out

    def x_id(self, model: str, entity_id: int) -> str:
        """Rent Manager ids are the world's integer ids."""
        return str(entity_id)

    # -- handlers -------------------------------------------------------------

    async def _login(self, request: web.Request) -> web.Response:
        try:
            body = await request.json(loads=orjson.loads)
        except ValueError:
            raise _bad_request("request", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise _bad_request("request", "Expected a JSON object.")
        fields = {str(k).lower(): v for k, v in body.items()}
        missing = [
            name
            for name in ("Username", "Password")
            if not isinstance(fields.get(name.lower()), str)
        ]
        if missing:
            raise SimError(
                400,
                "The request is invalid.",
                details=[(f"request.{name}", f"The {name} field is required.") for name in missing],
            )
        location = fields.get("locationid")
        if location is not None and (isinstance(location, bool) or not isinstance(location, int)):
            raise _bad_request("request.LocationID", "The LocationID field must be an integer.")
        if (
            fields["username"] != self.credentials["username"]
            or fields["password"] != self.credentials["password"]
        ):
            log.info("sim.rentmanager.login_refused", reason="credentials")
            raise SimError(401, "Invalid username or password.")
        wanted = int(self.credentials["location_id"])
        if location is not None and location != wanted:
            log.info("sim.rentmanager.login_refused", reason="location", location=location)
            raise SimError(401, f"The user does not have access to location {location}.")
        token = secrets.token_hex(24)
        self._tokens[token] = self.credentials["username"]
        self.logins += 1
        return json_response(token)

    def _list_handler(self, sim: Simulator, resource: _Resource) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return self._list(sim, request, resource)

        return handle

    def _single_handler(self, sim: Simulator, resource: _Resource) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return self._single(sim, request, resource)

        return handle

    def _list(self, sim: Simulator, request: web.Request, resource: _Resource) -> web.Response:
        query = _query(request)
        size = _positive_int(query, "pagesize", "PageSize", high=MAX_PAGE_SIZE)
        number = _positive_int(query, "pagenumber", "PageNumber")
        if number is not None and size is None:
            raise _bad_request("PageSize", "PageSize is required when PageNumber is given.")
        embeds = _parse_embeds(query.get("embeds"), resource)
        predicates = _parse_filters(query.get("filters"), resource)
        order = _parse_orderby(query.get("orderby"), resource)
        # After validation: a refused request changes nothing.
        sim.drift(request, resource.model)
        entities = [e for e in self.world.all(resource.model) if all(p(e) for p in predicates)]
        for key, descending in reversed(order):
            entities.sort(key=key, reverse=descending)
        page = number or 1
        offset = (page - 1) * size if size is not None else 0
        records, total = sim.page(
            request,
            resource.model,
            entities,
            offset,
            size,
            lambda e: self.render(resource.model, e, embeds),
        )
        headers = {"X-Total-Results": str(total), "X-Results": str(len(records))}
        # The next link follows the records really there, whatever total a
        # fault makes the header announce.
        more = size is not None and page * size < len(entities)
        if more:
            headers["Link"] = f'<{_next_page_url(request, page + 1)}>; rel="next"'
        if not records:
            return web.Response(status=204, headers=headers)
        return json_response(records, status=206 if more else 200, headers=headers)

    def _single(self, sim: Simulator, request: web.Request, resource: _Resource) -> web.Response:
        embeds = _parse_embeds(_query(request).get("embeds"), resource)
        sim.drift(request, resource.model)
        entity_id = int(request.match_info["id"])
        entity = self.world.get(resource.model, entity_id)
        if entity is None:
            raise SimError(404, f"No {resource.name} record has {resource.id_field} {entity_id}.")
        return json_response(self.render(resource.model, entity, embeds))

    # -- writes -------------------------------------------------------------

    def _save_handler(self, sim: Simulator, resource: _Resource) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._save(request, resource)

        return handle

    async def _save(self, request: web.Request, resource: _Resource) -> web.Response:
        """``POST /Prospects`` / ``POST /Tenants``: validate every record, then save them all."""
        embeds = _parse_embeds(_query(request).get("embeds"), resource)
        try:
            body = await request.json(loads=orjson.loads)
        except ValueError:
            raise _bad_request("request", "The request body is not valid JSON.") from None
        noun = resource.name[:-1]
        if not isinstance(body, list) or not all(isinstance(i, dict) for i in body):
            raise _bad_request("request", f"Expected a JSON array of {noun} records.")
        problems: list[tuple[str, str]] = []
        plans = [self._save_plan(resource, f"[{i}]", item, problems) for i, item in enumerate(body)]
        if problems:
            raise SimError(400, "The request is invalid.", details=problems)
        now = int(time.time())
        saved = []
        for entity_id, values, address in plans:
            if entity_id is None:
                entity = self.world.insert(resource.model, values, now=now)
            else:
                entity = self.world.update(resource.model, entity_id, values, now=now)
            if address is not None:
                self._addresses[(resource.model, entity["id"])] = address
            saved.append(self.render(resource.model, entity, embeds))
        return json_response(saved)

    def _save_plan(
        self,
        resource: _Resource,
        where: str,
        item: Mapping[str, Any],
        problems: list[tuple[str, str]],
    ) -> tuple[int | None, dict[str, Any], dict[str, Any] | None]:
        """What saving ``item`` changes: (id to update or None, world values, tenant address)."""
        fields = {str(k).lower(): v for k, v in item.items()}
        values: dict[str, Any] = {}
        noun = resource.name[:-1]

        def problem(field: str, message: str) -> None:
            problems.append((f"{where}.{field}", message))

        current: Entity | None = None
        raw_id = fields.get(resource.id_field.lower())
        if raw_id not in (None, 0):
            if isinstance(raw_id, bool) or not isinstance(raw_id, int):
                problem(resource.id_field, f"The {resource.id_field} field must be an integer.")
            else:
                current = self.world.get(resource.model, raw_id)
                if current is None:
                    problem(
                        resource.id_field, f"No {noun} record has {resource.id_field} {raw_id}."
                    )
                    return None, values, None
        pid = fields.get("propertyid")
        if pid is None and current is None:
            problem("PropertyID", "The PropertyID field is required.")
        elif pid is not None:
            if isinstance(pid, bool) or not isinstance(pid, int):
                problem("PropertyID", "The PropertyID field must be an integer.")
            elif not self.world.exists("properties", pid):
                problem("PropertyID", f"Property {pid} does not exist.")
            elif current is not None and current["property_id"] != pid:
                problem("PropertyID", f"A {noun.lower()} cannot be moved to another property.")
            else:
                values["property_id"] = pid
        for key, name in (("firstname", "FirstName"), ("lastname", "LastName")):
            if key in fields:
                text = fields[key]
                if text is not None and not isinstance(text, str):
                    problem(name, f"The {name} field must be text.")
                else:
                    values[key.replace("name", "_name")] = (text or "").strip() or None
        last = values.get("last_name", current["last_name"] if current is not None else None)
        if not last:
            problem("LastName", "The LastName field is required.")
        if resource.model == "leads" and fields.get("leadsourceid") is not None:
            source = fields["leadsourceid"]
            if isinstance(source, bool) or not isinstance(source, int):
                problem("LeadSourceID", "The LeadSourceID field must be an integer.")
            elif not self.world.exists("lead_sources", source):
                problem("LeadSourceID", f"Lead source {source} does not exist.")
            else:
                values["lead_source_id"] = source
        if "phonenumbers" in fields:
            phones = self._saved_phones(resource, current, fields["phonenumbers"], problem)
            if phones is not None:
                values["phones"] = phones
        address = None
        if "addresses" in fields:
            address = _saved_address(fields["addresses"], problem)
            if address is not None and resource.model == "leads":
                values.update(address)
                address = None
        contacts = fields.get("contacts")
        if contacts is None and isinstance(fields.get("primarycontact"), dict):
            contacts = [fields["primarycontact"]]
        if contacts is not None:
            values.update(_saved_contact(resource, contacts, problem))
        entity_id = current["id"] if current is not None else None
        return entity_id, values, address

    def _saved_phones(
        self,
        resource: _Resource,
        current: Entity | None,
        raw: Any,
        problem: Callable[[str, str], None],
    ) -> list[dict[str, str]] | None:
        if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
            problem("PhoneNumbers", "The PhoneNumbers field must be an array of phone numbers.")
            return None
        parent = "Prospect" if resource.model == "leads" else "Tenant"
        phones = list(current["phones"]) if current is not None else []
        kinds = {type_id: kind for kind, (type_id, _) in _PHONE_TYPES.items()}
        for i, item in enumerate(raw):
            fields = {str(k).lower(): v for k, v in item.items()}
            number = fields.get("phonenumber")
            type_id = fields.get("phonenumbertypeid")
            if not isinstance(number, str) or not number.strip():
                problem(f"PhoneNumbers[{i}].PhoneNumber", "The PhoneNumber field is required.")
                continue
            if type_id not in kinds:
                problem(
                    f"PhoneNumbers[{i}].PhoneNumberTypeID",
                    f"Phone number type {type_id} does not exist.",
                )
                continue
            phone = {"type": kinds[type_id], "number": number.strip()}
            slot = _phone_slot(parent, current, fields.get("phonenumberid"))
            if slot is not None and slot < len(phones):
                phones[slot] = phone
            else:
                phones.append(phone)
        return phones

    # -- rendering ------------------------------------------------------------

    def render(self, model: str, entity: Entity, embeds: Embeds | None = None) -> Record:
        """One world entity as Rent Manager's record, with the ``embeds`` asked for."""
        make: Callable[[Entity, Embeds], Record] = getattr(self, f"_render_{model}")
        return make(entity, embeds or {})

    def _render_properties(self, e: Entity, embeds: Embeds) -> Record:
        manager = self.world.get("employees", e["manager_id"]) if e["manager_id"] else None
        record: Record = {
            "PropertyID": e["id"],
            "Name": e["name"],
            "ShortName": e["code"],
            "IsActive": e["is_active"],
            "PropertyType": _PROPERTY_TYPES.get(e["type"], e["type"]),
            "Email": e["email"],
            "Comment": None,
            "ManagerName": f"{manager['first_name']} {manager['last_name']}" if manager else None,
            "UnitCount": e["unit_count"],
            **_stamps(e),
        }
        if "Addresses" in embeds:
            record["Addresses"] = [_address("Property", e["id"], e, e["address_1"])]
        if "PhoneNumbers" in embeds:
            record["PhoneNumbers"] = _phones("Property", e["id"], [("OFFICE", e["phone"])])
        return record

    def _render_floor_plans(self, e: Entity, embeds: Embeds) -> Record:
        return {
            "UnitTypeID": e["id"],
            "Name": e["name"],
            "Comment": (f"{e['bedrooms']} bd / {e['bathrooms']:g} ba, {e['square_feet']} sq ft"),
            **_stamps(e),
        }

    def _render_units(self, e: Entity, embeds: Embeds) -> Record:
        record: Record = {
            "UnitID": e["id"],
            "PropertyID": e["property_id"],
            "UnitTypeID": e["floor_plan_id"],
            "Name": e["number"],
            "Comment": None,
            "Bedrooms": e["bedrooms"],
            "Bathrooms": e["bathrooms"],
            "SquareFootage": e["square_feet"],
            "MarketRent": _dollars(e["market_rent_cents"]),
            **_stamps(e),
        }
        if "Addresses" in embeds:
            record["Addresses"] = [_address("Unit", e["id"], e, e["address_1"])]
        return record

    def _render_residents(self, e: Entity, embeds: Embeds) -> Record:
        record: Record = {
            "TenantID": e["id"],
            "TenantDisplayID": e["id"],
            "Name": f"{e['first_name']} {e['last_name']}",
            "FirstName": e["first_name"],
            "LastName": e["last_name"],
            "PropertyID": e["property_id"],
            "Status": _TENANT_STATUS.get(e["status"], e["status"]),
            "RentDueDay": 1,
            "RentPeriod": "Monthly",
            "Comment": None,
            **_stamps(e),
        }
        if "Addresses" in embeds:
            written = self._addresses.get(("residents", e["id"]))
            unit = self.world.get("units", e["unit_id"]) if e["unit_id"] else None
            if written is not None:
                record["Addresses"] = [_address("Tenant", e["id"], written, written["address_1"])]
            else:
                record["Addresses"] = (
                    [_address("Tenant", e["id"], unit, unit["address_1"])] if unit else []
                )
        if "PhoneNumbers" in embeds:
            record["PhoneNumbers"] = _phones("Tenant", e["id"], _world_phones(e))
        contact = embeds.get("PrimaryContact")
        if contact is not None:
            record["PrimaryContact"] = self._contact("Tenant", e, contact)
        contacts = embeds.get("Contacts")
        if contacts is not None:
            record["Contacts"] = [self._contact("Tenant", e, contacts)]
        return record

    def _render_leases(self, e: Entity, embeds: Embeds) -> Record:
        tenant_id = e["primary_resident_id"]
        record: Record = {
            "LeaseID": e["id"],
            "TenantID": tenant_id,
            "UnitID": e["unit_id"],
            "PropertyID": e["property_id"],
            "MoveInDate": _day(e["move_in_date"]),
            "MoveOutDate": _day(e["move_out_date"]),
            "SortOrder": 1,
            **_stamps(e),
        }
        inner = embeds.get("Tenant")
        if inner is not None:
            tenant = self.world.get("residents", tenant_id) if tenant_id else None
            record["Tenant"] = self._render_residents(tenant, inner) if tenant else None
        return record

    def _render_leads(self, e: Entity, embeds: Embeds) -> Record:
        record: Record = {
            "ProspectID": e["id"],
            "ProspectDisplayID": e["id"],
            "PropertyID": e["property_id"],
            "Name": f"{e['first_name']} {e['last_name']}",
            "FirstName": e["first_name"],
            "LastName": e["last_name"],
            "Comment": e["notes"],
            "ProspectStatus": _PROSPECT_STATUS.get(e["status"], e["status"]),
            "ProspectLostReasonDescription": "Rented elsewhere" if e["status"] == "LOST" else None,
            "LastStatusChangedDate": _timestamp(e["updated"]),
            "FirstContact": _day(e["first_contact"]),
            "LeadSourceID": e["lead_source_id"],
            **_stamps(e),
        }
        if "Addresses" in embeds:
            record["Addresses"] = [_address("Prospect", e["id"], e, e["address_1"])]
        if "PhoneNumbers" in embeds:
            record["PhoneNumbers"] = _phones("Prospect", e["id"], _world_phones(e))
        contact = embeds.get("PrimaryContact")
        if contact is not None:
            record["PrimaryContact"] = self._contact("Prospect", e, contact)
        return record

    def _render_lead_sources(self, e: Entity, embeds: Embeds) -> Record:
        return {
            "LeadSourceID": e["id"],
            "Name": e["name"],
            "Description": None,
            "IsActive": True,
            **_stamps(e),
        }

    def _render_employees(self, e: Entity, embeds: Embeds) -> Record:
        record: Record = {
            "UserID": e["id"],
            "Username": f"{e['first_name'][0]}{e['last_name'].split(' ')[0]}{e['id']}".lower(),
            "Firstname": e["first_name"],
            "Lastname": e["last_name"],
            "Name": f"{e['first_name']} {e['last_name']}",
            "IsActive": e["is_active"],
            "Email": e["email"],
            "HasAPIAccess": False,
            "DefaultLocationID": int(self.credentials["location_id"]),
            **_stamps(e),
        }
        if "PhoneNumbers" in embeds:
            record["PhoneNumbers"] = _phones("User", e["id"], [("WORK", e["phone"])])
        return record

    def _contact(self, parent_type: str, e: Entity, embeds: Embeds) -> Record:
        """The person behind a tenant or prospect: RM's Contact, primary."""
        contact: Record = {
            "ContactID": _CONTACT_BASE[parent_type] + e["id"],
            "FirstName": e["first_name"],
            "MiddleName": e.get("middle_name"),
            "LastName": e["last_name"],
            "IsPrimary": True,
            "DateOfBirth": _day(e.get("date_of_birth")),
            "Email": e["email"],
            "Comment": None,
            "ParentID": e["id"],
            "ParentType": parent_type,
            **_stamps(e),
        }
        if "PhoneNumbers" in embeds:
            contact["PhoneNumbers"] = _phones(parent_type, e["id"], _world_phones(e))
        if "Addresses" in embeds:
            contact["Addresses"] = []
        return contact


# -- rendering helpers ------------------------------------------------------


def _stamps(e: Entity) -> Record:
    return {
        "CreateDate": _timestamp(e["created"]),
        "CreateUserID": 1,
        "UpdateDate": _timestamp(e["updated"]),
        "UpdateUserID": 1,
    }


def _world_phones(e: Entity) -> list[tuple[str, str]]:
    return [(p["type"], p["number"]) for p in e.get("phones") or []]


def _phones(
    parent_type: str, parent_id: int, phones: Sequence[tuple[str, str | None]]
) -> list[Record]:
    out: list[Record] = []
    for i, (kind, number) in enumerate(phones):
        if not number:
            continue
        type_id, type_name = _PHONE_TYPES.get(kind, _PHONE_TYPES["HOME"])
        out.append(
            {
                "PhoneNumberID": (_PARENT_CODE[parent_type] * 10_000_000 + parent_id) * 10 + i,
                "PhoneNumberTypeID": type_id,
                "PhoneNumber": number,
                "Extension": "",
                "StrippedPhoneNumber": re.sub(r"\D", "", number),
                "IsPrimary": i == 0,
                "ParentID": parent_id,
                "ParentType": parent_type,
                "PhoneNumberType": {
                    "PhoneNumberTypeID": type_id,
                    "Name": type_name,
                    "Description": type_name,
                    "SortOrder": type_id,
                    "ParentType": parent_type,
                },
            }
        )
    return out


def _address(parent_type: str, parent_id: int, place: Entity, street: str | None) -> Record:
    city, state, postal = place.get("city"), place.get("state"), place.get("zip")
    line = ", ".join(p for p in (street, city) if p)
    full = f"{line}, {state} {postal}".strip(", ") if state or postal else line
    return {
        "AddressID": _PARENT_CODE[parent_type] * 10_000_000 + parent_id,
        "AddressTypeID": 1,
        "Address": full,
        "Street": street,
        "City": city,
        "State": state,
        "PostalCode": postal,
        "IsPrimary": True,
        "ParentID": parent_id,
        "ParentType": parent_type,
    }


def _phone_slot(parent_type: str, current: Entity | None, phone_id: Any) -> int | None:
    """Which of ``current``'s phones ``phone_id`` (as :func:`_phones` renders ids) names."""
    if current is None or isinstance(phone_id, bool) or not isinstance(phone_id, int):
        return None
    owner, slot = divmod(phone_id, 10)
    if owner != _PARENT_CODE[parent_type] * 10_000_000 + current["id"]:
        return None
    return slot


def _saved_address(raw: Any, problem: Callable[[str, str], None]) -> dict[str, Any] | None:
    """The primary address a save carries, as world keys (street, city, state, zip)."""
    if not isinstance(raw, list) or not all(isinstance(a, dict) for a in raw):
        problem("Addresses", "The Addresses field must be an array of addresses.")
        return None
    if not raw:
        return None
    chosen = next((a for a in raw if a.get("IsPrimary")), raw[0])
    fields = {str(k).lower(): v for k, v in chosen.items()}
    out: dict[str, Any] = {}
    for key, name, world in (
        ("street", "Street", "address_1"),
        ("city", "City", "city"),
        ("state", "State", "state"),
        ("postalcode", "PostalCode", "zip"),
    ):
        if key in fields:
            value = fields[key]
            if value is not None and not isinstance(value, str):
                problem(f"Addresses.{name}", f"The {name} field must be text.")
                continue
            out[world] = (value or "").strip() or None
    return out


def _saved_contact(
    resource: _Resource, raw: Any, problem: Callable[[str, str], None]
) -> dict[str, Any]:
    """The primary contact's e-mail (and a tenant's birth date) as world keys."""
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
        problem("Contacts", "The Contacts field must be an array of contacts.")
        return {}
    if not raw:
        return {}
    chosen = next((c for c in raw if c.get("IsPrimary")), raw[0])
    fields = {str(k).lower(): v for k, v in chosen.items()}
    out: dict[str, Any] = {}
    if "email" in fields:
        email = fields["email"]
        if email is not None and (not isinstance(email, str) or "@" not in email):
            problem("Contacts.Email", f"'{email}' is not a valid e-mail address.")
        else:
            out["email"] = (email or "").strip() or None
    if "dateofbirth" in fields and resource.model == "residents":
        born = fields["dateofbirth"]
        moment = _parse_datetime(born) if isinstance(born, str) else None
        if born is not None and moment is None:
            problem("Contacts.DateOfBirth", f"'{born}' is not a valid date.")
        else:
            out["date_of_birth"] = (
                datetime.fromtimestamp(moment, UTC).date().isoformat()
                if moment is not None
                else None
            )
    return out


# -- query parsing ------------------------------------------------------------


def _query(request: web.Request) -> dict[str, str]:
    """Query parameters by lower-cased name (ASP.NET binds them case-insensitively)."""
    return {key.lower(): value for key, value in request.query.items()}


def _positive_int(
    query: Mapping[str, str], key: str, name: str, *, high: int | None = None
) -> int | None:
    raw = query.get(key)
    if raw is None:
        return None
    if _INTEGER.fullmatch(raw.strip()) is None:
        raise _bad_request(name, f"The value '{raw}' is not valid for {name}.")
    value = int(raw)
    if value < 1:
        raise _bad_request(name, f"{name} must be at least 1.")
    if high is not None and value > high:
        raise _bad_request(name, f"{name} must be at most {high}.")
    return value


def _parse_embeds(raw: str | None, resource: _Resource) -> Embeds:
    """``A,B.C`` as a tree, each name checked against what the resource can embed."""
    tree: dict[str, Any] = {}
    if raw is None or not raw.strip():
        return tree
    for item in raw.split(","):
        path = [p.strip() for p in item.split(".")]
        allowed: Embeds = resource.embeds
        node = tree
        for depth, part in enumerate(path):
            match = next((name for name in allowed if name.lower() == part.lower()), None)
            if match is None:
                where = ".".join(path[:depth]) or resource.name
                raise _bad_request("embeds", f"'{part}' is not a valid embed of {where}.")
            node = node.setdefault(match, {})
            allowed = allowed[match]
    return tree


def _field_kinds(resource: _Resource) -> dict[str, tuple[str, str]]:
    """Filterable/sortable fields: lower-cased name -> (kind, entity key)."""
    fields = {
        resource.id_field.lower(): ("int", "id"),
        "createdate": ("datetime", "created"),
        "updatedate": ("datetime", "updated"),
    }
    if resource.has_property and resource.model != "properties":
        fields["propertyid"] = ("int", "property_id")
    for flag in resource.flags:
        fields[flag.lower()] = ("bool", "is_active")
    return fields


def _parse_value(kind: str, raw: str, text: str) -> Any:
    value = raw.strip()
    if kind == "int":
        if _INTEGER.fullmatch(value) is None:
            raise _bad_request("filters", f"'{value}' is not an integer in '{text}'.")
        return int(value)
    if kind == "bool":
        if value.lower() not in ("true", "false"):
            raise _bad_request("filters", f"'{value}' is not true or false in '{text}'.")
        return value.lower() == "true"
    moment = _parse_datetime(value)
    if moment is None:
        raise _bad_request(
            "filters",
            f"'{value}' is not a valid date-time in '{text}' (YYYY-MM-DDTHH:MM:SS, no time zone).",
        )
    return moment


def _parse_filters(raw: str | None, resource: _Resource) -> list[_Predicate]:
    """``Field,op,value;…`` as predicates on world entities."""
    if raw is None or not raw.strip():
        return []
    kinds = _field_kinds(resource)
    predicates: list[_Predicate] = []
    for text in (part.strip() for part in raw.split(";")):
        if not text:
            continue
        parts = text.split(",", 2)
        if len(parts) != 3:
            raise _bad_request("filters", f"'{text}' is not a filter (Field,operation,value).")
        field, operation, value = parts[0].strip(), parts[1].strip().lower(), parts[2]
        known = kinds.get(field.lower())
        if known is None:
            raise _bad_request("filters", f"'{field}' cannot be filtered on {resource.name}.")
        if operation not in _OPERATIONS:
            raise _bad_request("filters", f"'{operation}' is not a filter operation.")
        kind, key = known
        if operation in _LIST_OPERATIONS:
            inner = value.strip()
            if not (inner.startswith("(") and inner.endswith(")")):
                raise _bad_request(
                    "filters", f"'{operation}' takes a parenthesized list in '{text}'."
                )
            values = [_parse_value(kind, v, text) for v in inner[1:-1].split(",") if v.strip()]
            if operation == "bt" and len(values) != 2:
                raise _bad_request("filters", f"'bt' takes two values in '{text}'.")
            predicates.append(_list_predicate(key, operation, values))
        else:
            predicates.append(_predicate(key, operation, _parse_value(kind, value, text)))
    return predicates


def _predicate(key: str, operation: str, value: Any) -> _Predicate:
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "eq": lambda a, b: a == b,
        "ne": lambda a, b: a != b,
        "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
    }
    test = compare[operation]

    def check(entity: Entity) -> bool:
        current = entity.get(key)
        if current is None:
            return operation == "ne"
        return test(current, value)

    return check


def _list_predicate(key: str, operation: str, values: list[Any]) -> _Predicate:
    def check(entity: Entity) -> bool:
        current = entity.get(key)
        if operation == "bt":
            return current is not None and values[0] <= current <= values[1]
        inside = current in values
        return inside if operation == "in" else not inside

    return check


_SortKey = Callable[[Entity], Any]


def _parse_orderby(raw: str | None, resource: _Resource) -> list[tuple[_SortKey, bool]]:
    if raw is None or not raw.strip():
        return []
    kinds = _field_kinds(resource)
    order: list[tuple[_SortKey, bool]] = []
    for term in raw.split(","):
        words = term.split()
        if not words or len(words) > 2:
            raise _bad_request("orderby", f"'{term.strip()}' is not a sort term.")
        known = kinds.get(words[0].lower())
        if known is None:
            raise _bad_request("orderby", f"'{words[0]}' cannot be sorted on {resource.name}.")
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise _bad_request("orderby", f"'{words[1]}' is not asc or desc.")
        order.append((_sort_key(known[1]), direction == "desc"))
    return order


def _sort_key(key: str) -> _SortKey:
    def sort_key(entity: Entity) -> tuple[bool, Any]:
        value = entity.get(key)
        # None sorts first, as SQL Server does.
        return (value is not None, value if value is not None else 0)

    return sort_key


def _next_page_url(request: web.Request, number: int) -> str:
    """The request's URL asking for page ``number`` (the ``PageNumber`` replaced)."""
    items = [(k, v) for k, v in request.query.items() if k.lower() != "pagenumber"]
    items.append(("PageNumber", str(number)))
    return str(request.url.with_query(items))


__all__ = ["LOGIN_PATH", "MAX_PAGE_SIZE", "TOKEN_HEADER", "RentManagerRenderer"]
