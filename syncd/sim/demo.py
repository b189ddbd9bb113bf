"""Demo integrations: integrations whose runs start their own simulator.

``syncd demo`` records its integration with a ``simulator`` option (seed,
scale) instead of a base URL. Every run of it, then and later, starts that
simulator in-process on a free loopback port and stops it afterwards, so
the demo's credentials never go to whatever listens on a port the demo
once used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from syncd.errors import ConfigError

#: The integration option that makes an integration a demo.
SIMULATOR_OPTION = "simulator"


def simulator_option(*, seed: int, scale: int) -> dict[str, int]:
    """The option value of a demo integration simulating ``scale`` units from ``seed``."""
    return {"seed": seed, "scale": scale}


@asynccontextmanager
async def running_simulator(
    vendor: str, option: Mapping[str, Any], credentials: Mapping[str, str]
) -> AsyncIterator[str]:
    """Start the simulator a demo integration names; yield its base URL."""
    seed, scale = option.get("seed", 0), option.get("scale", 100)
    if not isinstance(seed, int) or not isinstance(scale, int) or scale < 0:
        raise ConfigError("needs integer seed and scale >= 0", field=SIMULATOR_OPTION)
    from syncd.sim.registry import get_renderer
    from syncd.sim.server import Simulator

    try:
        renderer = get_renderer(vendor)
    except ConfigError:
        raise ConfigError(f"no simulator for {vendor}", field=SIMULATOR_OPTION) from None
    sim = Simulator(renderer, seed=seed, scale=scale, credentials=dict(credentials))
    url = await sim.start("127.0.0.1", 0)
    try:
        yield url
    finally:
        await sim.stop()
