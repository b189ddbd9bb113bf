"""Schema migrations (Alembic), run programmatically on the async engine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from syncd.errors import StoreError
from syncd.store.engine import translate_errors
from syncd.store.tables import metadata

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where a migration runs, not here: every command opens
# the store and checks its revision, and importing Alembic would cost each
# one a large share of its start-up for nothing.

#: The newest migration's revision (a test keeps it equal to Alembic's head).
HEAD_REVISION: Final = "0013"

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at syncd's migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration revision shipped with this version, as Alembic finds it."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise StoreError("no migrations found")
    return head


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database to ``revision``."""

    from alembic import command

    def _run(conn: Connection) -> None:
        command.upgrade(alembic_config(conn), revision)

    async with translate_errors(), engine.begin() as conn:
        await conn.run_sync(_run)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision, or None if it was never migrated."""

    def _run(conn: Connection) -> str | None:
        if not inspect(conn).has_table("alembic_version"):
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        # Alembic keeps one row per head; syncd's history has a single head.
        if len(rows) > 1:
            raise StoreError(f"database has several schema heads: {', '.join(rows)}")
        return rows[0] if rows else None

    async with translate_errors(), engine.connect() as conn:
        return await conn.run_sync(_run)


async def schema_diff(engine: AsyncEngine) -> list[Any]:
    """Differences between the database schema and the table definitions (empty = equal)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

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
    head = HEAD_REVISION
    if current != head:
        raise StoreError(
            f"database schema is at revision {current or 'none'}, this syncd needs {head}: "
            "run `syncd db upgrade`"
        )
