"""Every event syncd announces, built in one place: payloads and webhook bodies.

Three kinds of event reach the change outbox, and from there the change feed
and the webhooks:

* data events (DATA_NEW, DATA_UPDATE, DATA_DELETED), one per record a page
  or a sweep changed. The store writes them in the transaction that changes
  the record; it asks :func:`record_event` what to write. DATA_DELETED rows
  are written by one SQL statement per sweep batch, so the store builds their
  payload in SQL, from :data:`RECORD_EVENT_KEYS`, the keys every data event's
  payload starts with.
* lifecycle events: :func:`job_failure_event` (a model run failed or its
  sweep is held) and :func:`sync_complete_events` (SYNC_COMPLETE, and
  FIRST_SYNC_COMPLETE), written by the runner when a run ends.
* the webhook body of any of them, ``{"type", "timestamp", "data"}``
  (:func:`envelope`, :func:`event_body`), with its Standard Webhooks message
  id (:func:`message_id`), and the change feed's view of one
  (:func:`event_json`).

Nothing here does I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from syncd.diff import diff, json_record
from syncd.domain import (
    SYNCED_STATUSES,
    EventType,
    Integration,
    OutboxEvent,
    RunStatus,
    SweepResult,
    SyncMode,
)
from syncd.store.webhook_base import ChangeEvent

#: The keys every data event's payload starts with, in this order.
RECORD_EVENT_KEYS: tuple[str, ...] = (
    "integration_id",
    "vendor",
    "model",
    "record_id",
    "x_id",
    "property_id",
    "job_id",
)

#: The ``type`` of the message ``syncd webhooks test`` sends.
TEST_EVENT_TYPE = "WEBHOOK_TEST"


def record_event(
    integration: Integration,
    model: str,
    record_id: str,
    values: Mapping[str, Any],
    fields: Sequence[str],
    run_id: str,
    *,
    x_id: str,
    stored: Mapping[str, Any] | None,
    was_deleted: bool = False,
) -> tuple[EventType, dict[str, Any] | None, dict[str, Any]] | None:
    """(event type, diff, payload) of a record a page writes; None if nothing changed.

    ``record_id`` is the record's 32-digit key; ``stored`` its event fields
    as the cache held them (None: the record is new to the cache), and
    ``was_deleted`` whether it was soft-deleted (it comes back as DATA_NEW
    with ``undeleted: true``).
    """
    if values.get("custom_data") is None:
        # The store keeps a missing custom_data as {}: the same in event and diff.
        values = {**values, "custom_data": {}}
    payload: dict[str, Any] = {
        "integration_id": integration.id,
        "vendor": integration.vendor,
        "model": model,
        "record_id": str(uuid.UUID(record_id)),
        "x_id": x_id,
        "property_id": json_record(values, ("property_id",))["property_id"],
        "job_id": run_id,
    }
    if stored is None or was_deleted:
        payload["record"] = json_record(values, fields)
        if was_deleted:
            payload["undeleted"] = True
        return EventType.DATA_NEW, None, payload
    change = diff(stored, values, fields)
    if not change:
        return None
    payload["diff"] = change.as_json()
    return EventType.DATA_UPDATE, payload["diff"], payload


def job_failure_event(
    integration: Integration,
    run_id: str,
    root_id: str,
    model: str | None,
    mode: SyncMode,
    trigger: str,
    status: RunStatus,
    error: str | None,
    sweep: SweepResult | None = None,
) -> OutboxEvent:
    """The JOB_FAILURE event of a failed model run, one whose sweep is held, or a failed sync."""
    payload: dict[str, Any] = {
        "integration_id": integration.id,
        "vendor": integration.vendor,
        "model": model,
        "job_id": run_id,
        "root_job_id": root_id,
        "job_type": mode.value,
        "trigger": trigger,
        "status": status.value,
        "error": error,
    }
    if sweep is not None and sweep.held:
        payload["sweep"] = {
            "scope": sweep.scope,
            "candidates": sweep.candidates,
            "share": round(sweep.share, 4),
            "threshold": sweep.max_share,
            "approve": f"syncd sweeps approve {run_id}",
        }
    return _lifecycle_event(integration, EventType.JOB_FAILURE, payload, run_id)


def sync_complete_events(
    integration: Integration,
    root_id: str,
    mode: SyncMode,
    trigger: str,
    status: RunStatus,
    model_statuses: Sequence[RunStatus],
    *,
    first: bool,
) -> list[OutboxEvent]:
    """SYNC_COMPLETE of a finished sync, and FIRST_SYNC_COMPLETE too when ``first``.

    ``first``: no earlier sync of the integration finished; the event is
    only sent when this one synced (SUCCESS or NEEDS_ATTENTION).
    """
    succeeded = sum(s is RunStatus.SUCCESS for s in model_statuses)
    attention = sum(s is RunStatus.NEEDS_ATTENTION for s in model_statuses)
    skipped = sum(s is RunStatus.SKIPPED for s in model_statuses)
    payload = {
        "integration_id": integration.id,
        "vendor": integration.vendor,
        "job_id": root_id,
        "root_job_id": root_id,
        "job_type": mode.value,
        "trigger": trigger,
        "status": status.value,
        "successful_job_count": succeeded,
        # A held sweep is a job needing attention: it counts as failed
        # (and has its own JOB_FAILURE event).
        "failed_job_count": len(model_statuses) - succeeded - skipped,
        "needs_attention_job_count": attention,
        "skipped_job_count": skipped,
        "is_sync_finished": True,
    }
    types = [EventType.SYNC_COMPLETE]
    if first and status in SYNCED_STATUSES:
        types.append(EventType.FIRST_SYNC_COMPLETE)
    return [_lifecycle_event(integration, t, payload, root_id) for t in types]


def write_event(
    integration_id: str,
    vendor: str,
    job_id: str,
    model: str,
    operation: str,
    write_status: str,
    errors: Sequence[str],
    *,
    x_id: str | None,
    record_id: uuid.UUID | None,
    created_record_id: uuid.UUID | None,
) -> OutboxEvent:
    """WRITE_OPERATION_SUCCESS (SUCCESS) or WRITE_OPERATION_FAILURE (PARTIAL_SUCCESS, FAILURE).

    ``root_job_id`` is the write job's id, as ``write-status`` takes it.
    """
    success = write_status == "SUCCESS"
    event_type = EventType.WRITE_OPERATION_SUCCESS if success else EventType.WRITE_OPERATION_FAILURE
    payload: dict[str, Any] = {
        "event": event_type.value,
        "integration_id": integration_id,
        "vendor": vendor,
        "job_id": job_id,
        "root_job_id": job_id,
        "model": model,
        "operation": operation,
        "write_status": write_status,
        "errors": list(errors),
        "record_id": None if record_id is None else str(record_id),
        "x_id": x_id,
        "created_record_id": None if created_record_id is None else str(created_record_id),
    }
    return OutboxEvent(
        integration_id=integration_id,
        vendor=vendor,
        event_type=event_type,
        payload=payload,
        run_id=job_id,
        model=model,
        record_id=record_id or created_record_id,
        x_id=x_id,
    )


def _lifecycle_event(
    integration: Integration, event_type: EventType, payload: dict[str, Any], run_id: str
) -> OutboxEvent:
    # Lifecycle events name a run, never a model or a record.
    return OutboxEvent(
        integration_id=integration.id,
        vendor=integration.vendor,
        event_type=event_type,
        payload=payload,
        run_id=run_id,
    )


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z``, as Standard Webhooks examples write it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def message_id(event_id: int) -> str:
    """The ``webhook-id`` of an event: the same for every attempt and every endpoint."""
    return f"evt_{event_id}"


def parse_message_id(value: str) -> int:
    """An event id from ``evt_123`` or ``123``; ValueError otherwise."""
    digits = value.removeprefix("evt_")
    if not digits.isdigit():
        raise ValueError(f"{value!r} is not an event id (evt_N or N)")
    return int(digits)


def envelope(event_type: str, created_at: datetime, data: Mapping[str, Any]) -> dict[str, Any]:
    """The webhook body as a mapping."""
    return {"type": event_type, "timestamp": iso_utc(created_at), "data": dict(data)}


def event_body(event: ChangeEvent) -> bytes:
    """The exact bytes posted (and signed) for an event."""
    return orjson.dumps(envelope(event.type, event.created_at, event.data))


def event_json(event: ChangeEvent) -> dict[str, Any]:
    """An event as the change feed shows it: its cursor, message id and webhook body."""
    return {
        "id": event.id,
        "webhook_id": message_id(event.id),
        "integration_id": event.integration_id,
        "model": event.model,
        "record_id": event.record_id,
        **envelope(event.type, event.created_at, event.data),
    }
