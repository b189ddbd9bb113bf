"""Integrations: adding one (validated before anything is stored) and removing one.

Errors name the field of the request (``credentials.client_id``,
``base_url``, ``id``); a front end may show them under its own option names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from syncd.connectors.registry import get_connector_class
from syncd.domain import Environment, Integration
from syncd.errors import ConfigError, IntegrationNotFound, RunConflict
from syncd.integration_config import connector_option
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
