"""Write requests: validate, store as a job, report status, retry.

The HTTP API (``POST /v1/leads/{vendor}/``, ``PUT /v1/{model}/{id}``,
``/v1/admin/write-status/...``) and the CLI (``syncd writes ...``) both call
these functions; the write worker (:mod:`syncd.writes.worker`) carries the
stored jobs to the PMS.

A request is checked before anything is stored: the integration (or, for an
update, the cached record) exists, the PMS can write the model, every field
is one the PMS accepts (others are refused, or stripped with
``ignore_unknown_fields``), types and ranges hold, and every referenced
record (property, unit, lead source, employee, floor plan) is in the cache
for that integration. Then the job is stored durably and its id returned:
an answered request is never lost. With an idempotency key, a repeated
request answers with the first job; another request under the same key is
refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from syncd.connectors.registry import get_connector_class
from syncd.domain import Capability, Integration
from syncd.errors import IntegrationNotFound, InvalidFields, NotFound, RunConflict
from syncd.store.base import Store
from syncd.store.reads import SqlRecordReader
from syncd.store.writes import NewWrite, SqlWriteJobs, WriteFilter, WriteJob, WriteStatus
from syncd.writes.fields import WRITE_FIELDS, FieldKind
from syncd.writes.validation import check_fields

#: Longest Idempotency-Key accepted.
MAX_IDEMPOTENCY_KEY = 255


class IdempotencyConflict(RunConflict):
    """The idempotency key was used before for a different request."""


class NotRetryable(RunConflict):
    """Only a failed write can be retried."""


@dataclass(frozen=True, slots=True)
class WriteAsk:
    """A client's write request, as the API or the CLI received it."""

    model: str
    operation: Capability
    body: Mapping[str, Any]
    #: The PMS a per-PMS endpoint writes to (lower-case vendor code); None: any.
    vendor: str | None = None
    #: The syncd id of the record an update changes.
    record_id: str | None = None
    ignore_unknown: bool = False
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Submitted:
    """A stored write job and what the answer echoes."""

    job: WriteJob
    #: Every write field of the model (null where not given), the integration's id.
    result: dict[str, Any]
    #: True when an earlier request with the same idempotency key made the job.
    replayed: bool


@dataclass(frozen=True, slots=True)
class WriteState:
    """``GET /v1/admin/write-status/{job_id}``: where a write stands."""

    job: WriteJob
    write_status: str
    errors: tuple[str, ...]
    created_record_id: str | None


def vendor_slug(vendor: str) -> str:
    """The vendor as per-PMS write paths write it (``RESMAN`` → ``resman``)."""
    return vendor.lower()


def echo(model: str, payload: Mapping[str, Any], integration_id: str) -> dict[str, Any]:
    """The full payload of a write: every field of the model, null where not given."""
    return {"integration_id": integration_id} | {n: payload.get(n) for n in WRITE_FIELDS[model]}


