"""The Buildium simulator: Buildium's documented wire format on the vendor-neutral server.

:class:`BuildiumRenderer` serves the list and single-record ``GET``
endpoints of rentals, units, tenants, leases, applicants and users with
Buildium's auth headers, paging (``offset``/``limit``, ``X-Total-Count``),
``orderby``, incremental ``lastupdatedfrom``/``lastupdatedto`` filters,
error bodies (``ApiErrorResponse``) and rate limit. Auth, the rate limit,
faults, statistics and the ``/_sim/`` control plane are
:class:`~syncd.sim.server.Simulator`'s.

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
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from http import HTTPStatus
from typing import Any, ClassVar, Final, Self, overload

from aiohttp import web
from multidict import MultiMapping

from syncd.sim.buildium_data import (
    FIRST_ID,
    RESOURCES,
    BuildiumStore,
    ListQuery,
    OrderTerm,
    Record,
    Selection,
    default_credentials,
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
        """The list endpoints, then the single-record ones."""
        for path, (resource, filters) in _LISTS.items():
            yield "GET", path, self._list_handler(sim, resource, filters)
        for path, resource in _SINGLE.items():
            yield "GET", path, self._single_handler(sim, resource)

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
