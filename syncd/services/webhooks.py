"""Webhook subscriptions and their deliveries: what an operator may ask of them.

Errors name the field of the request (``url``, ``triggers``, ``models``,
``headers``, ``secret``, ``event_id``); a front end may show them under its
own option names. Secrets and header values are never part of an error.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import ValidationError

from syncd.app import dispatcher_config
from syncd.errors import ConfigError
from syncd.events import event_json, message_id
from syncd.settings import Settings
from syncd.store.delivery_log import DeliveryPage, delivery_page
from syncd.store.webhook_base import (
    AttemptRecord,
    ChangeEvent,
    DeliveryRecord,
    DeliveryStatus,
    Subscription,
    SubscriptionState,
    WebhookStore,
)
from syncd.store.webhooks import SqlWebhookStore
from syncd.urls import check_http_url
from syncd.webhooks.dispatcher import Dispatcher, DispatchReport, TestResult, send_test
from syncd.webhooks.signing import generate_secret, secret_key
from syncd.webhooks.spec import SubscriptionSpec

log = structlog.get_logger(__name__)


# -- subscriptions -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewSubscription:
    """What an operator asks a new subscription to be."""

    url: str
    #: Event types, in any case (``data_new`` is ``DATA_NEW``).
    triggers: Sequence[str]
    #: Only data events of these models; empty: every model.
    models: Sequence[str] = ()
    #: Extra headers on every delivery; values are encrypted at rest.
    headers: Mapping[str, str] = field(default_factory=dict)
    #: A ``whsec_…`` secret; None: generate one.
    secret: str | None = None
    #: Created paused: events queue up until it is resumed.
    paused: bool = False


@dataclass(frozen=True, slots=True)
class AddedSubscription:
    """A new subscription and, when syncd made it, its secret (to be shown once)."""

    subscription: Subscription
    generated_secret: str | None


def _spec(request: NewSubscription) -> SubscriptionSpec:
    """The validated request; ConfigError names the first field that is wrong."""
    # A bad URL is reported before anything else about the request.
    try:
        check_http_url(request.url)
    except ValueError as exc:
        raise ConfigError(str(exc), field="url") from None
    models = tuple(m.strip() for m in request.models if m.strip())
    try:
        return SubscriptionSpec(
            url=request.url,
            triggers=tuple(t.strip().upper() for t in request.triggers if t.strip()),
            models=models or None,
            headers=dict(request.headers),
            secret=request.secret,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        where = str(err["loc"][0]) if err["loc"] else None
        cause = (err.get("ctx") or {}).get("error")
        raise ConfigError(str(cause) if cause is not None else err["msg"], field=where) from None


async def add_subscription(store: WebhookStore, request: NewSubscription) -> AddedSubscription:
    """Validate ``request`` and store the subscription (nothing is stored if it is invalid)."""
    spec = _spec(request)
    secret = spec.secret or generate_secret()
    sub = await store.add_subscription(
        Subscription(
            id=f"wh_{secrets.token_hex(6)}",
            url=spec.url,
            triggers=spec.triggers,
            models=spec.models,
            headers=spec.headers,
            secret=secret,
            state=SubscriptionState.PAUSED if request.paused else SubscriptionState.ACTIVE,
        )
    )
    log.info("webhooks.subscription.added", subscription_id=sub.id, triggers=list(sub.triggers))
    return AddedSubscription(subscription=sub, generated_secret=None if spec.secret else secret)


@dataclass(frozen=True, slots=True)
class SubscriptionStatus:
    """A subscription and what it is still owed."""

    subscription: Subscription
    #: Everything it will still be sent: queued deliveries and events not yet fanned out.
    pending: int
    #: Of ``pending``, the events the dispatcher has not queued for it yet.
    not_yet_queued: int
    #: Deliveries that gave up (see ``replay``).
    dead: int


async def _statuses(
    store: SqlWebhookStore, subs: Sequence[Subscription]
) -> list[SubscriptionStatus]:
    """``subs`` with their pending and dead-lettered deliveries."""
    counts = await store.delivery_counts()
    unqueued = await store.unqueued_counts()
    statuses = []
    for sub in subs:
        mine = counts.get(sub.id, {})
        waiting = unqueued.get(sub.id, 0)
        queued = mine.get(DeliveryStatus.PENDING, 0) + mine.get(DeliveryStatus.WAITING, 0)
        statuses.append(
            SubscriptionStatus(
                subscription=sub,
                pending=queued + waiting,
                not_yet_queued=waiting,
                dead=mine.get(DeliveryStatus.DEAD, 0),
            )
        )
    return statuses


async def list_subscriptions(store: SqlWebhookStore) -> list[SubscriptionStatus]:
    """Every subscription with its pending and dead-lettered deliveries."""
    return await _statuses(store, await store.list_subscriptions())


async def subscription_status(store: SqlWebhookStore, subscription_id: str) -> SubscriptionStatus:
    """One subscription with its pending and dead-lettered deliveries."""
    (status,) = await _statuses(store, [await store.get_subscription(subscription_id)])
    return status


#: Fields subscriptions can be listed in the order of (each a column).
SUBSCRIPTION_ORDER_FIELDS: tuple[str, ...] = ("created_at", "updated_at", "url", "id")


@dataclass(frozen=True, slots=True)
class SubscriptionPage:
    """A page of subscriptions and how many there are in all."""

    statuses: tuple[SubscriptionStatus, ...]
    total: int


async def subscription_page(
    store: SqlWebhookStore,
    *,
    active: bool | None = None,
    order: Sequence[tuple[str, bool]] = (("created_at", True),),
    offset: int = 0,
    limit: int = 100,
) -> SubscriptionPage:
    """A page of subscriptions (only active or only paused ones, if asked) with their counts."""
    for name, _ in order:
        if name not in SUBSCRIPTION_ORDER_FIELDS:
            raise ConfigError(f"cannot order by {name!r}", field="order-by")
    state = None
    if active is not None:
        state = SubscriptionState.ACTIVE if active else SubscriptionState.PAUSED
    subs, total = await store.page_subscriptions(
        state=state, order=order, offset=offset, limit=limit
    )
    return SubscriptionPage(statuses=tuple(await _statuses(store, subs)), total=total)


@dataclass(frozen=True, slots=True)
class SubscriptionChange:
    """What to change about a subscription; None leaves a part as it is."""

    url: str | None = None
    triggers: Sequence[str] | None = None
    #: Empty: every model.
    models: Sequence[str] | None = None
    #: Replaces every extra header (names and values).
    headers: Mapping[str, str] | None = None
    #: False pauses it (events keep queueing), True resumes it.
    active: bool | None = None
    #: A new ``whsec_…`` secret to sign with.
    secret: str | None = None
    #: Generate a new secret (not together with ``secret``).
    rotate_secret: bool = False


@dataclass(frozen=True, slots=True)
class ChangedSubscription:
    """A changed subscription and, when it got a new one, its secret (to be shown once)."""

    status: SubscriptionStatus
    new_secret: str | None


async def change_subscription(
    store: SqlWebhookStore, subscription_id: str, change: SubscriptionChange
) -> ChangedSubscription:
    """Apply ``change`` (validated as a new subscription is) in one write.

    Deliveries already queued stay as they are; the new triggers, models and
    URL apply to what is delivered from now on (a queued delivery goes to
    the new URL, signed with the new secret).
    """
    if change.rotate_secret and change.secret is not None:
        raise ConfigError("give a secret or ask for a new one, not both", field="rotate_secret")
    current = await store.get_subscription(subscription_id)
    spec = _spec(
        NewSubscription(
            url=current.url if change.url is None else change.url,
            triggers=current.triggers if change.triggers is None else change.triggers,
            models=(current.models or ()) if change.models is None else change.models,
            headers=current.headers if change.headers is None else change.headers,
            secret=change.secret,
        )
    )
    new_secret = spec.secret or (generate_secret() if change.rotate_secret else None)
    state = current.state
    if change.active is not None:
        state = SubscriptionState.ACTIVE if change.active else SubscriptionState.PAUSED
    sub = await store.save_subscription(
        replace(
            current,
            url=spec.url,
            triggers=spec.triggers,
            models=spec.models,
            headers=spec.headers,
            secret=new_secret or current.secret,
            state=state,
        )
    )
    log.info(
        "webhooks.subscription.changed",
        subscription_id=sub.id,
        state=sub.state.value,
        secret_rotated=new_secret is not None,
    )
    (status,) = await _statuses(store, [sub])
    return ChangedSubscription(status=status, new_secret=new_secret)


async def remove_subscription(store: WebhookStore, subscription_id: str) -> None:
    """Delete a subscription and its queued deliveries."""
    await store.remove_subscription(subscription_id)
    log.info("webhooks.subscription.removed", subscription_id=subscription_id)


async def set_subscription_state(
    store: WebhookStore, subscription_id: str, state: SubscriptionState
) -> None:
    """Pause a subscription (events keep queueing) or resume it (queued events go first)."""
    await store.set_subscription_state(subscription_id, state)
    verb = "paused" if state is SubscriptionState.PAUSED else "resumed"
    log.info(f"webhooks.subscription.{verb}", subscription_id=subscription_id)


async def rotate_secret(
    store: WebhookStore, subscription_id: str, secret: str | None = None
) -> str | None:
    """Give a subscription ``secret`` or a new one; the generated secret (None if given)."""
    if secret is not None:
        try:
            secret_key(secret)
        except ConfigError as exc:
            # Only the reason: the secret itself is never echoed.
            raise ConfigError(str(exc).removeprefix("--secret: "), field="secret") from None
    new = secret or generate_secret()
    await store.set_subscription_secret(subscription_id, new)
    log.info("webhooks.subscription.secret_rotated", subscription_id=subscription_id)
    return None if secret else new


async def send_test_message(
    store: WebhookStore, settings: Settings, subscription_id: str
) -> TestResult:
    """Send a signed WEBHOOK_TEST message to a subscription now; the receiver's answer."""
    sub = await store.get_subscription(subscription_id)
    return await send_test(
        sub,
        answer_within=settings.webhook_timeout_seconds,
        # The same egress rule as deliveries: a test is no way around it.
        allowed_hosts=dispatcher_config(settings).allowed_hosts,
    )


