"""Writes in the /v1 API: create and update records in the PMS, and follow the jobs.

- ``POST /v1/{model}/`` (by ``integration_id``) and ``PUT /v1/{model}/{id}``:
  the generic endpoints, which find the integration and its PMS themselves;
- ``POST /v1/{model}/{vendor}/`` and ``PUT /v1/{model}/{vendor}/{id}``: the
  per-PMS endpoints (e.g. ``/v1/leads/resman/``), which refuse another PMS's
  integration and document exactly the fields that PMS accepts;
- ``GET /v1/admin/write-status/{job_id}``, ``POST
  /v1/admin/retry-write/{job_id}``, ``GET /v1/admin/logs/writes``;
- ``GET /v1/admin/write-fields``: which fields each PMS accepts per model and
  operation (published here, in ``syncd pms show`` and in docs/pms.md).

Every write answers at once with ``{"meta": {"job_id"}, "result": {...}}``
after the job is stored; the PMS's verdict comes by polling write-status or
by the WRITE_OPERATION_* webhooks. Rules live in :mod:`syncd.writes.service`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, create_model

from syncd.api.common import Meta, OrderBy, record_id_pattern
from syncd.api.errors import not_found
from syncd.api.routing import Call, Route, Scope
from syncd.connectors.registry import get_connector_class, known_vendors
from syncd.domain import Capability
from syncd.store.reads import SqlRecordReader
from syncd.store.writes import SqlWriteJobs
from syncd.writes.fields import WRITE_FIELDS, FieldKind, WriteField
from syncd.writes.service import (
    WriteAsk,
    WriteState,
    get_write,
    list_writes,
    retry_write,
    submit_write,
    vendor_slug,
)

_TAG = "writes"
_PATHS = {"leads": "leads", "residents": "residents"}
_SINGULAR = {"leads": "Lead", "residents": "Resident"}
TimeRange = Literal["hour", "day", "week", "month"]
_RANGES = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
    "month": timedelta(days=30),
}


class WriteQuery(BaseModel):
    """Query parameters of a write."""

    model_config = ConfigDict(extra="forbid")

    ignore_unknown_fields: bool = Field(
        default=False,
        description="leave out fields the target PMS does not accept (and say which) "
        "instead of refusing the request",
    )


class WriteMeta(BaseModel):
    """``meta`` of a write's answer."""

    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(description="the write job: follow it at /v1/admin/write-status/{job_id}")
    stripped_fields: list[str] = Field(
        description="fields left out because of ignore_unknown_fields=true"
    )
    replayed: bool = Field(
        description="true: an earlier request with the same Idempotency-Key made this job"
    )


class WriteAccepted(BaseModel):
    """A write stored as a job: the PMS has not answered yet."""

    model_config = ConfigDict(extra="forbid")

    meta: WriteMeta
    result: dict[str, Any] = Field(
        description="the full payload as it will be written: every field, null where not given"
    )


class WriteStatusOut(BaseModel):
    """Where a write stands."""

    model_config = ConfigDict(extra="forbid")

    write_status: Literal["PENDING", "SUCCESS", "PARTIAL_SUCCESS", "FAILURE"]
    errors: list[str] = Field(description="the PMS's own messages (empty until finished)")
    created_record_id: str | None = Field(
        description="syncd id of the record a create made, readable at once at /v1/{model}/{id}"
    )


class RetryOut(BaseModel):
    """A failed write queued again."""

    model_config = ConfigDict(extra="forbid")

    success: bool
    job_id: str = Field(description="the new write job")


class WriteLogQuery(BaseModel):
    """Filters of the write log."""

    model_config = ConfigDict(extra="forbid")

    offset: int = Field(default=0, ge=0, le=2**31 - 1)
    limit: int = Field(default=100, ge=1, le=100)
    time_range: TimeRange | None = Field(default=None, description="only writes this recent")
    integration_id: str | None = Field(default=None, max_length=64)
    status: Literal["PENDING", "SUCCESS", "PARTIAL_SUCCESS", "FAILURE"] | None = None
    write_category: Literal["leads", "residents"] | None = Field(
        default=None, description="the model written"
    )


