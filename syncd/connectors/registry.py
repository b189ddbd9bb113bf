"""Vendor code → connector class."""

from __future__ import annotations

from syncd.connectors.base import Connector
from syncd.connectors.buildium import BuildiumConnector
from syncd.errors import ConfigError

_CONNECTORS: dict[str, type[Connector]] = {cls.vendor: cls for cls in (BuildiumConnector,)}


def known_vendors() -> tuple[str, ...]:
    """Vendor codes with a connector, sorted (e.g. ``("BUILDIUM",)``)."""
    return tuple(sorted(_CONNECTORS))


def get_connector_class(vendor: str) -> type[Connector]:
    """The connector class of ``vendor`` (case-insensitive); ConfigError if unknown."""
    try:
        return _CONNECTORS[vendor.strip().upper()]
    except KeyError:
        raise ConfigError(
            f"unknown vendor {vendor!r} (known: {', '.join(known_vendors())})", field="vendor"
        ) from None
