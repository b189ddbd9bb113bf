"""Property configurations: which of an integration's properties sync their data.

Each cached property of an integration has a configuration: enabled (its
units, residents, leases … are synced) or not (its data is neither fetched
nor stored nor ever swept). The setting lives in the integration's options
as ``properties.<x_property_id>.enabled`` (see :mod:`syncd.integration_config`);
a configuration is named by its property's syncd id, or by its PMS id.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncd.domain import Integration
from syncd.errors import SyncdError
from syncd.services.integrations import configure_integration, find_integration
from syncd.services.records import complete_order
from syncd.settings import Settings
from syncd.store.reads import Condition, RecordQuery, SqlRecordReader
from syncd.store.sql import SqlStore

#: What a list of property configurations may be ordered by, and the column behind each.
PROPERTY_ORDER_FIELDS: Mapping[str, str] = {
    "created_at": "created_at",
    "id": "id",
    "property_id": "id",
    "x_property_id": "x_id",
    "name": "name",
}


class PropertyNotFound(SyncdError):
    """The integration has no cached property with the given id."""


@dataclass(frozen=True, slots=True)
class PropertySetting:
    """One cached property of an integration and whether its data syncs."""

    #: The property record's syncd id (it names the configuration too).
    id: uuid.UUID
    integration_id: str
    x_property_id: str
    name: str | None
    created_at: datetime
    enabled: bool


@dataclass(frozen=True, slots=True)
class PropertySettingsPage:
    """A page of property configurations and how many there are in all."""

    settings: tuple[PropertySetting, ...]
    total: int


def property_enabled(options: Mapping[str, Any], x_property_id: str) -> bool:
    """Whether a property's data syncs (it does unless disabled)."""
    controls = options.get("properties", {}).get(x_property_id)
    return not (isinstance(controls, Mapping) and controls.get("enabled") is False)


def _setting(integration: Integration, row: Mapping[str, Any]) -> PropertySetting:
    x_id = str(row["x_id"])
    return PropertySetting(
        id=row["id"],
        integration_id=integration.id,
        x_property_id=x_id,
        name=row.get("name"),
        created_at=row["created_at"],
        enabled=property_enabled(integration.options, x_id),
    )


def _of(integration: Integration, *more: Condition) -> tuple[Condition, ...]:
    return (Condition(("integration_id",), "eq", integration.id), *more)


async def list_property_settings(
    store: SqlStore,
    integration: str,
    order: Sequence[tuple[str, bool]] = (("created_at", True),),
    *,
    offset: int = 0,
    limit: int = 100,
) -> PropertySettingsPage:
    """A page of the configurations of an integration's (id or name) cached properties."""
    found = await find_integration(store, integration)
    columns = tuple((PROPERTY_ORDER_FIELDS[name], desc) for name, desc in order)
    query = RecordQuery(
        model="properties",
        conditions=_of(found),
        order=complete_order(columns),
        offset=offset,
        limit=limit,
    )
    page = await SqlRecordReader(store.engine).page(query)
    # Counted exactly: the query sets no count_limit.
    assert page.total is not None
    return PropertySettingsPage(
        settings=tuple(_setting(found, row) for row in page.rows), total=page.total
    )


async def find_property_setting(
    store: SqlStore,
    integration: str,
    *,
    property_id: str | None = None,
    x_property_id: str | None = None,
) -> PropertySetting:
    """The configuration of one cached property, by its syncd id or its PMS id."""
    found = await find_integration(store, integration)
    if property_id is not None:
        try:
            key = Condition(("id",), "eq", uuid.UUID(property_id))
        except ValueError:
            raise PropertyNotFound(f"no property {property_id!r}") from None
    else:
        key = Condition(("x_id",), "eq", x_property_id)
    query = RecordQuery(model="properties", conditions=_of(found, key), limit=1)
    page = await SqlRecordReader(store.engine).page(query)
    if not page.rows:
        shown = property_id if property_id is not None else x_property_id
        raise PropertyNotFound(f"integration {found.id} has no property {shown!r}")
    return _setting(found, page.rows[0])


async def set_property_enabled(
    store: SqlStore,
    settings: Settings,
    integration: str,
    enabled: bool,
    *,
    property_id: str | None = None,
    x_property_id: str | None = None,
) -> PropertySetting:
    """Enable or disable one cached property's data (from the next sync on).

    Disabling keeps what is cached of the property: its records are no
    longer fetched and never swept. Enabling fetches its data again from
    the next run (a full run fetches what did not change meanwhile).
    """
    current = await find_property_setting(
        store, integration, property_id=property_id, x_property_id=x_property_id
    )
    key = f"properties.{current.x_property_id}.enabled"
    await configure_integration(store, settings, current.integration_id, changes=[(key, enabled)])
    return PropertySetting(
        id=current.id,
        integration_id=current.integration_id,
        x_property_id=current.x_property_id,
        name=current.name,
        created_at=current.created_at,
        enabled=enabled,
    )
