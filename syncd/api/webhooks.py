"""Webhook subscriptions over the /v1 API: CRUD, a test message, deliveries, replay.

The paths and fields are the reference's ``/v1/webhooks`` (``{url,
triggers[], model, headers[{header, value}], active, secret}``); syncd adds
several models per subscription (``models``), pausing (``active: false``
queues events instead of losing them), secret rotation, a signed test
message, and (:mod:`syncd.api.webhook_deliveries`, served with these
routes) each event's delivery log and replays. A secret appears only in
the answer that created it (the create answer, or an update that rotated
it); header values are never shown again (they often are credentials).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from syncd.api.common import ListQuery, Meta, meta, parse_order_by
from syncd.api.errors import invalid, not_found
from syncd.api.routing import Call, Route, Scope
from syncd.api.webhook_deliveries import ROUTES as DELIVERY_ROUTES
from syncd.api.webhook_deliveries import SUBSCRIPTION_ID
from syncd.domain import EventType
from syncd.errors import StoreError
from syncd.services.webhooks import (
    SUBSCRIPTION_ORDER_FIELDS,
    NewSubscription,
    SubscriptionChange,
    SubscriptionStatus,
    add_subscription,
    change_subscription,
    remove_subscription,
    send_test_message,
    subscription_page,
    subscription_status,
)
from syncd.store.webhook_base import DATA_EVENT_TYPES, SubscriptionState
from syncd.webhooks.spec import KNOWN_MODELS

#: Subscription ids are ``wh_`` and hex digits; anything else names none (and stays
#: out of the database).
_SUBSCRIPTION_ID = re.compile(SUBSCRIPTION_ID)
#: An http(s) URL as far as a pattern can tell (the service checks the rest).
_URL = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s]+$"
#: An HTTP header name (an RFC 9110 token).
_HEADER_NAME = r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$"
#: A header value: no control characters but tab.
_HEADER_VALUE = r"^[^\x00-\x08\x0a-\x1f\x7f]*$"
_MODEL = Annotated[str, Field(pattern="^(" + "|".join(KNOWN_MODELS) + ")$")]


# -- requests ------------------------------------------------------------------


class WebhookHeaderIn(BaseModel):
    """An extra header sent with every delivery."""

    model_config = ConfigDict(extra="forbid")

    header: str = Field(min_length=1, max_length=256, pattern=_HEADER_NAME)
    value: str = Field(max_length=4096, pattern=_HEADER_VALUE)


def _header_map(headers: list[WebhookHeaderIn] | None) -> dict[str, str] | None:
    return None if headers is None else {h.header: h.value for h in headers}


def _unique_headers(headers: list[WebhookHeaderIn] | None) -> list[WebhookHeaderIn] | None:
    seen: set[str] = set()
    for h in headers or ():
        if h.header.lower() in seen:
            raise ValueError(f"header {h.header!r} given twice")
        seen.add(h.header.lower())
    return headers


class _WebhookFields(BaseModel):
    """What the create and update bodies share."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2000, description="the receiver's http(s) URL")
    triggers: list[EventType] | None = Field(
        default=None, min_length=1, max_length=32, description="the event types to send"
    )
    model: _MODEL | None = Field(
        default=None, description="only data events (DATA_*) of this model, as the reference has"
    )
    models: list[_MODEL] | None = Field(
        default=None,
        max_length=len(KNOWN_MODELS),
        description="only data events of these models; empty or absent: every model",
    )
    headers: list[WebhookHeaderIn] | None = Field(
        default=None, max_length=50, description="extra headers on every delivery"
    )
    secret: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^whsec_[A-Za-z0-9+/=]+$",
        description="a `whsec_…` signing secret (Standard Webhooks); absent: one is generated",
    )

    _headers = field_validator("headers")(_unique_headers)

    def model_filter(self) -> list[str] | None:
        """``model`` and ``models`` as one list (None: neither given)."""
        if self.model is not None and self.models is not None:
            raise invalid("body", "model", "give model or models, not both", "conflict")
        if self.model is not None:
            return [self.model]
        return self.models


class WebhookCreate(_WebhookFields):
    """A new subscription."""

    url: str = Field(max_length=2000, pattern=_URL, description="the receiver's http(s) URL")
    triggers: list[EventType] = Field(
        min_length=1, max_length=32, description="the event types to send"
    )
    active: StrictBool = Field(
        default=True, description="false: created paused (events queue up until it is resumed)"
    )


class WebhookUpdate(_WebhookFields):
    """What to change; absent fields stay as they are."""

    active: StrictBool | None = Field(
        default=None,
        description="false pauses it (events keep queueing), true resumes it (queued first)",
    )
    rotate_secret: StrictBool = Field(
        default=False, description="true: sign with a new generated secret, shown in the answer"
    )


