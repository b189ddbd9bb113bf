"""Integrations: adding, listing, enabling, changing, archiving, configuring and removing them.

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
from syncd.errors import ConfigError, IntegrationNotFound, RunConflict, SchemaError
from syncd.integration_config import (
    ARCHIVED_AT,
    Effective,
    apply_file,
    apply_setting,
    connector_option,
    effective,
)
from syncd.jobs import SCHEDULED_JOBS, load_jobs
from syncd.services.schedules import reconcile_schedules
from syncd.settings import Settings
from syncd.store.base import DEFAULT_STALE_AFTER, Store
from syncd.transform.overrides import integration_transforms
from syncd.triggers import next_fire, parse_trigger
from syncd.urls import check_http_url

log = structlog.get_logger(__name__)

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: The integrations table holds base URLs of up to 500 characters.
_MAX_BASE_URL = 500
#: Options an integration may be created with (the rest: ``integrations config``).
_CREATE_OPTIONS = ("rate_limit_per_second", "page_size")


class IntegrationExists(ConfigError):
    """The id or name asked for is another integration's id or name already.

    ``taken`` says which field of the request it was (``id`` or ``name``);
    the message names no field, as the command line has always shown it.
    """

    def __init__(self, message: str, *, taken: str) -> None:
        super().__init__(message)
        self.taken = taken


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
    integration = await prepare_integration(store, request)
    await store.add_integration(integration)
    log.info("integration.added", integration_id=integration.id, vendor=integration.vendor)
    return integration


def check_credentials(
    vendor: str, credentials: Mapping[str, str], *, base_url: str | None = None
) -> None:
    """The vendor's own checks of ``credentials``, a missing key named ``credentials.<key>``."""
    cls = get_connector_class(vendor)
    try:
        cls.validate_credentials(credentials, base_url=base_url)
    except ConfigError as exc:
        missing = [k for k in cls.credential_keys if k not in credentials]
        if exc.field != "credentials" or not missing:
            raise
        message = str(exc).removeprefix("credentials: ")
        raise ConfigError(message, field=f"credentials.{missing[0]}") from None


async def prepare_integration(
    store: Store, request: NewIntegration, *, name_missing_keys: bool = False
) -> Integration:
    """The integration ``request`` asks for, validated but not stored.

    ``name_missing_keys`` names a missing credential ``credentials.<key>``
    (the HTTP API's way) rather than ``credentials``.
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
    if name_missing_keys:
        check_credentials(cls.vendor, request.credentials, base_url=request.base_url)
    else:
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
            raise IntegrationExists(f"integration {integration_id!r} already exists", taken="id")
        if name in (other.id, other.name):
            raise IntegrationExists(f"integration {name!r} already exists", taken="name")
    return Integration(
        id=integration_id,
        name=name,
        vendor=cls.vendor,
        environment=request.environment,
        enabled=request.enabled,
        base_url=request.base_url,
        credentials=dict(request.credentials),
        options=options,
    )


async def find_integration(store: Store, id_or_name: str) -> Integration:
    """The integration with this id (or else name), without its credentials.

    Needs no secret key: removing an integration must work even when its
    credentials can no longer be decrypted.
    """
    found = await store.find_integration_head(id_or_name)
    if found is None:
        raise IntegrationNotFound(f"no integration with id or name {id_or_name!r}")
    return found


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
    """Enable or disable an integration (id or name); its schedules follow at once.

    Enabling a production integration makes its schedules due now, so the
    scheduler starts its first sync at its next poll; a sandbox one syncs
    on request only. An archived integration cannot be enabled.
    """
    found = await find_integration(store, integration)
    if enabled and is_archived(found):
        raise ConfigError(_ARCHIVED_ENABLE, field="active")
    await store.set_enabled(found.id, enabled)
    await schedules_follow(store, settings, found, enabled)
    return replace(found, enabled=enabled)


_ARCHIVED_ENABLE = "an archived integration cannot be enabled: unarchive it first"


async def schedules_follow(
    store: Store, settings: Settings, before: Integration, enabled: bool
) -> None:
    """Make the schedules follow an integration that was ``before`` and is now ``enabled``.

    A newly enabled production integration gets one sync at once: its
    first scheduled job (incremental, which is a full read while nothing
    is synced yet) is made due now, and its other jobs wait for their next
    fire time rather than all starting together.
    """
    await reconcile_schedules(store, settings)
    if not enabled or before.enabled or before.environment is not Environment.PRODUCTION:
        return
    now = datetime.now(UTC)
    rows = {r.job: r for r in await store.list_schedules(before.id) if r.lease_owner is None}
    first = next((job for job in SCHEDULED_JOBS if job in rows), None)
    for job, row in rows.items():
        due = now if job == first else next_fire(parse_trigger(row.trigger), now)
        if due != row.next_run_at:
            await store.put_schedule(row.integration_id, job, row.trigger, due, row.state)
    log.info("integration.enabled", integration_id=before.id, first_job=first)


def is_archived(integration: Integration) -> bool:
    """True when the integration is archived (disabled, its data kept)."""
    return integration.options.get(ARCHIVED_AT) is not None


def archived_at(integration: Integration) -> datetime | None:
    """When the integration was archived (None: it is not)."""
    value = integration.options.get(ARCHIVED_AT)
    return datetime.fromisoformat(value) if isinstance(value, str) else None


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
    if options.get("enum_maps") != found.options.get("enum_maps"):
        source = document.source if document is not None else None
        _check_enum_maps(replace(found, options=options), settings, source)
    changed = options != dict(found.options)
    if changed:
        await store.update_integration(replace(found, options=options))
        # Schedules and job controls are part of the options.
        await reconcile_schedules(store, settings)
        log.info("integration.configured", integration_id=found.id)
    return IntegrationConfig(
        integration_id=found.id, settings=tuple(effective(options, jobs)), changed=changed
    )


def _check_enum_maps(integration: Integration, settings: Settings, source: str | None) -> None:
    """Refuse an enum map value the unified field does not allow (every sync would fail on it)."""
    try:
        integration_transforms(integration, settings.transforms_dir)
    except SchemaError as exc:
        where = (exc.field or "").replace("enum_overrides", "enum_maps", 1)
        message = str(exc).removeprefix(f"{exc.field}: ")
        raise ConfigError(message, file=source, field=where or "enum_maps") from None


def config_json(config: IntegrationConfig) -> dict[str, Any]:
    """An effective configuration as plain JSON data: each key's value and source."""
    return {r.key: {"value": r.value, "source": r.source} for r in config.settings}


