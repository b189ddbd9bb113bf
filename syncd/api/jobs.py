"""The job log of the /v1 API: every sync run and model run, and one sync's tree.

``GET /v1/admin/logs/jobs/`` pages the job log with the reference's filters
(``status``, ``integration_id``, ``job_type``) and a time range;
``GET /v1/admin/logs/jobs/{job_id}`` gives the runs of the sync a run belongs
to. Records carry the reference's log-record fields and syncd's own (mode,
trigger, times, error, counts). A run is both the job and its one log entry,
so ``id`` and ``job_id`` are the same; the job type is the run's model, or
``sync`` for a root run (a whole sync of its integration).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from syncd.api.common import ListQuery, Meta, meta, parse_order_by
from syncd.api.errors import invalid, not_found
from syncd.api.records import NO_NUL
from syncd.api.routing import Call, Route, Scope
from syncd.domain import RunRecord, RunStatus
from syncd.errors import ConfigError
from syncd.models import MODELS
from syncd.services.runs import (
    JOB_ORDER_FIELDS,
    STATUS_NAMES,
    SYNC_JOB,
    TIME_RANGES,
    JobQuery,
    job_log_page,
    job_tree_page,
    job_type,
    run_status,
)

#: Job types: ``sync`` (a root run) or a model.
JOB_TYPES: tuple[str, ...] = (SYNC_JOB, *MODELS)
#: A run id is a UUID; anything else names no run (and never reaches the database).
_RUN_ID = re.compile(r"^[0-9A-Za-z-]{1,36}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

#: A status filter: syncd's status names and the reference's.
StatusName = Annotated[str, Field(pattern="^(" + "|".join(STATUS_NAMES) + ")$")]


def as_utc(value: datetime) -> datetime:
    """A time in UTC; one without a zone is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


def _iso(value: Any) -> Any:
    """Only ISO 8601 text is a time here (pydantic alone would take numbers as Unix times)."""
    if not isinstance(value, datetime) and not (isinstance(value, str) and _ISO_DATE.match(value)):
        raise ValueError("expected an ISO 8601 time, e.g. 2024-05-01T12:00:00Z")
    return value


#: An ISO 8601 time; one without a zone is UTC.
IsoTime = Annotated[datetime, BeforeValidator(_iso), AfterValidator(as_utc)]


class JobLogQuery(ListQuery):
    """Filters of the job log, with paging and ordering."""

    status: list[StatusName] | None = Field(
        default=None,
        description=(
            "only runs of these statuses (repeat or comma-separate); FAILURE is FAILED, "
            "as the reference names it"
        ),
    )
    integration_id: str | None = Field(
        default=None, max_length=64, pattern=NO_NUL, description="only runs of this integration"
    )
    job_type: str | None = Field(
        default=None,
        pattern="^(" + "|".join(JOB_TYPES) + ")$",
        description="only runs of this model, or `sync` for root runs (whole syncs)",
    )
    after: IsoTime | None = Field(
        default=None,
        description="only runs started at or after this time (ISO 8601; UTC if no zone)",
    )
    before: IsoTime | None = Field(
        default=None, description="only runs started before this time (ISO 8601; UTC if no zone)"
    )
    time_range: str | None = Field(
        default=None,
        pattern="^(" + "|".join(TIME_RANGES) + ")$",
        description="only runs started within the last hour, day, week or month (30 days)",
    )


class JobTreeQuery(ListQuery):
    """Paging of one sync's runs, and whether to include them all."""

    include_all_jobs: bool = Field(
        default=True,
        description=(
            "true: every run of the sync the job belongs to (its root and model runs); "
            "false: only the job itself"
        ),
    )


class JobCounts(BaseModel):
    """What a run did (a root run: the sum over its model runs)."""

    model_config = ConfigDict(extra="forbid")

    fetched: int = Field(description="records read from the PMS")
    created: int
    updated: int
    unchanged: int
    deleted: int = Field(description="records found gone from the PMS")
    quarantined: int = Field(description="records that could not be normalized")
    processed: int = Field(description="records processed (every record fetched)")
    requests: int = Field(description="HTTP requests made to the PMS")
    retries: int


