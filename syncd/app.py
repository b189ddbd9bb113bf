"""Composition root: builds the store and runner from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from syncd.crypto import Cipher, load_or_create_key
from syncd.runner import Runner, RunnerConfig
from syncd.scheduler import Scheduler, SchedulerConfig
from syncd.settings import Settings
from syncd.store.engine import make_engine
from syncd.store.migrate import ensure_schema
from syncd.store.sql import SqlStore


def make_cipher(settings: Settings) -> Cipher:
    """The credential cipher, from ``SYNCD_SECRET_KEY`` or the key file."""
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    return Cipher(load_or_create_key(key, settings.effective_key_file))


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


def make_runner(store: SqlStore, settings: Settings) -> Runner:
    """A runner configured from settings."""
    return Runner(
        store,
        RunnerConfig(
            jobs_dir=settings.jobs_dir,
            transforms_dir=settings.transforms_dir,
            overlap=timedelta(seconds=settings.incremental_overlap_seconds),
        ),
    )


def make_scheduler(store: SqlStore, settings: Settings, **hooks: Any) -> Scheduler:
    """A scheduler configured from settings (hooks: on_tick, on_report, on_lag)."""
    config = SchedulerConfig(
        poll_interval=settings.scheduler_poll_seconds,
        lease=timedelta(seconds=settings.lease_seconds),
        max_concurrent=settings.max_concurrent_jobs,
        max_per_vendor=settings.max_jobs_per_vendor,
        jobs_dir=settings.jobs_dir,
    )
    if settings.node_id:
        config.node_id = settings.node_id
    return Scheduler(store, make_runner(store, settings), config, **hooks)
