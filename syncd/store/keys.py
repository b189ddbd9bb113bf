"""The API key store: hashed bearer keys of the HTTP API.

Only a key's SHA-256 digest and its first characters are stored; the key
itself is shown once, when it is made (see :mod:`syncd.services.keys`), and
can never be read back. The store shares its engine with
:class:`~syncd.store.sql.SqlStore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from syncd.errors import KeyNameTaken, KeyNotFound
from syncd.store.engine import translate_errors
from syncd.store.tables import api_keys

_keys = api_keys


class KeyScope(StrEnum):
    """What a key may do."""

    #: Everything, writes and administration included.
    ADMIN = "admin"
    #: The read API only.
    READ = "read"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as stored: everything but the key (and its digest)."""

    id: str
    name: str
    scope: KeyScope
    #: The key's first characters, to tell keys apart in listings and logs.
    prefix: str
    rate_limit_per_minute: int
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked (it then authenticates nothing)."""
        return self.revoked_at is not None

    def permits(self, scope: KeyScope | str) -> bool:
        """Whether this key may perform an operation that needs ``scope``."""
        return self.scope is KeyScope.ADMIN or KeyScope(scope) is KeyScope.READ


class KeyStore(Protocol):
    """Where API keys live (:class:`SqlKeyStore`, or a fake in tests)."""

    async def add(self, key: ApiKey, key_hash: str) -> ApiKey:
        """Store ``key`` under the digest of its secret; KeyNameTaken if the name is."""
        ...

    async def get(self, key_id: str) -> ApiKey:
        """The key with this id; KeyNotFound if none."""
        ...

    async def get_by_hash(self, key_hash: str) -> tuple[ApiKey, str] | None:
        """The key whose digest is ``key_hash`` (revoked or not) and that stored digest."""
        ...

    async def list_keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        ...

    async def revoke(self, key_id: str, at: datetime) -> ApiKey:
        """Revoke the key (a revoked key stays revoked at its first time); KeyNotFound if none."""
        ...

    async def touch(self, key_id: str, at: datetime) -> None:
        """Record that the key was used at ``at``."""
        ...


class SqlKeyStore:
    """API keys in the cache database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @staticmethod
    def _key(row: Any) -> ApiKey:
        return ApiKey(
            id=row.id,
            name=row.name,
            scope=KeyScope(row.scope),
            prefix=row.prefix,
            rate_limit_per_minute=int(row.rate_limit_per_minute),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )

    async def add(self, key: ApiKey, key_hash: str) -> ApiKey:
        """Store ``key`` under the digest of its secret; KeyNameTaken if the name is."""
        insert = _keys.insert().values(
            id=key.id,
            name=key.name,
            scope=key.scope.value,
            prefix=key.prefix,
            hash=key_hash,
            rate_limit_per_minute=key.rate_limit_per_minute,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )
        async with translate_errors():
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(insert)
            except IntegrityError as exc:
                # Ids are random UUIDs and digests of 256 random bits: only
                # the name can collide.
                raise KeyNameTaken(
                    f"an API key named {key.name!r} already exists", field="name"
                ) from exc
        return key

    async def get(self, key_id: str) -> ApiKey:
        """The key with this id; KeyNotFound if none."""
        async with translate_errors(), self.engine.connect() as conn:
            row = (await conn.execute(select(_keys).where(_keys.c.id == key_id))).first()
        if row is None:
            raise KeyNotFound(f"no API key {key_id!r}")
        return self._key(row)

    async def get_by_hash(self, key_hash: str) -> tuple[ApiKey, str] | None:
        """The key whose digest is ``key_hash`` (revoked or not) and that stored digest."""
        async with translate_errors(), self.engine.connect() as conn:
            row = (await conn.execute(select(_keys).where(_keys.c.hash == key_hash))).first()
        return None if row is None else (self._key(row), str(row.hash))

    async def list_keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        query = select(_keys).order_by(_keys.c.created_at, _keys.c.id)
        async with translate_errors(), self.engine.connect() as conn:
            return [self._key(r) for r in await conn.execute(query)]

    async def revoke(self, key_id: str, at: datetime) -> ApiKey:
        """Revoke the key (a revoked key stays revoked at its first time); KeyNotFound if none."""
        async with translate_errors(), self.engine.begin() as conn:
            await conn.execute(
                _keys.update()
                .where(_keys.c.id == key_id, _keys.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            row = (await conn.execute(select(_keys).where(_keys.c.id == key_id))).first()
        if row is None:
            raise KeyNotFound(f"no API key {key_id!r}")
        return self._key(row)

    async def touch(self, key_id: str, at: datetime) -> None:
        """Record that the key was used at ``at`` (never moving the time back)."""
        async with translate_errors(), self.engine.begin() as conn:
            await conn.execute(
                _keys.update()
                .where(
                    _keys.c.id == key_id,
                    # Several nodes touch the same key: the latest time wins.
                    or_(_keys.c.last_used_at.is_(None), _keys.c.last_used_at < at),
                )
                .values(last_used_at=at)
            )