class WriteLogEntry(BaseModel):
    """One write job in the log."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    integration_id: str
    vendor: str
    write_category: str = Field(description="the model written")
    operation: Literal["create", "update"]
    write_status: Literal["PENDING", "SUCCESS", "PARTIAL_SUCCESS", "FAILURE"]
    errors: list[str]
    attempts: int
    record_id: str | None = Field(description="the record an update changes")
    created_record_id: str | None
    stripped_fields: list[str]
    retry_of: str | None = Field(description="the failed job this one retries")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class WriteLog(BaseModel):
    """A page of the write log, newest first."""

    model_config = ConfigDict(extra="forbid")

    meta: Meta
    results: list[WriteLogEntry]


class FieldOut(BaseModel):
    """One field a PMS accepts."""

    model_config = ConfigDict(extra="forbid")

    name: str
    type: str
    required: bool
    description: str


class WriteFieldsOut(BaseModel):
    """What one PMS accepts for one model and operation."""

    model_config = ConfigDict(extra="forbid")

    vendor: str
    model: str
    operation: Literal["create", "update"]
    path: str = Field(description="the per-PMS endpoint")
    fields: list[FieldOut]
    limits: dict[str, str] = Field(description="what the PMS cannot do, and how syncd copes")


class WriteFieldsList(BaseModel):
    """Every PMS's write fields."""

    model_config = ConfigDict(extra="forbid")

    results: list[WriteFieldsOut]


_JSON_TYPES: dict[FieldKind, str] = {
    FieldKind.STRING: "string",
    FieldKind.INTEGER: "integer",
    FieldKind.NUMBER: "number",
    FieldKind.DATE: "string",
    FieldKind.ENUM: "string",
    FieldKind.REFERENCE: "string",
}


def _field_schema(spec: WriteField, required: bool) -> dict[str, Any]:
    """The field's JSON schema; null (where not required) means "not given"."""
    kind = _JSON_TYPES[spec.kind]
    schema: dict[str, Any] = {"type": kind if required else [kind, "null"]}
    if spec.kind is FieldKind.DATE:
        schema["format"] = "date"
    elif spec.kind is FieldKind.REFERENCE:
        schema["format"] = "uuid"
    if spec.choices:
        schema["enum"] = list(spec.choices) if required else [*spec.choices, None]
    if spec.minimum is not None:
        schema["minimum"] = spec.minimum
    if spec.max_length is not None:
        schema["maxLength"] = spec.max_length
        schema["minLength"] = 1
    if spec.default is not None:
        schema["default"] = spec.default
    return schema


def _body_model(
    name: str, model: str, fields: frozenset[str], required: frozenset[str], create: bool
) -> type[BaseModel]:
    """A body model documenting ``fields``; its checks are the service's, not pydantic's.

    The service names every bad field of a request in one answer (and strips
    fields with ignore_unknown_fields), so the model takes any JSON value and
    only describes what the target PMS accepts.
    """
    specs: dict[str, Any] = {}
    if create:
        specs["integration_id"] = (
            Any,
            Field(
                default=None,
                description="the integration to write to",
                json_schema_extra={"type": "string", "minLength": 1, "maxLength": 64},
            ),
        )
    for n, spec in WRITE_FIELDS[model].items():
        if n in fields:
            description = spec.description
            if spec.kind is FieldKind.REFERENCE:
                description += f" (syncd id of one of the integration's {spec.model})"
            specs[n] = (
                Any,
                Field(
                    default=None,
                    description=description,
                    json_schema_extra=_field_schema(spec, n in required),
                ),
            )
    needed: list[JsonValue] = [*sorted(required | ({"integration_id"} if create else set()))]
    config = ConfigDict(extra="allow", json_schema_extra={"required": needed} if needed else None)
    made: type[BaseModel] = create_model(name, __config__=config, **specs)
    return made


def _jobs(call: Call) -> SqlWriteJobs:
    return SqlWriteJobs(call.ctx.store.engine)


def _ask(call: Call, model: str, operation: Capability, vendor: str | None) -> WriteAsk:
    body: BaseModel = call.body
    raw = {**body.model_dump(exclude_unset=True), **(body.model_extra or {})}
    return WriteAsk(
        model=model,
        operation=operation,
        body=raw,
        vendor=vendor,
        record_id=call.path.get("id"),
        ignore_unknown=call.query.ignore_unknown_fields,
        idempotency_key=call.request.headers.get("Idempotency-Key"),
    )


