"""Vendor code → connector class.

Connector modules are imported on first use, so a command that touches one
PMS does not load every other PMS's code.
"""

from __future__ import annotations

import importlib
from typing import Final

from syncd.connectors.base import Connector
from syncd.errors import ConfigError

#: Vendor codes (as the reference unified API spells them) and their classes.
_CONNECTORS: Final[dict[str, str]] = {
    "BUILDIUM": "syncd.connectors.buildium:BuildiumConnector",
    "PROPERTYWARE": "syncd.connectors.propertyware:PropertywareConnector",
    "RENTMANAGER": "syncd.connectors.rentmanager:RentManagerConnector",
    "RESMAN": "syncd.connectors.resman:ResManConnector",
}


def known_vendors() -> tuple[str, ...]:
    """Vendor codes with a connector, sorted (e.g. ``("BUILDIUM", …)``)."""
    return tuple(sorted(_CONNECTORS))


def get_connector_class(vendor: str) -> type[Connector]:
    """The connector class of ``vendor`` (case-insensitive); ConfigError if unknown."""
    try:
        target = _CONNECTORS[vendor.strip().upper()]
    except KeyError:
        raise ConfigError(
            f"unknown vendor {vendor!r} (known: {', '.join(known_vendors())})", field="vendor"
        ) from None
    module, _, name = target.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise TypeError(f"{target} is not a Connector")
    return cls
