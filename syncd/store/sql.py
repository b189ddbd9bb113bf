"""The SQLAlchemy store: one code path for PostgreSQL and SQLite.

:class:`SqlStore` is the whole :class:`~syncd.store.base.Store`, composed of
one repository per concern, each in its own module: integrations
(:mod:`~syncd.store.integrations`), the run log (:mod:`~syncd.store.runs`),
cached records (:mod:`~syncd.store.records`), deletion sweeps
(:mod:`~syncd.store.sweeps`) and schedules (:mod:`~syncd.store.schedules`).
They share one engine and cipher (:mod:`~syncd.store._shared`).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from syncd.crypto import Cipher
from syncd.store.base import Store
from syncd.store.engine import translate_errors
from syncd.store.integrations import SqlIntegrations
from syncd.store.records import SqlRecords
from syncd.store.runs import SqlRunLog
from syncd.store.schedules import SqlSchedules
from syncd.store.sweeps import SqlSweeps


class SqlStore(SqlIntegrations, SqlRunLog, SqlRecords, SqlSweeps, SqlSchedules, Store):
    """:class:`Store` on an SQLAlchemy async engine (PostgreSQL or SQLite)."""

    def __init__(self, engine: AsyncEngine, cipher: Cipher) -> None:
        # Each repository's __init__ chains to the next through super(), so
        # every one prepares its statements for this engine's dialect.
        super().__init__(engine, cipher)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with translate_errors(), self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
