"""Schedules, configuration and on-demand syncs of an integration in the /v1 API.

- ``GET .../job-schedules`` (and ``.../job-schedules/{job}``): each scheduled
  job (``incremental``, ``full``) in the reference's shape, with syncd's own
  trigger (interval, cron or weekly slots) beside ``sync_frequency`` and
  ``sync_cadence`` (set only for plain intervals);
- ``PUT .../job-schedules/{job}``: a new trigger and/or pause (INACTIVE) and
  resume (ACTIVE);
- ``GET``/``PUT .../config``: the whole per-integration configuration, changed
  by a partial document of the same keys as ``syncd integrations config --set``;
- ``POST .../manual-sync`` and ``.../back-sync``: queue a sync the daemon runs.

Every rule lives in :mod:`syncd.services.syncs` and :mod:`syncd.services.schedules`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from syncd.api.common import ListQuery, Meta, meta, parse_order_by
from syncd.api.errors import not_found
from syncd.api.routing import Answer, Call, Route
from syncd.jobs import SCHEDULED_JOBS
from syncd.services.integrations import IntegrationConfig
from syncd.services.schedules import JobSchedule, job_schedules
from syncd.services.syncs import (
    KEEP,
    integration_config,
    request_sync,
    set_job_schedule,
    update_integration_config,
)

_TAG = "integrations"
_BASE = "/v1/admin/integrations/{integration_id}"
Cadence = Literal["SECOND", "MINUTE", "HOUR", "DAY", "WEEK", "MONTH"]


class JobScheduleOut(BaseModel):
    """One scheduled job of an integration."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="the job: incremental or full (unique within the integration)")
    integration_id: str
    created_at: datetime = Field(description="when the integration was created")
    updated_at: datetime = Field(description="the schedule's last run, else its creation")
    job_type: str = Field(description="incremental (date-filtered) or full")
    status: Literal["ACTIVE", "INACTIVE"] = Field(description="INACTIVE: it does not fire")
    inactive_reason: str | None = Field(
        description="why it does not fire: paused, unscheduled, integration disabled, sandbox"
    )
    last_run: datetime | None
    next_run_at: datetime | None = Field(description="the next fire time (null when inactive)")
    running: bool = Field(description="a run of this job is going on")
    sync_frequency: int | None = Field(description="set when the trigger is a plain interval")
    sync_cadence: Cadence | None
    trigger: dict[str, Any] | None = Field(
        description="syncd's trigger: interval, cron or weekly slots (null: unscheduled)"
    )
    trigger_source: str = Field(description="integration, or the vendor's job definitions")
    parameters: dict[str, Any] = Field(description="always empty (kept for the reference)")


class JobScheduleList(BaseModel):
    """A page of an integration's job schedules."""

    model_config = ConfigDict(extra="forbid")

    meta: Meta
    results: list[JobScheduleOut]


class JobSchedulePut(BaseModel):
    """A change to one job schedule: a trigger (or a frequency), a status, or both."""

    model_config = ConfigDict(extra="forbid")

    trigger: dict[str, Any] | None = Field(
        default=None,
        description=(
            "`{type: interval, seconds}`, `{type: cron, expression, timezone}` or "
            "`{type: weekly, timezone, slots: [{days, start, end, every_seconds}]}`; "
            "null unschedules the job"
        ),
    )
    sync_frequency: int | None = Field(
        default=None, ge=1, le=1_000_000, description="with sync_cadence: an interval trigger"
    )
    sync_cadence: Cadence | None = None
    status: Literal["ACTIVE", "INACTIVE"] | None = Field(
        default=None, description="ACTIVE resumes the schedule, INACTIVE pauses it"
    )


class ConfigSetting(BaseModel):
    """One effective setting."""

    model_config = ConfigDict(extra="forbid")

    value: Any
    source: str = Field(description="integration, jobs/<vendor>.yaml or default")


class ConfigOut(BaseModel):
    """An integration's effective configuration, by dotted key."""

    model_config = ConfigDict(extra="forbid")

    integration_id: str
    changed: bool = Field(description="the request changed the stored configuration")
    settings: dict[str, ConfigSetting]


class ConfigPut(BaseModel):
    """Settings to change; the keys of `syncd integrations config --set`, dotted or nested."""

    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any] = Field(
        max_length=1000,
        description=(
            'e.g. `{"date_filters.leases.window_days": 90, "jobs": {"leads": {"enabled": '
            'false}}, "schedules.full": null}`'
        ),
    )


