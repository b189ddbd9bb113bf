"""Integrations: adding, listing, enabling, configuring and removing them.

Errors name the field of the request (``credentials.client_id``,
``base_url``, ``id``); a front end may show them under its own option names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from syncd.connectors.registry import get_connector_class
from syncd.domain import Environment, Integration, RunRecord
from syncd.errors import ConfigError, IntegrationNotFound, RunConflict
from syncd.integration_config import (
    Effective,
    apply_file,
    apply_setting,
    connector_option,
    effective,
)
from syncd.jobs import load_jobs
from syncd.services.schedules import reconcile_schedules
from syncd.settings import Settings
from syncd.store.base import DEFAULT_STALE_AFTER, Store
from syncd.urls import check_http_url

log = structlog.get_logger(__name__)

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: The integrations table holds base URLs of up to 500 characters.
_MAX_BASE_URL = 500
#: Options an integration may be created with (the rest: ``integrations config``).
_CREATE_OPTIONS = ("rate_limit_per_second", "page_size")


def slugify(name: str) -> str:
    """A default integration id from its name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64]
    return slug or "integration"


@dataclass(frozen=True, slots=True)
class NewIntegration:
    """What an operator asks a new integration to be."""

    vendor: str
    name: str
    credentials: Mapping[str, str]
    #: None: from the name.
    id: str | None = None
    environment: Environment = Environment.PRODUCTION
    base_url: str | None = None
    #: ``rate_limit_per_second`` and/or ``page_size``.
    options: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = False


async def add_integration(store: Store, request: NewIntegration) -> Integration:
    """Validate ``request`` and store the integration; ConfigError names what is wrong.

    An id or name already taken (by either an id or a name: lookups accept
    both) is refused, so every integration stays reachable by each.
    """
    cls = get_connector_class(request.vendor)
    name = request.name.strip()
    if not name:
        raise ConfigError("empty name", field="name")
    integration_id = request.id or slugify(name)
    if not _SLUG.match(integration_id):
        raise ConfigError(
            f"{integration_id!r}: use 1-64 lowercase letters, digits, '-' or '_'", field="id"
        )
    cls.validate_credentials(request.credentials, base_url=request.base_url)
    if request.base_url is not None:
        try:
            check_http_url(request.base_url, max_length=_MAX_BASE_URL)
        except ValueError as exc:
            raise ConfigError(str(exc), field="base_url") from None
    options: dict[str, Any] = {}
    for key, value in request.options.items():
        if key not in _CREATE_OPTIONS:
            raise ConfigError(f"not an option of a new integration ({key})", field=key)
        options[key] = connector_option(key, value)
    for other in await store.list_integration_heads():
        if integration_id in (other.id, other.name):
            raise ConfigError(f"integration {integration_id!r} already exists")
        if name in (other.id, other.name):
            raise ConfigError(f"integration {name!r} already exists")
    integration = Integration(
        id=integration_id,
        name=name,
        vendor=cls.vendor,
        environment=request.environment,
        enabled=request.enabled,
        base_url=request.base_url,
        credentials=dict(request.credentials),
        options=options,
    )
    await store.add_integration(integration)
    log.info("integration.added", integration_id=integration_id, vendor=cls.vendor)
    return integration


async def find_integration(store: Store, id_or_name: str) -> Integration:
    """The integration with this id (or else name), without its credentials.

    Needs no secret key: removing an integration must work even when its
    credentials can no longer be decrypted.
    """
    heads = await store.list_integration_heads()
    for integration in heads:
        if integration.id == id_or_name:
            return integration
    for integration in heads:
        if integration.name == id_or_name:
            return integration
    raise IntegrationNotFound(f"no integration with id or name {id_or_name!r}")


@dataclass(frozen=True, slots=True)
class Removal:
    """What removing an integration deleted: rows per table."""

    integration_id: str
    removed: Mapping[str, int]

    @property
    def records(self) -> int:
        """Cached records and links removed (every table but the bookkeeping ones)."""
        bookkeeping = {"integrations", "schedules", "checkpoints", "sync_runs", "quarantine"}
        return sum(n for table, n in self.removed.items() if table not in bookkeeping)


