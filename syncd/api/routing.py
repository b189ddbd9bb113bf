"""Declared routes: one definition per operation serves requests and the OpenAPI document.

A :class:`Route` names its method, path, scope and the pydantic models of its
query, body and answer. :class:`Router` puts each route on an aiohttp
application behind one wrapper that authenticates, rate-limits, validates
(unknown query parameters are rejected, not ignored) and turns every error
into the JSON shape of :mod:`syncd.api.errors`. The OpenAPI document is built
from the same routes (:mod:`syncd.api.openapi`), so the two cannot drift.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError

from syncd.api.context import API_CONTEXT, ApiContext
from syncd.api.errors import ApiError, from_validation, invalid, translate
from syncd.errors import DatabaseUnavailable, SyncdError

log = structlog.get_logger(__name__)


class Scope(StrEnum):
    """What an API key may do: ``read`` the unified data, or ``admin`` everything."""

    READ = "read"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Raw:
    """An answer already serialized (a fast path that skips re-validating records)."""

    body: bytes
    status: int | None = None
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A model answer with a status or headers other than the route's default."""

    model: BaseModel
    status: int | None = None
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """One validated request as a handler sees it."""

    request: web.Request
    ctx: ApiContext
    path: Mapping[str, str]
    query: Any
    body: Any
    key_id: str | None
    key_scope: Scope | None


Result = BaseModel | Answer | Raw | None
Handler = Callable[[Call], Awaitable[Result]]


@dataclass(frozen=True, slots=True)
class Route:
    """One operation of the API.

    ``scope`` None means open (no key needed). ``errors`` lists the statuses
    besides 400/401/403/429 the operation can answer (404, 409 ...), for the
    document. ``aliases`` are further paths served by the same operation (the
    reference writes list paths with a trailing slash; both forms work).
    """

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    scope: Scope | None = Scope.ADMIN
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    aliases: tuple[str, ...] = ()
    description: str = ""
    operation_id: str = ""
    #: Path parameter → the regular expression it must match to route here
    #: (the document shows the plain ``{name}``).
    patterns: Mapping[str, str] = field(default_factory=dict)

    @property
    def path_params(self) -> list[str]:
        """The ``{name}`` parameters of the path, in order."""
        return re.findall(r"{(\w+)}", self.path)

    @property
    def op_id(self) -> str:
        """A stable operation id (given, or made from the handler's name)."""
        return self.operation_id or getattr(self.handler, "__name__", "").lstrip("_")


@dataclass(slots=True)
class Router:
    """Collects routes; :meth:`install` puts them on an application."""

    routes: list[Route] = field(default_factory=list)

    def add(self, route: Route) -> None:
        """Declare one operation."""
        self.routes.append(route)

    def extend(self, routes: list[Route]) -> None:
        """Declare several operations."""
        self.routes.extend(routes)

    def install(self, app: web.Application) -> None:
        """Serve every declared route on ``app``."""
        for route in self.routes:
            wrapped = _wrap(route)
            for path in (route.path, *route.aliases):
                served = path
                for name, pattern in route.patterns.items():
                    served = served.replace("{" + name + "}", "{" + name + ":" + pattern + "}")
                app.router.add_route(route.method, served, wrapped)


def _list_fields(model: type[BaseModel]) -> set[str]:
    """Query parameters (by alias) that take several values."""
    names = set()
    for name, info in model.model_fields.items():
        ann = info.annotation
        args = typing.get_args(ann) if isinstance(ann, types.UnionType) else ()
        candidates = [ann, *args]
        if any(typing.get_origin(c) is list for c in candidates):
            names.add(info.alias or name)
    return names


def parse_query(model: type[BaseModel] | None, request: web.Request) -> Any:
    """The query string validated by ``model``; any parameter it does not know is a 400."""
    query = request.query
    if model is None:
        if query:
            raise invalid("query", next(iter(query)), "unknown parameter", "extra_forbidden")
        return None
    many = _list_fields(model)
    data: dict[str, Any] = {}
    for name in query:
        if name in data:
            continue
        values = query.getall(name)
        if name in many:
            data[name] = [part for v in values for part in v.split(",") if part]
        elif len(values) > 1:
            raise invalid("query", name, "given more than once", "repeated")
        else:
            data[name] = values[0]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc, "query") from None


async def parse_body(model: type[BaseModel] | None, request: web.Request) -> Any:
    """The JSON body validated by ``model`` (None when the route takes no body)."""
    if model is None:
        return None
    raw = await request.read()
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise invalid("body", "body", "not valid JSON", "json_invalid") from None
    if not isinstance(data, dict):
        raise invalid("body", "body", "must be a JSON object", "object_type")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc, "body") from None


def _render(route: Route, result: Result) -> web.Response:
    if result is None:
        return web.Response(status=204 if route.status in (200, 204) else route.status)
    if isinstance(result, Raw):
        return web.Response(
            status=result.status or route.status,
            body=result.body,
            content_type="application/json",
            headers=result.headers,
        )
    status, headers = route.status, None
    if isinstance(result, Answer):
        status, headers, result = result.status or route.status, result.headers, result.model
    return web.Response(
        status=status,
        body=result.model_dump_json(by_alias=True).encode(),
        content_type="application/json",
        headers=headers,
    )


def _wrap(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        ctx = request.app[API_CONTEXT]
        limit_headers: dict[str, str] = {}
        try:
            key_id, key_scope = None, None
            if route.scope is not None:
                grant = await ctx.guard.admit(request, route.scope.value)
                key_id, key_scope = grant.key_id, Scope(grant.scope)
                limit_headers = dict(grant.headers)
            path = dict(request.match_info)
            query = parse_query(route.query, request)
            body = await parse_body(route.body, request)
            result = await route.handler(Call(request, ctx, path, query, body, key_id, key_scope))
            response = _render(route, result)
        except ApiError as exc:
            response = exc.response()
        except DatabaseUnavailable as exc:
            log.warning("api.database_unavailable", path=request.path, error=str(exc))
            response = ApiError(503, "unavailable", "the cache database is unavailable").response()
        except SyncdError as exc:
            response = translate(exc).response()
        for name, value in limit_headers.items():
            response.headers.setdefault(name, value)
        return response

    handle.__name__ = route.op_id or "handle"
    return handle


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Unmatched paths and methods answer in the API's JSON error shape; bugs answer 500 JSON."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        error = ApiError(exc.status, code, exc.reason)
        allow = exc.headers.get("Allow")
        if allow:
            error.headers["Allow"] = allow
        return error.response()
    except Exception as exc:
        log.exception("api.unhandled_error", path=request.path, error=repr(exc))
        return ApiError(500, "internal_error", "internal error").response()
