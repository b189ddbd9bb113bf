"""ResMan in the contract suite."""

from __future__ import annotations

from typing import Any

from contract.harness import VendorHarness
from syncd.connectors.resman import ResManConnector
from syncd.sim.resman import ResManRenderer

_ID_FIELDS = {
    "properties": "propertyId",
    "floor_plans": "unitTypeId",
    "units": "unitId",
    "residents": "PersonID",
    "leases": "leaseId",
    "leads": "prospectId",
    "lead_sources": "ID",
    "employees": "personId",
}


def _x_id(model: str, record: dict[str, Any]) -> str:
    return str(record[_ID_FIELDS[model]])


def _property_of(model: str, record: dict[str, Any]) -> str | None:
    # Partners API records carry propertyId; the connector adds PropertyID to
    # the classic ones (residents, lead sources), whose answers name it once.
    value = record.get("propertyId", record.get("PropertyID"))
    return None if value is None else str(value)


HARNESS = VendorHarness(
    vendor="RESMAN",
    renderer=ResManRenderer,
    connector=ResManConnector,
    x_id=_x_id,
    property_of=_property_of,
    # Whole lists, one request per property: no pages, no totals.
    paged_model="units",
    page_size=1000,
    paged_path="/Units/Availability",
    paged=False,
    announces_totals=False,
    # Every per-property call skips an excluded property; properties and
    # employees are account-wide lists (the runner drops excluded ones).
    scoped_models=("floor_plans", "units", "residents", "leases", "lead_sources", "leads"),
    windowed_model="leads",
    rate_limit_headers=("Retry-After",),
    # Ten properties: a listing is eleven requests, enough to outrun a small limit.
    scale=200,
)
