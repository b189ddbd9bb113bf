"""A Buildium API simulator: an aiohttp server speaking Buildium's documented wire format.

Serves the list and single-record ``GET`` endpoints of rentals, units,
tenants, leases, applicants and users with Buildium's auth headers, paging
(``offset``/``limit``, ``X-Total-Count``), ``orderby``, incremental
``lastupdatedfrom``/``lastupdatedto`` filters, error bodies
(``ApiErrorResponse``) and rate limit. Data comes from
:mod:`syncd.sim.buildium_data`, deterministic from a seed and a scale.

A control plane under ``/_sim/`` (no auth; not part of Buildium's API)
mutates data, injects faults and reports request statistics.
"""

from __future__ import annotations

import asyncio
import calendar
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

import orjson
import structlog
from aiohttp import web
from multidict import MultiMapping

from syncd.sim.buildium_data import (
    RESOURCES,
    BuildiumStore,
    ListQuery,
    OrderTerm,
    Record,
    default_credentials,
)
from syncd.sim.faults import (
    Fault,
    FaultInjector,
    FaultKind,
    RateLimiter,
    RequestStats,
    format_retry_after,
    short_page,
    truncate_body,
)

log = structlog.get_logger(__name__)

__all__ = ["BuildiumSimulator", "run_buildium_simulator"]

_JSON = "application/json; charset=utf-8"
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
# The fault (if any) the request in hand carries from the middleware to its handler.
_FAULT = web.RequestKey("fault", Fault)