def subscription_json(sub: Subscription) -> dict[str, Any]:
    """A subscription as plain JSON data: header names only, never the secret."""
    return {
        "id": sub.id,
        "url": sub.url,
        "state": sub.state.value,
        "triggers": list(sub.triggers),
        "models": list(sub.models) if sub.models is not None else None,
        # Names only: values may be credentials.
        "headers": sorted(sub.headers),
        "created_at": sub.created_at.isoformat() if sub.created_at else None,
    }


def subscription_status_json(status: SubscriptionStatus) -> dict[str, Any]:
    """A subscription with its pending (and not yet queued) and dead deliveries."""
    return subscription_json(status.subscription) | {
        "pending": status.pending,
        "not_yet_queued": status.not_yet_queued,
        "dead": status.dead,
    }


# -- deliveries ----------------------------------------------------------------


async def deliver_due(store: WebhookStore, settings: Settings) -> DispatchReport:
    """Deliver what is due now (retries due later stay queued), prune, and report."""
    return await Dispatcher(store, dispatcher_config(settings)).run_once()


async def replay_deliveries(
    store: WebhookStore,
    *,
    dead_only: bool = False,
    since: datetime | None = None,
    event_id: int | None = None,
    subscription_id: str | None = None,
    now: datetime | None = None,
) -> int:
    """Queue delivered or dead-lettered deliveries again; how many were queued.

    At least one of ``dead_only``, ``since`` and ``event_id`` must narrow
    the replay: replaying everything ever delivered is never what is meant.
    """
    if not (dead_only or since is not None or event_id is not None):
        raise ConfigError("say what to replay: dead-lettered deliveries, a start time or an event")
    if subscription_id:
        # An unknown subscription is refused rather than replayed to nobody.
        await store.get_subscription(subscription_id)
    count = await store.replay(
        now or datetime.now(UTC),
        subscription_id=subscription_id,
        dead_only=dead_only,
        since=since,
        event_id=event_id,
    )
    log.info("webhooks.replayed", deliveries=count)
    return count