class WebhookListQuery(ListQuery):
    """Paging, ordering and the ``active`` filter of the subscription list."""

    active: bool | None = Field(
        default=None, description="only active (true) or only paused (false) subscriptions"
    )


# -- answers -------------------------------------------------------------------


class WebhookHeaderOut(BaseModel):
    """An extra header's name (its value is never shown again)."""

    model_config = ConfigDict(extra="forbid")

    header: str


class WebhookTrigger(BaseModel):
    """An event type the subscription is sent, for one model or every one."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="`TRIGGER` or `TRIGGER:model`")
    trigger: EventType
    model: str | None = Field(description="null: every model (or an event about no record)")


class WebhookOut(BaseModel):
    """A subscription (without its secret)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    created_at: datetime
    updated_at: datetime
    url: str
    headers: list[WebhookHeaderOut]
    active: bool = Field(description="false: paused, events queue up")
    state: SubscriptionState
    triggers: list[WebhookTrigger]
    models: list[str] | None = Field(description="the model filter of data events; null: all")
    pending: int = Field(description="events still to be delivered to it")
    dead: int = Field(description="deliveries that gave up (see replay)")


class WebhookWithSecret(WebhookOut):
    """A new subscription with its secret (shown this once)."""

    secret: str = Field(description="the `whsec_…` signing secret: keep it now")


class WebhookChanged(WebhookOut):
    """A changed subscription; the secret only when the change gave it a new one."""

    secret: str | None = Field(description="the new signing secret, or null if unchanged")


class WebhookCreated(BaseModel):
    """The created subscription."""

    model_config = ConfigDict(extra="forbid")

    result: WebhookWithSecret


class WebhookUpdated(BaseModel):
    """The changed subscription."""

    model_config = ConfigDict(extra="forbid")

    result: WebhookChanged


class WebhookOne(BaseModel):
    """One subscription."""

    model_config = ConfigDict(extra="forbid")

    results: WebhookOut


class WebhookList(BaseModel):
    """A page of subscriptions."""

    model_config = ConfigDict(extra="forbid")

    meta: Meta
    results: list[WebhookOut]


class WebhookTestResult(BaseModel):
    """The receiver's answer to a test message."""

    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(description="the `webhook-id` of the test message")
    ok: bool = Field(description="the receiver answered 2xx")
    status: int | None = Field(description="its HTTP status; null: no answer (see error)")
    latency_ms: float
    error: str | None
    response: str = Field(description="the start of the receiver's answer")


# -- handlers ------------------------------------------------------------------


def _triggers(status: SubscriptionStatus) -> list[WebhookTrigger]:
    sub = status.subscription
    out = []
    for trigger in sub.triggers:
        models = sub.models if sub.models and trigger in DATA_EVENT_TYPES else (None,)
        for model in models:
            key = trigger if model is None else f"{trigger}:{model}"
            out.append(WebhookTrigger(id=key, trigger=EventType(trigger), model=model))
    return out


def _fields(status: SubscriptionStatus) -> dict[str, Any]:
    sub = status.subscription
    if sub.created_at is None or sub.updated_at is None:
        raise StoreError(f"webhook subscription {sub.id!r} has no timestamps")
    return {
        "id": sub.id,
        "created_at": sub.created_at,
        "updated_at": sub.updated_at,
        "url": sub.url,
        "headers": [WebhookHeaderOut(header=name) for name in sub.headers],
        "active": sub.state is SubscriptionState.ACTIVE,
        "state": sub.state,
        "triggers": _triggers(status),
        "models": list(sub.models) if sub.models is not None else None,
        "pending": status.pending,
        "dead": status.dead,
    }


def _subscription_id(call: Call) -> str:
    value = call.path["webhook_id"]
    if not _SUBSCRIPTION_ID.match(value):
        raise not_found(f"webhook {value!r}")
    return value


async def _create_webhook(call: Call) -> WebhookCreated:
    body: WebhookCreate = call.body
    request = NewSubscription(
        url=body.url,
        triggers=[t.value for t in body.triggers],
        models=body.model_filter() or (),
        headers=_header_map(body.headers) or {},
        secret=body.secret,
        paused=not body.active,
    )
    added = await add_subscription(call.ctx.webhooks, request)
    status = await subscription_status(call.ctx.webhooks, added.subscription.id)
    return WebhookCreated(
        result=WebhookWithSecret(**_fields(status), secret=added.subscription.secret)
    )


