"""API keys: the store on both engines, the service's rules, the per-key rate limiter."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import pytest
from alembic import command
from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection

from syncd.cli.keys import key_json
from syncd.errors import ConfigError, KeyNameTaken, KeyNotFound
from syncd.services.keys import (
    PREFIX_LENGTH,
    KeyRateLimiter,
    authenticate,
    create_key,
    hash_key,
    list_keys,
    revoke_key,
)
from syncd.store.engine import make_engine
from syncd.store.keys import ApiKey, KeyScope, SqlKeyStore
from syncd.store.migrate import alembic_config, current_revision, schema_diff, upgrade
from syncd.store.sql import SqlStore
from syncd.store.tables import api_keys

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
KEY_FORMAT = re.compile(r"sk_[A-Za-z0-9_-]{43}")


@pytest.fixture
def keys(store: SqlStore) -> SqlKeyStore:
    """The key store on the test database (each engine)."""
    return SqlKeyStore(store.engine)


async def test_a_created_key_authenticates_and_only_its_digest_is_stored(
    keys: SqlKeyStore,
) -> None:
    record, secret = await create_key(keys, name="ci deploy", scope="read", rate_limit=30, now=T0)
    assert KEY_FORMAT.fullmatch(secret)
    assert record.prefix == secret[:PREFIX_LENGTH] and len(record.prefix) == 11
    assert (record.scope, record.rate_limit_per_minute, record.created_at) == (
        KeyScope.READ,
        30,
        T0,
    )
    async with keys.engine.connect() as conn:
        row = (await conn.execute(select(api_keys))).one()
    assert row.hash == hash_key(secret) and row.hash != secret
    assert secret not in " ".join(str(v) for v in row)

    found = await authenticate(keys, secret, now=T0)
    assert found is not None and found.id == record.id and found.scope is KeyScope.READ
    assert found.permits("read") and not found.permits(KeyScope.ADMIN)
    assert (await keys.get(record.id)).last_used_at == T0


async def test_revoked_unknown_and_malformed_keys_authenticate_nothing(
    keys: SqlKeyStore,
) -> None:
    record, secret = await create_key(keys, name="old", scope="admin", rate_limit=60)
    other, _ = await create_key(keys, name="kept", scope="admin", rate_limit=60)
    assert (await authenticate(keys, secret)) is not None

    revoked = await revoke_key(keys, record.id, now=T0)
    assert revoked.revoked and revoked.revoked_at == T0
    assert await authenticate(keys, secret) is None
    # Revoking again keeps the first time; the other key is untouched.
    again = await revoke_key(keys, record.id, now=T0 + timedelta(hours=1))
    assert again.revoked_at == T0
    assert not (await keys.get(other.id)).revoked
    with pytest.raises(KeyNotFound, match="no API key 'nope'"):
        await revoke_key(keys, "nope")

    unknown = "sk_" + "A" * 43
    for token in (unknown, "", secret[:-1], secret + "x", "Bearer " + secret, "sk_" + "!" * 43):
        assert await authenticate(keys, token) is None, token


async def test_listing_shows_prefixes_never_keys(keys: SqlKeyStore) -> None:
    made = [
        await create_key(keys, name=name, scope="read", rate_limit=10, now=T0 + timedelta(i))
        for i, name in enumerate(("b-first", "a-second"))
    ]
    await revoke_key(keys, made[0][0].id, now=T0 + timedelta(days=5))
    listed = await list_keys(keys)
    assert [k.name for k in listed] == ["b-first", "a-second"]  # oldest first
    assert [k.revoked for k in listed] == [True, False]
    rows = [key_json(k) for k in listed]
    assert set(rows[0]) == {
        "id",
        "name",
        "scope",
        "prefix",
        "rate_limit_per_minute",
        "created_at",
        "last_used_at",
        "revoked_at",
    }
    text = repr(rows)
    for (record, secret), row in zip(made, rows, strict=True):
        assert row["prefix"] == secret[:PREFIX_LENGTH] and row["id"] == record.id
        assert secret not in text and hash_key(secret) not in text


async def test_a_taken_name_is_refused_even_when_revoked(keys: SqlKeyStore) -> None:
    record, _ = await create_key(keys, name="deploy", scope="admin", rate_limit=60)
    await revoke_key(keys, record.id)
    with pytest.raises(KeyNameTaken) as err:
        await create_key(keys, name="deploy", scope="read", rate_limit=60)
    assert isinstance(err.value, ConfigError) and err.value.field == "name"
    assert str(err.value) == "name: an API key named 'deploy' already exists"
    assert [k.name for k in await list_keys(keys)] == ["deploy"]


async def test_last_used_is_written_at_most_once_a_minute(keys: SqlKeyStore) -> None:
    record, secret = await create_key(keys, name="busy", scope="read", rate_limit=60)
    assert record.last_used_at is None
    writes: list[datetime] = []
    touch = keys.touch

    async def counting_touch(key_id: str, at: datetime) -> None:
        writes.append(at)
        await touch(key_id, at)

    keys.touch = counting_touch  # type: ignore[method-assign]
    for seconds in (0, 1, 30, 59, 60, 61, 119, 125):
        assert await authenticate(keys, secret, now=T0 + timedelta(seconds=seconds))
    assert writes == [T0, T0 + timedelta(seconds=60), T0 + timedelta(seconds=125)]
    assert (await keys.get(record.id)).last_used_at == T0 + timedelta(seconds=125)
    # Another process's older time never moves it back.
    await touch(record.id, T0)
    assert (await keys.get(record.id)).last_used_at == T0 + timedelta(seconds=125)


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgresql"], indirect=True)
async def test_api_keys_migration_upgrades_and_downgrades(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)

    def tables(conn: Connection) -> set[str]:
        return set(inspect(conn).get_table_names())

    try:
        await upgrade(engine, "0007")
        async with engine.connect() as conn:
            assert "api_keys" not in await conn.run_sync(tables)
        await upgrade(engine)
        assert await schema_diff(engine) == []
        record, secret = await create_key(
            SqlKeyStore(engine), name="after upgrade", scope="admin", rate_limit=5
        )
        assert (await authenticate(SqlKeyStore(engine), secret)) == record

        def downgrade(conn: Connection) -> None:
            command.downgrade(alembic_config(conn), "0007")

        async with engine.begin() as conn:
            await conn.run_sync(downgrade)
        async with engine.connect() as conn:
            assert "api_keys" not in await conn.run_sync(tables)
        assert await current_revision(engine) == "0007"
    finally:
        await engine.dispose()


# -- rules that refuse before anything is stored --------------------------------------


class _Untouchable:
    """A key store that fails the test if anything reaches it."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(f"the store was used: {name}")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "tab\there"}, "name"),
        ({"name": "naïve"}, "name"),
        ({"name": "line\n"}, "name"),
        ({"name": " padded"}, "name"),
        ({"scope": "write"}, "scope"),
        ({"scope": "ADMIN"}, "scope"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_limit": -5}, "rate_limit"),
        ({"rate_limit": 1_000_001}, "rate_limit"),
        ({"rate_limit": True}, "rate_limit"),
        ({"rate_limit": 1.5}, "rate_limit"),
    ],
)
async def test_bad_requests_name_their_field(changes: dict[str, Any], field: str) -> None:
    request: dict[str, Any] = {"name": "ok name_1.2-3", "scope": "read", "rate_limit": 60}
    with pytest.raises(ConfigError) as err:
        await create_key(_Untouchable(), **(request | changes))
    assert err.value.field == field