@dataclass(frozen=True, slots=True)
class DeliveryLog:
    """An event, its deliveries (one per subscription that wanted it) and every attempt."""

    event_id: int
    #: None once pruned (its deliveries may outlive it).
    event: ChangeEvent | None
    deliveries: tuple[DeliveryRecord, ...]
    attempts: tuple[AttemptRecord, ...]


async def find_delivery_log(store: WebhookStore, event_id: int) -> DeliveryLog | None:
    """The deliveries and attempts of an event; None if neither it nor a delivery of it exists."""
    event = await store.get_event(event_id)
    deliveries, attempts = await store.delivery_log(event_id)
    if event is None and not deliveries:
        return None
    return DeliveryLog(
        event_id=event_id, event=event, deliveries=tuple(deliveries), attempts=tuple(attempts)
    )


async def delivery_log(store: WebhookStore, event_id: int) -> DeliveryLog:
    """The deliveries and attempts of an event; ConfigError (``event_id``) if there is none."""
    found = await find_delivery_log(store, event_id)
    if found is None:
        raise ConfigError(f"no event {message_id(event_id)}", field="event_id")
    return found


def delivery_log_json(entry: DeliveryLog) -> dict[str, Any]:
    """A delivery log as plain JSON data (times as datetimes, for the caller to render)."""
    return {
        "event": event_json(entry.event) if entry.event else None,
        "deliveries": [
            {
                "subscription_id": d.subscription_id,
                "status": d.status.value,
                "attempts": d.attempts,
                "next_attempt_at": d.next_attempt_at,
                "last_status_code": d.last_status_code,
                "last_error": d.last_error,
                "delivered_at": d.delivered_at,
            }
            for d in entry.deliveries
        ],
        "attempts": [
            {
                "subscription_id": a.subscription_id,
                "attempt": a.attempt,
                "attempted_at": a.attempted_at,
                "status_code": a.status_code,
                "latency_ms": round(a.latency_ms, 2),
                "error": a.error,
                "response": a.response,
            }
            for a in entry.attempts
        ],
    }


async def subscription_deliveries(
    store: SqlWebhookStore, subscription_id: str, *, before: int | None = None, limit: int = 50
) -> DeliveryPage:
    """A subscription's deliveries with event ids below ``before``, newest first."""
    return await delivery_page(store.engine, subscription_id, before=before, limit=limit)
