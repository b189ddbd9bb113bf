"""Creating integrations on request, from nothing or from another one (cloning).

A clone copies another integration's configuration: its job schedules,
date filters, job controls, custom enum maps, transform overrides (its own
``custom_data`` fields) and connector controls. It copies nothing that belongs
to the other PMS account: not its credentials, not its property settings,
not its vendor options (a Rent Manager database's time zone …), not its
data. Only an integration of the same vendor and environment can be a base.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import structlog

from syncd.connectors.registry import get_connector_class
from syncd.domain import Environment, Integration
from syncd.errors import ConfigError, IntegrationNotFound
from syncd.services.integrations import (
    NewIntegration,
    find_integration,
    prepare_integration,
    schedules_follow,
)
from syncd.settings import Settings
from syncd.store.base import Store
from syncd.transform.overrides import OPTION as TRANSFORM_OVERRIDES

log = structlog.get_logger(__name__)

#: The options a clone copies (see :mod:`syncd.integration_config`).
CLONED_OPTIONS: tuple[str, ...] = (
    "schedules",
    "date_filters",
    "jobs",
    "enum_maps",
    TRANSFORM_OVERRIDES,
    "rate_limit_per_second",
    "page_size",
    "concurrency",
    "sweep_max_share",
    "emit_initial_events",
    "new_properties_are_enabled",
)

#: The field of a create request that names the integration to clone.
BASED_ON = "based_on_integration_id"


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A new integration, and optionally the one to copy its configuration from."""

    #: Its ``environment`` is ignored: see ``environment``.
    integration: NewIntegration
    #: None: a new configuration (the vendor's defaults).
    based_on: str | None = None
    #: None: production, or the base's environment when cloning.
    environment: Environment | None = None
    #: None: true, or the base's setting when cloning.
    new_properties_are_enabled: bool | None = None


def cloned_options(source: Integration) -> dict[str, Any]:
    """The part of ``source``'s options a clone takes over (deep copies)."""
    return {k: copy.deepcopy(v) for k, v in source.options.items() if k in CLONED_OPTIONS}


async def _base(
    store: Store, based_on: str, request: NewIntegration, environment: Environment | None
) -> Integration:
    """The integration to clone, checked against ``request``: same vendor, same environment."""
    try:
        source = await find_integration(store, based_on)
    except IntegrationNotFound:
        raise ConfigError(f"no integration {based_on!r} to clone", field=BASED_ON) from None
    vendor = get_connector_class(request.vendor).vendor
    if source.vendor != vendor:
        raise ConfigError(
            f"integration {source.id} is a {source.vendor} integration, not {vendor}: "
            "only an integration of the same PMS can be cloned",
            field=BASED_ON,
        )
    if environment is not None and source.environment is not environment:
        raise ConfigError(
            f"integration {source.id} is a {source.environment.value} integration, not "
            f"{environment.value}: only one of the same environment can be cloned",
            field=BASED_ON,
        )
    return source


async def create_integration(
    store: Store, settings: Settings, request: CreateRequest
) -> Integration:
    """Validate and store a new integration, cloned from ``request.based_on`` if given.

    A missing credential is named ``credentials.<key>``. An integration
    created enabled starts like one enabled later (its first sync at once
    for production; on request only for sandbox).
    """
    new = request.integration
    source = None
    if request.based_on:
        source = await _base(store, request.based_on, new, request.environment)
    environment = source.environment if source else Environment.PRODUCTION
    new = replace(new, environment=request.environment or environment)
    integration = await prepare_integration(store, new, name_missing_keys=True)
    options: dict[str, Any] = cloned_options(source) if source else {}
    options.update(integration.options)
    if request.new_properties_are_enabled is not None:
        options["new_properties_are_enabled"] = request.new_properties_are_enabled
    integration = replace(integration, options=options)
    await store.add_integration(integration)
    log.info(
        "integration.added",
        integration_id=integration.id,
        vendor=integration.vendor,
        based_on=source.id if source else None,
    )
    if integration.enabled:
        await schedules_follow(store, settings, replace(integration, enabled=False), True)
    return integration


async def clone_integration(
    store: Store,
    settings: Settings,
    source: str,
    *,
    name: str,
    credentials: Mapping[str, str],
    integration_id: str | None = None,
    base_url: str | None = None,
) -> Integration:
    """A new, disabled integration with ``source``'s (id or name) configuration.

    Vendor and environment are the source's; credentials are the new
    account's own.
    """
    base = await find_integration(store, source)
    request = NewIntegration(
        vendor=base.vendor,
        name=name,
        credentials=credentials,
        id=integration_id,
        base_url=base_url,
    )
    return await create_integration(
        store, settings, CreateRequest(request, based_on=base.id, environment=base.environment)
    )
