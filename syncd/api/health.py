"""Health, readiness and metrics endpoints, and the HTTP server that carries them.

``/healthz`` answers while the process runs. ``/readyz`` answers 200 only when
the cache database answers and the scheduler loop ticked recently, with each
integration's last run for operators; a database outage makes it 503, never
500, and it turns 200 again once the database is back. ``/metrics`` is the
Prometheus exposition of :class:`~syncd.metrics.Metrics`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import structlog
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from anyio.abc import TaskStatus

from syncd.domain import Integration, RunRecord
from syncd.metrics import Metrics
from syncd.store.base import Store

log = structlog.get_logger(__name__)

#: How long ``/readyz`` waits for the database, per step, before calling it down.
DEFAULT_DB_TIMEOUT = 2.0

_NO_STORE = {"Cache-Control": "no-store"}


class Readiness:
    """Whether the scheduler loop is alive, as seen by ``/readyz``.

    The scheduler calls :meth:`tick` after each loop pass (its ``on_tick``
    hook). The loop counts as alive while the last tick is at most
    ``stale_after`` seconds old; before the first tick it is not. When
    ``metrics`` is given, each tick also sets
    ``syncd_scheduler_last_tick_timestamp_seconds``.
    """

    def __init__(
        self,
        stale_after: float = 30.0,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if stale_after <= 0:
            raise ValueError("stale_after must be positive")
        self.stale_after = stale_after
        self._metrics = metrics
        self._clock = clock
        self._last_tick: float | None = None
        self._stopping = False

    def tick(self) -> None:
        """Record that the scheduler loop completed a pass just now."""
        self._last_tick = self._clock()
        if self._metrics is not None:
            self._metrics.mark_scheduler_tick()

    def mark_stopping(self) -> None:
        """Report not ready from now on (the daemon is shutting down)."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        """True once :meth:`mark_stopping` was called."""
        return self._stopping

    @property
    def last_tick_age(self) -> float | None:
        """Seconds since the last tick, or None if the scheduler never ticked."""
        if self._last_tick is None:
            return None
        return max(self._clock() - self._last_tick, 0.0)

    @property
    def scheduler_ok(self) -> bool:
        """True when the scheduler ticked within ``stale_after`` seconds."""
        age = self.last_tick_age
        return age is not None and age <= self.stale_after


@dataclass(frozen=True, slots=True)
class _Context:
    store: Store
    metrics: Metrics
    readiness: Readiness
    db_timeout: float


_CONTEXT = web.AppKey("syncd_health", _Context)


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _last_run(run: RunRecord | None, now: datetime) -> dict[str, Any] | None:
    if run is None:
        return None
    reference = run.ended_at or run.started_at
    return {
        "status": str(run.status),
        "started_at": _iso(run.started_at),
        "ended_at": _iso(run.ended_at),
        "age_seconds": round(max((now - reference).total_seconds(), 0.0), 3),
        # Why it failed or was skipped (a broken transform, a PMS fault).
        "error": run.error,
    }


async def _integrations(store: Store, now: datetime) -> list[dict[str, Any]]:
    found: list[Integration] = await store.list_integrations()
    result = []
    for integration in found:
        last = await store.last_root_run(integration.id)
        result.append(
            {
                "id": integration.id,
                "vendor": integration.vendor,
                "enabled": integration.enabled,
                "last_run": _last_run(last, now),
            }
        )
    return result


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"}, headers=_NO_STORE)


async def _readyz(request: web.Request) -> web.Response:
    ctx = request.app[_CONTEXT]
    database = "ok"
    try:
        with anyio.fail_after(ctx.db_timeout):
            await ctx.store.ping()
    except TimeoutError:
        database = f"no answer within {ctx.db_timeout:g} s"
    except Exception as exc:
        database = _error_text(exc)

    extra: dict[str, Any] = {}
    integrations: list[dict[str, Any]] = []
    if database == "ok":
        # Informational only: a failure here does not make the node unready.
        try:
            with anyio.fail_after(ctx.db_timeout):
                integrations = await _integrations(ctx.store, datetime.now(UTC))
        except TimeoutError:
            extra["integrations_error"] = f"no answer within {ctx.db_timeout:g} s"
        except Exception as exc:
            extra["integrations_error"] = _error_text(exc)

    readiness = ctx.readiness
    age = readiness.last_tick_age
    scheduler_ok = readiness.scheduler_ok
    ready = database == "ok" and scheduler_ok and not readiness.stopping
    body: dict[str, Any] = {
        "status": "ready" if ready else "not_ready",
        "database": database,
        "scheduler": {
            "last_tick_age_seconds": round(age, 3) if age is not None else None,
            "ok": scheduler_ok,
        },
        "integrations": integrations,
        **extra,
    }
    if readiness.stopping:
        body["stopping"] = True
    if not ready:
        log.debug("http.readyz.not_ready", database=database, scheduler_ok=scheduler_ok)
    return web.json_response(body, status=200 if ready else 503, headers=_NO_STORE)


async def _metrics(request: web.Request) -> web.Response:
    payload, content_type = request.app[_CONTEXT].metrics.render()
    return web.Response(body=payload, headers={"Content-Type": content_type, **_NO_STORE})


def build_app(
    *,
    store: Store,
    metrics: Metrics,
    readiness: Readiness,
    db_timeout: float = DEFAULT_DB_TIMEOUT,
) -> web.Application:
    """The aiohttp application serving ``/healthz``, ``/readyz`` and ``/metrics``.

    ``db_timeout`` bounds each database step of ``/readyz`` (the ping, then
    the integration summary) so a hung database makes the probe fail fast.
    """
    app = web.Application()
    install_health(app, store=store, metrics=metrics, readiness=readiness, db_timeout=db_timeout)
    return app


def install_health(
    app: web.Application,
    *,
    store: Store,
    metrics: Metrics,
    readiness: Readiness,
    db_timeout: float = DEFAULT_DB_TIMEOUT,
) -> None:
    """Serve ``/healthz``, ``/readyz`` and ``/metrics`` on ``app``."""
    app[_CONTEXT] = _Context(store, metrics, readiness, db_timeout)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)


class _StructlogAccessLogger(AbstractAccessLogger):
    """Access log through structlog at debug: method, path, status, duration; no headers."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        log.debug(
            "http.request",
            method=request.method,
            path=request.path,
            status=response.status,
            duration_ms=round(time * 1000, 2),
        )


class HttpServer:
    """Runs an aiohttp application on one TCP address until stopped."""

    def __init__(self, app: web.Application, *, shutdown_timeout: float = 2.0) -> None:
        self.app = app
        self.shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """The base URL being served (raises if not started)."""
        if self._url is None:
            raise RuntimeError("the HTTP server is not running")
        return self._url

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host``:``port`` (port 0 picks a free one); returns the base URL."""
        if self._runner is not None:
            return self.url
        runner = web.AppRunner(
            self.app,
            access_log_class=_StructlogAccessLogger,
            handle_signals=False,
            shutdown_timeout=self.shutdown_timeout,
        )
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
        log.info("http.started", url=self._url)
        return self._url

    async def stop(self) -> None:
        """Stop listening and close connections (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        try:
            await runner.cleanup()
        finally:
            log.info("http.stopped", url=self._url)
            self._url = None

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until cancelled, for ``await task_group.start(server.serve, host, port)``.

        Reports the bound URL through ``task_status``; stops the server when
        the task is cancelled.
        """
        url = await self.start(host, port)
        try:
            task_status.started(url)
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await self.stop()
