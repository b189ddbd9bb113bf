"""The cache database's schema: migrating it, and telling its revision."""

from __future__ import annotations

import structlog

from syncd.settings import Settings
from syncd.store.engine import make_engine, redact_url
from syncd.store.migrate import current_revision, head_revision, upgrade

log = structlog.get_logger(__name__)


async def upgrade_database(settings: Settings) -> str:
    """Migrate the database of ``settings`` to the newest schema; the revision it is at."""
    engine = make_engine(settings.effective_database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    revision = head_revision()
    log.info("db.upgraded", database=redact_url(settings.effective_database_url), revision=revision)
    return revision


async def database_revision(settings: Settings) -> str | None:
    """The schema revision of the database of ``settings`` (None: no schema yet)."""
    engine = make_engine(settings.effective_database_url)
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()