async def submit_write(
    store: Store, reader: SqlRecordReader, jobs: SqlWriteJobs, ask: WriteAsk
) -> Submitted:
    """Validate ``ask`` and store it as a PENDING write job (see the module docstring).

    Raises :class:`~syncd.errors.InvalidFields` naming every bad field,
    :class:`~syncd.errors.NotFound` for an update of a record not in the
    cache, :class:`IdempotencyConflict` for a reused key.
    """
    if ask.model not in WRITE_FIELDS:
        raise InvalidFields([("model", f"syncd cannot write {ask.model}", "not_supported")])
    key = ask.idempotency_key
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidFields(
            [("Idempotency-Key", f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters", "invalid")]
        )
    integration, record = await _target(store, reader, ask)
    cls = get_connector_class(integration.vendor)
    pms = cls.display_name or integration.vendor
    if ask.operation not in cls.capabilities().get(ask.model, frozenset()):
        verb = "create" if ask.operation is Capability.CREATE else "update"
        raise InvalidFields([("model", f"{pms} cannot {verb} {ask.model}", "not_supported")])
    checked = check_fields(
        ask.model,
        ask.operation,
        ask.body,
        accepted=cls.writable_fields(ask.model, ask.operation),
        required=cls.required_write_fields(ask.model, ask.operation),
        pms=pms,
        ignore_unknown=ask.ignore_unknown,
    )
    if checked.issues:
        raise InvalidFields([(i.field, i.message, i.code) for i in checked.issues])
    pms_payload, property_x_id = await _resolve(reader, integration, ask.model, checked.values)
    if record is not None and property_x_id is None:
        property_x_id = record.get("x_property_id")
    digest = hashlib.sha256(
        orjson.dumps(
            {
                "model": ask.model,
                "operation": ask.operation.value,
                "vendor": ask.vendor,
                "record_id": ask.record_id,
                "integration_id": integration.id,
                "values": checked.values,
                "stripped": sorted(checked.stripped),
            },
            option=orjson.OPT_SORT_KEYS,
        )
    ).hexdigest()
    new = NewWrite(
        integration_id=integration.id,
        vendor=integration.vendor,
        model=ask.model,
        operation=ask.operation.value,
        payload=checked.values,
        pms_payload=pms_payload,
        request_hash=digest,
        record_id=None if record is None else record["id"],
        x_id=None if record is None else record["x_id"],
        property_x_id=property_x_id,
        stripped_fields=checked.stripped,
        idempotency_key=key,
    )
    job, made = await jobs.submit(new, datetime.now(UTC))
    if not made and job.request_hash != digest:
        raise IdempotencyConflict(
            f"the Idempotency-Key was used for another request (write job {job.id})"
        )
    return Submitted(job, echo(job.model, job.payload, job.integration_id), replayed=not made)


async def _target(
    store: Store, reader: SqlRecordReader, ask: WriteAsk
) -> tuple[Integration, dict[str, Any] | None]:
    """The integration written to and, for an update, the cached record."""
    given = ask.body.get("integration_id")
    record: dict[str, Any] | None = None
    if ask.operation is Capability.UPDATE:
        found = None
        with contextlib.suppress(ValueError):
            found = await reader.get(ask.model, uuid.UUID(str(ask.record_id)))
        if found is None or found[0]["deleted_at"] is not None:
            raise NotFound(f"{ask.model} record {ask.record_id!r} not found")
        record = found[0]
        integration_id = str(record["integration_id"])
        if given is not None and given != integration_id:
            raise InvalidFields(
                [("integration_id", f"the record belongs to {integration_id}", "invalid")]
            )
    else:
        if not isinstance(given, str) or not given:
            raise InvalidFields(
                [("integration_id", "the integration to write to is required", "missing")]
            )
        integration_id = given
    try:
        integration = await store.get_integration(integration_id)
    except IntegrationNotFound:
        raise InvalidFields(
            [("integration_id", f"no integration {integration_id!r}", "not_found")]
        ) from None
    if not integration.enabled:
        raise InvalidFields(
            [
                (
                    "integration_id",
                    f"integration {integration.id} is disabled: enable it to write to its PMS",
                    "integration_disabled",
                )
            ]
        )
    if ask.vendor is not None and vendor_slug(integration.vendor) != ask.vendor:
        raise InvalidFields(
            [
                (
                    "integration_id",
                    f"integration {integration.id} is a {integration.vendor} integration; "
                    f"this endpoint writes to {ask.vendor.upper()}",
                    "vendor_mismatch",
                )
            ]
        )
    return integration, record


async def _resolve(
    reader: SqlRecordReader, integration: Integration, model: str, values: Mapping[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """The payload with references as PMS ids, and the property's PMS id where named."""
    fields = WRITE_FIELDS[model]
    out = dict(values)
    issues: list[tuple[str, str, str]] = []
    property_x_id: str | None = None
    refs = {
        name: (spec.model, uuid.UUID(values[name]))
        for name, spec in fields.items()
        if spec.kind is FieldKind.REFERENCE and spec.model is not None and name in values
    }
    known = await reader.identities(list(refs.values())) if refs else {}
    for name, ref in refs.items():
        found = known.get(ref)
        if found is None or found.integration_id != integration.id or found.deleted:
            what = ref[0].replace("_", " ").rstrip("s")
            issues.append(
                (name, f"no {what} {values[name]} in integration {integration.id}", "not_found")
            )
            continue
        out[name] = found.x_id
        if name == "property_id":
            property_x_id = found.x_id
    if issues:
        raise InvalidFields(issues)
    return out, property_x_id


def write_state(job: WriteJob) -> WriteState:
    """A job as ``write-status`` tells it (a job being carried out is still PENDING)."""
    status = WriteStatus.PENDING if job.status is WriteStatus.RUNNING else job.status
    created = job.created_record_id if job.operation == Capability.CREATE.value else None
    return WriteState(
        job=job,
        write_status=status.value,
        errors=job.errors if status.finished else (),
        created_record_id=None if created is None else str(created),
    )


async def get_write(jobs: SqlWriteJobs, job_id: str) -> WriteState:
    """Where write job ``job_id`` stands; NotFound if there is none."""
    job = await jobs.get(job_id)
    if job is None:
        raise NotFound(f"write job {job_id!r} not found")
    return write_state(job)


async def retry_write(jobs: SqlWriteJobs, job_id: str) -> WriteJob:
    """Queue a failed write again, as a new job; NotRetryable unless it FAILED."""
    job = await jobs.get(job_id)
    if job is None:
        raise NotFound(f"write job {job_id!r} not found")
    if job.status is not WriteStatus.FAILURE:
        raise NotRetryable(
            f"write job {job_id} is {write_state(job).write_status}: only failed writes are retried"
        )
    new = NewWrite(
        integration_id=job.integration_id,
        vendor=job.vendor,
        model=job.model,
        operation=job.operation,
        payload=job.payload,
        pms_payload=job.pms_payload,
        request_hash=job.request_hash,
        record_id=job.record_id,
        x_id=job.x_id,
        property_x_id=job.property_x_id,
        stripped_fields=job.stripped_fields,
        retry_of=job.id,
    )
    made, _ = await jobs.submit(new, datetime.now(UTC))
    return made


async def list_writes(
    jobs: SqlWriteJobs,
    *,
    integration_id: str | None = None,
    statuses: Sequence[str] = (),
    model: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[WriteState], int]:
    """A page of write jobs, newest first, and how many match in all.

    ``statuses`` as clients see them: PENDING includes RUNNING.
    """
    wanted: list[WriteStatus] = []
    for s in statuses:
        wanted.append(WriteStatus(s))
        if s == WriteStatus.PENDING.value:
            wanted.append(WriteStatus.RUNNING)
    matching = WriteFilter(
        integration_id=integration_id,
        statuses=tuple(wanted),
        model=model,
        since=since,
        until=until,
    )
    page = await jobs.list_jobs(matching, offset=offset, limit=limit)
    return [write_state(j) for j in page], await jobs.count(matching)