async def remove_integration(store: Store, integration_id: str) -> Removal:
    """Delete the integration and everything syncd keeps of it, in one transaction.

    Refused (:class:`~syncd.errors.RunConflict`) while one of its runs is
    RUNNING with a live heartbeat; a run whose process died (no heartbeat
    for the stale period) does not block it. Change events already in the
    outbox stay until the retention prune, so webhook subscribers still
    receive what was announced.
    """
    live_since = datetime.now(UTC) - DEFAULT_STALE_AFTER
    try:
        removed = await store.remove_integration(integration_id, live_since=live_since)
    except RunConflict as exc:
        raise RunConflict(
            f"{exc}: nothing was removed; remove it once the run has ended "
            f"(syncd jobs list --integration {integration_id} --status RUNNING)"
        ) from None
    log.info("integration.removed", integration_id=integration_id, **removed)
    return Removal(integration_id=integration_id, removed=removed)


# -- looking at integrations --------------------------------------------------


@dataclass(frozen=True, slots=True)
class IntegrationStatus:
    """An integration and the last sync of it (None: never synced)."""

    integration: Integration
    last_run: RunRecord | None


async def list_integrations(store: Store) -> list[IntegrationStatus]:
    """Every integration with its last whole sync."""
    return [
        IntegrationStatus(integration=i, last_run=await store.last_root_run(i.id))
        for i in await store.list_integrations()
    ]


async def show_integration(store: Store, integration: str) -> IntegrationStatus:
    """One integration (id or name) with its last whole sync."""
    found = await store.get_integration(integration)
    return IntegrationStatus(integration=found, last_run=await store.last_root_run(found.id))


def integration_json(integration: Integration) -> dict[str, Any]:
    """An integration as plain JSON data, its credentials reduced to their keys."""
    return {
        "id": integration.id,
        "name": integration.name,
        "vendor": integration.vendor,
        "environment": integration.environment.value,
        "enabled": integration.enabled,
        "base_url": integration.base_url,
        # Only the keys: credentials never leave the store in clear.
        "credential_keys": sorted(integration.credentials),
        "options": dict(integration.options),
        "created_at": integration.created_at.isoformat() if integration.created_at else None,
    }


# -- changing integrations ----------------------------------------------------


async def set_integration_enabled(
    store: Store, settings: Settings, integration: str, enabled: bool
) -> Integration:
    """Enable or disable an integration (id or name); its schedules follow at once."""
    found = await store.get_integration(integration)
    await store.set_enabled(found.id, enabled)
    await reconcile_schedules(store, settings)
    return replace(found, enabled=enabled)


@dataclass(frozen=True, slots=True)
class SettingsDocument:
    """Settings as nested mappings (a parsed YAML file) and where they came from.

    ``source`` names the document in errors (a file path, "request body").
    """

    data: Any
    source: str


@dataclass(frozen=True, slots=True)
class IntegrationConfig:
    """An integration's effective configuration after a change (or none)."""

    integration_id: str
    #: Every setting with its value and where it comes from, in a stable order.
    settings: tuple[Effective, ...]
    #: True when the change altered the stored options.
    changed: bool


async def configure_integration(
    store: Store,
    settings: Settings,
    integration: str,
    *,
    document: SettingsDocument | None = None,
    changes: Sequence[tuple[str, Any]] = (),
) -> IntegrationConfig:
    """Apply ``document`` and then each ``(key, value)`` change to an integration's options.

    A value may be YAML text (``"false"``, ``"{type: interval, seconds: 600}"``)
    or data. Every change is validated before anything is stored: a
    ConfigError names the key (and the document's source) and leaves the
    integration as it was. Without changes, the configuration is only read.
    """
    found = await store.get_integration(integration)
    jobs = load_jobs(found.vendor, settings.jobs_dir)
    options: dict[str, Any] = dict(found.options)
    if document is not None:
        options = apply_file(options, jobs, document.data, document.source)
    for key, value in changes:
        options = apply_setting(options, jobs, key, value)
    changed = options != dict(found.options)
    if changed:
        await store.update_integration(replace(found, options=options))
        # Schedules and job controls are part of the options.
        await reconcile_schedules(store, settings)
        log.info("integration.configured", integration_id=found.id)
    return IntegrationConfig(
        integration_id=found.id, settings=tuple(effective(options, jobs)), changed=changed
    )


def config_json(config: IntegrationConfig) -> dict[str, Any]:
    """An effective configuration as plain JSON data: each key's value and source."""
    return {r.key: {"value": r.value, "source": r.source} for r in config.settings}
