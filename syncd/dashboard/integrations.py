"""The integrations pages: one tab per PMS and environment, a new customer, a clone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from syncd.api.background import BackgroundUnavailable
from syncd.api.data_access import begin_data_access_check
from syncd.dashboard.app import PageRoute, View
from syncd.dashboard.session import PREFIX
from syncd.domain import Environment, Integration, RunRecord
from syncd.errors import ConfigError, RunConflict
from syncd.services.cloning import CreateRequest, create_integration
from syncd.services.integration_views import (
    IntegrationFilter,
    IntegrationState,
    integration_state,
    list_integration_page,
)
from syncd.services.integrations import IntegrationExists, NewIntegration, find_integration
from syncd.services.pms import PmsProfile, pms_profile, pms_profiles

log = structlog.get_logger(__name__)

PAGE_SIZE = 50

#: The five configurations a clone copies, as the clone form names them.
CLONED_CONFIGURATIONS: tuple[tuple[str, str], ...] = (
    ("Schedules", "how often each job runs"),
    ("Date filters and job controls", "which records each job asks for"),
    ("Enum maps", "custom mappings of the PMS's values to unified ones"),
    ("Transform overrides", "extra custom_data fields"),
    ("Connector controls", "rate limit, page size, concurrency, sweep guard, events"),
)

#: Credentials whose values are secrets: never put back into a form.
_SECRET_MARKS = ("secret", "password", "api_key", "token")


def is_secret(key: str) -> bool:
    """Whether a credential's value is a secret (a form never shows it again)."""
    return any(mark in key for mark in _SECRET_MARKS)


def _vendor(view: View, fallback: str | None = None) -> PmsProfile:
    code = view.request.query.get("vendor") or view.value("vendor") or fallback
    try:
        return pms_profile(code or pms_profiles()[0].vendor)
    except ConfigError:
        return pms_profiles()[0]


def _environment(view: View) -> Environment:
    raw = view.request.query.get("environment") or view.value("environment")
    try:
        return Environment((raw or "production").lower())
    except ValueError:
        return Environment.PRODUCTION


def tab_url(vendor: str, environment: Environment) -> str:
    """The integrations tab of one PMS and environment."""
    return f"{PREFIX}/integrations?vendor={vendor.lower()}&environment={environment.value}"


@dataclass(frozen=True, slots=True)
class Row:
    """One integration as its tab lists it."""

    integration: Integration
    state: IntegrationState
    last_run: RunRecord | None


async def list_page(view: View) -> web.StreamResponse:
    """``GET /dashboard/integrations``: one PMS's integrations in one environment."""
    profile = _vendor(view)
    environment = _environment(view)
    try:
        offset = max(int(view.request.query.get("offset", "0")), 0)
    except ValueError:
        offset = 0
    page = await list_integration_page(
        view.ctx.store,
        IntegrationFilter(vendor=profile.vendor, environment=environment),
        (("name", False),),
        offset=offset,
        limit=PAGE_SIZE,
        with_credentials=False,
    )
    rows = [
        Row(v.integration, integration_state(v.integration, v.last_run), v.last_run)
        for v in page.views
    ]
    values: dict[str, Any] = {
        "profile": profile,
        "environment": environment,
        "rows": rows,
        "total": page.total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "tab_url": tab_url,
        # Refreshed quickly while one syncs, slowly otherwise (a sync may start).
        "live": any(row.state == IntegrationState.SYNCING for row in rows),
    }
    if "fragment" in view.request.query:
        return view.fragment("_integration_rows.html", **values)
    return view.page(
        "integrations.html",
        title=f"{profile.display_name} {environment.value} · syncd",
        profiles=pms_profiles(),
        environments=list(Environment),
        **values,
    )


# -- a new customer ------------------------------------------------------------------


def _credentials(view: View, profile: PmsProfile) -> dict[str, str]:
    values = {}
    for spec in profile.credential_fields:
        value = view.value(f"credential_{spec.key}")
        if value or spec.required:
            values[spec.key] = value
    return values


