"""Helpers shared by the test modules: simulators, integrations, ports, stores."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from syncd.crypto import Cipher
from syncd.domain import Environment, Integration
from syncd.sim.buildium import BuildiumSimulator
from syncd.store.engine import make_engine
from syncd.store.sql import SqlStore


@asynccontextmanager
async def started_sim(*, seed: int, scale: int) -> AsyncIterator[BuildiumSimulator]:
    """An in-process Buildium simulator without a rate limit, stopped afterwards."""
    sim = BuildiumSimulator(seed=seed, scale=scale, rate_limit=0)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def sim_integration(
    sim: BuildiumSimulator | None = None,
    *,
    page_size: int = 10,
    concurrency: int = 2,
    **options: Any,
) -> Integration:
    """The enabled production integration "acme" reading ``sim`` (or nowhere)."""
    return Integration(
        id="acme",
        name="Acme",
        vendor="BUILDIUM",
        environment=Environment.PRODUCTION,
        enabled=True,
        base_url=sim.url if sim else None,
        credentials=dict(sim.credentials) if sim else {"client_id": "c", "client_secret": "s"},
        options={"rate_limit_per_second": 0, "page_size": page_size, "concurrency": concurrency}
        | options,
    )


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_store(url: str, key: bytes, work: Callable[[SqlStore], Awaitable[Any]]) -> Any:
    """Run ``work`` on a store of ``url`` from synchronous test code; its result."""

    async def go() -> Any:
        store = SqlStore(make_engine(url), Cipher(key))
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())
