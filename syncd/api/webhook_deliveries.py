"""Webhook deliveries over the /v1 API: an event's delivery log, and replays.

``GET /v1/webhooks/events/{event_id}/deliveries`` shows an event (by its
``webhook-id``, ``evt_N``, or N) with its delivery to each subscription and
every HTTP attempt; ``POST /v1/webhooks/deliveries/replay`` queues delivered or
dead-lettered deliveries again. Both are part of the ``webhooks`` area
(:mod:`syncd.api.webhooks` serves these routes with its own).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, WithJsonSchema

from syncd.api.errors import not_found
from syncd.api.jobs import IsoTime
from syncd.api.routing import Call, Route, Scope
from syncd.events import event_json, message_id, parse_message_id
from syncd.services.webhooks import find_delivery_log, replay_deliveries
from syncd.store.webhook_base import DeliveryStatus

#: The largest event id (a 64-bit column): a larger one names no event.
_MAX_ID = 2**63 - 1
#: A subscription id as :mod:`syncd.api.webhooks` accepts it.
SUBSCRIPTION_ID = r"^[A-Za-z0-9_-]{1,32}$"


def _event_id(value: Any) -> Any:
    """``evt_N``, ``"N"`` or N as the event id N (other values are left to fail as ints)."""
    if isinstance(value, bool):
        raise ValueError("an event id is evt_N or N, not true or false")
    if isinstance(value, str):
        return parse_message_id(value)
    return value


EventId = Annotated[
    int,
    BeforeValidator(_event_id),
    Field(ge=1, le=_MAX_ID),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": "^(evt_)?[0-9]+$"},
            ]
        }
    ),
]


class WebhookReplay(BaseModel):
    """Which deliveries to queue again; at least one of event_id, since, dead_only."""

    model_config = ConfigDict(extra="forbid")

    event_id: EventId | None = Field(default=None, description="one event (`evt_N` or N)")
    since: IsoTime | None = Field(
        default=None, description="events created at or after this time (UTC if no zone)"
    )
    dead_only: StrictBool = Field(default=False, description="only dead-lettered deliveries")
    subscription_id: str | None = Field(default=None, max_length=32, pattern=SUBSCRIPTION_ID)


class WebhookEventOut(BaseModel):
    """An event as its webhook body carries it."""

    model_config = ConfigDict(extra="forbid")

    id: int
    webhook_id: str = Field(description="the `webhook-id` of its deliveries")
    integration_id: str
    model: str | None
    record_id: str | None
    type: str
    timestamp: str
    data: dict[str, Any]


class WebhookDeliveryOut(BaseModel):
    """The event's delivery to one subscription."""

    model_config = ConfigDict(extra="forbid")

    subscription_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None


class WebhookAttemptOut(BaseModel):
    """One HTTP attempt of a delivery."""

    model_config = ConfigDict(extra="forbid")

    subscription_id: str
    attempt: int = Field(description="1 for the first attempt")
    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    response: str | None


class WebhookDeliveryLog(BaseModel):
    """An event, its deliveries (one per subscription that wanted it) and every attempt."""

    model_config = ConfigDict(extra="forbid")

    event_id: int
    webhook_id: str
    event: WebhookEventOut | None = Field(description="null once the event was pruned")
    deliveries: list[WebhookDeliveryOut]
    attempts: list[WebhookAttemptOut]


class WebhookReplayed(BaseModel):
    """How many deliveries were queued again."""

    model_config = ConfigDict(extra="forbid")

    replayed: int


async def _get_webhook_deliveries(call: Call) -> WebhookDeliveryLog:
    raw = call.path["event_id"]
    entry = None
    try:
        event_id = parse_message_id(raw)
    except ValueError:
        event_id = 0  # names no event
    if 0 < event_id <= _MAX_ID:
        entry = await find_delivery_log(call.ctx.webhooks, event_id)
    if entry is None:
        raise not_found(f"event {raw!r}")
    return WebhookDeliveryLog(
        event_id=entry.event_id,
        webhook_id=message_id(entry.event_id),
        event=WebhookEventOut(**event_json(entry.event)) if entry.event else None,
        deliveries=[
            WebhookDeliveryOut(
                subscription_id=d.subscription_id,
                status=d.status,
                attempts=d.attempts,
                next_attempt_at=d.next_attempt_at,
                last_status_code=d.last_status_code,
                last_error=d.last_error,
                delivered_at=d.delivered_at,
            )
            for d in entry.deliveries
        ],
        attempts=[
            WebhookAttemptOut(
                subscription_id=a.subscription_id,
                attempt=a.attempt,
                attempted_at=a.attempted_at,
                status_code=a.status_code,
                latency_ms=round(a.latency_ms, 2),
                error=a.error,
                response=a.response,
            )
            for a in entry.attempts
        ],
    )


async def _replay_webhooks(call: Call) -> WebhookReplayed:
    body: WebhookReplay = call.body
    count = await replay_deliveries(
        call.ctx.webhooks,
        dead_only=body.dead_only,
        since=body.since,
        event_id=body.event_id,
        subscription_id=body.subscription_id,
    )
    return WebhookReplayed(replayed=count)


ROUTES: list[Route] = [
    Route(
        "GET",
        "/v1/webhooks/events/{event_id}/deliveries",
        _get_webhook_deliveries,
        summary="Get an event's deliveries",
        tag="webhooks",
        scope=Scope.ADMIN,
        response=WebhookDeliveryLog,
        errors=(404,),
        operation_id="get_webhook_deliveries",
        description=(
            "The event (`evt_N` or N, as its `webhook-id` says), its delivery to each "
            "subscription that wanted it and every HTTP attempt, oldest first."
        ),
    ),
    Route(
        "POST",
        "/v1/webhooks/deliveries/replay",
        _replay_webhooks,
        summary="Replay deliveries",
        tag="webhooks",
        scope=Scope.ADMIN,
        body=WebhookReplay,
        response=WebhookReplayed,
        errors=(404,),
        operation_id="replay_webhooks",
        description=(
            "Queues delivered or dead-lettered deliveries again: of one event, of events "
            "since a time and/or only dead-lettered ones (at least one of these), "
            "optionally to one subscription. Per record they go out in event order."
        ),
    ),
]
