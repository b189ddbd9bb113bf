"""The vendor-neutral simulator server: one aiohttp app, a renderer per PMS.

:class:`Simulator` does what every PMS simulator does alike: it serves a
:class:`~syncd.sim.world.World` over HTTP through a :class:`Renderer`,
checks credentials (through the renderer), applies a per-client rate limit,
injects faults (:mod:`syncd.sim.faults`), counts requests, and answers the
control plane under ``/_sim/`` (no auth; not part of any PMS's API):

- ``POST /_sim/mutate`` ``{"model", "create", "update", "delete"}``: change
  the world (models are the world's unified model names);
- ``GET|POST|DELETE /_sim/faults``: list, queue, clear faults;
- ``GET|DELETE /_sim/stats``: request statistics (and reset them);
- ``GET /_sim/truth``: per unified model, the PMS ids that exist (``live``)
  and those deleted since the simulator started (``deleted``), as the
  vendor renders them, so a test can compare a cache with the PMS.

A renderer owns its vendor's wire format: routes, auth, paging, field
names and casing, date and money formats, error bodies, rate-limit headers.
List handlers use :meth:`Simulator.page` so that list faults (``empty``,
``repeat``, ``short``, ``total``, ``malformed``, ``drift``) act alike for
every vendor.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, ClassVar, Self

import orjson
import structlog
from aiohttp import web

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
from syncd.sim.world import WORLD_MODELS, Entity, World, mix64

log = structlog.get_logger(__name__)

JSON_TYPE = "application/json; charset=utf-8"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Record = dict[str, Any]

#: The fault (if any) the request in hand carries from the middleware to its handler.
FAULT_KEY = web.RequestKey("fault", Fault)
#: The rate-limit key (client identity) of the request in hand.
CLIENT_KEY = web.RequestKey("client", str)
_DRIFTED = web.RequestKey("drifted", bool)


class SimError(Exception):
    """An error the renderer answers in its vendor's error format."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.details = list(details)


class Renderer(abc.ABC):
    """One PMS's wire format over a world (or, for Buildium, its own data).

    Subclasses declare their routes and how they authenticate, word
    errors and rate-limit answers. Data access (:meth:`mutate`,
    :meth:`truth`, :meth:`counts`) defaults to the world's.
    """

    #: The CLI name, e.g. ``"rentmanager"``.
    name: ClassVar[str]
    #: Credential keys the simulated account accepts.
    credential_keys: ClassVar[tuple[str, ...]]
    #: The documented limit, in requests per second per credential (0: none).
    default_rate_limit: ClassVar[float] = 10.0
    #: Query strings longer than this get :meth:`query_too_long` (default 414; 0: no limit).
    max_query_string: ClassVar[int] = 0

    def __init__(self, world: World, credentials: Mapping[str, str]) -> None:
        self.world = world
        self.credentials = dict(credentials)

    @classmethod
    def create(
        cls,
        *,
        seed: int,
        scale: int,
        credentials: Mapping[str, str],
        world: World | None = None,
    ) -> Self:
        """The renderer a :class:`Simulator` of ``seed`` and ``scale`` serves.

        By default: over ``world`` if given, else a new world of ``seed`` and
        ``scale``. A renderer with its own data (Buildium) overrides this so
        that no world of the simulator's scale is built for nothing.
        """
        return cls(world if world is not None else World(seed=seed, scale=scale), credentials)

    @classmethod
    def default_credentials(cls, seed: int) -> dict[str, str]:
        """Credentials a simulator with ``seed`` accepts when none are given."""
        out: dict[str, str] = {}
        h = mix64(seed * 0x100000001B3 + len(cls.name))
        for i, key in enumerate(cls.credential_keys):
            h = mix64(h ^ (i + 1))
            out[key] = f"sim-{key.replace('_', '-')}-{h:016x}"
        return out

    @abc.abstractmethod
    def routes(self, sim: Simulator) -> Iterable[tuple[str, str, Handler]]:
        """``(method, path, handler)`` of every PMS endpoint served."""

    @abc.abstractmethod
    async def authenticate(self, request: web.Request) -> str:
        """The client identity (the rate-limit key) of ``request``; SimError(401) if refused."""

    @abc.abstractmethod
    def error(self, error: SimError, headers: Mapping[str, str] | None = None) -> web.Response:
        """``error`` as the vendor words errors."""

    def public(self, request: web.Request) -> bool:
        """Whether ``request`` needs no credentials (e.g. a login endpoint)."""
        return False

    def query_too_long(self) -> SimError:
        """The answer to a query string longer than :attr:`max_query_string` (default 414)."""
        return SimError(414, "The query string is too long.")

    def throttled(self, retry_after: float | None) -> SimError:
        """The vendor's 429 (the server adds ``Retry-After`` when given)."""
        return SimError(429, "Too many requests.", code="TooManyRequests")

    def rate_headers(self, limiter: RateLimiter, client: str) -> Mapping[str, str]:
        """Rate-limit headers the vendor sends with every answer (default: none)."""
        return {}

    def corrupt(self, model: str, records: list[Record]) -> list[Record]:
        """A ``malformed`` fault: a copy of ``records`` with two broken (default: ids)."""
        out = list(records)
        if out:
            first = dict(out[0])
            key = next(iter(first), None)
            if key is not None:
                first[key] = {"broken": True}
            out[0] = first
        return out

    @abc.abstractmethod
    def x_id(self, model: str, entity_id: int) -> str:
        """The id the PMS shows for entity ``entity_id`` of unified ``model``."""

    def models(self) -> Sequence[str]:
        """The unified models this PMS serves (``/_sim/truth`` reports these)."""
        return WORLD_MODELS

    def mutate(
        self, model: str, *, create: int, update: int, delete: int, now: int
    ) -> dict[str, list[Any]]:
        """Change the data; the affected ids by action."""
        return self.world.mutate(model, create=create, update=update, delete=delete, now=now)

    def mutable_models(self) -> Sequence[str]:
        """Model names ``/_sim/mutate`` accepts."""
        return WORLD_MODELS

    def counts(self) -> dict[str, int]:
        """Live records per model."""
        counts = self.world.counts()
        return {m: counts[m] for m in self.models()}

    def truth(self) -> dict[str, dict[str, list[str]]]:
        """Per unified model, the PMS ids that exist and those deleted."""
        out: dict[str, dict[str, list[str]]] = {}
        for model in self.models():
            out[model] = {
                "live": [self.x_id(model, i) for i in self.world.live_ids(model)],
                "deleted": [self.x_id(model, i) for i in self.world.deleted_ids(model)],
            }
        return out