class SyncIn(BaseModel):
    """Which models to sync (default: every enabled model)."""

    model_config = ConfigDict(extra="forbid")

    models_to_sync: list[str] | None = Field(
        default=None, max_length=200, description="models to sync, e.g. leases, residents"
    )


class SyncResult(BaseModel):
    """Whether the request was taken."""

    model_config = ConfigDict(extra="forbid")

    success: bool


class SyncQueued(BaseModel):
    """A sync recorded for the daemon's scheduler to run."""

    model_config = ConfigDict(extra="forbid")

    result: SyncResult
    integration_id: str
    trigger: Literal["manual", "backsync"] = Field(
        description="the trigger its run has in the job log"
    )
    models_to_sync: list[str] | None = Field(description="null: every enabled model")
    requested_at: datetime


def _schedule_out(s: JobSchedule) -> JobScheduleOut:
    frequency = s.frequency
    cadence: Any = frequency[1] if frequency else None
    return JobScheduleOut(
        id=s.job,
        integration_id=s.integration_id,
        created_at=s.created_at,
        updated_at=s.updated_at,
        job_type=s.job,
        status="ACTIVE" if s.active else "INACTIVE",
        inactive_reason=s.inactive_reason,
        last_run=s.last_run_at,
        next_run_at=s.next_run_at,
        running=s.running,
        sync_frequency=frequency[0] if frequency else None,
        sync_cadence=cadence,
        trigger=dict(s.trigger) if s.trigger is not None else None,
        trigger_source=s.source,
        parameters={},
    )


def _config_out(config: IntegrationConfig) -> ConfigOut:
    return ConfigOut(
        integration_id=config.integration_id,
        changed=config.changed,
        settings={r.key: ConfigSetting(value=r.value, source=r.source) for r in config.settings},
    )


def _ref(call: Call) -> str:
    """The integration id (or name) of the path; one no integration can have is a 404."""
    ref = call.path["integration_id"]
    if "\x00" in ref or len(ref) > 200:
        raise not_found(f"integration {ref[:64]!r}")
    return ref


def _job(call: Call) -> str:
    job = call.path["job"]
    if job not in SCHEDULED_JOBS:
        raise not_found(f"job schedule {job!r} (jobs: {', '.join(SCHEDULED_JOBS)})")
    return job


_ORDERABLE = ("id", "job_type", "status", "created_at", "updated_at", "last_run", "next_run_at")


async def _list_job_schedules(call: Call) -> JobScheduleList:
    q: ListQuery = call.query
    ordering = parse_order_by(q.order_by, _ORDERABLE, default=(("id", False),))
    rows = [
        _schedule_out(s) for s in await job_schedules(call.ctx.store, call.ctx.settings, _ref(call))
    ]
    # Two rows at most: ordered here, last term first (a stable sort per term).
    for name, descending in reversed(ordering.terms):
        present = [r for r in rows if getattr(r, name) is not None]
        missing = [r for r in rows if getattr(r, name) is None]
        present.sort(key=lambda r: getattr(r, name), reverse=descending)
        rows = present + missing
    page = rows[q.offset : q.offset + q.limit]
    return JobScheduleList(meta=meta(q, ordering, len(rows)), results=page)


async def _get_job_schedule(call: Call) -> JobScheduleOut:
    job = _job(call)
    (found,) = await job_schedules(call.ctx.store, call.ctx.settings, _ref(call), job=job)
    return _schedule_out(found)


async def _update_job_schedule(call: Call) -> JobScheduleOut:
    job = _job(call)
    body: JobSchedulePut = call.body
    given = body.model_fields_set
    frequency = None
    if "sync_frequency" in given or "sync_cadence" in given:
        frequency = (body.sync_frequency or 0, body.sync_cadence or "")
    updated = await set_job_schedule(
        call.ctx.store,
        call.ctx.settings,
        _ref(call),
        job,
        trigger=body.trigger if "trigger" in given else KEEP,
        frequency=frequency,
        active=None if body.status is None else body.status == "ACTIVE",
    )
    return _schedule_out(updated)


async def _get_config(call: Call) -> ConfigOut:
    config = await integration_config(call.ctx.store, call.ctx.settings, _ref(call))
    return _config_out(config)


async def _update_config(call: Call) -> ConfigOut:
    body: ConfigPut = call.body
    config = await update_integration_config(
        call.ctx.store, call.ctx.settings, _ref(call), body.settings
    )
    return _config_out(config)