class _ApiError(Exception):
    """An error answered with Buildium's ``ApiErrorResponse`` body."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        errors: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.errors = list(errors)

    def response(self, headers: Mapping[str, str] | None = None) -> web.Response:
        body = {
            "UserMessage": self.message,
            "ErrorCode": self.code,
            "Errors": [{"Key": k, "Value": v} for k, v in self.errors],
        }
        return web.Response(
            status=self.status,
            body=orjson.dumps(body),
            headers={"Content-Type": _JSON, **(headers or {})},
        )


def _bad_request(key: str, value: str) -> _ApiError:
    return _ApiError(400, "The request is invalid.", "BadRequest", [(key, value)])


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


class BuildiumSimulator:
    """A fake Buildium account served over HTTP.

    ``scale`` is the number of rental units (other counts follow from it,
    see :class:`~syncd.sim.buildium_data.BuildiumData`); the same ``seed``
    and ``scale`` always serve the same bytes. ``rate_limit`` is requests
    per second per client id (Buildium documents 10); 0 disables it.
    ``faults`` are queued as if added with :meth:`add_fault`.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        scale: int = 100,
        credentials: Mapping[str, str] | None = None,
        rate_limit: float = 10.0,
        faults: Iterable[Fault | Mapping[str, Any]] = (),
    ) -> None:
        self.seed = seed
        self.scale = scale
        creds = dict(credentials) if credentials is not None else default_credentials(seed)
        for key in ("client_id", "client_secret"):
            if not isinstance(creds.get(key), str) or not creds[key]:
                raise ValueError(f"credentials need a non-empty {key!r}")
        self.credentials: dict[str, str] = creds
        self.store = BuildiumStore(seed=seed, scale=scale)
        self.limiter = RateLimiter(rate_limit)
        self.faults = FaultInjector(
            f if isinstance(f, Fault) else Fault.from_mapping(f) for f in faults
        )
        self.stats = RequestStats()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # -- Python control API ---------------------------------------------------

    @property
    def rate_limit(self) -> float:
        """Requests per second allowed per client id (0: unlimited)."""
        return self.limiter.rate

    @rate_limit.setter
    def rate_limit(self, value: float) -> None:
        self.limiter.rate = value

    @property
    def url(self) -> str:
        """Base URL of the running server, like ``http://127.0.0.1:PORT``."""
        if self._url is None:
            raise RuntimeError("the simulator is not running")
        return self._url

    def mutate(
        self, model: str, *, create: int = 0, update: int = 0, delete: int = 0
    ) -> dict[str, list[int]]:
        """Create, update and delete records of ``model``; the affected ids by action.

        Updates change a visible field and set the last-updated time to now;
        creates get ids above every existing one.
        """
        return self.store.mutate(
            model, create=create, update=update, delete=delete, now=int(time.time())
        )

    def add_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        path: str | None = None,
        delay: float = 0.0,
        retry_after: float | None = None,
        after: int = 0,
        delta: int = 0,
        create: int = 0,
        delete: int = 0,
    ) -> None:
        """Let ``after`` requests (to ``path``, if given) pass, then make ``count`` misbehave.

        Kinds, on list endpoints: ``429`` (with ``Retry-After: retry_after``
        when given), ``500``, ``slow`` (wait ``delay`` seconds, then answer),
        ``truncate`` (half the body), ``malformed`` (two corrupt records per
        page), ``empty`` (``[]`` with ``X-Total-Count: 0``), ``repeat`` (the
        records at offset 0 whatever ``offset`` says, the true
        ``X-Total-Count``), ``total`` (``X-Total-Count`` off by ``delta``,
        never below 0), ``short`` (the first half of the page's records,
        rounded down, the true ``X-Total-Count``), ``drift`` (delete
        ``delete`` random live records of the resource and create
        ``create`` new ones, then answer from the changed data).

        On single-record endpoints ``empty`` answers ``{}``, ``malformed`` a
        string ``Id``, ``drift`` mutates first (a deleted record is a 404);
        ``repeat``, ``total`` and ``short`` do not apply there: the record is
        served as is, though the fault's unit is still used up.

        Faults hit only requests that pass authentication and the rate limit;
        how ``after`` meets the queue order is told in
        :class:`~syncd.sim.faults.FaultInjector`.
        """
        self.faults.add(
            Fault(
                kind=FaultKind(kind),
                count=count,
                path=path,
                delay=delay,
                retry_after=retry_after,
                after=after,
                delta=delta,
                create=create,
                delete=delete,
            )
        )

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        self.faults.clear()

    def counts(self) -> dict[str, int]:
        """Current number of records per resource name."""
        return self.store.counts()

    def stats_snapshot(self) -> dict[str, Any]:
        """What ``GET /_sim/stats`` answers."""
        return {
            **self.stats.snapshot(),
            "faults_served": dict(self.faults.served),
            "faults_pending": self.faults.pending(),
            "counts": self.counts(),
        }

    # -- server ---------------------------------------------------------------

    def app(self) -> web.Application:
        """A new aiohttp application serving this simulator's state."""
        app = web.Application(middlewares=[self._middleware])
        for path, (resource, filters) in _LISTS.items():
            app.router.add_get(path, self._list_handler(resource, filters))
        for path, resource in _SINGLE.items():
            app.router.add_get(path, self._single_handler(resource))
        app.router.add_post("/_sim/mutate", self._sim_mutate)
        app.router.add_get("/_sim/faults", self._sim_faults_get)
        app.router.add_post("/_sim/faults", self._sim_faults_add)
        app.router.add_delete("/_sim/faults", self._sim_faults_clear)
        app.router.add_get("/_sim/stats", self._sim_stats)
        app.router.add_delete("/_sim/stats", self._sim_stats_reset)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host``:``port`` (0 picks a free port); returns the base URL."""
        if self._runner is not None:
            return self.url
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in str(bound_host) else str(bound_host)
        self._runner = runner
        self._url = f"http://{shown}:{bound_port}"
        log.info("sim.buildium.started", url=self._url, seed=self.seed, scale=self.scale)
        return self._url

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("sim.buildium.stopped", url=self._url)
        self._url = None

    async def __aenter__(self) -> BuildiumSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- request pipeline -----------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/_sim/"):
            return await handler(request)
        rate_limited = False
        try:
            response, rate_limited = await self._guarded(request, handler)
        except _ApiError as error:
            response = error.response()
        except web.HTTPException as error:
            response = _ApiError(
                error.status, error.reason, error.reason.replace(" ", "")
            ).response()
        self.stats.record(request.path, response.status, rate_limited=rate_limited)
        return response

    async def _guarded(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> tuple[web.StreamResponse, bool]:
        unmatched = request.match_info.http_exception
        if unmatched is not None:
            raise unmatched
        if len(request.query_string) > _MAX_QUERY_STRING:
            raise _ApiError(500, "The query string is too long.", "InternalServerError")
        client_id = request.headers.get("x-buildium-client-id")
        secret = request.headers.get("x-buildium-client-secret")
        if (
            client_id != self.credentials["client_id"]
            or secret != self.credentials["client_secret"]
        ):
            raise _ApiError(
                401,
                "The API client ID and secret were not provided or are not valid.",
                "Unauthorized",
            )
        if not self.limiter.allow(client_id):
            error = _ApiError(
                429, "Too many requests. Retry after a short interval.", "TooManyRequests"
            )
            return error.response(), True
        fault = self.faults.take(request.path)
        if fault is not None:
            if fault.kind is FaultKind.RATE_LIMITED:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = format_retry_after(fault.retry_after)
                error = _ApiError(
                    429, "Too many requests. Retry after a short interval.", "TooManyRequests"
                )
                return error.response(headers), False
            if fault.kind is FaultKind.SERVER_ERROR:
                raise _ApiError(500, "An unexpected error occurred.", "InternalServerError")
            if fault.kind is FaultKind.SLOW:
                await asyncio.sleep(fault.delay)
            request[_FAULT] = fault
        response = await handler(request)
        if (
            fault is not None
            and fault.kind is FaultKind.TRUNCATE
            and isinstance(response, web.Response)
        ):
            body = response.body
            if isinstance(body, bytes):
                headers = {k: v for k, v in response.headers.items() if k != "Content-Length"}
                return web.Response(
                    status=response.status, body=truncate_body(body), headers=headers
                ), False
        return response, False

    def _list_handler(
        self, resource: str, filters: frozenset[str]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return self._list(request, resource, filters)

        return handle

    def _single_handler(self, resource: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return self._single(request, resource)

        return handle

    def _list(self, request: web.Request, resource: str, filters: frozenset[str]) -> web.Response:
        query = request.query
        for key in query:
            if key.lower() in ("limit", "offset") and key not in ("limit", "offset"):
                # Documented: these names are case-sensitive, and a miscased one is a 404.
                raise _ApiError(404, "The requested resource was not found.", "NotFound")
        offset = _parse_int(query, "offset", 0, 0, 2**31 - 1)
        limit = _parse_int(query, "limit", _DEFAULT_LIMIT, 1, _MAX_LIMIT)
        list_query = self._parse_filters(query, filters)
        order = self._parse_orderby(resource, query.get("orderby"))
        fault = request.get(_FAULT)
        kind = None if fault is None else fault.kind
        if fault is not None and kind is FaultKind.DRIFT:
            # After validation: a refused request changes nothing.
            self._drift(resource, fault)
        selection = self.store.select(resource, list_query, order)
        total = len(selection)
        if kind is FaultKind.REPEAT:
            offset = 0
        records = self.store.get_many(resource, selection.page(offset, limit))
        if kind is FaultKind.EMPTY:
            records = []
        elif kind is FaultKind.MALFORMED:
            records = _corrupt(resource, records)
        elif kind is FaultKind.SHORT:
            records = short_page(records)
        if fault is not None:
            total = fault.announced_total(total)
        return web.Response(
            body=orjson.dumps(records),
            headers={"Content-Type": _JSON, "X-Total-Count": str(total)},
        )

    def _single(self, request: web.Request, resource: str) -> web.Response:
        fault = request.get(_FAULT)
        kind = None if fault is None else fault.kind
        if fault is not None and kind is FaultKind.DRIFT:
            self._drift(resource, fault)
        record = self.store.get(resource, int(request.match_info["id"]))
        if record is None:
            raise _ApiError(404, "The requested resource was not found.", "NotFound")
        body: Record = record
        if kind is FaultKind.EMPTY:
            body = {}
        elif kind is FaultKind.MALFORMED:
            body = {**record, "Id": "not-a-number"}
        return web.Response(body=orjson.dumps(body), headers={"Content-Type": _JSON})

    def _drift(self, resource: str, fault: Fault) -> None:
        changed = self.mutate(resource, create=fault.create, delete=fault.delete)
        log.debug(
            "sim.buildium.drift",
            resource=resource,
            created=len(changed["created"]),
            deleted=len(changed["deleted"]),
        )

    @staticmethod
    def _parse_filters(query: MultiMapping[str], filters: frozenset[str]) -> ListQuery:
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

    # -- control plane --------------------------------------------------------

    async def _json_body(self, request: web.Request) -> Any:
        try:
            return await request.json(loads=orjson.loads)
        except ValueError:
            raise _control_error("body must be JSON") from None

    async def _sim_mutate(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        if not isinstance(body, dict):
            raise _control_error("body must be a JSON object")
        model = body.get("model")
        if model not in RESOURCES:
            raise _control_error(f"model must be one of {', '.join(RESOURCES)}")
        amounts: dict[str, int] = {}
        for key in ("create", "update", "delete"):
            value = body.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise _control_error(f"{key} must be an integer >= 0")
            amounts[key] = value
        result = self.mutate(str(model), **amounts)
        return _control_json({"model": model, **result, "counts": self.counts()})

    async def _sim_faults_get(self, request: web.Request) -> web.Response:
        return _control_json({"faults": self.faults.pending()})

    async def _sim_faults_add(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        items = body if isinstance(body, list) else [body]
        try:
            faults = [Fault.from_mapping(item) for item in items if isinstance(item, dict)]
        except ValueError as error:
            raise _control_error(str(error)) from None
        if len(faults) != len(items):
            raise _control_error("body must be a fault object or a list of them")
        for fault in faults:
            self.faults.add(fault)
        return _control_json({"faults": self.faults.pending()})

    async def _sim_faults_clear(self, request: web.Request) -> web.Response:
        self.clear_faults()
        return _control_json({"faults": []})

    async def _sim_stats(self, request: web.Request) -> web.Response:
        return _control_json(self.stats_snapshot())

    async def _sim_stats_reset(self, request: web.Request) -> web.Response:
        self.stats.reset()
        self.faults.served.clear()
        return _control_json(self.stats_snapshot())


def _control_json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), headers={"Content-Type": _JSON})


def _control_error(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=orjson.dumps({"error": message}).decode(), content_type="application/json"
    )


def _corrupt(resource: str, records: list[Record]) -> list[Record]:
    """A copy of ``records`` with two broken: a string ``Id``, and a bad date or amount."""
    out = list(records)
    if out:
        out[0] = {**out[0], "Id": "not-a-number"}
    if len(out) >= 2:
        i = len(out) // 2
        path, bad = _CORRUPTIONS[resource]
        record = dict(out[i])
        if len(path) == 1:
            record[path[0]] = bad
        else:
            record[path[0]] = {**(record.get(path[0]) or {}), path[1]: bad}
        out[i] = record
    return out


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
    url = await sim.start(host, port)
    try:
        on_ready(url, dict(sim.credentials))
        await asyncio.Event().wait()
    finally:
        await sim.stop()
