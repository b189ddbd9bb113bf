"""The demo integration: a simulated Buildium account that each run starts for itself."""

from __future__ import annotations

from datetime import UTC, datetime

from syncd.domain import Environment, Integration
from syncd.errors import IntegrationNotFound
from syncd.services.keys import create_key, list_keys, revoke_key
from syncd.store.base import Store
from syncd.store.keys import KeyScope, KeyStore

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


#: Names of the keys ``syncd demo`` makes start with this.
DEMO_KEY_PREFIX = "demo-dashboard-"


async def demo_dashboard_key(keys: KeyStore) -> str:
    """A fresh admin key to sign in to the dashboard with; earlier demo keys are revoked.

    Keys are stored hashed, so an earlier key cannot be shown again: each
    demo makes a new one, and revokes the ones earlier demos made so they
    do not pile up.
    """
    for key in await list_keys(keys):
        if key.name.startswith(DEMO_KEY_PREFIX) and not key.revoked:
            await revoke_key(keys, key.id)
    name = DEMO_KEY_PREFIX + datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    _, secret = await create_key(keys, name=name, scope=KeyScope.ADMIN, rate_limit=6000)
    return secret