def test_scopes() -> None:
    admin = ApiKey("1", "a", KeyScope.ADMIN, "sk_", 1, T0)
    read = ApiKey("2", "r", KeyScope.READ, "sk_", 1, T0)
    assert admin.permits("admin") and admin.permits("read")
    assert read.permits("read") and not read.permits("admin")


# -- rate limiter ----------------------------------------------------------------------


class FakeClock:
    """Seconds that pass only when told to."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rate_limit_windows_reset_each_minute() -> None:
    clock = FakeClock(120.0)
    limiter = KeyRateLimiter(clock)
    key = ApiKey("k1", "k", KeyScope.READ, "sk_", 3, T0)
    decisions = [limiter.hit(key) for _ in range(3)]
    assert [tuple(d) for d in decisions] == [(True, 3, 2, 60), (True, 3, 1, 60), (True, 3, 0, 60)]
    clock.now = 150.5
    refused = limiter.hit(key)
    assert tuple(refused) == (False, 3, 0, 30)
    assert refused.headers() == {
        "x-ratelimit-limit": "3",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "30",
        "retry-after": "30",
    }
    # Refusals do not count, and another key has its own window.
    assert limiter.check("k2", 1).allowed and not limiter.check("k2", 1).allowed
    clock.now = 179.9
    assert tuple(limiter.hit(key)) == (False, 3, 0, 1)
    clock.now = 180.0  # the next window: the full limit again
    allowed = limiter.hit(key)
    assert tuple(allowed) == (True, 3, 2, 60)
    assert "retry-after" not in allowed.headers()
    assert limiter.check("k2", 1).allowed


def test_rate_limit_follows_the_keys_current_limit() -> None:
    clock = FakeClock()
    limiter = KeyRateLimiter(clock)
    for _ in range(5):
        assert limiter.check("k", 10).allowed
    # Lowered below what was used: refused until the window ends.
    assert tuple(limiter.check("k", 4)) == (False, 4, 0, 60)
    assert tuple(limiter.check("k", 10)) == (True, 10, 4, 60)


def test_rate_limiter_forgets_idle_keys() -> None:
    clock = FakeClock()
    limiter = KeyRateLimiter(clock)
    for i in range(2000):
        limiter.check(f"k{i}", 1)
    clock.now = 60.0
    limiter.check("k0", 1)
    assert len(limiter._windows) == 1
