"""A ResMan simulator: the classic API and the Partners API (v2) on one server.

Both of ResMan's generations are served over one
:class:`~syncd.sim.world.World`, as the connector reads them:

- **classic** (``https://api.myresman.com``): ``POST /{Area}/{Method}``
  with a form body (``application/x-www-form-urlencoded``) carrying
  ``IntegrationPartnerID``, ``ApiKey``, ``AccountID`` and ``PropertyID``;
  ``Accept: application/json`` answers JSON, anything else XML under a
  ``<ResMan>`` root. Served: ``Leasing/GetProspectSources`` →
  ``{"ProspectSources": [{"ID", "Name"}]}`` and ``Leasing/GetCurrentResidents``
  → ``{"Residents": [...]}`` (PascalCase fields, booleans as ``"True"`` /
  ``"False"`` text, as the classic API writes them). Every answer carries
  ``MethodName``, ``Status`` (``Success`` / ``Failed``), ``AccountID`` and
  ``PropertyID``; a failure has ``ErrorDescription`` instead of data.
  Form field names are matched case-insensitively, as ASP.NET binds them.
- **Partners API** (``https://partners-api.myresman.com``): ``GET`` with
  HTTP Basic ``IntegrationPartnerID:ApiKey`` plus the ``ResMan-Account-Id``
  header; query parameters (names case-insensitive); camelCase JSON lists
  wrapped in an object: ``/Properties`` → ``{"properties"}``,
  ``/UnitTypes?propertyId`` → ``{"unitTypes"}``,
  ``/Units/Availability?propertyId`` → ``{"units"}``,
  ``/Prospects?propertyId&modifiedSince`` → ``{"prospects"}``,
  ``/Leasing/Leases?propertyId&modifiedSince[&includeLeaseHistory]`` →
  ``{"leases"}``, ``/Employees`` → ``{"employees"}``. Errors are standard
  HTTP statuses with ``{"code", "message"}``. Field names follow the
  record types of a public Partners API client (StaticPrime/resman-connector,
  ``src/types``), including its spellings ``denailDate`` and
  ``moveOutReconcillationDate``.

Decisions taken where ResMan's documents are not public (UNCONFIRMED):

- The classic API answers failures in the format asked for (JSON with
  ``Accept: application/json``, XML otherwise), like its data.
- The classic API reports a failed call in its body with HTTP 200
  (``"Status": "Failed"``, ``"ErrorDescription"``), refused credentials
  included; only rate limiting (429) and internal errors (500) change the
  HTTP status. Integrators' code checks both, and so does the connector.
- ``modifiedSince`` is required on ``/Prospects`` and ``/Leasing/Leases``
  (the public client never omits it); it accepts ISO 8601 and RFC 1123
  dates, and answers records modified at or after it.
- ``Leasing/GetCurrentResidents`` lists the residents whose lease is
  current, so ``/_sim/truth`` reports those as the live residents; and as
  every call but ``/Properties`` and ``/Employees`` is per property, records
  of a deleted property are no longer listed (nor reported live) either.
- The limit is 2 requests per second per integration partner, over both
  APIs; a 429 carries ``Retry-After`` (whole seconds).

Ids are GUIDs, derived with ``uuid5`` from the world's seed, the model and
the entity id, so a seed always serves the same ids. Money is a JSON number
in dollars; dates are ``YYYY-MM-DD``; ``lastModified`` is UTC
``YYYY-MM-DDTHH:MM:SSZ``.

Writes: ``POST /MITS/PostLeadManagement4_0`` (classic: form fields as above
plus ``Xml``, a MITS Lead Management 4.0 document with one ``Prospect``)
creates a guest card, or updates the prospect its customer's
``Identification[@IDType=ProspectID]`` names (a ``PersonID`` must be the
main person's). Its first customer gives ``Name`` (first and last name
required), ``Email``, ``Phone[@PhoneType]`` (home, cell, office, fax,
other) and ``Address``; ``CustomerPreferences`` the target move-in date,
desired unit (``Identification[@IDType=UnitID]`` or ``MarketingName``) and
floor plan (unit type id or name), rent (``DesiredRent@Max``, dollars),
bedrooms, bathrooms and lease term; each ``Event`` its ``Agent/AgentID``
(an employee's person id), ``TransactionSource`` (a prospect source of the
property) and ``Comments`` (the notes). A new guest card needs both an
agent and a source. Refusals are classic failures (``Status: Failed``
with an ``ErrorDescription`` such as ``Transaction Source could not be
found.``, ResMan's words for an unknown source); the success answer names
the prospect under ``Response.LeadManagement.Prospects.Prospect[]
.Customers.Customer[].Identification[]`` (JSON, or XML with attributes).
``/Prospects`` also takes ``prospectId`` and ``personId``.

Besides the vendor-neutral control plane (see :mod:`syncd.sim.server`),
``GET /_sim/resman/requests`` lists every request that reached
authentication with the property it named (``DELETE`` clears it), so a
test can prove a property was never asked for.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from aiohttp import web

from syncd.sim.faults import RateLimiter
from syncd.sim.server import (
    Handler,
    Record,
    Renderer,
    SimError,
    Simulator,
    control_json,
    json_response,
)
from syncd.sim.world import Entity, World, mix64

#: Namespace of every simulated ResMan GUID.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://api.myresman.com/")

_GUID = re.compile(r"\{?[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}\}?")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})

_PROPERTY_TYPES = {
    "MULTI_FAMILY": "Multi-Family",
    "SINGLE_FAMILY": "Single Family",
    "STUDENT": "Student",
    # Senior communities in ResMan are typically affordable (HUD) housing.
    "SENIOR": "HUD",
    "CONDO": "Condo",
}
_LEASE_STATUSES = {"CURRENT": "Current", "PAST": "Former", "FUTURE": "Pending"}
_PROSPECT_STATUSES = {
    "NEW": "Prospect",
    "CONTACTED": "Prospect",
    "TOURED": "Prospect",
    "APPLIED": "Applicant",
    "LOST": "Lost",
    "CONVERTED": "Resident",
}
_PHONE_TYPES = {"MOBILE": "Mobile", "HOME": "Home", "WORK": "Work", "FAX": "Fax", "OTHER": "Other"}
_CLASSIC_PHONES = {"MOBILE": "MobilePhone", "HOME": "HomePhone", "WORK": "WorkPhone"}
_TIME_ZONES = {
    "TN": "America/Chicago",
    "IL": "America/Chicago",
    "TX": "America/Chicago",
    "CO": "America/Denver",
    "AZ": "America/Phoenix",
    "OR": "America/Los_Angeles",
    "WA": "America/Los_Angeles",
}
#: Models listed for the whole account rather than per property.
_ACCOUNT_WIDE = frozenset({"properties", "employees"})
_LOST_REASONS = ("Price", "Location", "Leased Elsewhere", "No Response")

# What a "malformed" fault breaks in the records of a page, per model: a
# field the transform reads, given a value of the wrong kind.
_CORRUPTIONS: dict[str, tuple[str, Any]] = {
    "properties": ("name", {"value": "unreadable"}),
    "floor_plans": ("bedrooms", "two"),
    "units": ("marketRent", "call for price"),
    "residents": ("BirthDate", "1980-02-31"),
    "leases": ("leaseStartDate", "2024-02-31"),
    "lead_sources": ("Name", {"value": "unreadable"}),
    "leads": ("lastModified", "2024-02-31T25:61:00Z"),
    "employees": ("firstName", ["unreadable"]),
}


@dataclass(frozen=True, slots=True)
class _Call:
    """Which API the request in hand speaks, for wording its errors."""

    classic: bool
    method: str = ""
    #: The client accepts JSON (else a classic answer, failures included, is XML).
    json: bool = True


# Set by authenticate() for the request in hand: the server base words the
# 429s and 500s it raises after authentication through Renderer.error(),
# which is not handed the request.
_CALL: ContextVar[_Call | None] = ContextVar("resman_call", default=None)


class _ClassicError(SimError):
    """A classic API failure: ``"Status": "Failed"`` with an ``ErrorDescription``."""

    def __init__(self, status: int, message: str, method: str) -> None:
        super().__init__(status, message, code="Failed")
        self.method = method


def _utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day_of(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()


def _shift(day: str | None, days: int) -> str | None:
    if day is None:
        return None
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def _dollars(cents: int | None) -> float | None:
    return None if cents is None else cents / 100


def _text_bool(flag: bool) -> str:
    return "True" if flag else "False"


def parse_partners_datetime(raw: str) -> int | None:
    """A Partners API date-time parameter as epoch seconds (None: unreadable).

    Accepts ISO 8601 (``Z``, an offset or none, which means UTC; a date
    alone is midnight) and RFC 1123 (``Tue, 02 Jan 2024 10:00:00 GMT``), as
    ASP.NET model binding does.
    """
    text = raw.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _to_xml(tag: str, value: Any, items: Mapping[str, str]) -> str:
    """``value`` as an XML element; list items take their tag from ``items``."""
    if isinstance(value, Mapping):
        inner = "".join(_to_xml(k, v, items) for k, v in value.items())
        return f"<{tag}>{inner}</{tag}>"
    if isinstance(value, list):
        child = items.get(tag, "Item")
        inner = "".join(_to_xml(child, v, items) for v in value)
        return f"<{tag}>{inner}</{tag}>"
    if value is None:
        return f"<{tag} />"
    if isinstance(value, bool):
        value = _text_bool(value)
    return f"<{tag}>{escape(str(value))}</{tag}>"


class ResManRenderer(Renderer):
    """ResMan's classic API and Partners API over a world (see the module docstring)."""

    name: ClassVar[str] = "resman"
    credential_keys: ClassVar[tuple[str, ...]] = ("integration_partner_id", "api_key", "account_id")
    default_rate_limit: ClassVar[float] = 2.0

    def __init__(self, world: World, credentials: Mapping[str, str]) -> None:
        super().__init__(world, credentials)
        #: Every request that reached authentication: api, method, path, property_id.
        self.request_log: list[dict[str, str | None]] = []
        self._guids: dict[tuple[str, object], str] = {}
        # GUID -> world id of the live properties, for the version of the world it was made from.
        self._property_ids: tuple[int, dict[str, int]] = (-1, {})
        # model -> (world version, GUID -> world id), for the ids writes name.
        self._world_ids: dict[str, tuple[int, dict[str, int]]] = {}

    @classmethod
    def default_credentials(cls, seed: int) -> dict[str, str]:
        """A partner id, a 32-character key and a numeric account id (ResMan's are numbers)."""
        h = mix64(seed * 0x100000001B3 + 0x7E5)
        return {
            "integration_partner_id": f"sim-partner-{h % 100_000:05d}",
            "api_key": f"{mix64(h ^ 1):016x}{mix64(h ^ 2):016x}",
            "account_id": str(1000 + (h >> 24) % 9000),
        }

    # -- ids -------------------------------------------------------------------

    def guid(self, kind: str, key: object) -> str:
        """A deterministic GUID of ``kind`` (a model or a sub-record) and ``key``."""
        cache_key = (kind, key)
        found = self._guids.get(cache_key)
        if found is None:
            # uuid5 costs microseconds and every answer renders many ids.
            found = str(uuid.uuid5(_NAMESPACE, f"{self.world.seed}/{kind}/{key}"))
            self._guids[cache_key] = found
        return found

    def x_id(self, model: str, entity_id: int) -> str:
        """The GUID ResMan shows for entity ``entity_id`` of ``model``."""
        return self.guid(model, entity_id)

    def property_of(self, guid: str) -> int | None:
        """The world id of the live property whose GUID is ``guid`` (None: none)."""
        try:
            # ASP.NET binds a Guid in any of its text forms (braces, no hyphens).
            wanted = str(uuid.UUID(guid.strip()))
        except ValueError:
            return None
        version, index = self._property_ids
        if version != self.world.version("properties"):
            index = {self.x_id("properties", p): p for p in self.world.live_ids("properties")}
            self._property_ids = (self.world.version("properties"), index)
        return index.get(wanted)

    # -- what the account holds ------------------------------------------------

    def listed(self, model: str) -> list[Entity]:
        """The live entities of ``model`` ResMan lists, in id order.

        Per-property calls only reach records of properties that exist, and
        the current-residents call only residents whose lease is current.
        """
        entities = self.world.all(model)
        if model in _ACCOUNT_WIDE:
            return entities
        properties = set(self.world.live_ids("properties"))
        listed = [e for e in entities if e["property_id"] in properties]
        if model == "residents":
            listed = [r for r in listed if r["status"] == "CURRENT"]
        return listed

    def counts(self) -> dict[str, int]:
        """Records per model as ResMan lists them (see :meth:`listed`)."""
        return {m: len(self.listed(m)) for m in self.models()}

    def truth(self) -> dict[str, dict[str, list[str]]]:
        """Per model, the GUIDs ResMan lists (see :meth:`listed`) and those deleted."""
        truth = super().truth()
        for model in self.models():
            truth[model]["live"] = [self.x_id(model, e["id"]) for e in self.listed(model)]
        return truth

    # -- wire: routes, auth, errors --------------------------------------------

    def routes(self, sim: Simulator) -> Iterable[tuple[str, str, Handler]]:
        """The classic methods (POST) and Partners API resources (GET) served."""
        yield (
            "POST",
            "/Leasing/GetProspectSources",
            self._classic(
                sim, "lead_sources", "ProspectSources", "ProspectSource", self._lead_source
            ),
        )
        yield (
            "POST",
            "/Leasing/GetCurrentResidents",
            self._classic(sim, "residents", "Residents", "Resident", self._resident),
        )
        yield "POST", "/MITS/PostLeadManagement4_0", self._lead_management(sim)
        yield "GET", "/Properties", self._partners(sim, "properties", "properties")
        yield "GET", "/UnitTypes", self._partners(sim, "floor_plans", "unitTypes")
        yield "GET", "/Units/Availability", self._partners(sim, "units", "units")
        yield "GET", "/Prospects", self._partners(sim, "leads", "prospects", modified=True)
        yield "GET", "/Leasing/Leases", self._partners(sim, "leases", "leases", modified=True)
        yield "GET", "/Employees", self._partners(sim, "employees", "employees")
        yield "GET", "/_sim/resman/requests", self._log_get
        yield "DELETE", "/_sim/resman/requests", self._log_clear

    async def authenticate(self, request: web.Request) -> str:
        """Classic: the form's credentials; Partners API: Basic auth and ``ResMan-Account-Id``."""
        if request.method == "POST":
            method = request.path.rsplit("/", 1)[-1]
            accepts_json = "json" in request.headers.get("Accept", "").lower()
            _CALL.set(_Call(classic=True, method=method, json=accepts_json))
            form = await _form(request)
            self._note(request, "classic", form.get("propertyid"))
            return self._classic_client(form, method)
        _CALL.set(_Call(classic=False))
        query = _lowered(request.query)
        self._note(request, "partners", query.get("propertyid"))
        return self._partners_client(request)

    def _note(self, request: web.Request, api: str, property_id: str | None) -> None:
        self.request_log.append(
            {
                "api": api,
                "method": request.method,
                "path": request.path,
                "property_id": property_id,
            }
        )

    def _classic_client(self, form: Mapping[str, str], method: str) -> str:
        partner, key = form.get("integrationpartnerid"), form.get("apikey")
        account = form.get("accountid")
        if not partner or not key:
            raise _ClassicError(401, "IntegrationPartnerID and ApiKey are required.", method)
        if (
            partner != self.credentials["integration_partner_id"]
            or key != self.credentials["api_key"]
        ):
            raise _ClassicError(401, "Invalid IntegrationPartnerID or ApiKey.", method)
        if not account:
            raise _ClassicError(400, "AccountID is required.", method)
        if account != self.credentials["account_id"]:
            raise _ClassicError(
                403, f"IntegrationPartnerID {partner} does not have access to AccountID {account}.",
                method,
            )  # fmt: skip
        return partner

    def _partners_client(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise SimError(401, "Basic authentication is required.", code="Unauthorized")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise SimError(
                401, "The Authorization header is malformed.", code="Unauthorized"
            ) from None
        partner, _, key = decoded.partition(":")
        if (
            partner != self.credentials["integration_partner_id"]
            or key != self.credentials["api_key"]
        ):
            raise SimError(401, "Invalid integration partner credentials.", code="Unauthorized")
        account = request.headers.get("ResMan-Account-Id", "").strip()
        if not account:
            raise SimError(400, "The ResMan-Account-Id header is required.", code="BadRequest")
        if account != self.credentials["account_id"]:
            raise SimError(
                403,
                f"The integration partner is not authorized for account {account}.",
                code="Forbidden",
            )
        return partner

    def error(self, error: SimError, headers: Mapping[str, str] | None = None) -> web.Response:
        """Classic: ``Status: Failed`` (HTTP 200 unless 429 or 5xx); v2: ``{code, message}``."""
        call = _CALL.get()
        if isinstance(error, _ClassicError) or (
            call is not None and call.classic and (error.status == 429 or error.status >= 500)
        ):
            method = (
                error.method if isinstance(error, _ClassicError) else (call.method if call else "")
            )
            status = error.status if error.status == 429 or error.status >= 500 else 200
            body = {
                "MethodName": method,
                "Status": "Failed",
                "AccountID": self.credentials["account_id"],
                "ErrorDescription": error.message,
            }
            if call is not None and not call.json:
                return web.Response(
                    status=status,
                    text='<?xml version="1.0" encoding="utf-8"?>' + _to_xml("ResMan", body, {}),
                    content_type="application/xml",
                    charset="utf-8",
                    headers=headers,
                )
            return json_response(body, status=status, headers=headers)
        extra = dict(headers or {})
        if error.status == 401:
            extra.setdefault("WWW-Authenticate", 'Basic realm="ResMan Partners API"')
        code = error.code or _STATUS_CODES.get(error.status, "Error")
        return json_response(
            {"code": code, "message": error.message}, status=error.status, headers=extra
        )

    def throttled(self, retry_after: float | None) -> SimError:
        """ResMan's 429 (worded per API by :meth:`error`)."""
        return SimError(429, "Rate limit exceeded. Try again later.", code="TooManyRequests")

    def rate_headers(self, limiter: RateLimiter, client: str) -> Mapping[str, str]:
        """``Retry-After`` while the client's window is used up (so on every 429 it earns)."""
        if not limiter.enabled:
            return {}
        _, remaining, reset = limiter.state(client)
        if remaining > 0:
            return {}
        return {"Retry-After": str(max(1, math.ceil(reset)))}

    def corrupt(self, model: str, records: list[Record]) -> list[Record]:
        """A ``malformed`` fault: the first and last records get an unreadable field."""
        field, bad = _CORRUPTIONS.get(model, ("name", {"value": "unreadable"}))
        out = list(records)
        for index in sorted({0, len(out) - 1}) if out else ():
            broken = dict(out[index])
            broken[field] = bad
            out[index] = broken
        return out

    # -- handlers ----------------------------------------------------------------

    def _classic(
        self,
        sim: Simulator,
        model: str,
        list_key: str,
        item_tag: str,
        render: Callable[[Entity], Record],
    ) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            method = request.path.rsplit("/", 1)[-1]
            form = await _form(request)
            raw = form.get("propertyid")
            if not raw:
                raise _ClassicError(400, "PropertyID is required.", method)
            if not _GUID.fullmatch(raw.strip()):
                raise _ClassicError(400, f"PropertyID '{raw}' is not a valid GUID.", method)
            pid = self.property_of(raw)
            if pid is None:
                raise _ClassicError(
                    404,
                    f"Property {raw} was not found for AccountID {self.credentials['account_id']}.",
                    method,
                )
            sim.drift(request, model)
            entities = self.world.select(model, property_id=pid)
            if model == "residents":
                entities = [e for e in entities if e["status"] == "CURRENT"]
            records, _ = sim.page(request, model, entities, 0, None, render)
            body: dict[str, Any] = {
                "MethodName": method,
                "Status": "Success",
                "AccountID": self.credentials["account_id"],
                "PropertyID": self.x_id("properties", pid),
                list_key: records,
            }
            if "json" in request.headers.get("Accept", "").lower():
                return json_response(body)
            xml = _to_xml("ResMan", body, {list_key: item_tag})
            return web.Response(
                text='<?xml version="1.0" encoding="utf-8"?>' + xml,
                content_type="application/xml",
                charset="utf-8",
            )

        return handler

    def _partners(
        self, sim: Simulator, model: str, list_key: str, *, modified: bool = False
    ) -> Handler:
        per_property = model not in _ACCOUNT_WIDE

        async def handler(request: web.Request) -> web.StreamResponse:
            query = _lowered(request.query)
            pid: int | None = None
            if per_property:
                pid = self._property_param(query.get("propertyid"))
            since: int | None = None
            if modified:
                raw = query.get("modifiedsince")
                if raw is None or not raw.strip():
                    raise SimError(
                        400, "The modifiedSince parameter is required.", code="BadRequest"
                    )
                since = parse_partners_datetime(raw)
                if since is None:
                    raise SimError(
                        400, f"The value '{raw}' is not valid for modifiedSince.", code="BadRequest"
                    )
            history = _flag(query, "includeleasehistory", "includeLeaseHistory")
            sim.drift(request, model)
            entities = self.world.select(model, property_id=pid, updated_since=since)
            if model == "leads":
                entities = self._prospect_filters(query, entities)
            render = self._renderer_of(model, history=history)
            records, _ = sim.page(request, model, entities, 0, None, render)
            return json_response({list_key: records})

        return handler

    def _prospect_filters(self, query: Mapping[str, str], entities: list[Entity]) -> list[Entity]:
        """``prospectId`` and ``personId`` narrow ``/Prospects`` to one prospect."""
        for key, name, kind in (
            ("prospectid", "prospectId", "leads"),
            ("personid", "personId", "prospect_people"),
        ):
            raw = query.get(key)
            if raw is None or not raw.strip():
                continue
            if not _GUID.fullmatch(raw.strip()):
                raise SimError(
                    400, f"The value '{raw}' is not valid for {name}.", code="BadRequest"
                )
            wanted = str(uuid.UUID(raw.strip()))
            entities = [e for e in entities if self.guid(kind, e["id"]) == wanted]
        return entities

    def _property_param(self, raw: str | None) -> int:
        if raw is None or not raw.strip():
            raise SimError(400, "The propertyId parameter is required.", code="BadRequest")
        if not _GUID.fullmatch(raw.strip()):
            raise SimError(
                400, f"The value '{raw}' is not valid for propertyId.", code="BadRequest"
            )
        pid = self.property_of(raw)
        if pid is None:
            raise SimError(404, f"Property {raw} was not found.", code="NotFound")
        return pid

    def _renderer_of(self, model: str, *, history: bool) -> Callable[[Entity], Record]:
        if model == "leases":
            return lambda lease: self._lease(lease, history=history)
        renders: dict[str, Callable[[Entity], Record]] = {
            "properties": self._property,
            "floor_plans": self._unit_type,
            "units": self._unit,
            "leads": self._prospect,
            "employees": self._employee,
        }
        return renders[model]

    async def _log_get(self, request: web.Request) -> web.Response:
        return control_json({"requests": self.request_log})

    async def _log_clear(self, request: web.Request) -> web.Response:
        self.request_log.clear()
        return control_json({"requests": []})

    # -- writes: MITS lead management --------------------------------------------

    def world_id(self, model: str, guid: str | None) -> int | None:
        """The world id of the live ``model`` entity whose GUID is ``guid`` (None: none)."""
        if guid is None:
            return None
        try:
            wanted = str(uuid.UUID(guid.strip()))
        except ValueError:
            return None
        version, index = self._world_ids.get(model, (-1, {}))
        if version != self.world.version(model):
            index = {self.x_id(model, i): i for i in self.world.live_ids(model)}
            self._world_ids[model] = (self.world.version(model), index)
        return index.get(wanted)

    def _lead_management(self, sim: Simulator) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            method = request.path.rsplit("/", 1)[-1]
            form = await _form(request)
            pid = self._classic_property(form, method)
            raw = form.get("xml")
            if raw is None or not raw.strip():
                raise _ClassicError(400, "Xml is required.", method)
            prospect = _parse_lead_management(raw, method)
            lead = self._save_prospect(prospect, pid, method)
            body = {
                "MethodName": method,
                "Status": "Success",
                "AccountID": self.credentials["account_id"],
                "PropertyID": self.x_id("properties", pid),
                "Response": {"LeadManagement": {"Prospects": {"Prospect": [
                    self._saved_prospect(lead)
                ]}}},
            }  # fmt: skip
            if "json" in request.headers.get("Accept", "").lower():
                return json_response(body)
            return web.Response(
                text='<?xml version="1.0" encoding="utf-8"?>' + _lead_answer_xml(body),
                content_type="application/xml",
                charset="utf-8",
            )

        return handler

    def _classic_property(self, form: Mapping[str, str], method: str) -> int:
        raw = form.get("propertyid")
        if not raw:
            raise _ClassicError(400, "PropertyID is required.", method)
        if not _GUID.fullmatch(raw.strip()):
            raise _ClassicError(400, f"PropertyID '{raw}' is not a valid GUID.", method)
        pid = self.property_of(raw)
        if pid is None:
            raise _ClassicError(
                404,
                f"Property {raw} was not found for AccountID {self.credentials['account_id']}.",
                method,
            )
        return pid

    def _saved_prospect(self, lead: Entity) -> Record:
        """The answer's prospect: the customer's identifications, as ResMan returns them."""
        return {
            "Customers": {
                "Customer": [
                    {
                        "Type": "prospect",
                        "Identification": [
                            {
                                "IDType": "ProspectID",
                                "IDValue": self.x_id("leads", lead["id"]),
                                "OrganizationName": "ResMan",
                            },
                            {
                                "IDType": "PersonID",
                                "IDValue": self.guid("prospect_people", lead["id"]),
                                "OrganizationName": "ResMan",
                            },
                        ],
                        "Name": {"FirstName": lead["first_name"], "LastName": lead["last_name"]},
                    }
                ]
            },
        }

    def _save_prospect(self, prospect: ET.Element, pid: int, method: str) -> Entity:
        """Validate one ``Prospect`` as ResMan does and store it; the lead as it is now."""

        def fail(message: str) -> _ClassicError:
            return _ClassicError(400, message, method)

        customers = _children(_child(prospect, "Customers"), "Customer")
        if not customers:
            raise fail("A prospect needs at least one Customer.")
        customer = customers[0]
        kind = (customer.get("Type") or "").strip().lower()
        if kind not in ("prospect", "lost"):
            raise fail(f"Customer Type '{customer.get('Type')}' is not supported.")
        ids = {
            (i.get("IDType") or "").strip().lower(): (i.get("IDValue") or "").strip()
            for i in _children(customer, "Identification")
        }
        existing: Entity | None = None
        if ids.get("prospectid"):
            lead_id = self.world_id("leads", ids["prospectid"])
            existing = self.world.get("leads", lead_id) if lead_id is not None else None
            if existing is None or existing["property_id"] != pid:
                raise fail(f"Prospect {ids['prospectid']} could not be found.")
            person = ids.get("personid")
            if person and person.lower() != self.guid("prospect_people", existing["id"]):
                raise fail(f"Person {person} could not be found on prospect {ids['prospectid']}.")
        values: dict[str, Any] = {}
        name = _child(customer, "Name")
        first, last = _text_of(name, "FirstName"), _text_of(name, "LastName")
        if not first:
            raise fail("Customer FirstName is required.")
        if not last:
            raise fail("Customer LastName is required.")
        values.update(first_name=first, last_name=last)
        if kind == "lost":
            values["status"] = "LOST"
        email = _text_of(customer, "Email")
        if email is not None:
            if "@" not in email:
                raise fail(f"Email '{email}' is not a valid email address.")
            values["email"] = email
        phones = []
        for phone in _children(customer, "Phone"):
            number = _text_of(phone, "PhoneNumber")
            word = (phone.get("PhoneType") or phone.get("Type") or "home").strip().lower()
            if word not in _MITS_PHONE_TYPES:
                raise fail(f"PhoneType '{word}' is not valid.")
            if number:
                phones.append({"type": _MITS_PHONE_TYPES[word], "number": number})
        if phones:
            kept = list(existing["phones"]) if existing is not None else []
            values["phones"] = phones + kept[len(phones) :]
        address = _child(customer, "Address")
        if address is not None:
            for tag, key in _ADDRESS_TAGS:
                text = _text_of(address, tag)
                if text is not None:
                    values[key] = text
        values.update(self._preferences(_child(prospect, "CustomerPreferences"), pid, fail))
        values.update(self._events(_children(_child(prospect, "Events"), "Event"), pid, fail))
        now = int(time.time())
        if existing is not None:
            return self.world.update("leads", existing["id"], values, now=now)
        if values.get("lead_source_id") is None:
            raise fail("A first contact Event with a TransactionSource is required.")
        if values.get("employee_id") is None:
            raise fail("A first contact Event with an Agent is required.")
        values["property_id"] = pid
        return self.world.insert("leads", values, now=now)

    def _preferences(
        self, preferences: ET.Element | None, pid: int, fail: Callable[[str], _ClassicError]
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if preferences is None:
            return values
        move_in = _text_of(preferences, "TargetMoveInDate")
        if move_in is not None:
            try:
                values["target_move_in_date"] = date.fromisoformat(move_in[:10]).isoformat()
            except ValueError:
                raise fail(f"TargetMoveInDate '{move_in}' is not a valid date.") from None
        plan = _text_of(preferences, "DesiredFloorplan")
        if plan is not None:
            plans = self.world.select("floor_plans", property_id=pid)
            by_guid = self.world_id("floor_plans", plan)
            match = [p for p in plans if p["id"] == by_guid or p["name"].lower() == plan.lower()]
            if not match:
                raise fail(f"Floorplan {plan} could not be found.")
            values["floor_plan_id"] = match[0]["id"]
        unit = _child(preferences, "DesiredUnit")
        if unit is not None:
            ident = _child(unit, "Identification")
            guid = ident.get("IDValue") if ident is not None else None
            wanted = _text_of(unit, "MarketingName")
            units = self.world.select("units", property_id=pid)
            by_guid = self.world_id("units", guid)
            match = [u for u in units if u["id"] == by_guid or (wanted and u["number"] == wanted)]
            if not match:
                raise fail(f"Unit {guid or wanted} could not be found.")
            values["unit_id"] = match[0]["id"]
        rent = _child(preferences, "DesiredRent")
        if rent is not None:
            amount = rent.get("Max") or rent.get("Exact")
            dollars = _decimal(amount)
            if dollars is None:
                raise fail(f"DesiredRent '{amount}' is not a valid amount.")
            values["desired_max_rent_cents"] = round(dollars * 100)
        for tag, key in (
            ("DesiredNumBedrooms", "desired_bedrooms"),
            ("DesiredNumBathrooms", "desired_bathrooms"),
        ):
            element = _child(preferences, tag)
            if element is not None:
                raw = element.get("Exact") or element.get("Max") or element.get("Min")
                number = _decimal(raw)
                if number is None:
                    raise fail(f"{tag} '{raw}' is not a valid number.")
                values[key] = int(number) if number.is_integer() else number
        term = _text_of(preferences, "DesiredLeaseTerms")
        if term is not None:
            months = _decimal(term)
            if months is None or not months.is_integer():
                raise fail(f"DesiredLeaseTerms '{term}' is not a whole number of months.")
            values["desired_lease_term_months"] = int(months)
        return values

    def _events(
        self, events: list[ET.Element], pid: int, fail: Callable[[str], _ClassicError]
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for event in events:
            if not (event.get("EventType") or "").strip():
                raise fail("Event EventType is required.")
            agent = _child(_child(event, "Agent"), "AgentID")
            if agent is not None:
                agent_guid = agent.get("IDValue") or (agent.text or "").strip()
                employee = self.world_id("employees", agent_guid)
                if employee is None:
                    raise fail(f"Agent {agent_guid} could not be found.")
                values["employee_id"] = employee
            source = _text_of(event, "TransactionSource")
            if source is not None:
                source_id = self.world_id("lead_sources", source)
                found = self.world.get("lead_sources", source_id) if source_id else None
                if found is None or found["property_id"] != pid:
                    raise fail("Transaction Source could not be found.")
                values["lead_source_id"] = source_id
            comments = _text_of(event, "Comments")
            if comments is not None:
                values["notes"] = comments
        return values

    # -- records: Partners API ---------------------------------------------------

    def _property(self, p: Entity) -> Record:
        manager = self.world.get("employees", p["manager_id"]) if p["manager_id"] else None
        team = []
        if manager is not None:
            team.append(
                {
                    "personId": self.x_id("employees", manager["id"]),
                    "firstName": manager["first_name"],
                    "lastName": manager["last_name"],
                    "role": "Property Manager",
                }
            )
        return {
            "propertyId": self.x_id("properties", p["id"]),
            "abbreviation": p["code"],
            "name": p["name"],
            "type": _PROPERTY_TYPES.get(p["type"], "Multi-Family"),
            "streetAddress": p["address_1"],
            "city": p["city"],
            "state": p["state"],
            "zip": p["zip"],
            "phone": p["phone"],
            "email": p["email"],
            "timeZone": _TIME_ZONES.get(p["state"], "America/New_York"),
            "manager": None,
            "defaultUnitApplicationUrl": f"{p['website']}/apply",
            "currentPeriod": {"start": "2024-12-01", "end": "2024-12-31"},
            "managementTeam": team,
        }

    def _unit_type(self, f: Entity) -> Record:
        beds, baths = f["bedrooms"], f["bathrooms"]
        return {
            "unitTypeId": self.x_id("floor_plans", f["id"]),
            "propertyId": self.x_id("properties", f["property_id"]) if f["property_id"] else None,
            "name": f["name"],
            "description": f"{f['code']}: {beds} bed / {baths:g} bath",
            "bedrooms": beds,
            "bathrooms": baths,
            "squareFootage": f["square_feet"],
            "maximumOccupancy": (beds + 1) * 2,
            "marketRent": _dollars(f["rent_min_cents"]),
            "requiredDeposit": _dollars(f["rent_min_cents"] // 2),
        }

    def _unit(self, u: Entity) -> Record:
        plan = self.world.get("floor_plans", u["floor_plan_id"]) if u["floor_plan_id"] else None
        lease = self.world.get("leases", u["id"])
        occupied = not u["is_vacant"]
        occupying = None
        if occupied and lease is not None:
            occupying = {
                "billingAccountId": self.guid("billing_accounts", lease["id"]),
                "leaseId": self.x_id("leases", lease["id"]),
                "moveInDate": lease["move_in_date"],
                "noticeToVacateDate": None,
                "moveOutDate": None,
            }
        pid = u["property_id"]
        return {
            "propertyId": self.x_id("properties", pid) if pid else None,
            "unitId": self.x_id("units", u["id"]),
            "number": u["number"],
            "floor": u["floor"],
            "squareFeet": u["square_feet"],
            "unitTypeId": self.x_id("floor_plans", u["floor_plan_id"])
            if u["floor_plan_id"]
            else None,
            "unitTypeName": plan["name"] if plan else None,
            "unitTypeMarketingName": None,
            "availableForOnlineMarketing": u["is_listed"],
            "buildingId": self.guid("buildings", f"{pid}/{u['building']}"),
            "buildingName": u["building"],
            "streetAddress": u["address_1"],
            "city": u["city"],
            "state": u["state"],
            "zip": u["zip"],
            "status": "Not Ready" if occupied else "Ready",
            "statusDate": _day_of(u["updated"]),
            "dateAvailable": None if occupied else _day_of(u["updated"]),
            "vacancyStatus": "Occupied" if occupied else "Vacant",
            "excludedFromOccupancy": False,
            "marketRent": _dollars(u["market_rent_cents"]),
            "amenities": [],
            "occupyingLease": occupying,
            "applicantLease": None,
        }

    def _lease_person(self, lease: Entity, rid: int, main: bool) -> Record | None:
        r = self.world.get("residents", rid)
        if r is None:
            return None
        phone = r["phones"][0] if r["phones"] else None
        status = _LEASE_STATUSES.get(lease["status"], "Current")
        return {
            "personId": self.x_id("residents", rid),
            "firstName": r["first_name"],
            "middleName": r["middle_name"],
            "lastName": r["last_name"],
            "email": r["email"],
            "phone": phone["number"] if phone else None,
            "phoneType": _PHONE_TYPES.get(phone["type"]) if phone else None,
            "householdStatus": "Head of Household" if main else "Adult",
            "residencyStatus": status,
            "isMainContact": main,
            "isHeadOfHousehold": main,
            "isLeaseSigner": True,
            "isGrantor": False,
            "isDependent": False,
            "isExcludedFromOccupancy": False,
            "moveInDate": lease["move_in_date"] if lease["status"] != "FUTURE" else None,
            "moveOutDate": lease["move_out_date"],
            "moveOutReason": "Lease Expired" if lease["move_out_date"] else None,
            "lastModified": _utc(r["updated"]),
        }

    def _lease(self, lease: Entity, *, history: bool) -> Record:
        unit = self.world.get("units", lease["unit_id"]) if lease["unit_id"] else None
        plan_id = unit["floor_plan_id"] if unit else None
        plan = self.world.get("floor_plans", plan_id) if plan_id else None
        status = _LEASE_STATUSES.get(lease["status"], "Current")
        start = lease["start_date"]
        people = [
            person
            for i, rid in enumerate(lease["resident_ids"])
            if (person := self._lease_person(lease, rid, i == 0)) is not None
        ]
        record: Record = {
            "propertyId": self.x_id("properties", lease["property_id"])
            if lease["property_id"]
            else None,
            "billingAccountId": self.guid("billing_accounts", lease["id"]),
            "unitId": self.x_id("units", lease["unit_id"]) if lease["unit_id"] else None,
            "unitNumber": unit["number"] if unit else None,
            "unitTypeId": self.x_id("floor_plans", plan_id) if plan_id else None,
            "unitTypeName": plan["name"] if plan else None,
            "prospectId": None,
            "prospectSourceId": None,
            "prospectSourceName": None,
            "leaseId": self.x_id("leases", lease["id"]),
            "leaseStatus": status,
            "leasingAgentPersonId": None,
            "leasingAgentName": None,
            "leaseStartDate": start,
            "leaseEndDate": lease["end_date"],
            "applicationDate": _shift(start, -30),
            "approvalDate": _shift(start, -27),
            "denailDate": None,
            "cancellationDate": None,
            "leaseSignedDate": _shift(start, -20),
            "scheduledMoveInDate": lease["move_in_date"],
            "moveInDate": lease["move_in_date"] if lease["status"] != "FUTURE" else None,
            "noticeToVacateDate": _shift(lease["move_out_date"], -30),
            "scheduledMoveOutDate": lease["move_out_date"],
            "moveOutDate": lease["move_out_date"],
            "moveOutReconcillationDate": _shift(lease["move_out_date"], 14),
            "transferredTo": None,
            "lastModified": _utc(lease["updated"]),
            "people": people,
        }
        if history:
            # The lease's own term; the world has no renewals to list before it.
            record["leaseHistory"] = [
                {
                    "leaseId": record["leaseId"],
                    "status": status,
                    "applicationDate": record["applicationDate"],
                    "signedDate": record["leaseSignedDate"],
                    "startDate": start,
                    "endDate": lease["end_date"],
                    "rent": _dollars(lease["rent_cents"]),
                    "recurringRentConcessions": 0.0,
                    "otherConcessions": 0.0,
                    "otherCharges": 0.0,
                    "dateCreated": _utc(lease["created"]),
                }
            ]
        return record

    def _prospect(self, lead: Entity) -> Record:
        source = (
            self.world.get("lead_sources", lead["lead_source_id"])
            if lead["lead_source_id"]
            else None
        )
        agent = self.world.get("employees", lead["employee_id"]) if lead["employee_id"] else None
        phone = lead["phones"][0] if lead["phones"] else None
        person_id = self.guid("prospect_people", lead["id"])
        status = _PROSPECT_STATUSES.get(lead["status"], "Prospect")
        lost = status == "Lost"
        contact = lead["first_contact"]
        return {
            "prospectId": self.x_id("leads", lead["id"]),
            "propertyId": self.x_id("properties", lead["property_id"])
            if lead["property_id"]
            else None,
            "mainPersonId": person_id,
            "lastModified": _utc(lead["updated"]),
            "prospectSourceId": self.x_id("lead_sources", lead["lead_source_id"])
            if lead["lead_source_id"]
            else None,
            "prospectSourceName": source["name"] if source else None,
            "status": status,
            "firstContactDate": contact,
            "lastContactDate": _day_of(lead["updated"]),
            "lostDate": _day_of(lead["updated"]) if lost else None,
            "lostReason": _LOST_REASONS[lead["id"] % len(_LOST_REASONS)] if lost else None,
            "leasingAgent": {
                "personId": self.x_id("employees", agent["id"]),
                "firstName": agent["first_name"],
                "lastName": agent["last_name"],
            }
            if agent
            else None,
            "people": [
                {
                    "personId": person_id,
                    "firstName": lead["first_name"],
                    "middleName": None,
                    "lastName": lead["last_name"],
                    "email": lead["email"],
                    "phone": phone["number"] if phone else None,
                    "phoneType": _PHONE_TYPES.get(phone["type"]) if phone else None,
                    "householdStatus": "Head of Household",
                    "isMainContact": True,
                    "isHeadOfHousehold": True,
                    "isLeaseSigner": False,
                    "isGuarantor": False,
                    "isDependent": False,
                    "isExcludedFromOccupancy": False,
                }
            ],
            "communicationLog": [],
        }

    def _employee(self, e: Entity) -> Record:
        title = e["title"]
        managed = [
            self.x_id("properties", p["id"])
            for p in self.world.all("properties")
            if p["manager_id"] == e["id"]
        ]
        return {
            "personId": self.x_id("employees", e["id"]),
            "userId": self.guid("users", e["id"]),
            "firstName": e["first_name"],
            "lastName": e["last_name"],
            "preferredName": None,
            "phone": e["phone"],
            "email": e["email"],
            "securityGroup": title,
            "isLeasing": title in ("Leasing Agent", "Property Manager"),
            "isMaintenance": title.startswith("Maintenance"),
            "isCorporate": title == "Accountant",
            "terminateDate": None if e["is_active"] else _day_of(e["updated"]),
            "propertyIds": managed,
        }

    # -- records: classic --------------------------------------------------------

    def _lead_source(self, s: Entity) -> Record:
        return {"ID": self.x_id("lead_sources", s["id"]), "Name": s["name"]}

    def _resident(self, r: Entity) -> Record:
        unit = self.world.get("units", r["unit_id"]) if r["unit_id"] else None
        lease = self.world.get("leases", r["unit_id"]) if r["unit_id"] else None
        if lease is not None and r["id"] not in lease["resident_ids"]:
            lease = None
        phones = {_CLASSIC_PHONES[p["type"]]: p["number"] for p in reversed(r["phones"])}
        main = lease is not None and lease["primary_resident_id"] == r["id"]
        record: Record = {
            "PersonID": self.x_id("residents", r["id"]),
            "LeaseID": self.x_id("leases", lease["id"]) if lease else None,
            "UnitID": self.x_id("units", unit["id"]) if unit else None,
            "Unit": unit["number"] if unit else None,
            "Building": unit["building"] if unit else None,
            "FirstName": r["first_name"],
            "MiddleName": r["middle_name"],
            "LastName": r["last_name"],
            "Email": r["email"],
            "MobilePhone": phones.get("MobilePhone"),
            "HomePhone": phones.get("HomePhone"),
            "WorkPhone": phones.get("WorkPhone"),
            "BirthDate": r["date_of_birth"],
            "StreetAddress": unit["address_1"] if unit else None,
            "City": unit["city"] if unit else None,
            "State": unit["state"] if unit else None,
            "Zip": unit["zip"] if unit else None,
            "LeaseStartDate": lease["start_date"] if lease else None,
            "LeaseEndDate": lease["end_date"] if lease else None,
            "MoveInDate": lease["move_in_date"] if lease else None,
            "HouseholdStatus": "Head of Household" if main else "Adult",
            "MainContact": _text_bool(main),
            "IsMinor": "False",
        }
        return record


_STATUS_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    414: "UriTooLong",
    429: "TooManyRequests",
    500: "InternalServerError",
}


def _lowered(values: Mapping[str, str]) -> dict[str, str]:
    """Parameter names folded to lower case (ASP.NET binds them case-insensitively)."""
    out: dict[str, str] = {}
    for key, value in values.items():
        out.setdefault(key.lower(), value)
    return out


async def _form(request: web.Request) -> dict[str, str]:
    """The request's form fields by lower-cased name (empty unless form-encoded)."""
    if request.content_type != "application/x-www-form-urlencoded":
        return {}
    data = await request.post()  # aiohttp caches it: the handler reads it again for free
    return _lowered({k: v for k, v in data.items() if isinstance(v, str)})


def _flag(query: Mapping[str, str], key: str, name: str) -> bool:
    raw = query.get(key)
    if raw is None or not raw.strip():
        return False
    folded = raw.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise SimError(400, f"The value '{raw}' is not valid for {name}.", code="BadRequest")


#: MITS phone types, by the world's.
_MITS_PHONE_TYPES = {
    "home": "HOME",
    "cell": "MOBILE",
    "mobile": "MOBILE",
    "office": "WORK",
    "work": "WORK",
    "fax": "FAX",
    "other": "OTHER",
}
_ADDRESS_TAGS = (
    ("AddressLine1", "address_1"),
    ("AddressLine2", "address_2"),
    ("City", "city"),
    ("State", "state"),
    ("PostalCode", "zip"),
)


def _parse_lead_management(raw: str, method: str) -> ET.Element:
    """The one ``Prospect`` of a MITS Lead Management document; a Failed answer if unreadable."""
    if "<!doctype" in raw.lower() or "<!entity" in raw.lower():
        # Entities are never needed by MITS and are how XML bombs work.
        raise _ClassicError(400, "The Xml may not declare a DOCTYPE or entities.", method)
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as error:
        raise _ClassicError(400, f"The Xml could not be read: {error}.", method) from None
    if _local(root.tag) != "leadmanagement":
        raise _ClassicError(400, "The Xml root must be LeadManagement.", method)
    prospects = _children(_child(root, "Prospects"), "Prospect")
    if len(prospects) != 1:
        raise _ClassicError(400, "The Xml must hold exactly one Prospect.", method)
    return prospects[0]


def _local(tag: str) -> str:
    """An element's name without namespace, folded (tags are matched case-insensitively)."""
    return tag.rsplit("}", 1)[-1].lower()


def _children(parent: ET.Element | None, tag: str) -> list[ET.Element]:
    if parent is None:
        return []
    wanted = tag.lower()
    return [c for c in parent if _local(c.tag) == wanted]


def _child(parent: ET.Element | None, tag: str) -> ET.Element | None:
    found = _children(parent, tag)
    return found[0] if found else None


def _text_of(parent: ET.Element | None, tag: str) -> str | None:
    element = _child(parent, tag)
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _decimal(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        number = float(raw.strip().lstrip("$").replace(",", ""))
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _lead_answer_xml(body: Mapping[str, Any]) -> str:
    """A PostLeadManagement4_0 answer as XML: identifications as attributes, as MITS has them."""
    root = ET.Element("ResMan")
    for key in ("MethodName", "Status", "AccountID", "PropertyID"):
        ET.SubElement(root, key).text = str(body[key])
    management = ET.SubElement(ET.SubElement(root, "Response"), "LeadManagement")
    prospects = ET.SubElement(management, "Prospects")
    for prospect in body["Response"]["LeadManagement"]["Prospects"]["Prospect"]:
        element = ET.SubElement(prospects, "Prospect")
        customers = ET.SubElement(element, "Customers")
        for customer in prospect["Customers"]["Customer"]:
            item = ET.SubElement(customers, "Customer", {"Type": customer["Type"]})
            for ident in customer["Identification"]:
                ET.SubElement(item, "Identification", {k: str(v) for k, v in ident.items()})
            name = ET.SubElement(item, "Name")
            for key, value in customer["Name"].items():
                ET.SubElement(name, key).text = str(value)
    return ET.tostring(root, encoding="unicode")
