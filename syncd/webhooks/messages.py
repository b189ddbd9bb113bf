"""Webhook bodies: ``{"type", "timestamp", "data"}`` and their message ids."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from syncd.store.webhook_base import ChangeEvent

#: The ``type`` of the message ``syncd webhooks test`` sends.
TEST_EVENT_TYPE = "WEBHOOK_TEST"


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