def _write_handler(model: str, operation: Capability, vendor: str | None) -> Any:
    async def handle(call: Call) -> WriteAccepted:
        done = await submit_write(
            call.ctx.store,
            SqlRecordReader(call.ctx.store.engine),
            _jobs(call),
            _ask(call, model, operation, vendor),
        )
        if call.ctx.writes_queued is not None and not done.replayed:
            call.ctx.writes_queued()
        return WriteAccepted(
            meta=WriteMeta(
                job_id=done.job.id,
                stripped_fields=list(done.job.stripped_fields),
                replayed=done.replayed,
            ),
            result=done.result,
        )

    verb = "create" if operation is Capability.CREATE else "update"
    handle.__name__ = f"{verb}_{model}" + (f"_{vendor}" if vendor else "")
    return handle


def _status_out(state: WriteState) -> WriteStatusOut:
    return WriteStatusOut(
        write_status=state.write_status,
        errors=list(state.errors),
        created_record_id=state.created_record_id,
    )


async def _write_status(call: Call) -> WriteStatusOut:
    return _status_out(await get_write(_jobs(call), _job_id(call)))


async def _retry_write(call: Call) -> RetryOut:
    job = await retry_write(_jobs(call), _job_id(call))
    if call.ctx.writes_queued is not None:
        call.ctx.writes_queued()
    return RetryOut(success=True, job_id=job.id)


def _job_id(call: Call) -> str:
    job_id = call.path["job_id"]
    if len(job_id) > 64 or "\x00" in job_id:
        raise not_found(f"write job {job_id[:64]!r}")
    return job_id


async def _write_log(call: Call) -> WriteLog:
    q: WriteLogQuery = call.query
    since = None if q.time_range is None else datetime.now(UTC) - _RANGES[q.time_range]
    states, total = await list_writes(
        _jobs(call),
        integration_id=q.integration_id,
        statuses=() if q.status is None else (q.status,),
        model=q.write_category,
        since=since,
        offset=q.offset,
        limit=q.limit,
    )
    page = states
    results = [
        WriteLogEntry(
            job_id=s.job.id,
            integration_id=s.job.integration_id,
            vendor=s.job.vendor,
            write_category=s.job.model,
            operation=s.job.operation,
            write_status=s.write_status,
            errors=list(s.job.errors),
            attempts=s.job.attempts,
            record_id=None if s.job.record_id is None else str(s.job.record_id),
            created_record_id=s.created_record_id,
            stripped_fields=list(s.job.stripped_fields),
            retry_of=s.job.retry_of,
            created_at=s.job.created_at,
            updated_at=s.job.updated_at,
            finished_at=s.job.finished_at,
        )
        for s in page
    ]
    meta = Meta(
        offset=q.offset,
        limit=q.limit,
        order_by=[OrderBy(field="created_at", direction="desc")],
        has_more=q.offset + len(page) < total,
        total=total,
    )
    return WriteLog(meta=meta, results=results)


def write_fields() -> list[WriteFieldsOut]:
    """What every PMS accepts per model and operation (the admin endpoint's answer)."""
    out = []
    for vendor in known_vendors():
        cls = get_connector_class(vendor)
        caps = cls.capabilities()
        for model in WRITE_FIELDS:
            for op in (Capability.CREATE, Capability.UPDATE):
                if op not in caps.get(model, frozenset()):
                    continue
                accepted = cls.writable_fields(model, op)
                required = cls.required_write_fields(model, op)
                slug = vendor_slug(vendor)
                path = f"/v1/{_PATHS[model]}/{slug}/" + ("{id}" if op is Capability.UPDATE else "")
                out.append(
                    WriteFieldsOut(
                        vendor=vendor,
                        model=model,
                        operation=op.value,
                        path=path,
                        fields=[
                            FieldOut(
                                name=s.name,
                                type=s.kind.value,
                                required=s.name in required,
                                description=s.description,
                            )
                            for s in WRITE_FIELDS[model].values()
                            if s.name in accepted
                        ],
                        limits=dict(cls.write_limits(model, op)),
                    )
                )
    return out


