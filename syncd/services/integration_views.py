"""Integrations as the HTTP API shows them: filtered pages, and one with its last sync."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from syncd.connectors.registry import get_connector_class
from syncd.domain import Environment, Integration, RunRecord, RunStatus
from syncd.services.integrations import is_archived
from syncd.services.runs import last_run_tree
from syncd.store.sql import SqlStore


@dataclass(frozen=True, slots=True)
class IntegrationView:
    """An integration as the API shows it: with when it changed and its last sync."""

    integration: Integration
    updated_at: datetime | None
    last_run: RunRecord | None
    #: The model runs of the last sync (only when one integration is asked for).
    last_ran_jobs: tuple[RunRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class IntegrationFilter:
    """Which integrations a list shows (None: any)."""

    vendor: str | None = None
    environment: Environment | None = None
    active: bool | None = None
    #: False: archived integrations are left out.
    include_archived: bool = False


#: Fields a list of integrations may be ordered by.
INTEGRATION_ORDER_FIELDS = ("created_at", "updated_at", "id", "name", "vendor")


@dataclass(frozen=True, slots=True)
class IntegrationPage:
    """One page of integrations and how many match in all."""

    views: tuple[IntegrationView, ...]
    total: int


def _sort_key(field_name: str, view: IntegrationView) -> Any:
    value = (
        view.updated_at
        if field_name == "updated_at"
        else getattr(view.integration, field_name, None)
    )
    # None (an unknown time) sorts first, without comparing None to a datetime.
    return (value is not None, value)


async def list_integration_page(
    store: SqlStore,
    wanted: IntegrationFilter,
    order: Sequence[tuple[str, bool]] = (("created_at", True),),
    *,
    offset: int = 0,
    limit: int = 100,
    with_credentials: bool = True,
) -> IntegrationPage:
    """A page of the integrations ``wanted`` selects, in ``order``, with their last syncs.

    ``with_credentials`` False leaves every credential out (and needs no
    decryption): for views that show none of them.
    """
    vendor = get_connector_class(wanted.vendor).vendor if wanted.vendor else None
    times = await store.updated_times()
    # Decrypted when asked: a view shows the credentials' keys (never their values).
    found = await (
        store.list_integrations() if with_credentials else store.list_integration_heads()
    )
    views = [
        IntegrationView(i, times.get(i.id), None)
        for i in found
        if (vendor is None or i.vendor == vendor)
        and (wanted.environment is None or i.environment is wanted.environment)
        and (wanted.active is None or i.enabled is wanted.active)
        and (wanted.include_archived or not is_archived(i))
    ]
    # Stable sorts, last term first, with the id as the final tie-breaker.
    views.sort(key=lambda v: v.integration.id)
    for name, descending in reversed(order):
        views.sort(key=lambda v, n=name: _sort_key(n, v), reverse=descending)  # type: ignore[misc]
    page = views[offset : offset + limit]
    last = await store.last_root_runs([v.integration.id for v in page])
    shown = [replace(v, last_run=last.get(v.integration.id)) for v in page]
    return IntegrationPage(views=tuple(shown), total=len(views))


async def integration_view(store: SqlStore, integration: str) -> IntegrationView:
    """One integration (id or name) with its last sync and that sync's model runs."""
    found = await store.get_integration(integration)
    tree = await last_run_tree(store, found.id)
    root = next((r for r in tree.runs if r.parent_run_id is None), None)
    jobs = tuple(r for r in tree.runs if r.parent_run_id is not None)
    updated = (await store.updated_times()).get(found.id)
    return IntegrationView(found, updated, root, jobs)


class IntegrationState(StrEnum):
    """What an integration is doing, as a list of integrations shows it."""

    DISABLED = "disabled"
    ENABLED = "enabled"
    SYNCING = "syncing"
    FAILING = "failing"


_FAILING = frozenset({RunStatus.FAILED, RunStatus.PARTIAL})


def integration_state(integration: Integration, last_run: RunRecord | None) -> IntegrationState:
    """Disabled; syncing while its last sync runs; failing when that sync failed; else enabled."""
    if last_run is not None and last_run.status is RunStatus.RUNNING:
        # A foreground `syncd run` of a disabled integration syncs too.
        return IntegrationState.SYNCING
    if not integration.enabled:
        return IntegrationState.DISABLED
    if last_run is not None and last_run.status in _FAILING:
        return IntegrationState.FAILING
    return IntegrationState.ENABLED
