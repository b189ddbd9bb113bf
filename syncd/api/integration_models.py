"""The models of the integrations operations (requests, answers) and conversions to them.

Names are prefixed (``Integration…``, ``PropertyConfiguration…``): model
names are global in the OpenAPI document.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from syncd.api.common import ListQuery, Meta
from syncd.api.records import NO_NUL
from syncd.domain import Environment, RunRecord
from syncd.services.integration_views import IntegrationView
from syncd.services.integrations import archived_at
from syncd.services.properties import PropertySetting

_STRICT = ConfigDict(extra="forbid")

#: Names are at most 200 characters (the integrations table's limit).
_NAME_LENGTH = 200
_SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"
#: Credentials are a flat object of strings: the vendor's connector checks the keys.
Credentials = dict[str, str]
MAX_CREDENTIAL = 4096

System = Literal["PRODUCTION", "SANDBOX"]


# -- models -------------------------------------------------------------------


class IntegrationRunCounts(BaseModel):
    """What a run did to the records of its model."""

    model_config = _STRICT

    fetched: int
    created: int
    updated: int
    unchanged: int
    deleted: int
    quarantined: int
    requests: int
    retries: int


class IntegrationRun(BaseModel):
    """A run of the job log: a whole sync, or one model of it."""

    model_config = _STRICT

    id: str
    model: str | None = Field(description="null for a whole sync")
    mode: str = Field(description="FULL or INCREMENTAL")
    trigger: str = Field(description="manual, schedule, …")
    status: str = Field(description="RUNNING, SUCCESS, FAILED, PARTIAL, NEEDS_ATTENTION, SKIPPED")
    started_at: datetime
    ended_at: datetime | None
    counts: IntegrationRunCounts
    error: str | None


class IntegrationOut(BaseModel):
    """An integration (its credentials reduced to their keys)."""

    model_config = _STRICT

    id: str
    name: str
    vendor: str = Field(description="the PMS, e.g. BUILDIUM")
    system: System = Field(description="the environment as the reference names it")
    environment: Environment = Field(description="sandbox integrations sync on request only")
    active: bool = Field(description="enabled: its schedules run (production only)")
    is_archived: bool
    archived_at: datetime | None
    base_url: str | None = Field(description="null: the vendor's default for the environment")
    new_properties_are_enabled: bool = Field(
        description="false: a property seen for the first time starts disabled"
    )
    credential_keys: list[str] = Field(description="the credentials' keys (never their values)")
    created_at: datetime | None
    updated_at: datetime | None
    last_run: IntegrationRun | None = Field(description="the last whole sync; null: never synced")


class IntegrationDetail(IntegrationOut):
    """An integration with the model runs of its last sync."""

    last_ran_jobs: list[IntegrationRun] = Field(
        description="each model's run in the last sync, in the order they ran"
    )


class IntegrationResult(BaseModel):
    """A created or changed integration."""

    model_config = _STRICT

    result: IntegrationOut


class IntegrationOne(BaseModel):
    """One integration."""

    model_config = _STRICT

    results: IntegrationDetail


class IntegrationList(BaseModel):
    """A page of integrations."""

    model_config = _STRICT

    meta: Meta
    results: list[IntegrationOut]


class IntegrationDeleted(BaseModel):
    """What deleting an integration removed."""

    model_config = _STRICT

    success: bool
    integration_id: str
    removed: dict[str, int] = Field(description="rows removed per table")


class IntegrationCreate(BaseModel):
    """A new integration; ``based_on_integration_id`` copies another one's configuration."""

    model_config = _STRICT

    integration_vendor: str = Field(min_length=1, max_length=32, pattern=NO_NUL)
    name: str = Field(min_length=1, max_length=_NAME_LENGTH, pattern=NO_NUL)
    environment: Environment | None = Field(
        default=None, description="default production, or the base's when cloning"
    )
    system: System | None = Field(default=None, description="the reference's name of environment")
    credentials: Credentials = Field(description="the vendor's credentials (GET /v1/pms)")
    base_url: str | None = Field(default=None, max_length=500)
    id: str | None = Field(default=None, pattern=_SLUG, description="default: from the name")
    new_properties_are_enabled: bool | None = Field(
        default=None, description="default true, or the base's setting when cloning"
    )
    based_on_integration_id: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    active: bool = Field(default=False, description="enable at once (default: disabled)")


