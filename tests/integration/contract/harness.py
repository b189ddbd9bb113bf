"""What the contract suite needs to know of one PMS: a harness per vendor.

Each vendor module in this package (``vendor_<name>.py``) defines
``HARNESS = VendorHarness(...)``; :func:`harnesses` finds them all, so a new
PMS joins the suite by adding its module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncd.connectors.base import Connector, ConnectorOptions
from syncd.domain import RawRecord
from syncd.sim.server import Renderer, Simulator


@dataclass(frozen=True)
class VendorHarness:
    """How the contract suite drives one connector against its simulator."""

    vendor: str
    renderer: type[Renderer]
    connector: type[Connector]
    #: The PMS id of a raw record of ``model`` (as /_sim/truth lists it).
    x_id: Callable[[str, RawRecord], str]
    #: The PMS id of a raw record's property (None: the record has none).
    property_of: Callable[[str, RawRecord], str | None]
    #: A model listed in several pages at ``page_size`` with the default scale.
    paged_model: str
    page_size: int
    #: The request path (as the simulator sees it) of ``paged_model``'s listing, for faults.
    paged_path: str
    #: Models whose listing honours the property scope (never lists an excluded property).
    scoped_models: Sequence[str] = ()
    #: A model the PMS filters by update time (None: none).
    windowed_model: str | None = None
    #: Whether listings announce a total (short/repeat/total faults then apply).
    announces_totals: bool = True
    #: Whether pages are requested by offset or page number (repeat/short faults apply).
    paged: bool = True
    #: Makes the simulator refuse every token issued so far (token flows only).
    expire_tokens: Callable[[Simulator], None] | None = None
    #: Headers the simulator's 429 (rate limit) answers carry, checked by the suite.
    rate_limit_headers: Sequence[str] = ()
    #: Credentials that the simulator refuses (same keys, wrong values).
    bad_credentials: Callable[[Mapping[str, str]], dict[str, str]] = field(
        default=lambda creds: {k: f"{v}-wrong" for k, v in creds.items()}
    )
    #: Extra credentials the connector needs beyond the simulator's (e.g. a base URL).
    scale: int = 60

    def connect(
        self, sim: Simulator, credentials: Mapping[str, str] | None = None, **options: Any
    ) -> Connector:
        """A connector for the running ``sim`` (fast retries; ``options`` override)."""
        defaults: dict[str, Any] = {
            "page_size": self.page_size,
            "rate_limit": 0.0,
            "backoff_base": 0.01,
            "backoff_max": 0.05,
            "max_attempts": 4,
            "rate_limit_wait": 20.0,
        }
        return self.connector(
            base_url=sim.url,
            credentials=dict(sim.credentials if credentials is None else credentials),
            options=ConnectorOptions(**(defaults | options)),
        )


def harnesses() -> list[VendorHarness]:
    """Every vendor harness of this package, by vendor."""
    found: list[VendorHarness] = []
    for info in pkgutil.iter_modules(_package_path()):
        if info.name.startswith("vendor_"):
            module = importlib.import_module(f"{__package__}.{info.name}")
            found.append(module.HARNESS)
    return sorted(found, key=lambda h: h.vendor)


def _package_path() -> list[str]:
    package = importlib.import_module(__package__ or "tests.integration.contract")
    return list(package.__path__)
