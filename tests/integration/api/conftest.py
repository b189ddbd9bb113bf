"""The real API server on an ephemeral port, over a fresh database on each engine.

``api`` gives a running server, an admin and a read key, and a client
session; tests talk HTTP to it exactly as a user's program would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from syncd.api.application import build_application
from syncd.api.auth import KeyGuard
from syncd.api.background import BackgroundWork
from syncd.api.context import ApiContext
from syncd.api.health import HttpServer, Readiness
from syncd.crypto import Cipher
from syncd.metrics import Metrics
from syncd.services.keys import create_key
from syncd.settings import Settings
from syncd.store.engine import make_engine
from syncd.store.keys import KeyScope, SqlKeyStore
from syncd.store.sql import SqlStore
from syncd.store.webhooks import SqlWebhookStore

from .helpers import Receiver


@dataclass
class Api:
    """A running API server and what a test needs to talk to it."""

    url: str
    admin_key: str
    read_key: str
    session: aiohttp.ClientSession
    store: SqlStore
    webhooks: SqlWebhookStore
    keys: SqlKeyStore
    settings: Settings

    def headers(self, key: str | None = None) -> dict[str, str]:
        """The Authorization header for ``key`` (the admin key by default)."""
        return {"Authorization": f"Bearer {key or self.admin_key}"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        anonymous: bool = False,
    ) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
        """One request; returns (status, parsed JSON or None, headers)."""
        headers = {} if anonymous else self.headers(key)
        async with self.session.request(
            method, self.url + path, params=params, json=json, headers=headers
        ) as response:
            body = await response.read()
            parsed = None
            if body:
                assert response.content_type == "application/json", body[:200]
                parsed = await response.json()
            return response.status, parsed, response.headers

    async def get(self, path: str, **params: Any) -> Any:
        """GET with the admin key, asserting 200; the parsed answer."""
        status, body, _ = await self.call("GET", path, params=params or None)
        assert status == 200, body
        return body


@pytest.fixture
async def api(database_url: str, cipher: Cipher, tmp_path: Path) -> AsyncIterator[Api]:
    """The API served for real on one engine (runs once per engine)."""
    async with serving_api(database_url, cipher, tmp_path) as served:
        yield served


@pytest.fixture
async def pg_api(pg_database_url: str, cipher: Cipher, tmp_path: Path) -> AsyncIterator[Api]:
    """The API served over PostgreSQL only (for what only PostgreSQL can show)."""
    async with serving_api(pg_database_url, cipher, tmp_path) as served:
        yield served


@asynccontextmanager
async def serving_api(
    database_url: str, cipher: Cipher, tmp_path: Path, **overrides: Any
) -> AsyncIterator[Api]:
    """A server over ``database_url`` with an admin and a read key, until the block ends.

    ``overrides`` are settings of the server (``Settings`` field names).
    """
    settings = Settings(database_url=database_url, state_dir=tmp_path / "state", **overrides)
    engine = make_engine(database_url)
    store = SqlStore(engine, cipher)
    webhooks = SqlWebhookStore(engine, cipher)
    keys = SqlKeyStore(engine)
    _, admin = await create_key(keys, name="admin", scope=KeyScope.ADMIN, rate_limit=100_000)
    _, read = await create_key(keys, name="reader", scope=KeyScope.READ, rate_limit=100_000)
    # Run in a task of its own: the fixture's setup and teardown are different tasks.
    background = BackgroundWork()
    background_task = asyncio.create_task(background.run())
    await background.started.wait()
    ctx = ApiContext(
        store=store,
        webhooks=webhooks,
        settings=settings,
        guard=KeyGuard(keys),
        background=background,
    )
    readiness = Readiness(stale_after=30)
    readiness.tick()
    server = HttpServer(
        build_application(ctx, metrics=Metrics(), readiness=readiness), shutdown_timeout=0.5
    )
    try:
        url = await server.start("127.0.0.1", 0)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            yield Api(url, admin, read, session, store, webhooks, keys, settings)
    finally:
        await server.stop()
        background.stop()
        await background_task
        await store.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A running webhook receiver (give it secrets to accept)."""
    r = Receiver()
    await r.start()
    yield r
    await r.stop()
