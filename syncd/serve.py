"""``syncd serve``: scheduler, runners and HTTP server in one process.

Each part is a named task in one task group: if one dies, the daemon logs why
and exits non-zero rather than running half-alive. SIGTERM/SIGINT stop
claiming, let running jobs finish the page in hand (bounded by
``stop_timeout_seconds``), release leases and exit 0; SIGHUP reloads the
settings (configuration file and environment), job definitions and schedules.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import anyio.abc
import structlog

from syncd.api import HttpServer, Readiness
from syncd.api.application import build_application
from syncd.api.auth import KeyGuard
from syncd.api.background import BackgroundWork
from syncd.api.context import ApiContext
from syncd.app import (
    make_dispatcher,
    make_scheduler,
    make_webhook_store,
    make_write_worker,
    open_store,
    runner_config,
    scheduler_config,
)
from syncd.errors import SyncdError
from syncd.logs import configure_logging
from syncd.metrics import Metrics
from syncd.runner import SyncReport
from syncd.scheduler import Scheduler
from syncd.sdnotify import SystemdNotifier
from syncd.settings import Settings
from syncd.store.engine import make_engine, redact_url
from syncd.store.keys import SqlKeyStore
from syncd.store.migrate import upgrade

log = structlog.get_logger(__name__)

#: Settings a running daemon cannot adopt: they take a restart.
RESTART_ONLY = (
    "database_url",
    "state_dir",
    "http_host",
    "http_port",
    "node_id",
    "secret_key",
    "secret_key_file",
)


@dataclass(slots=True)
class _Live:
    """What a reload changes: the settings in force and the poll interval's cap."""

    settings: Settings
    poll_cap: float | None
    load: Callable[[], Settings] | None


def _readiness_window(settings: Settings) -> float:
    return max(30.0, 3 * settings.scheduler_poll_seconds)


async def serve(
    settings: Settings, *, migrate: bool = False, reload: Callable[[], Settings] | None = None
) -> int:
    """Run the daemon until a stop signal; returns the exit code.

    ``reload`` loads the settings again (SIGHUP); without it SIGHUP only
    re-reads job definitions and schedules.
    """
    if migrate:
        engine = make_engine(settings.effective_database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
    notifier = SystemdNotifier()
    metrics = Metrics()
    readiness = Readiness(stale_after=_readiness_window(settings), metrics=metrics)
    # The scheduler loop sends WATCHDOG=1: it must come round more often
    # than systemd's watchdog expects, whatever the poll interval says.
    poll_cap = notifier.watchdog_interval()
    if poll_cap is not None and poll_cap < settings.scheduler_poll_seconds:
        log.warning(
            "serve.watchdog_shorter_than_poll",
            watchdog_interval_seconds=poll_cap,
            poll_seconds=settings.scheduler_poll_seconds,
            using_seconds=poll_cap,
        )
    live = _Live(settings, poll_cap, reload)
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
            poll_cap=poll_cap,
            on_tick=tick,
            on_report=record,
            on_lag=metrics.record_schedule_lag,
        )
        metrics.track_leases_held(lambda: scheduler.leases_held)
        background = BackgroundWork()
        writer = make_write_worker(store, settings, scheduler.node_id)
        ctx = ApiContext(
            store=store,
            webhooks=make_webhook_store(store),
            settings=settings,
            guard=KeyGuard(SqlKeyStore(store.engine)),
            background=background,
            writes_queued=writer.wake,
        )
        http = HttpServer(build_application(ctx, metrics=metrics, readiness=readiness))
        try:
            async with anyio.create_task_group() as tg:
                # Before the server: a request may hand work over at once.
                await tg.start(background.run, name="api-background")
                url = await tg.start(http.serve, settings.http_host, settings.http_port)
                tg.start_soon(scheduler.run, name="scheduler")
                # Cancelled with the rest: it records what it posted and hands
                # back what it had not.
                dispatcher = make_dispatcher(store, settings, metrics=metrics)
                tg.start_soon(dispatcher.run, name="webhook-dispatcher")
                # Cancelled with the rest mid-write: the job's lease runs out
                # and the next claim looks for the record before sending again.
                tg.start_soon(writer.serve, name="write-worker")
                tg.start_soon(_signals, tg, scheduler, readiness, notifier, live, name="signals")
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


def _reload_settings(live: _Live, scheduler: Scheduler, readiness: Readiness) -> None:
    """Load the settings again and adopt what a running daemon can."""
    if live.load is None:
        return
    new = live.load()
    changed = [k for k in RESTART_ONLY if getattr(new, k) != getattr(live.settings, k)]
    if changed:
        log.warning("serve.reload_needs_restart", settings=changed)
    configure_logging(new.log_level, new.log_format)
    scheduler.reconfigure(scheduler_config(new, poll_cap=live.poll_cap), runner_config(new))
    readiness.stale_after = _readiness_window(new)
    live.settings = new
    log.info(
        "serve.reloaded",
        poll_seconds=scheduler.config.poll_interval,
        max_concurrent_jobs=new.max_concurrent_jobs,
        log_level=new.log_level,
    )


async def _signals(
    tg: anyio.abc.TaskGroup,
    scheduler: Scheduler,
    readiness: Readiness,
    notifier: SystemdNotifier,
    live: _Live,
) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            if signum == signal.SIGHUP:
                notifier.reloading()
                log.info("serve.reloading")
                try:
                    _reload_settings(live, scheduler, readiness)
                    await scheduler.reconcile()
                except SyncdError as exc:
                    # A bad file or an unreachable database must not take the
                    # daemon down: what was in force stays in force.
                    log.error("serve.reload_failed", error=str(exc))
                scheduler.wake()
                notifier.ready(status="reloaded")
                continue
            log.info("serve.stopping", signal=signal.Signals(signum).name)
            notifier.stopping()
            readiness.mark_stopping()
            scheduler.request_stop()
            timeout = live.settings.stop_timeout_seconds
            with anyio.move_on_after(timeout) as scope:
                await scheduler.stopped.wait()
            if scope.cancelled_caught:
                log.warning("serve.stop_timeout", seconds=timeout)
                tg.cancel_scope.cancel()
            return
