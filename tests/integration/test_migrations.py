"""Alembic migrations produce exactly the schema the tables define, on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from syncd.errors import StoreError
from syncd.store.engine import make_engine
from syncd.store.migrate import (
    HEAD_REVISION,
    current_revision,
    ensure_schema,
    head_revision,
    schema_diff,
    upgrade,
)

both = pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)


def test_the_revision_every_command_checks_is_alembics_head() -> None:
    # A new migration must move HEAD_REVISION with it, or every command
    # would refuse the database it just migrated.
    assert head_revision() == HEAD_REVISION


@both
async def test_migrated_schema_equals_models(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        assert await current_revision(engine) is None
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        assert await schema_diff(engine) == []
        await upgrade(engine)  # idempotent
    finally:
        await engine.dispose()


@both
async def test_ensure_schema_creates_fresh_and_refuses_stale(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        await ensure_schema(engine)
        assert await current_revision(engine) == head_revision()
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
        with pytest.raises(StoreError, match="syncd db upgrade"):
            await ensure_schema(engine)
    finally:
        await engine.dispose()


@both
async def test_upgrade_from_the_first_release_keeps_data(empty_database_url: str) -> None:
    """A database at 0002 (schedules, runs, events in it) upgrades to head intact."""
    engine = make_engine(empty_database_url)
    try:
        await upgrade(engine, "0002")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO schedules (integration_id, job, trigger, state, next_run_at, "
                    "updated_at) VALUES ('acme', 'full', '{\"type\": \"interval\", "
                    "\"seconds\": 60}', 'ACTIVE', '2026-01-01 00:00:00+00:00', "
                    "'2026-01-01 00:00:00+00:00')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO sync_runs (id, integration_id, vendor, mode, trigger, status, "
                    "started_at, fetched, created, updated, unchanged, deleted, quarantined, "
                    "requests, retries, records_processed) VALUES ('r1', 'acme', 'BUILDIUM', "
                    "'full', 'manual', 'SUCCESS', '2026-01-01 00:00:00+00:00', "
                    "1, 1, 0, 0, 0, 0, 1, 0, 1)"
                )
            )
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        assert await schema_diff(engine) == []
        async with engine.connect() as conn:
            sched = (await conn.execute(text("SELECT job, state FROM schedules"))).all()
            runs = (await conn.execute(text("SELECT id, scheduled_for FROM sync_runs"))).all()
        assert [tuple(r) for r in sched] == [("full", "ACTIVE")]
        assert [tuple(r) for r in runs] == [("r1", None)]
    finally:
        await engine.dispose()