class Simulator:
    """A fake PMS account served over HTTP: a world, a renderer, faults and a rate limit.

    ``scale`` is the number of units (see :class:`~syncd.sim.world.World`);
    the same ``seed`` and ``scale`` always serve the same data.
    ``rate_limit`` is requests per second per client (None: the vendor's
    documented limit; 0: none).
    """

    def __init__(
        self,
        renderer: type[Renderer],
        *,
        seed: int = 0,
        scale: int = 100,
        credentials: Mapping[str, str] | None = None,
        rate_limit: float | None = None,
        faults: Iterable[Fault | Mapping[str, Any]] = (),
        world: World | None = None,
    ) -> None:
        self.seed = seed
        self.scale = scale
        creds = dict(credentials) if credentials is not None else renderer.default_credentials(seed)
        for key in renderer.credential_keys:
            if not isinstance(creds.get(key), str) or not creds[key]:
                raise ValueError(f"credentials need a non-empty {key!r}")
        self.credentials = creds
        self.renderer = renderer.create(seed=seed, scale=scale, credentials=creds, world=world)
        self.world = self.renderer.world
        limit = renderer.default_rate_limit if rate_limit is None else rate_limit
        self.limiter = RateLimiter(limit)
        self.faults = FaultInjector(
            f if isinstance(f, Fault) else Fault.from_mapping(f) for f in faults
        )
        self.stats = RequestStats()
        #: The headers of the last answer the rate limit refused (empty: none yet).
        self.last_throttled_headers: dict[str, str] = {}
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # -- Python control API ---------------------------------------------------

    @property
    def name(self) -> str:
        """The renderer's name, e.g. ``"rentmanager"``."""
        return self.renderer.name

    @property
    def rate_limit(self) -> float:
        """Requests per second allowed per client (0: unlimited)."""
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
    ) -> dict[str, list[Any]]:
        """Create, update and delete records of ``model`` now; the affected ids by action."""
        return self.renderer.mutate(
            model, create=create, update=update, delete=delete, now=int(time.time())
        )

    def add_fault(self, kind: str, **options: Any) -> None:
        """Queue a fault (see :class:`~syncd.sim.faults.Fault` for kinds and options)."""
        self.faults.add(Fault.from_mapping({"kind": kind, **options}))

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        self.faults.clear()

    def counts(self) -> dict[str, int]:
        """Live records per model."""
        return self.renderer.counts()

    def truth(self) -> dict[str, dict[str, list[str]]]:
        """What ``GET /_sim/truth`` answers under ``models``."""
        return self.renderer.truth()

    def stats_snapshot(self) -> dict[str, Any]:
        """What ``GET /_sim/stats`` answers."""
        return {
            **self.stats.snapshot(),
            "faults_served": dict(self.faults.served),
            "faults_pending": self.faults.pending(),
            "counts": self.counts(),
        }

    # -- list helper for renderers ----------------------------------------------

    def drift(self, request: web.Request, model: str) -> None:
        """Apply a pending ``drift`` fault to ``model`` before the handler selects records."""
        fault = request.get(FAULT_KEY)
        if fault is not None and fault.kind is FaultKind.DRIFT and not request.get(_DRIFTED):
            # Once per request, however often a handler asks.
            request[_DRIFTED] = True
            changed = self.mutate(model, create=fault.create, delete=fault.delete)
            log.debug(
                "sim.drift",
                vendor=self.name,
                model=model,
                created=len(changed.get("created", ())),
                deleted=len(changed.get("deleted", ())),
            )

    def page(
        self,
        request: web.Request,
        model: str,
        entities: Sequence[Entity],
        offset: int,
        limit: int | None,
        render: Callable[[Entity], Record],
    ) -> tuple[list[Record], int]:
        """The rendered records at ``offset`` (``limit`` None: all) and the total to announce.

        Applies the request's list fault: ``repeat`` (offset 0), ``empty``
        (no records, a total of 0), ``malformed`` (the renderer's
        :meth:`Renderer.corrupt`), ``short`` (half the page) and ``total``
        (announced total off by ``delta``). Call :meth:`drift` before
        selecting ``entities``.
        """
        fault = request.get(FAULT_KEY)
        kind = None if fault is None else fault.kind
        total = len(entities)
        if kind is FaultKind.REPEAT:
            offset = 0
        chosen = entities[offset:] if limit is None else entities[offset : offset + limit]
        records = [render(e) for e in chosen]
        if kind is FaultKind.EMPTY:
            records = []
            total = 0
        elif kind is FaultKind.MALFORMED:
            records = self.renderer.corrupt(model, records)
        elif kind is FaultKind.SHORT:
            records = short_page(records)
        if fault is not None and kind is not FaultKind.EMPTY:
            total = fault.announced_total(total)
        return records, total

    def fault_of(self, request: web.Request) -> Fault | None:
        """The fault the request in hand carries (None: none)."""
        return request.get(FAULT_KEY)

    # -- server ---------------------------------------------------------------

    def app(self) -> web.Application:
        """A new aiohttp application serving this simulator."""
        app = web.Application(middlewares=[self._middleware])
        for method, path, handler in self.renderer.routes(self):
            app.router.add_route(method, path, handler)
        app.router.add_post("/_sim/mutate", self._sim_mutate)
        app.router.add_get("/_sim/faults", self._sim_faults_get)
        app.router.add_post("/_sim/faults", self._sim_faults_add)
        app.router.add_delete("/_sim/faults", self._sim_faults_clear)
        app.router.add_get("/_sim/stats", self._sim_stats)
        app.router.add_delete("/_sim/stats", self._sim_stats_reset)
        app.router.add_get("/_sim/truth", self._sim_truth)
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
        log.info("sim.started", vendor=self.name, url=self._url, seed=self.seed, scale=self.scale)
        return self._url

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            log.info("sim.stopped", vendor=self.name, url=self._url)
        self._url = None

    async def __aenter__(self) -> Self:
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
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_sim/"):
            return await handler(request)
        rate_limited = False
        extra: Mapping[str, str] = {}
        try:
            response, rate_limited = await self._guarded(request, handler)
        except SimError as error:
            response = self.renderer.error(error)
        except web.HTTPException as error:
            response = self.renderer.error(SimError(error.status, error.reason))
        client = request.get(CLIENT_KEY)
        if client is not None:
            extra = self.renderer.rate_headers(self.limiter, client)
            for key, value in extra.items():
                response.headers[key] = value
        self.stats.record(request.path, response.status, rate_limited=rate_limited)
        if rate_limited:
            # What a client saw when refused, for tests of the vendor's 429.
            self.last_throttled_headers = dict(response.headers)
        return response

    async def _guarded(
        self, request: web.Request, handler: Handler
    ) -> tuple[web.StreamResponse, bool]:
        unmatched = request.match_info.http_exception
        if unmatched is not None:
            raise unmatched
        limit = self.renderer.max_query_string
        if limit and len(request.query_string) > limit:
            raise self.renderer.query_too_long()
        if self.renderer.public(request):
            return await handler(request), False
        client = await self.renderer.authenticate(request)
        request[CLIENT_KEY] = client
        if not self.limiter.allow(client):
            return self.renderer.error(self.renderer.throttled(None)), True
        fault = self.faults.take(request.path, request.method)
        if fault is not None:
            if fault.kind is FaultKind.RATE_LIMITED:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = format_retry_after(fault.retry_after)
                return self.renderer.error(
                    self.renderer.throttled(fault.retry_after), headers
                ), False
            if fault.kind is FaultKind.SERVER_ERROR:
                raise SimError(500, "An unexpected error occurred.", code="InternalServerError")
            if fault.kind is FaultKind.SLOW:
                await asyncio.sleep(fault.delay)
            request[FAULT_KEY] = fault
        response = await handler(request)
        if fault is not None and fault.kind is FaultKind.LOST:
            # Carried out (a write is committed), but the answer never arrives.
            await asyncio.sleep(fault.delay)
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("the simulator dropped the answer (lost fault)")
        if (
            fault is not None
            and fault.kind is FaultKind.TRUNCATE
            and isinstance(response, web.Response)
            and isinstance(response.body, bytes)
        ):
            headers = {k: v for k, v in response.headers.items() if k != "Content-Length"}
            return web.Response(
                status=response.status, body=truncate_body(response.body), headers=headers
            ), False
        return response, False

    # -- control plane --------------------------------------------------------

    async def _sim_mutate(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise _control_error("body must be a JSON object")
        model = body.get("model")
        known = self.renderer.mutable_models()
        if model not in known:
            raise _control_error(f"model must be one of {', '.join(known)}")
        amounts: dict[str, int] = {}
        for key in ("create", "update", "delete"):
            value = body.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise _control_error(f"{key} must be an integer >= 0")
            amounts[key] = value
        result = self.mutate(str(model), **amounts)
        return control_json({"model": model, **result, "counts": self.counts()})

    async def _sim_faults_get(self, request: web.Request) -> web.Response:
        return control_json({"faults": self.faults.pending()})

    async def _sim_faults_add(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        items = body if isinstance(body, list) else [body]
        try:
            faults = [Fault.from_mapping(item) for item in items if isinstance(item, dict)]
        except ValueError as error:
            raise _control_error(str(error)) from None
        if len(faults) != len(items):
            raise _control_error("body must be a fault object or a list of them")
        for fault in faults:
            self.faults.add(fault)
        return control_json({"faults": self.faults.pending()})

    async def _sim_faults_clear(self, request: web.Request) -> web.Response:
        self.clear_faults()
        return control_json({"faults": []})

    async def _sim_stats(self, request: web.Request) -> web.Response:
        return control_json(self.stats_snapshot())

    async def _sim_stats_reset(self, request: web.Request) -> web.Response:
        self.stats.reset()
        self.faults.served.clear()
        return control_json(self.stats_snapshot())

    async def _sim_truth(self, request: web.Request) -> web.Response:
        return control_json({"vendor": self.name, "models": self.truth()})


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json(loads=orjson.loads)
    except ValueError:
        raise _control_error("body must be JSON") from None


def control_json(body: Any, status: int = 200) -> web.Response:
    """A control-plane JSON answer."""
    return web.Response(status=status, body=orjson.dumps(body), headers={"Content-Type": JSON_TYPE})


def _control_error(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=orjson.dumps({"error": message}).decode(), content_type="application/json"
    )


def json_response(
    body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON answer with ``headers``."""
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        headers={"Content-Type": JSON_TYPE, **(headers or {})},
    )


async def serve_forever(
    sim: Simulator,
    *,
    host: str,
    port: int,
    on_ready: Callable[[str, Mapping[str, str]], None],
) -> None:
    """Serve ``sim`` until cancelled; ``on_ready(url, credentials)`` once it listens."""
    url = await sim.start(host, port)
    try:
        on_ready(url, dict(sim.credentials))
        await asyncio.Event().wait()
    finally:
        await sim.stop()
