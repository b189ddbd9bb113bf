"""Helpers shared by the test modules: a simulator on a free port, an integration for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from syncd.domain import Environment, Integration
from syncd.sim.buildium import BuildiumSimulator


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
