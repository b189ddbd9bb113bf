"""The webhook interface: subscriptions, their delivery queue and the change feed.

The types a dispatcher and the webhook API pass around, and the abstract
:class:`WebhookStore`; :class:`~syncd.store.webhooks.SqlWebhookStore`
implements it on the same database as :class:`~syncd.store.base.Store`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from syncd.domain import EventType

#: Every event type a subscription may trigger on.
EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)

#: Event types about one record: the only ones a model filter applies to.
DATA_EVENT_TYPES: frozenset[str] = frozenset({"DATA_NEW", "DATA_UPDATE", "DATA_DELETED"})


class SubscriptionState(StrEnum):
    """Whether a subscription is being delivered to (PAUSED ones keep queueing)."""

    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"


class DeliveryStatus(StrEnum):
    """Where one event stands with one subscription."""

    #: Due (or being attempted, or waiting for a retry).
    PENDING = "PENDING"
    #: Queued behind an earlier event of the same record; PENDING once that one ends.
    WAITING = "WAITING"
    DELIVERED = "DELIVERED"
    DEAD = "DEAD"


@dataclass(frozen=True, slots=True)
class Subscription:
    """A webhook endpoint and what it wants to hear about."""

    id: str
    url: str
    triggers: tuple[str, ...]
    #: None: every model.
    models: tuple[str, ...] | None
    headers: Mapping[str, str]
    #: ``whsec_…``; encrypted at rest.
    secret: str
    state: SubscriptionState = SubscriptionState.ACTIVE
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def matches(self, event_type: str, model: str | None) -> bool:
        """True if an event of this type (about a record of ``model``) goes to this endpoint."""
        if event_type not in self.triggers:
            return False
        if self.models is None or event_type not in DATA_EVENT_TYPES or model is None:
            return True
        return model in self.models


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One outbox event, with the ``data`` object of its webhook body."""

    id: int
    type: str
    created_at: datetime
    integration_id: str
    model: str | None
    record_id: str | None
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a dispatcher holds until its lease ends."""

    id: int
    subscription_id: str
    event_id: int
    #: Attempts made before this one.
    attempts: int
    first_attempt_at: datetime | None
    #: None when the event was pruned meanwhile.
    event: ChangeEvent | None
    #: The record whose events go out in order (None: no order to keep).
    order_key: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """Claimed deliveries and the subscriptions they go to (secrets decrypted)."""

    deliveries: list[ClaimedDelivery]
    subscriptions: Mapping[str, Subscription]


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """The result of one attempt and what becomes of the delivery."""

    delivery_id: int
    subscription_id: str
    event_id: int
    #: 1 for the first attempt.
    attempt: int
    attempted_at: datetime
    latency_ms: float
    status_code: int | None
    error: str | None
    response: str | None
    #: DELIVERED, PENDING (retry at ``next_attempt_at``) or DEAD.
    status: DeliveryStatus
    next_attempt_at: datetime | None = None
    #: The delivery's record key: its next event is released when this one ends.
    order_key: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One event's delivery to one subscription, as the log shows it."""

    subscription_id: str
    event_id: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One HTTP attempt of a delivery."""

    subscription_id: str
    event_id: int
    attempt: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    response: str | None


@dataclass(frozen=True, slots=True)
class WorkProbe:
    """What a dispatcher's idle poll learns in one query."""

    #: Events (or ids skipped over earlier) wait to be fanned out.
    fan_out_due: bool
    #: The earliest next attempt among deliveries of active subscriptions.
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class PruneCounts:
    """Rows removed by a retention prune."""

    events: int = 0
    deliveries: int = 0
    attempts: int = 0


