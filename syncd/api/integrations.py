"""The integrations operations of the /v1 API: create, list, get, change, delete, properties.

Paths, fields and answer shapes follow the reference unified API
(``/v1/admin/integrations/``, ``…/{integration_id}``, ``…/properties``):
a created or changed integration comes as ``{"result": …}``, a read one
as ``{"results": …}``, a list as ``{"meta", "results"}``. Credentials go
in and never come out: answers show only their keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from syncd.api.common import ListQuery, meta, parse_order_by
from syncd.api.errors import ApiError, Issue, invalid, not_found
from syncd.api.integration_models import (
    MAX_CREDENTIAL,
    IntegrationCreate,
    IntegrationDeleted,
    IntegrationDetail,
    IntegrationList,
    IntegrationListQuery,
    IntegrationOne,
    IntegrationOut,
    IntegrationResult,
    IntegrationUpdate,
    PropertyConfigurationList,
    PropertyConfigurationOne,
    PropertyConfigurationUpdate,
    configuration_out,
    integration_fields,
    run_out,
)
from syncd.api.routing import Answer, Call, Route
from syncd.domain import Environment
from syncd.errors import ConfigError
from syncd.services.cloning import CreateRequest, create_integration
from syncd.services.integration_views import (
    INTEGRATION_ORDER_FIELDS,
    IntegrationFilter,
    integration_view,
    list_integration_page,
)
from syncd.services.integrations import (
    IntegrationChange,
    IntegrationExists,
    NewIntegration,
    change_integration,
    find_integration,
    remove_integration,
)
from syncd.services.properties import (
    PROPERTY_ORDER_FIELDS,
    PropertyNotFound,
    list_property_settings,
    set_property_enabled,
)

_TAG = "integrations"
_BASE = "/v1/admin/integrations"
_ONE = _BASE + "/{integration_id}"
#: The service's field names as this API names them.
_BODY_FIELDS = {"vendor": "integration_vendor"}


# -- request checks -----------------------------------------------------------


def _ref(call: Call) -> str:
    """The integration id (or name) of the path; one no integration can have is a 404."""
    ref = call.path["integration_id"]
    if "\x00" in ref or len(ref) > 200:
        raise not_found(f"integration {ref[:64]!r}")
    return ref


def _check_credentials(credentials: dict[str, str] | None) -> None:
    for key, value in (credentials or {}).items():
        if not key or len(key) > 100 or "\x00" in key:
            raise invalid("body", f"credentials.{key[:100]}", "not a credential key", "invalid")
        if len(value) > MAX_CREDENTIAL or "\x00" in value:
            # Never echo the value: it is a secret.
            raise invalid("body", f"credentials.{key}", "value too long or with a NUL", "invalid")


@contextmanager
def _as_body_fields() -> Iterator[None]:
    """Service errors under this API's field names; a taken id or name is a 409."""
    try:
        yield
    except IntegrationExists as exc:
        issue = Issue(location="body", field=exc.taken, message=str(exc), code="taken")
        raise ApiError(409, "conflict", str(exc), (issue,)) from None
    except ConfigError as exc:
        renamed = _BODY_FIELDS.get(exc.field or "")
        if renamed is None:
            raise
        message = str(exc).removeprefix(f"{exc.field}: ")
        raise ConfigError(message, field=renamed) from None


def _environment(body: IntegrationCreate) -> Environment | None:
    system = Environment(body.system.lower()) if body.system else None
    if system and body.environment and system is not body.environment:
        raise invalid("body", "system", "contradicts environment", "conflict")
    return body.environment or system


# -- handlers -----------------------------------------------------------------


async def _create_integration(call: Call) -> Answer:
    body: IntegrationCreate = call.body
    _check_credentials(body.credentials)
    new = NewIntegration(
        vendor=body.integration_vendor,
        name=body.name,
        credentials=body.credentials,
        id=body.id,
        base_url=body.base_url,
        enabled=body.active,
    )
    request = CreateRequest(
        new,
        based_on=body.based_on_integration_id,
        environment=_environment(body),
        new_properties_are_enabled=body.new_properties_are_enabled,
    )
    with _as_body_fields():
        created = await create_integration(call.ctx.store, call.ctx.settings, request)
    view = await integration_view(call.ctx.store, created.id)
    return Answer(IntegrationResult(result=IntegrationOut(**integration_fields(view))), status=201)


async def _list_integrations(call: Call) -> IntegrationList:
    q: IntegrationListQuery = call.query
    ordering = parse_order_by(q.order_by, INTEGRATION_ORDER_FIELDS, default=(("created_at", True),))
    wanted = IntegrationFilter(
        vendor=q.integration_vendor,
        environment=q.environment,
        active=q.active,
        include_archived=q.is_archived,
    )
    try:
        page = await list_integration_page(
            call.ctx.store, wanted, ordering.terms, offset=q.offset, limit=q.limit
        )
    except ConfigError as exc:
        raise invalid("query", "integration_vendor", str(exc).split(": ", 1)[-1]) from None
    return IntegrationList(
        meta=meta(q, ordering, page.total),
        results=[IntegrationOut(**integration_fields(v)) for v in page.views],
    )


