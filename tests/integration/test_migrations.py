"""Alembic migrations produce exactly the schema the tables define, on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from syncd.errors import StoreError
from syncd.store.engine import make_engine
from syncd.store.migrate import (
    current_revision,
    ensure_schema,
    head_revision,
    schema_diff,
    upgrade,
)

both = pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)


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
