"""Schema migrations (Alembic), run programmatically on the async engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from syncd.errors import StoreError
from syncd.store.engine import translate_errors
from syncd.store.tables import metadata

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at syncd's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration revision shipped with this version."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise StoreError("no migrations found")
    return head


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database to ``revision``."""

    def _run(conn: Connection) -> None:
        command.upgrade(alembic_config(conn), revision)

    async with translate_errors(), engine.begin() as conn:
        await conn.run_sync(_run)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision, or None if it was never migrated."""

    def _run(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with translate_errors(), engine.connect() as conn:
        return await conn.run_sync(_run)


async def schema_diff(engine: AsyncEngine) -> list[Any]:
    """Differences between the database schema and the table definitions (empty = equal)."""

    def _run(conn: Connection) -> list[Any]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))

    async with translate_errors(), engine.connect() as conn:
        return await conn.run_sync(_run)


async def ensure_schema(engine: AsyncEngine) -> None:
    """Migrate a brand-new database; refuse to use one that is behind.

    An empty database (no tables at all) is created at once so the embedded
    default works without a set-up step; an existing one is only changed by
    an explicit ``syncd db upgrade``.
    """

    def _tables(conn: Connection) -> list[str]:
        return inspect(conn).get_table_names()

    async with translate_errors(), engine.connect() as conn:
        tables = await conn.run_sync(_tables)
    if not tables:
        await upgrade(engine)
        return
    current = await current_revision(engine)
    head = head_revision()
    if current != head:
        raise StoreError(
            f"database schema is at revision {current or 'none'}, this syncd needs {head}: "
            "run `syncd db upgrade`"
        )
