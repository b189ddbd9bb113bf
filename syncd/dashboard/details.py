"""One integration's page: data access, the ⋯ actions, last ran jobs, properties, held sweeps.

The data-access and last-ran-jobs sections are also served alone (as
fragments) for the page's script, which swaps them in place while a check
or a sync runs, so the page never needs a reload to show progress.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from syncd.api.background import BackgroundUnavailable
from syncd.api.data_access import begin_data_access_check
from syncd.dashboard.app import PageRoute, View, error_page
from syncd.dashboard.session import PREFIX
from syncd.domain import Environment, Integration, RunRecord, RunStatus
from syncd.errors import ConfigError, RunConflict, SweepError, SyncdError
from syncd.scheduler import SyncRequest
from syncd.services.data_access import DataAccessReport, data_access
from syncd.services.integration_views import integration_state, integration_view
from syncd.services.integrations import find_integration, set_integration_enabled
from syncd.services.properties import PropertyNotFound, list_property_settings, set_property_enabled
from syncd.services.runs import run_tree
from syncd.services.sweeps import approve_sweep, dismiss_sweep, held_sweeps, sweep_run
from syncd.services.syncs import IntegrationDisabled, pending_request, request_sync

log = structlog.get_logger(__name__)

PROPERTIES_PER_PAGE = 25


def _ref(view: View) -> str:
    return view.request.match_info["integration_id"]


def details_url(integration_id: str) -> str:
    """The page of one integration."""
    return f"{PREFIX}/integrations/{integration_id}"


# -- the live sections ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobsSection:
    """The last sync of an integration and whether one is running or asked for."""

    integration: Integration
    root: RunRecord | None
    jobs: tuple[RunRecord, ...]
    pending: SyncRequest | None
    #: True while the section changes by itself: its script polls it.
    live: bool
    #: The integration's state (the page's badge follows it).
    state: str


async def jobs_section(view: View, ref: str) -> JobsSection:
    """The last ran jobs of one integration (id or name)."""
    shown = await integration_view(view.ctx.store, ref)
    pending = await pending_request(view.ctx.store, shown.integration.id)
    root = shown.last_run
    integration = shown.integration
    first_sync_due = (
        integration.enabled and integration.environment is Environment.PRODUCTION and root is None
    )
    live = (root is not None and root.status is RunStatus.RUNNING) or pending is not None
    return JobsSection(
        integration=integration,
        root=root,
        jobs=shown.last_ran_jobs,
        pending=pending,
        live=live or first_sync_due,
        state=integration_state(integration, root).value,
    )


async def _data_access(view: View, ref: str) -> DataAccessReport:
    return await data_access(view.ctx.store, view.ctx.settings, ref)


async def jobs_fragment(view: View) -> web.StreamResponse:
    """``GET …/{id}/jobs``: the last ran jobs section alone."""
    section = await jobs_section(view, _ref(view))
    return view.fragment("_jobs.html", section=section, now=datetime.now(UTC))


async def data_access_fragment(view: View) -> web.StreamResponse:
    """``GET …/{id}/data-access``: the data access section alone."""
    found = await find_integration(view.ctx.store, _ref(view))
    report = await _data_access(view, found.id)
    return view.fragment("_data_access.html", integration=found, report=report)


# -- the page --------------------------------------------------------------------------


async def _check_on_arrival(view: View, integration: Integration) -> DataAccessReport:
    """Start the first data-access check; the report as it stands after (or before) that."""
    try:
        await begin_data_access_check(view.ctx, integration.id)
    except (BackgroundUnavailable, RunConflict) as exc:
        # Another node or tab started it, or this server runs no background work.
        log.info("dashboard.check_not_started", integration_id=integration.id, reason=str(exc))
    return await _data_access(view, integration.id)


def _properties_offset(view: View) -> int:
    try:
        return max(int(view.request.query.get("properties_offset", "0")), 0)
    except ValueError:
        return 0


async def properties_fragment(view: View) -> web.StreamResponse:
    """``GET …/{id}/properties``: the properties section alone (refreshed after a sync)."""
    found = await find_integration(view.ctx.store, _ref(view))
    offset = _properties_offset(view)
    properties = await list_property_settings(
        view.ctx.store, found.id, (("name", False),), offset=offset, limit=PROPERTIES_PER_PAGE
    )
    return view.fragment(
        "_properties.html",
        integration=found,
        properties=properties,
        properties_offset=offset,
        properties_per_page=PROPERTIES_PER_PAGE,
    )


async def sweeps_fragment(view: View) -> web.StreamResponse:
    """``GET …/{id}/sweeps``: the held sweeps section alone (refreshed after a sync)."""
    found = await find_integration(view.ctx.store, _ref(view))
    sweeps = await held_sweeps(view.ctx.store, found.id)
    return view.fragment("_sweeps.html", integration=found, sweeps=sweeps)


async def details_page(view: View) -> web.StreamResponse:
    """``GET /dashboard/integrations/{id}``."""
    store = view.ctx.store
    section = await jobs_section(view, _ref(view))
    integration = section.integration
    offset = _properties_offset(view)
    report = await _data_access(view, integration.id)
    if report.last_check is None and not report.in_process:
        # A new integration (however it was added) is checked on arrival.
        report = await _check_on_arrival(view, integration)
    properties = await list_property_settings(
        store, integration.id, (("name", False),), offset=offset, limit=PROPERTIES_PER_PAGE
    )
    return view.page(
        "integration.html",
        title=f"{integration.name} · syncd",
        integration=integration,
        state=section.state,
        section=section,
        report=report,
        properties=properties,
        properties_offset=offset,
        properties_per_page=PROPERTIES_PER_PAGE,
        sweeps=await held_sweeps(store, integration.id),
        now=datetime.now(UTC),
    )


# -- actions ------------------------------------------------------------------------------

Action = Callable[[View, Integration], Awaitable[str]]


def _action(act: Action) -> Callable[[View], Awaitable[web.StreamResponse]]:
    """A POST that does one thing to an integration and goes back to its page, saying so."""

    async def handle(view: View) -> web.StreamResponse:
        found = await find_integration(view.ctx.store, _ref(view))
        try:
            message = await act(view, found)
        except (SyncdError, BackgroundUnavailable) as exc:
            return view.redirect(details_url(found.id), str(exc), "error")
        return view.redirect(details_url(found.id), message)

    return handle


async def _enable(view: View, found: Integration) -> str:
    await set_integration_enabled(view.ctx.store, view.ctx.settings, found.id, True)
    if found.environment is Environment.PRODUCTION:
        return f"{found.name} is enabled: its first sync starts now"
    # A sandbox syncs on request only; enabling from the dashboard is the
    # onboarding step, so it asks for the first sync itself.
    try:
        await request_sync(view.ctx.store, view.ctx.settings, found.id)
    except RunConflict:
        return f"{found.name} is enabled; a sync is already on its way"
    return f"{found.name} is enabled: a sandbox syncs on request, and its first sync starts now"


async def _disable(view: View, found: Integration) -> str:
    await set_integration_enabled(view.ctx.store, view.ctx.settings, found.id, False)
    return f"{found.name} is disabled: no sync starts until it is enabled again"


async def _sync(view: View, found: Integration) -> str:
    try:
        await request_sync(view.ctx.store, view.ctx.settings, found.id)
    except IntegrationDisabled:
        raise ConfigError(f"{found.name} is disabled: enable it first") from None
    return "A sync was requested: it starts within seconds"


async def _back_sync(view: View, found: Integration) -> str:
    try:
        await request_sync(view.ctx.store, view.ctx.settings, found.id, back_sync=True)
    except IntegrationDisabled:
        raise ConfigError(f"{found.name} is disabled: enable it first") from None
    return "A back-sync was requested: every model is read again over all of its history"


async def _check(view: View, found: Integration) -> str:
    await begin_data_access_check(view.ctx, found.id)
    return "Checking data access"


async def _toggle_property(view: View, found: Integration) -> str:
    enabled = view.value("enabled") == "true"
    property_id = view.request.match_info["property_id"]
    try:
        setting = await set_property_enabled(
            view.ctx.store, view.ctx.settings, found.id, enabled, property_id=property_id
        )
    except PropertyNotFound as exc:
        raise ConfigError(str(exc)) from None
    name = setting.name or setting.x_property_id
    if enabled:
        return f"{name} is enabled: its data syncs from the next run"
    return f"{name} is disabled: its cached data is kept and no longer synced"


# -- runs and sweeps -------------------------------------------------------------------------


async def run_page(view: View) -> web.StreamResponse:
    """``GET /dashboard/runs/{run_id}``: a whole sync, each model run and its error."""
    try:
        tree = await run_tree(view.ctx.store, view.request.match_info["run_id"])
    except ConfigError as exc:  # no run, or an ambiguous prefix
        return error_page(404, str(exc))
    integration = await find_integration(view.ctx.store, tree.integration_id)
    root = next((r for r in tree.runs if r.parent_run_id is None), None)
    values: dict[str, Any] = {
        "integration": integration,
        "root": root,
        "jobs": [r for r in tree.runs if r.parent_run_id is not None],
        "now": datetime.now(UTC),
        "run_ref": view.request.match_info["run_id"],
    }
    if "fragment" in view.request.query:
        return view.fragment("_run_tree.html", **values)
    return view.page("run.html", title=f"Sync of {integration.name} · syncd", **values)


async def _sweep(view: View, approve: bool) -> web.StreamResponse:
    ref = view.request.match_info["run_id"]
    try:
        run = await sweep_run(view.ctx.store, ref)
    except (ConfigError, SweepError) as exc:
        return view.redirect(f"{PREFIX}/integrations", str(exc), "error")
    back = details_url(run.integration_id)
    try:
        if approve:
            done = await approve_sweep(view.ctx.store, view.ctx.settings, run.id)
            message = f"The {done.model} sweep was approved: {done.deleted} records deleted"
            if done.skipped:
                message += f" ({done.skipped})"
        else:
            await dismiss_sweep(view.ctx.store, run.id)
            message = f"The {run.model} sweep was dismissed: nothing was deleted"
    except SyncdError as exc:
        return view.redirect(back, str(exc), "error")
    return view.redirect(back, message)


async def approve(view: View) -> web.StreamResponse:
    """``POST /dashboard/sweeps/{run_id}/approve``."""
    return await _sweep(view, True)


async def dismiss(view: View) -> web.StreamResponse:
    """``POST /dashboard/sweeps/{run_id}/dismiss``."""
    return await _sweep(view, False)


# "new" is the new-customer form, not an integration.
_ONE = "/integrations/{integration_id:(?!new$)[^/]+}"

ROUTES = [
    PageRoute("GET", _ONE, details_page),
    PageRoute("GET", _ONE + "/jobs", jobs_fragment),
    PageRoute("GET", _ONE + "/data-access", data_access_fragment),
    PageRoute("GET", _ONE + "/properties", properties_fragment),
    PageRoute("GET", _ONE + "/sweeps", sweeps_fragment),
    PageRoute("POST", _ONE + "/data-access", _action(_check)),
    PageRoute("POST", _ONE + "/enable", _action(_enable)),
    PageRoute("POST", _ONE + "/disable", _action(_disable)),
    PageRoute("POST", _ONE + "/sync", _action(_sync)),
    PageRoute("POST", _ONE + "/back-sync", _action(_back_sync)),
    PageRoute("POST", _ONE + "/properties/{property_id}", _action(_toggle_property)),
    PageRoute("GET", "/runs/{run_id}", run_page),
    PageRoute("POST", "/sweeps/{run_id}/approve", approve),
    PageRoute("POST", "/sweeps/{run_id}/dismiss", dismiss),
]
