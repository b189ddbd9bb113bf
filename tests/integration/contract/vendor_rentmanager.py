"""Rent Manager 12 in the contract suite."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contract.harness import VendorHarness
from syncd.connectors.rentmanager import RentManagerConnector
from syncd.sim.rentmanager import RentManagerRenderer
from syncd.sim.server import Simulator

_ID_FIELDS = {
    "properties": "PropertyID",
    "floor_plans": "UnitTypeID",
    "units": "UnitID",
    "residents": "TenantID",
    "leases": "LeaseID",
    "leads": "ProspectID",
    "lead_sources": "LeadSourceID",
    "employees": "UserID",
}


def _x_id(model: str, record: dict[str, Any]) -> str:
    return str(record[_ID_FIELDS[model]])


def _property_of(model: str, record: dict[str, Any]) -> str | None:
    value = record.get("PropertyID")
    return None if value is None else str(value)


def _bad_credentials(credentials: Mapping[str, str]) -> dict[str, str]:
    # The location stays an integer: a malformed one is refused before any request.
    return {
        **credentials,
        "username": f"{credentials['username']}-wrong",
        "password": f"{credentials['password']}-wrong",
    }


def _expire_tokens(sim: Simulator) -> None:
    renderer = sim.renderer
    assert isinstance(renderer, RentManagerRenderer)
    renderer.expire_tokens()


HARNESS = VendorHarness(
    vendor="RENTMANAGER",
    renderer=RentManagerRenderer,
    connector=RentManagerConnector,
    x_id=_x_id,
    property_of=_property_of,
    paged_model="units",
    # 60 units in pages of 15: four pages, three of them fetched ahead at once.
    page_size=15,
    paged_path="/Units",
    # PropertyID,ni,(…): unit types, lead sources and users have no property.
    scoped_models=("properties", "units", "residents", "leases", "leads"),
    windowed_model="units",
    expire_tokens=_expire_tokens,
    rate_limit_headers=("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"),
    bad_credentials=_bad_credentials,
)