async def _queue(call: Call, *, back_sync: bool) -> Answer:
    body: SyncIn = call.body
    queued = await request_sync(
        call.ctx.store,
        call.ctx.settings,
        _ref(call),
        back_sync=back_sync,
        models=body.models_to_sync,
    )
    request = queued.request
    return Answer(
        SyncQueued(
            result=SyncResult(success=True),
            integration_id=queued.integration_id,
            trigger="backsync" if request.back_sync else "manual",
            models_to_sync=list(request.models) if request.models else None,
            requested_at=request.requested_at,
        ),
        status=202,
    )


async def _manual_sync(call: Call) -> Answer:
    return await _queue(call, back_sync=False)


async def _back_sync(call: Call) -> Answer:
    return await _queue(call, back_sync=True)


ROUTES: list[Route] = [
    Route(
        "GET",
        f"{_BASE}/job-schedules",
        _list_job_schedules,
        summary="List an integration's job schedules",
        tag=_TAG,
        query=ListQuery,
        response=JobScheduleList,
        errors=(404,),
        aliases=(f"{_BASE}/job-schedules/",),
        operation_id="list_job_schedules",
        description=(
            "One entry per scheduled job (incremental, full), also when it does not fire "
            "(status INACTIVE with `inactive_reason`). `trigger` is syncd's own schedule; "
            "`sync_frequency`/`sync_cadence` describe it when it is a plain interval."
        ),
    ),
    Route(
        "GET",
        f"{_BASE}/job-schedules/{{job}}",
        _get_job_schedule,
        summary="Get one job schedule",
        tag=_TAG,
        response=JobScheduleOut,
        errors=(404,),
        aliases=(f"{_BASE}/job-schedules/{{job}}/",),
        operation_id="get_job_schedule",
    ),
    Route(
        "PUT",
        f"{_BASE}/job-schedules/{{job}}",
        _update_job_schedule,
        summary="Change, pause or resume a job schedule",
        tag=_TAG,
        body=JobSchedulePut,
        response=JobScheduleOut,
        errors=(404, 409),
        operation_id="update_job_schedule",
        description=(
            "A new `trigger` (or `sync_frequency` with `sync_cadence`) is validated like "
            "`syncd integrations config`, stored in the integration's configuration, and "
            "the next fire time follows at once. `status` INACTIVE pauses the schedule, "
            "ACTIVE resumes it (409 when the job has no schedule to pause: the integration "
            "is disabled or sandbox, or the job is unscheduled)."
        ),
    ),
    Route(
        "GET",
        f"{_BASE}/config",
        _get_config,
        summary="Get an integration's configuration",
        tag=_TAG,
        response=ConfigOut,
        errors=(404,),
        operation_id="get_integration_config",
        description=(
            "Every setting (schedules, date_filters, jobs, enum_maps, rate_limit_per_second, "
            "page_size, concurrency, sweep_max_share, emit_initial_events, properties, "
            "connector) with its effective value and where it comes from."
        ),
    ),
    Route(
        "PUT",
        f"{_BASE}/config",
        _update_config,
        summary="Change an integration's configuration",
        tag=_TAG,
        body=ConfigPut,
        response=ConfigOut,
        errors=(404,),
        operation_id="update_integration_config",
        description=(
            "A partial document: only the settings given change. Keys are those of "
            "`syncd integrations config --set`, dotted or nested. Every value is validated "
            "before anything is stored (400 naming `settings.<key>`). Runs that start "
            "after the change use it; schedules follow at once."
        ),
    ),
    Route(
        "POST",
        f"{_BASE}/manual-sync",
        _manual_sync,
        summary="Queue a manual sync",
        tag=_TAG,
        body=SyncIn,
        response=SyncQueued,
        status=202,
        errors=(404, 409),
        operation_id="manual_sync",
        description=(
            "Records a sync the daemon's scheduler runs as soon as the integration is "
            "free (trigger `manual` in the job log). 409 while another manual sync or "
            "back-sync of the integration is pending or running, or when the integration "
            "is disabled (enable it first). Sandbox integrations sync this way only."
        ),
    ),
    Route(
        "POST",
        f"{_BASE}/back-sync",
        _back_sync,
        summary="Queue a back-sync",
        tag=_TAG,
        body=SyncIn,
        response=SyncQueued,
        status=202,
        errors=(404, 409),
        operation_id="back_sync",
        description=(
            "A full run of every model (or `models_to_sync`) with every date filter "
            "widened to all history, once. No data events are written unless the "
            "integration sets `emit_initial_events`. While it runs no other job of the "
            "integration starts: scheduled runs wait and run after it."
        ),
    ),
]
