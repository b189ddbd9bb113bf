"""``syncd serve``: scheduler, runners and HTTP server in one process.

Each part is a named task in one task group: if one dies, the daemon logs why
and exits non-zero rather than running half-alive. SIGTERM/SIGINT stop
claiming, let running jobs finish the page in hand (bounded by
``stop_timeout_seconds``), release leases and exit 0; SIGHUP reloads job
definitions and schedules.
"""

from __future__ import annotations

import signal

import anyio
import anyio.abc
import structlog

from syncd.api import HttpServer, Readiness, build_app
from syncd.app import make_scheduler, open_store
from syncd.errors import SyncdError
from syncd.metrics import Metrics
from syncd.runner import SyncReport
from syncd.scheduler import Scheduler
from syncd.sdnotify import SystemdNotifier
from syncd.settings import Settings
from syncd.store.engine import make_engine, redact_url
from syncd.store.migrate import upgrade

log = structlog.get_logger(__name__)


async def serve(settings: Settings, *, migrate: bool = False) -> int:
    """Run the daemon until a stop signal; returns the exit code."""
    if migrate:
        engine = make_engine(settings.effective_database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
    notifier = SystemdNotifier()
    metrics = Metrics()
    readiness = Readiness(
        stale_after=max(30.0, 3 * settings.scheduler_poll_seconds), metrics=metrics
    )
    async with open_store(settings) as store:

        def record(report: SyncReport) -> None:
            for o in report.outcomes:
                metrics.record_model_run(
                    vendor=report.vendor,
                    model=o.model,
                    status=o.status.value,
                    duration_seconds=o.seconds,
                    processed=o.counts.processed,
                    quarantined=o.counts.quarantined,
                    requests=o.counts.requests,
                    throttled=o.throttled,
                    retries=o.counts.retries,
                )

        def tick() -> None:
            readiness.tick()
            notifier.watchdog()

        scheduler = make_scheduler(
            store,
            settings,
            on_tick=tick,
            on_report=record,
            on_lag=metrics.record_schedule_lag,
        )
        metrics.track_leases_held(lambda: scheduler.leases_held)
        http = HttpServer(build_app(store=store, metrics=metrics, readiness=readiness))
        try:
            async with anyio.create_task_group() as tg:
                url = await tg.start(http.serve, settings.http_host, settings.http_port)
                tg.start_soon(scheduler.run, name="scheduler")
                tg.start_soon(
                    _signals, tg, scheduler, readiness, notifier, settings, name="signals"
                )
                log.info(
                    "serve.started",
                    url=url,
                    node=scheduler.node_id,
                    database=redact_url(settings.effective_database_url),
                )
                notifier.ready(status=f"serving on {url}")
                await scheduler.stopped.wait()
                # The scheduler ended (stop requested): take the server down too.
                tg.cancel_scope.cancel()
        except BaseException as exc:
            if not isinstance(exc, anyio.get_cancelled_exc_class()):
                # One part died: say which and why, then exit non-zero.
                log.error("serve.failed", error=repr(exc))
                notifier.stopping()
            raise
    log.info("serve.stopped")
    return 0


async def _signals(
    tg: anyio.abc.TaskGroup,
    scheduler: Scheduler,
    readiness: Readiness,
    notifier: SystemdNotifier,
    settings: Settings,
) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            if signum == signal.SIGHUP:
                notifier.reloading()
                log.info("serve.reloading")
                try:
                    await scheduler.reconcile()
                except SyncdError as exc:
                    # A bad job file or an unreachable database must not
                    # take the daemon down: the old schedules stay.
                    log.error("serve.reload_failed", error=str(exc))
                scheduler.wake()
                notifier.ready(status="reloaded")
                continue
            log.info("serve.stopping", signal=signal.Signals(signum).name)
            notifier.stopping()
            readiness.mark_stopping()
            scheduler.request_stop()
            with anyio.move_on_after(settings.stop_timeout_seconds) as scope:
                await scheduler.stopped.wait()
            if scope.cancelled_caught:
                log.warning("serve.stop_timeout", seconds=settings.stop_timeout_seconds)
                tg.cancel_scope.cancel()
            return