async def _list_webhooks(call: Call) -> WebhookList:
    q: WebhookListQuery = call.query
    ordering = parse_order_by(
        q.order_by, SUBSCRIPTION_ORDER_FIELDS, default=(("created_at", True),)
    )
    page = await subscription_page(
        call.ctx.webhooks, active=q.active, order=ordering.terms, offset=q.offset, limit=q.limit
    )
    return WebhookList(
        meta=meta(q, ordering, page.total),
        results=[WebhookOut(**_fields(s)) for s in page.statuses],
    )


async def _get_webhook(call: Call) -> WebhookOne:
    status = await subscription_status(call.ctx.webhooks, _subscription_id(call))
    return WebhookOne(results=WebhookOut(**_fields(status)))


async def _update_webhook(call: Call) -> WebhookUpdated:
    body: WebhookUpdate = call.body
    change = SubscriptionChange(
        url=body.url,
        triggers=[t.value for t in body.triggers] if body.triggers is not None else None,
        models=body.model_filter(),
        headers=_header_map(body.headers),
        active=body.active,
        secret=body.secret,
        rotate_secret=body.rotate_secret,
    )
    changed = await change_subscription(call.ctx.webhooks, _subscription_id(call), change)
    return WebhookUpdated(
        result=WebhookChanged(**_fields(changed.status), secret=changed.new_secret)
    )


async def _delete_webhook(call: Call) -> None:
    await remove_subscription(call.ctx.webhooks, _subscription_id(call))


async def _test_webhook(call: Call) -> WebhookTestResult:
    result = await send_test_message(call.ctx.webhooks, call.ctx.settings, _subscription_id(call))
    return WebhookTestResult(
        message_id=result.message_id,
        ok=result.ok,
        status=result.status,
        latency_ms=round(result.latency_ms, 2),
        error=result.error,
        response=result.body,
    )


_ONE = "/v1/webhooks/{webhook_id}"

ROUTES: list[Route] = [
    Route(
        "POST",
        "/v1/webhooks/",
        _create_webhook,
        summary="Create a webhook",
        tag="webhooks",
        scope=Scope.ADMIN,
        body=WebhookCreate,
        response=WebhookCreated,
        status=201,
        aliases=("/v1/webhooks",),
        operation_id="create_webhook",
        description=(
            "Subscribes a URL to event types. Deliveries are signed (Standard Webhooks: "
            "`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the secret given "
            "or generated; the answer shows it, and no later answer does. It hears of "
            "events written from now on."
        ),
    ),
    Route(
        "GET",
        "/v1/webhooks/",
        _list_webhooks,
        summary="List webhooks",
        tag="webhooks",
        scope=Scope.ADMIN,
        query=WebhookListQuery,
        response=WebhookList,
        aliases=("/v1/webhooks",),
        operation_id="list_webhooks",
        description=(
            "Subscriptions, newest first unless `order-by` says otherwise (fields: "
            + ", ".join(SUBSCRIPTION_ORDER_FIELDS)
            + "), with what each is still owed and its dead-lettered deliveries."
        ),
    ),
    Route(
        "GET",
        _ONE,
        _get_webhook,
        summary="Get a webhook",
        tag="webhooks",
        scope=Scope.ADMIN,
        response=WebhookOne,
        errors=(404,),
        aliases=(_ONE + "/",),
        operation_id="get_webhook",
    ),
    Route(
        "PUT",
        _ONE,
        _update_webhook,
        summary="Update a webhook",
        tag="webhooks",
        scope=Scope.ADMIN,
        body=WebhookUpdate,
        response=WebhookUpdated,
        errors=(404,),
        aliases=(_ONE + "/",),
        operation_id="update_webhook",
        description=(
            "Changes what is given: URL, triggers, models (`[]`: every model), headers "
            "(all replaced), `active` (pause or resume), the secret (`secret`, or "
            "`rotate_secret: true` for a generated one, shown in this answer only). "
            "Queued deliveries go to the new URL with the new secret."
        ),
    ),
    Route(
        "DELETE",
        _ONE,
        _delete_webhook,
        summary="Delete a webhook",
        tag="webhooks",
        scope=Scope.ADMIN,
        status=204,
        errors=(404,),
        aliases=(_ONE + "/",),
        operation_id="delete_webhook",
        description="Deletes the subscription with its queued deliveries and their log.",
    ),
    Route(
        "POST",
        _ONE + "/test",
        _test_webhook,
        summary="Send a test message",
        tag="webhooks",
        scope=Scope.ADMIN,
        response=WebhookTestResult,
        errors=(404,),
        operation_id="test_webhook",
        description=(
            "Posts a signed `WEBHOOK_TEST` message to the subscription now (outside the "
            "queue, paused or not) and answers with what the receiver said."
        ),
    ),
    *DELIVERY_ROUTES,
]
