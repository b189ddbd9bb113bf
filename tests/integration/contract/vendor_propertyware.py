"""Propertyware in the contract suite."""

from __future__ import annotations

from typing import Any

from contract.harness import VendorHarness
from syncd.connectors.propertyware import PropertywareConnector
from syncd.sim.propertyware import API_ROOT, PropertywareRenderer


def _x_id(model: str, record: dict[str, Any]) -> str:
    return str(record["id"])


def _property_of(model: str, record: dict[str, Any]) -> str | None:
    if model == "properties":
        return str(record["id"])
    # Contacts name no building; units, leases and prospects carry buildingID.
    value = record.get("buildingID")
    return None if value is None else str(value)


HARNESS = VendorHarness(
    vendor="PROPERTYWARE",
    renderer=PropertywareRenderer,
    connector=PropertywareConnector,
    x_id=_x_id,
    property_of=_property_of,
    # 60 units in pages of 10 that overlap by one: seven requests, more than
    # a second's worth under the suite's rate-limit test.
    paged_model="units",
    page_size=10,
    paged_path=f"{API_ROOT}/units",
    # buildingID selects one building; nothing excludes one (the runner drops them).
    scoped_models=(),
    windowed_model="units",
    announces_totals=True,
    paged=True,
)