# -- the HTTP API's views and changes ----------------------------------------


@dataclass(frozen=True, slots=True)
class IntegrationChange:
    """What to change of an integration; None leaves a field as it is."""

    name: str | None = None
    active: bool | None = None
    #: Replaces every credential (validated as at creation).
    credentials: Mapping[str, str] | None = None
    #: With ``set_base_url``: the new base URL (None: the vendor's default).
    base_url: str | None = None
    set_base_url: bool = False
    new_properties_are_enabled: bool | None = None
    is_archived: bool | None = None


async def change_integration(
    store: Store, settings: Settings, integration: str, change: IntegrationChange
) -> Integration:
    """Apply ``change`` to an integration (id or name), every field validated first.

    Archiving disables the integration and keeps its data; an archived
    integration cannot be enabled until unarchived (in the same change is
    fine). Enabling follows :func:`set_integration_enabled`'s rules.
    """
    found = await store.get_integration(integration)
    updated = found
    options = dict(found.options)
    if change.name is not None and change.name.strip() != found.name:
        name = change.name.strip()
        if not name:
            raise ConfigError("empty name", field="name")
        for other in await store.list_integration_heads():
            if other.id != found.id and name in (other.id, other.name):
                raise IntegrationExists(f"integration {name!r} already exists", taken="name")
        updated = replace(updated, name=name)
    if change.set_base_url:
        if change.base_url is not None:
            try:
                check_http_url(change.base_url, max_length=_MAX_BASE_URL)
            except ValueError as exc:
                raise ConfigError(str(exc), field="base_url") from None
        updated = replace(updated, base_url=change.base_url)
    if change.credentials is not None or change.set_base_url:
        credentials = change.credentials if change.credentials is not None else found.credentials
        check_credentials(found.vendor, credentials, base_url=updated.base_url)
        updated = replace(updated, credentials=dict(credentials))
    if change.new_properties_are_enabled is not None:
        options["new_properties_are_enabled"] = change.new_properties_are_enabled
    enabled = found.enabled if change.active is None else change.active
    if change.is_archived is True:
        if change.active:
            raise ConfigError("an integration cannot be archived and enabled", field="active")
        options.setdefault(ARCHIVED_AT, datetime.now(UTC).isoformat())
        enabled = False
    elif change.is_archived is False:
        options.pop(ARCHIVED_AT, None)
    if enabled and not found.enabled and options.get(ARCHIVED_AT) is not None:
        raise ConfigError(_ARCHIVED_ENABLE, field="active")
    updated = replace(updated, enabled=enabled, options=options)
    if updated != found:
        await store.update_integration(updated)
        log.info("integration.changed", integration_id=found.id)
    if enabled != found.enabled:
        await schedules_follow(store, settings, found, enabled)
    return updated


async def set_archived(
    store: Store, settings: Settings, integration: str, archived: bool
) -> Integration:
    """Archive (disable, keep its data) or unarchive an integration (id or name)."""
    return await change_integration(
        store, settings, integration, IntegrationChange(is_archived=archived)
    )