class JobLogRecord(BaseModel):
    """One run of the job log."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="the run id")
    job_id: str = Field(description="the run id (a run is its own single log entry)")
    created_at: datetime = Field(description="when the run started")
    job_type: str = Field(description="the model synced, or `sync` for a root run")
    status: RunStatus
    parent_job_id: str | None = Field(description="the run that started this one")
    root_job_id: str = Field(description="the root run of the sync (a root run's own id)")
    job_schedule_id: str | None = Field(
        description="always null: see `trigger` and `scheduled_for` for scheduled runs"
    )
    integration_id: str
    associated_property_id: str | None = Field(description="always null: runs span properties")
    integration_vendor: str
    model: str | None = Field(description="null for a root run")
    mode: str = Field(description="incremental or full")
    trigger: str = Field(description="what started it, e.g. schedule or manual")
    started_at: datetime
    ended_at: datetime | None = Field(description="null while running")
    scheduled_for: datetime | None = Field(description="the schedule fire time it answered")
    error: str | None
    counts: JobCounts


class JobLogList(BaseModel):
    """A page of the job log."""

    model_config = ConfigDict(extra="forbid")

    meta: Meta
    results: list[JobLogRecord]


class JobTree(BaseModel):
    """A page of the runs of one sync."""

    model_config = ConfigDict(extra="forbid")

    meta: Meta
    root_job_id: str = Field(description="the root run of the sync the job belongs to")
    results: list[JobLogRecord]


def _record(run: RunRecord) -> JobLogRecord:
    c = run.counts
    return JobLogRecord(
        id=run.id,
        job_id=run.id,
        created_at=run.started_at,
        job_type=job_type(run),
        status=run.status,
        parent_job_id=run.parent_run_id,
        root_job_id=run.root_run_id or run.id,
        job_schedule_id=None,
        integration_id=run.integration_id,
        associated_property_id=None,
        integration_vendor=run.vendor,
        model=run.model,
        mode=run.mode,
        trigger=run.trigger,
        started_at=run.started_at,
        ended_at=run.ended_at,
        scheduled_for=run.scheduled_for,
        error=run.error,
        counts=JobCounts(
            fetched=c.fetched,
            created=c.created,
            updated=c.updated,
            unchanged=c.unchanged,
            deleted=c.deleted,
            quarantined=c.quarantined,
            processed=c.processed,
            requests=c.requests,
            retries=c.retries,
        ),
    )


def _query_error(exc: ConfigError) -> Exception:
    """A service's complaint about a query parameter, as a 400 naming it."""
    name = exc.field or "query"
    return invalid("query", name, str(exc).removeprefix(f"{name}: "), "invalid")


async def _list_job_logs(call: Call) -> JobLogList:
    q: JobLogQuery = call.query
    ordering = parse_order_by(q.order_by, JOB_ORDER_FIELDS, default=(("created_at", True),))
    query = JobQuery(
        integration_id=q.integration_id,
        statuses=tuple(dict.fromkeys(run_status(s) for s in q.status or ())),
        job_type=q.job_type,
        started_after=q.after,
        started_before=q.before,
        time_range=q.time_range,
        order=ordering.terms,
        offset=q.offset,
        limit=q.limit,
    )
    try:
        page = await job_log_page(call.ctx.store, query)
    except ConfigError as exc:
        raise _query_error(exc) from None
    return JobLogList(meta=meta(q, ordering, page.total), results=[_record(r) for r in page.runs])


async def _get_job_logs(call: Call) -> JobTree:
    q: JobTreeQuery = call.query
    run_id = call.path["job_id"]
    ordering = parse_order_by(q.order_by, JOB_ORDER_FIELDS, default=(("started_at", False),))
    tree = None
    if _RUN_ID.match(run_id):
        try:
            tree = await job_tree_page(
                call.ctx.store,
                run_id,
                include_all=q.include_all_jobs,
                order=ordering.terms,
                offset=q.offset,
                limit=q.limit,
            )
        except ConfigError as exc:
            raise _query_error(exc) from None
    if tree is None:
        raise not_found(f"job {run_id!r}")
    return JobTree(
        meta=meta(q, ordering, tree.total),
        root_job_id=tree.root_run_id,
        results=[_record(r) for r in tree.runs],
    )


ROUTES: list[Route] = [
    Route(
        "GET",
        "/v1/admin/logs/jobs/",
        _list_job_logs,
        summary="List job logs",
        tag="jobs",
        scope=Scope.ADMIN,
        query=JobLogQuery,
        response=JobLogList,
        aliases=("/v1/admin/logs/jobs",),
        operation_id="list_job_logs",
        description=(
            "Every sync run (job type `sync`) and model run, newest first unless `order-by` "
            "says otherwise (fields: " + ", ".join(JOB_ORDER_FIELDS) + "; `created_at` is "
            "`started_at`). Filters combine: `after`/`before` and `time_range` together "
            "narrow to both."
        ),
    ),
    Route(
        "GET",
        "/v1/admin/logs/jobs/{job_id}",
        _get_job_logs,
        summary="Get the job logs of one sync",
        tag="jobs",
        scope=Scope.ADMIN,
        query=JobTreeQuery,
        response=JobTree,
        errors=(404,),
        aliases=("/v1/admin/logs/jobs/{job_id}/",),
        operation_id="get_job_logs",
        description=(
            "The runs of the sync a job (a root or a model run, by its full id) belongs to: "
            "the root run first, then its model runs in the order they started, each with its "
            "counts and error. With `include_all_jobs=false`, only the job itself."
        ),
    ),
]
