"""The daemon's one aiohttp application: probes, metrics, the ``/v1`` API and its document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import metadata
from types import ModuleType

from aiohttp import web

from syncd.api.context import API_CONTEXT, ApiContext
from syncd.api.errors import ApiError, json_response
from syncd.api.health import Readiness, install_health
from syncd.api.openapi import build_document
from syncd.api.routing import Route, Router, json_errors
from syncd.metrics import Metrics

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Where the OpenAPI document is served (open, like the probes).
OPENAPI_PATH = "/openapi.json"


def api_routes() -> list[Route]:
    """Every operation of the ``/v1`` API, from each area's module."""
    routes: list[Route] = []
    for module in _areas():
        routes.extend(module.ROUTES)
    return routes


def _areas() -> list[ModuleType]:
    # Imported here: each area pulls in its services, which the probes alone
    # do not need.
    from syncd.api import (
        data_access,
        events,
        integrations,
        jobs,
        normalization,
        records,
        syncs,
        webhooks,
        writes,
    )

    return [
        integrations,
        data_access,
        normalization,
        jobs,
        webhooks,
        records,
        writes,
        events,
        syncs,
    ]


def _version() -> str:
    try:
        return metadata.version("syncd")
    except metadata.PackageNotFoundError:
        return "0"


def openapi_document(routes: list[Route] | None = None) -> dict[str, object]:
    """The OpenAPI 3.1 document of the API."""
    return build_document(
        routes if routes is not None else api_routes(), title="syncd", version=_version()
    )


_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


@web.middleware
async def _probes_need_key(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """With ``http_open_probes`` off, the probes and metrics need a key of any scope."""
    if request.path in _PROBES:
        try:
            await request.app[API_CONTEXT].guard.admit(request, "read")
        except ApiError as exc:
            return exc.response()
    return await handler(request)


def build_application(
    ctx: ApiContext,
    *,
    metrics: Metrics,
    readiness: Readiness,
    routes: list[Route] | None = None,
    dashboard: bool | None = None,
) -> web.Application:
    """The application serving the probes, ``/metrics``, the API, its document, the dashboard."""
    middlewares = [json_errors]
    if not ctx.settings.http_open_probes:
        middlewares.append(_probes_need_key)
    app = web.Application(middlewares=middlewares, client_max_size=1024**2)
    install_health(app, store=ctx.store, metrics=metrics, readiness=readiness)
    app[API_CONTEXT] = ctx
    served = routes if routes is not None else api_routes()
    Router(served).install(app)
    document = openapi_document(served)

    async def openapi(_: web.Request) -> web.Response:
        return json_response(document)

    app.router.add_get(OPENAPI_PATH, openapi)
    if ctx.settings.dashboard_enabled if dashboard is None else dashboard:
        from syncd.dashboard import install

        install(app)
    return app