async def _get_integration(call: Call) -> IntegrationOne:
    view = await integration_view(call.ctx.store, _ref(call))
    detail = IntegrationDetail(
        **integration_fields(view), last_ran_jobs=[run_out(r) for r in view.last_ran_jobs]
    )
    return IntegrationOne(results=detail)


async def _update_integration(call: Call) -> IntegrationResult:
    body: IntegrationUpdate = call.body
    given = body.model_fields_set
    for name in ("name", "active", "credentials", "new_properties_are_enabled", "is_archived"):
        if name in given and getattr(body, name) is None:
            raise invalid("body", name, "may not be null", "null")
    _check_credentials(body.credentials)
    change = IntegrationChange(
        name=body.name,
        active=body.active,
        credentials=body.credentials,
        base_url=body.base_url,
        set_base_url="base_url" in given,
        new_properties_are_enabled=body.new_properties_are_enabled,
        is_archived=body.is_archived,
    )
    store = call.ctx.store
    found = await find_integration(store, _ref(call))
    with _as_body_fields():
        await change_integration(store, call.ctx.settings, found.id, change)
    view = await integration_view(store, found.id)
    return IntegrationResult(result=IntegrationOut(**integration_fields(view)))


async def _delete_integration(call: Call) -> IntegrationDeleted:
    found = await find_integration(call.ctx.store, _ref(call))
    removal = await remove_integration(call.ctx.store, found.id)
    return IntegrationDeleted(
        success=True, integration_id=removal.integration_id, removed=dict(removal.removed)
    )


async def _list_integration_properties(call: Call) -> PropertyConfigurationList:
    q: ListQuery = call.query
    ordering = parse_order_by(q.order_by, PROPERTY_ORDER_FIELDS, default=(("created_at", True),))
    page = await list_property_settings(
        call.ctx.store, _ref(call), ordering.terms, offset=q.offset, limit=q.limit
    )
    return PropertyConfigurationList(
        meta=meta(q, ordering, page.total),
        results=[configuration_out(s) for s in page.settings],
    )


async def _update_integration_property(call: Call) -> PropertyConfigurationOne:
    body: PropertyConfigurationUpdate = call.body
    try:
        setting = await set_property_enabled(
            call.ctx.store,
            call.ctx.settings,
            _ref(call),
            body.enabled,
            property_id=call.path["property_configuration_id"],
        )
    except PropertyNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return PropertyConfigurationOne(results=configuration_out(setting))


ROUTES: list[Route] = [
    Route(
        "POST",
        _BASE + "/",
        _create_integration,
        summary="Create an integration",
        tag=_TAG,
        body=IntegrationCreate,
        response=IntegrationResult,
        status=201,
        errors=(409,),
        aliases=(_BASE,),
        description=(
            "Credentials are checked against the vendor's (a missing or unknown key is a "
            "400 naming `credentials.<key>`) and never shown again. New integrations are "
            "disabled unless `active` is true. `based_on_integration_id` copies another "
            "integration's schedules, date filters, job controls, enum maps and connector "
            "controls (same vendor and environment only); never credentials, property "
            "settings or data. A taken id or name is a 409."
        ),
    ),
    Route(
        "GET",
        _BASE + "/",
        _list_integrations,
        summary="List integrations",
        tag=_TAG,
        query=IntegrationListQuery,
        response=IntegrationList,
        aliases=(_BASE,),
        description="Newest first by default; archived ones only with `is_archived=true`.",
    ),
    Route(
        "GET",
        _ONE,
        _get_integration,
        summary="Get an integration with its last ran jobs",
        tag=_TAG,
        response=IntegrationOne,
        errors=(404,),
        aliases=(_ONE + "/",),
    ),
    Route(
        "PUT",
        _ONE,
        _update_integration,
        summary="Change, enable, disable or archive an integration",
        tag=_TAG,
        body=IntegrationUpdate,
        response=IntegrationResult,
        errors=(404, 409),
        aliases=(_ONE + "/",),
        description=(
            "`active: true` on a production integration starts its first sync at once "
            "(at the scheduler's next poll); sandbox integrations sync on request only. "
            "`is_archived: true` disables it and keeps its data; an archived integration "
            "cannot be enabled until unarchived."
        ),
    ),
    Route(
        "DELETE",
        _ONE,
        _delete_integration,
        summary="Delete an integration and everything cached of it",
        tag=_TAG,
        response=IntegrationDeleted,
        errors=(404, 409),
        aliases=(_ONE + "/",),
        description="Refused (409) while one of its syncs is running.",
    ),
    Route(
        "GET",
        _ONE + "/properties",
        _list_integration_properties,
        summary="List an integration's property configurations",
        tag=_TAG,
        query=ListQuery,
        response=PropertyConfigurationList,
        errors=(404,),
        aliases=(_ONE + "/properties/",),
        description="One per cached property: whether its data (units, leases …) syncs.",
    ),
    Route(
        "PUT",
        _ONE + "/properties/{property_configuration_id}",
        _update_integration_property,
        summary="Enable or disable a property's data",
        tag=_TAG,
        body=PropertyConfigurationUpdate,
        response=PropertyConfigurationOne,
        errors=(404,),
        aliases=(_ONE + "/properties/{property_configuration_id}/",),
        description=(
            "A disabled property's data is no longer fetched from the next sync on, and "
            "what is cached of it is kept (never swept)."
        ),
    ),
]
