"""Vendor code → simulator renderer, for ``syncd sim VENDOR`` and demo integrations."""

from __future__ import annotations

import importlib
from typing import Final

from syncd.errors import ConfigError
from syncd.sim.server import Renderer

#: Vendor codes and their renderers (imported on first use).
_RENDERERS: Final[dict[str, str]] = {
    "BUILDIUM": "syncd.sim.buildium:BuildiumRenderer",
    "PROPERTYWARE": "syncd.sim.propertyware:PropertywareRenderer",
    "RENTMANAGER": "syncd.sim.rentmanager:RentManagerRenderer",
    "RESMAN": "syncd.sim.resman:ResManRenderer",
}


def simulated_vendors() -> tuple[str, ...]:
    """Vendor codes with a simulator, sorted."""
    return tuple(sorted(_RENDERERS))


def get_renderer(vendor: str) -> type[Renderer]:
    """The renderer class of ``vendor`` (case-insensitive); ConfigError if unknown."""
    try:
        target = _RENDERERS[vendor.strip().upper()]
    except KeyError:
        raise ConfigError(
            f"no simulator for {vendor!r} (known: {', '.join(simulated_vendors())})",
            field="vendor",
        ) from None
    module, _, name = target.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Renderer)):
        raise TypeError(f"{target} is not a Renderer")
    return cls