async def _write_fields(call: Call) -> WriteFieldsList:
    return WriteFieldsList(results=write_fields())


def _write_route(
    model: str,
    op: Capability,
    vendor: str | None,
    fields: frozenset[str],
    required: frozenset[str],
    where: str,
    description: str,
) -> Route:
    """The POST (create) or PUT (update) route of ``model``: per PMS, or generic (no vendor)."""
    create = op is Capability.CREATE
    verb = "Create" if create else "Update"
    singular = _SINGULAR[model]
    suffix = vendor.capitalize() if vendor else ""
    base = f"/v1/{_PATHS[model]}/" + (f"{vendor}/" if vendor else "")
    return Route(
        "POST" if create else "PUT",
        base if create else base + "{id}",
        _write_handler(model, op, vendor),
        summary=f"{verb} a {singular.lower()} in {where}",
        tag=_TAG,
        query=WriteQuery,
        body=_body_model(f"{singular}{verb}{suffix}", model, fields, required, create),
        response=WriteAccepted,
        errors=(409,) if create else (404, 409),
        aliases=(base.rstrip("/"),) if create else (base + "{id}/",),
        operation_id=f"{verb.lower()}_{model}" + (f"_{vendor}" if vendor else ""),
        # Only the generic update's {id} could be mistaken for a vendor's path.
        patterns={} if create or vendor else {"id": record_id_pattern()},
        description=description,
    )


def _routes() -> list[Route]:
    routes: list[Route] = []
    for model in WRITE_FIELDS:
        every: dict[Capability, set[str]] = {}
        for vendor in known_vendors():
            cls = get_connector_class(vendor)
            caps = cls.capabilities().get(model, frozenset())
            pms = cls.display_name or vendor
            for op in (Capability.CREATE, Capability.UPDATE):
                if op not in caps:
                    continue
                fields = cls.writable_fields(model, op)
                every.setdefault(op, set()).update(fields)
                required = (
                    cls.required_write_fields(model, op) if op is Capability.CREATE else frozenset()
                )
                routes.append(
                    _write_route(
                        model,
                        op,
                        vendor_slug(vendor),
                        fields,
                        required,
                        pms,
                        f"Queues a write to {pms}; answers at once with the job id. "
                        "Fields the PMS does not accept are refused by name unless "
                        "`ignore_unknown_fields=true`.",
                    )
                )
        # The generic endpoints exist where at least one PMS can write.
        for op, fields_of_any in every.items():
            routes.append(
                _write_route(
                    model,
                    op,
                    None,
                    frozenset(fields_of_any),
                    frozenset(),
                    "its PMS",
                    "Finds the integration (by `integration_id`, or from the record) and "
                    "its PMS, and validates against that PMS's rules.",
                )
            )
    routes += [
        Route(
            "GET",
            "/v1/admin/write-status/{job_id}",
            _write_status,
            summary="Check the status of a write",
            tag=_TAG,
            response=WriteStatusOut,
            errors=(404,),
            aliases=("/v1/admin/write-status/{job_id}/",),
            operation_id="get_write_status",
        ),
        Route(
            "POST",
            "/v1/admin/retry-write/{job_id}",
            _retry_write,
            summary="Retry a failed write",
            tag=_TAG,
            response=RetryOut,
            errors=(404, 409),
            aliases=("/v1/admin/retry-write/{job_id}/",),
            operation_id="retry_write",
        ),
        Route(
            "GET",
            "/v1/admin/logs/writes",
            _write_log,
            summary="The write log",
            tag=_TAG,
            query=WriteLogQuery,
            response=WriteLog,
            aliases=("/v1/admin/logs/writes/",),
            operation_id="list_write_logs",
        ),
        Route(
            "GET",
            "/v1/admin/write-fields",
            _write_fields,
            summary="Which fields each PMS accepts per model and operation",
            tag=_TAG,
            response=WriteFieldsList,
            aliases=("/v1/admin/write-fields/",),
            operation_id="list_write_fields",
            scope=Scope.READ,
        ),
    ]
    return routes


ROUTES = _routes()