def _field_errors(exc: ConfigError, profile: PmsProfile) -> dict[str, str]:
    """A service's refusal as the form field it concerns ("form" when none matches)."""
    message = str(exc).removeprefix(f"{exc.field}: ") if exc.field else str(exc)
    field_name = exc.taken if isinstance(exc, IntegrationExists) else exc.field
    name = (field_name or "").replace("credentials.", "credential_")
    # The id is made from the name: a taken id is the name's problem.
    name = "name" if name == "id" else name
    known = {"name", "base_url", *(f"credential_{c.key}" for c in profile.credential_fields)}
    return {name if name in known else "form": message}


def _kept(view: View, profile: PmsProfile) -> dict[str, str]:
    """What a re-shown form keeps: everything but secrets."""
    kept = {"name": view.value("name"), "base_url": view.value("base_url")}
    for spec in profile.credential_fields:
        if not is_secret(spec.key):
            kept[f"credential_{spec.key}"] = view.value(f"credential_{spec.key}")
    return kept


def _form_page(
    view: View,
    *,
    profile: PmsProfile,
    environment: Environment,
    errors: Mapping[str, str] | None = None,
    source: Integration | None = None,
    status: int = 200,
) -> web.Response:
    verb = f"Clone {source.name}" if source else f"New {profile.display_name} customer"
    return view.page(
        "integration_form.html",
        title=f"{verb} · syncd",
        heading=verb,
        profile=profile,
        environment=environment,
        errors=dict(errors or {}),
        values=_kept(view, profile) if view.form is not None else {},
        source=source,
        cloned=CLONED_CONFIGURATIONS,
        is_secret=is_secret,
        back=tab_url(profile.vendor, environment),
        status=status,
    )


async def new_page(view: View) -> web.StreamResponse:
    """``GET /dashboard/integrations/new``: the form for one PMS's credentials."""
    return _form_page(view, profile=_vendor(view), environment=_environment(view))


async def _create(
    view: View, profile: PmsProfile, environment: Environment, source: Integration | None
) -> web.StreamResponse:
    """Create from the form; on a mistake, the form again naming each wrong field."""
    errors: dict[str, str] = {}
    name = view.value("name")
    if not name:
        errors["name"] = "Enter the customer's name."
    credentials = _credentials(view, profile)
    for spec in profile.credential_fields:
        if spec.required and not credentials.get(spec.key):
            errors[f"credential_{spec.key}"] = f"Enter the {spec.label}."
    if errors:
        return _form_page(
            view, profile=profile, environment=environment, errors=errors, source=source,
            status=400,
        )  # fmt: skip
    request = CreateRequest(
        NewIntegration(
            vendor=profile.vendor,
            name=name,
            credentials=credentials,
            base_url=view.value("base_url") or None,
        ),
        based_on=source.id if source else None,
        environment=environment,
    )
    try:
        created = await create_integration(view.ctx.store, view.ctx.settings, request)
    except ConfigError as exc:
        return _form_page(
            view, profile=profile, environment=environment, errors=_field_errors(exc, profile),
            source=source, status=400,
        )  # fmt: skip
    log.info("dashboard.integration_created", integration_id=created.id, cloned=bool(source))
    message = f"{created.name} was added"
    try:
        await begin_data_access_check(view.ctx, created.id)
        message += ": checking its data access"
    except (BackgroundUnavailable, RunConflict) as exc:
        message += f" (its data access was not checked: {exc})"
    return view.redirect(f"{PREFIX}/integrations/{created.id}", message)


async def create(view: View) -> web.StreamResponse:
    """``POST /dashboard/integrations/new``."""
    return await _create(view, _vendor(view), _environment(view), None)


async def clone_page(view: View) -> web.StreamResponse:
    """``GET …/{id}/clone``: the new customer's name and credentials; same PMS, same environment."""
    source = await find_integration(view.ctx.store, view.request.match_info["integration_id"])
    return _form_page(
        view, profile=pms_profile(source.vendor), environment=source.environment, source=source
    )


async def clone(view: View) -> web.StreamResponse:
    """``POST …/{id}/clone``."""
    source = await find_integration(view.ctx.store, view.request.match_info["integration_id"])
    return await _create(view, pms_profile(source.vendor), source.environment, source)


ROUTES = [
    PageRoute("GET", "/integrations", list_page),
    PageRoute("GET", "/integrations/new", new_page),
    PageRoute("POST", "/integrations/new", create),
    PageRoute("GET", "/integrations/{integration_id}/clone", clone_page),
    PageRoute("POST", "/integrations/{integration_id}/clone", clone),
]