class WebhookStore(abc.ABC):
    """Webhook subscriptions, their delivery queue and the change feed.

    Every method is one transaction. Deliveries are made from the outbox
    (``change_events``) by :meth:`fan_out`; dispatchers then :meth:`claim`
    due ones, post them and :meth:`record_outcomes`.
    """

    # -- subscriptions --------------------------------------------------------

    @abc.abstractmethod
    async def add_subscription(self, subscription: Subscription) -> Subscription:
        """Insert a subscription (secret encrypted); it hears only of events from now on."""

    @abc.abstractmethod
    async def get_subscription(self, subscription_id: str) -> Subscription:
        """One subscription; raises :class:`SubscriptionNotFound`."""

    @abc.abstractmethod
    async def list_subscriptions(self) -> list[Subscription]:
        """All subscriptions, oldest first."""

    @abc.abstractmethod
    async def remove_subscription(self, subscription_id: str) -> None:
        """Delete a subscription with its queued deliveries and their log."""

    @abc.abstractmethod
    async def set_subscription_state(self, subscription_id: str, state: SubscriptionState) -> None:
        """Pause (deliveries keep queueing) or resume a subscription."""

    @abc.abstractmethod
    async def set_subscription_secret(self, subscription_id: str, secret: str) -> None:
        """Replace a subscription's signing secret (effective for the next claim)."""

    @abc.abstractmethod
    async def delivery_counts(self) -> dict[str, dict[DeliveryStatus, int]]:
        """Pending, waiting and dead deliveries per subscription id."""

    # -- delivery -------------------------------------------------------------

    @abc.abstractmethod
    async def probe(self) -> WorkProbe:
        """Whether fan-out has work and when the next delivery is due (one cheap query)."""

    @abc.abstractmethod
    async def fan_out(self, now: datetime, *, limit: int, hold: timedelta) -> int:
        """Queue deliveries for up to ``limit`` new events; returns the events read.

        Events go to every subscription (active or paused) whose triggers and
        model filter match; an event of a record that already has one queued
        for the subscription is WAITING behind it. The deliveries and the
        advanced cursor commit together, and only one fan-out runs at a time.
        Ids skipped over because their transaction had not committed yet are
        looked for again for ``hold``.
        """

    @abc.abstractmethod
    async def claim(
        self,
        now: datetime,
        *,
        lease_until: datetime,
        limit: int,
        per_subscription: int,
        held: Mapping[str, int] | None = None,
    ) -> Claim:
        """Lease up to ``limit`` due deliveries of active subscriptions until ``lease_until``.

        A subscription gets at most ``per_subscription`` minus the deliveries
        of it the caller already holds (``held``: subscription id → count).
        Only PENDING deliveries are claimed, and a record has at most one
        PENDING per subscription, so its events go out in order. Several
        dispatchers never claim the same delivery: PostgreSQL skips rows
        others are claiming, SQLite serializes claimers with BEGIN IMMEDIATE.
        """

    @abc.abstractmethod
    async def release(self, delivery_ids: Sequence[int], now: datetime) -> None:
        """Hand claimed deliveries back unattempted: due again at ``now``."""

    @abc.abstractmethod
    async def record_outcomes(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        """Apply attempt outcomes to their deliveries and append them to the attempt log.

        A delivery that ends (DELIVERED or DEAD) releases the next WAITING
        event of its record to PENDING.
        """

    @abc.abstractmethod
    async def replay(
        self,
        now: datetime,
        *,
        subscription_id: str | None = None,
        dead_only: bool = False,
        since: datetime | None = None,
        event_id: int | None = None,
    ) -> int:
        """Queue matching delivered or dead deliveries again (attempts reset); returns how many.

        Per record they queue in event order, behind anything already queued.
        """

    @abc.abstractmethod
    async def delivery_log(self, event_id: int) -> tuple[list[DeliveryRecord], list[AttemptRecord]]:
        """An event's deliveries and every attempt made, oldest first."""

    # -- change feed ----------------------------------------------------------

    @abc.abstractmethod
    async def list_events(
        self,
        *,
        after: int = 0,
        model: str | None = None,
        limit: int = 100,
        created_before: datetime | None = None,
    ) -> list[ChangeEvent]:
        """Events with ids above ``after`` (the cursor), in id order.

        ``created_before`` leaves out the newest events: on PostgreSQL ids are
        handed out before commit, so a page read while a transaction is still
        open could skip its lower ids; a settle time keeps the cursor behind it.
        """

    @abc.abstractmethod
    async def get_event(self, event_id: int) -> ChangeEvent | None:
        """One event by id."""

    @abc.abstractmethod
    async def prune_events(self, before: datetime, *, batch: int = 5000) -> PruneCounts:
        """Delete events created before ``before`` with their delivered and dead deliveries.

        Events still queued for some subscription are kept, and so is the
        newest event (its id keeps SQLite from handing out old ids again).
        """
