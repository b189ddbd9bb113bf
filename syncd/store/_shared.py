"""What the SQL repositories share: the engine, the cipher and the clock.

Each repository of :class:`~syncd.store.sql.SqlStore` (integrations, run
log, records, sweeps, schedules) derives from :class:`SqlRepository`, so
that composed into one store they all see the same engine and cipher.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from syncd.crypto import Cipher


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class SqlRepository:
    """State every SQL repository needs: the engine, the cipher, the dialect's INSERT.

    Repositories that prepare statements per dialect extend ``__init__`` and
    call ``super().__init__``, so one composed store runs every one of them.
    """

    def __init__(self, engine: AsyncEngine, cipher: Cipher) -> None:
        self.engine = engine
        self._cipher = cipher
        self._insert: Callable[[Table], Any] = (
            postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        )

    @property
    def cipher(self) -> Cipher:
        """The secret-key cipher of this store (credentials at rest; others may share it)."""
        return self._cipher
