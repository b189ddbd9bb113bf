"""Buildium in the contract suite."""

from __future__ import annotations

from typing import Any

from contract.harness import VendorHarness
from syncd.connectors.buildium import BuildiumConnector
from syncd.sim.buildium import BuildiumRenderer


def _x_id(model: str, record: dict[str, Any]) -> str:
    return str(record["Id"])


def _property_of(model: str, record: dict[str, Any]) -> str | None:
    if model == "properties":
        return str(record["Id"])
    value = record.get("PropertyId")
    return None if value is None else str(value)


HARNESS = VendorHarness(
    vendor="BUILDIUM",
    renderer=BuildiumRenderer,
    connector=BuildiumConnector,
    x_id=_x_id,
    property_of=_property_of,
    paged_model="units",
    page_size=20,
    paged_path="/v1/rentals/units",
    # Buildium's propertyids filter includes; it cannot exclude (the runner drops them).
    scoped_models=(),
    windowed_model="units",
)
