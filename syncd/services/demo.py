"""The demo integration: a simulated Buildium account that each run starts for itself."""

from __future__ import annotations

from syncd.domain import Environment, Integration
from syncd.errors import IntegrationNotFound
from syncd.store.base import Store

#: The id of the integration ``syncd demo`` keeps.
DEMO_INTEGRATION_ID = "demo-buildium"


async def ensure_demo_integration(store: Store, *, seed: int, scale: int) -> Integration:
    """Add the demo integration, or make the existing one simulate ``scale`` units from ``seed``.

    It is enabled, and a sandbox: the scheduler leaves it alone.
    """
    # Only the demo needs the simulator's modules: other commands start without them.
    from syncd.sim.buildium_data import default_credentials
    from syncd.sim.demo import SIMULATOR_OPTION, simulator_option

    # No base URL: every run of the demo integration, this one and any later
    # `syncd run --integration demo-buildium`, starts its own simulator, so
    # its credentials never go to a port it once used.
    demo = Integration(
        id=DEMO_INTEGRATION_ID,
        name="Demo Buildium",
        vendor="BUILDIUM",
        environment=Environment.SANDBOX,
        enabled=True,
        base_url=None,
        credentials=default_credentials(seed),
        # Smaller pages than Buildium's maximum make the progress visible.
        options={"page_size": 100, SIMULATOR_OPTION: simulator_option(seed=seed, scale=scale)},
    )
    try:
        await store.get_integration(demo.id)
        await store.update_integration(demo)
    except IntegrationNotFound:
        await store.add_integration(demo)
    return demo