class IntegrationUpdate(BaseModel):
    """Fields to change; absent ones stay as they are."""

    model_config = _STRICT

    name: str | None = Field(default=None, min_length=1, max_length=_NAME_LENGTH, pattern=NO_NUL)
    active: bool | None = None
    credentials: Credentials | None = Field(default=None, description="replaces every credential")
    base_url: str | None = Field(default=None, max_length=500, description="null: the default")
    new_properties_are_enabled: bool | None = None
    is_archived: bool | None = Field(
        default=None, description="true: disable and keep the data; false: unarchive"
    )


class IntegrationListQuery(ListQuery):
    """Paging, ordering and filters of the list of integrations."""

    integration_vendor: str | None = Field(default=None, max_length=32, pattern=NO_NUL)
    environment: Environment | None = None
    active: bool | None = None
    is_archived: bool = Field(
        default=False, description="true: include archived integrations (default: leave them out)"
    )


class PropertyConfiguration(BaseModel):
    """Whether one of the integration's properties syncs its data."""

    model_config = _STRICT

    id: uuid.UUID = Field(description="the configuration's id: its property's syncd id")
    created_at: datetime
    integration_id: str
    property_id: uuid.UUID = Field(description="the property's syncd id")
    x_property_id: str = Field(description="the property's id in the PMS")
    name: str | None
    enabled: bool


class PropertyConfigurationList(BaseModel):
    """A page of property configurations."""

    model_config = _STRICT

    meta: Meta
    results: list[PropertyConfiguration]


class PropertyConfigurationOne(BaseModel):
    """A changed property configuration."""

    model_config = _STRICT

    results: PropertyConfiguration


class PropertyConfigurationUpdate(BaseModel):
    """Enable or disable a property's data."""

    model_config = _STRICT

    enabled: bool


# -- conversions --------------------------------------------------------------


def run_out(run: RunRecord) -> IntegrationRun:
    c = run.counts
    return IntegrationRun(
        id=run.id,
        model=run.model,
        mode=run.mode,
        trigger=run.trigger,
        status=run.status.value,
        started_at=run.started_at,
        ended_at=run.ended_at,
        counts=IntegrationRunCounts(
            fetched=c.fetched,
            created=c.created,
            updated=c.updated,
            unchanged=c.unchanged,
            deleted=c.deleted,
            quarantined=c.quarantined,
            requests=c.requests,
            retries=c.retries,
        ),
        error=run.error,
    )


def integration_fields(view: IntegrationView) -> dict[str, object]:
    i = view.integration
    archived = archived_at(i)
    return {
        "id": i.id,
        "name": i.name,
        "vendor": i.vendor,
        "system": i.environment.value.upper(),
        "environment": i.environment,
        "active": i.enabled,
        "is_archived": archived is not None,
        "archived_at": archived,
        "base_url": i.base_url,
        "new_properties_are_enabled": i.options.get("new_properties_are_enabled", True)
        is not False,
        "credential_keys": sorted(i.credentials),
        "created_at": i.created_at,
        "updated_at": view.updated_at,
        "last_run": run_out(view.last_run) if view.last_run else None,
    }


def configuration_out(setting: PropertySetting) -> PropertyConfiguration:
    return PropertyConfiguration(
        id=setting.id,
        created_at=setting.created_at,
        integration_id=setting.integration_id,
        property_id=setting.id,
        x_property_id=setting.x_property_id,
        name=setting.name,
        enabled=setting.enabled,
    )
