"""Composition root: builds the store and runner from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from syncd.crypto import Cipher, load_or_create_key
from syncd.egress import parse_hosts
from syncd.errors import ConfigError
from syncd.metrics import Metrics
from syncd.runner import Runner, RunnerConfig
from syncd.scheduler import Scheduler, SchedulerConfig
from syncd.settings import Settings
from syncd.store.engine import make_engine
from syncd.store.migrate import ensure_schema
from syncd.store.sql import SqlStore
from syncd.store.webhooks import SqlWebhookStore
from syncd.store.writes import SqlWriteJobs
from syncd.webhooks.dispatcher import Dispatcher, DispatcherConfig
from syncd.webhooks.retry import RetryPolicy
from syncd.writes.worker import WorkerConfig, WriteWorker


def make_cipher(settings: Settings) -> Cipher:
    """The credential cipher, from ``SYNCD_SECRET_KEY`` or the key file."""
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    named = settings.secret_key_file is not None
    try:
        return Cipher(load_or_create_key(key, settings.effective_key_file, named=named))
    except ConfigError as exc:
        if named and not exc.field:
            raise ConfigError(str(exc), field="SYNCD_SECRET_KEY_FILE") from exc
        raise


@asynccontextmanager
async def open_store(settings: Settings, *, migrate: bool = True) -> AsyncIterator[SqlStore]:
    """The store for these settings, its schema checked (and created when brand new)."""
    engine = make_engine(settings.effective_database_url)
    store = SqlStore(engine, make_cipher(settings))
    try:
        if migrate:
            await ensure_schema(engine)
        yield store
    finally:
        await store.close()


def runner_config(settings: Settings) -> RunnerConfig:
    """The runner's tunables from settings."""
    return RunnerConfig(
        jobs_dir=settings.jobs_dir,
        transforms_dir=settings.transforms_dir,
        overlap=timedelta(seconds=settings.incremental_overlap_seconds),
        last_seen_resolution=timedelta(seconds=settings.last_seen_resolution_seconds),
        connector_overrides={
            "rate_limit_wait_seconds": settings.pms_rate_limit_wait_seconds,
            "listing_drift_records": settings.listing_drift_records,
            "listing_drift_share": settings.listing_drift_share,
            "allowed_hosts": parse_hosts(settings.egress_allowed_hosts),
        },
    )


def worker_config(settings: Settings) -> WorkerConfig:
    """The write worker's tunables from settings."""
    return WorkerConfig(
        lease=timedelta(seconds=settings.write_lease_seconds),
        max_attempts=settings.write_max_attempts,
        backoff_base=settings.write_backoff_base_seconds,
        poll=settings.write_poll_seconds,
        read_back_wait=timedelta(seconds=settings.write_read_back_wait_seconds),
    )


def make_write_worker(store: SqlStore, settings: Settings, node: str) -> WriteWorker:
    """A write worker on ``store``, configured from settings."""
    return WriteWorker(
        store,
        SqlWriteJobs(store.engine),
        node=node,
        runner_config=runner_config(settings),
        config=worker_config(settings),
    )


def make_runner(store: SqlStore, settings: Settings) -> Runner:
    """A runner configured from settings."""
    return Runner(store, runner_config(settings))


def scheduler_config(settings: Settings, *, poll_cap: float | None = None) -> SchedulerConfig:
    """The scheduler's tunables from settings; ``poll_cap`` bounds the poll interval."""
    poll = settings.scheduler_poll_seconds
    config = SchedulerConfig(
        poll_interval=min(poll, poll_cap) if poll_cap else poll,
        lease=timedelta(seconds=settings.lease_seconds),
        max_concurrent=settings.max_concurrent_jobs,
        max_per_vendor=settings.max_jobs_per_vendor,
        jobs_dir=settings.jobs_dir,
    )
    if settings.node_id:
        config.node_id = settings.node_id
    return config


def make_scheduler(
    store: SqlStore, settings: Settings, *, poll_cap: float | None = None, **hooks: Any
) -> Scheduler:
    """A scheduler configured from settings (hooks: on_tick, on_report, on_lag)."""
    return Scheduler(
        store, make_runner(store, settings), scheduler_config(settings, poll_cap=poll_cap), **hooks
    )


def make_webhook_store(store: SqlStore) -> SqlWebhookStore:
    """The webhook store, on the same engine and secret key as ``store``."""
    return SqlWebhookStore(store.engine, store.cipher)


def dispatcher_config(settings: Settings) -> DispatcherConfig:
    """The webhook dispatcher's tunables from settings."""
    timeout = settings.webhook_timeout_seconds
    base = settings.webhook_retry_base_seconds
    return DispatcherConfig(
        poll_interval=settings.webhook_poll_seconds,
        timeout=timeout,
        max_concurrency=settings.webhook_max_concurrency,
        max_per_subscription=settings.webhook_max_per_subscription,
        lease=max(settings.webhook_lease_seconds, 2 * timeout),
        retry=RetryPolicy(
            base=timedelta(seconds=base),
            max_delay=timedelta(seconds=max(base, settings.webhook_retry_max_delay_seconds)),
            window=timedelta(seconds=settings.webhook_retry_window_seconds),
        ),
        retention=timedelta(days=settings.event_retention_days),
        allowed_hosts=parse_hosts(settings.egress_allowed_hosts),
    )


def make_dispatcher(
    store: SqlStore, settings: Settings, *, metrics: Metrics | None = None
) -> Dispatcher:
    """A webhook dispatcher configured from settings, sharing ``store``'s engine."""
    return Dispatcher(make_webhook_store(store), dispatcher_config(settings), metrics=metrics)
