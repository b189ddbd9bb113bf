"""The store interface: everything syncd keeps in its cache database.

The store knows unified models, integrations, runs, checkpoints, the change
outbox and the quarantine; it knows nothing of any PMS.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from syncd.domain import (
    Checkpoint,
    EventType,
    FetchWindow,
    Integration,
    NormalizedRecord,
    OutboxEvent,
    QuarantinedRecord,
    RunCounts,
    RunRecord,
    RunStatus,
    Schedule,
    ScheduleState,
    SweepResult,
    SweepScope,
    SyncMode,
    UpsertResult,
)


@dataclass(frozen=True, slots=True)
class PageProgress:
    """The checkpoint to save with a page: resume after ``cursor`` in ``window``."""

    cursor: str | None
    run_id: str
    mode: SyncMode
    window: FetchWindow


#: A RUNNING run silent this long belonged to a process that died.
DEFAULT_STALE_AFTER = timedelta(minutes=15)


class Store(abc.ABC):
    """The cache database. Every method is one transaction."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise :class:`~syncd.errors.DatabaseUnavailable` if the database does not answer."""

    # -- integrations -------------------------------------------------------

    @abc.abstractmethod
    async def add_integration(self, integration: Integration) -> None:
        """Insert a new integration (credentials encrypted); id and name must be unique."""

    @abc.abstractmethod
    async def update_integration(self, integration: Integration) -> None:
        """Replace an existing integration's name, URL, credentials, options and state."""

    @abc.abstractmethod
    async def get_integration(self, id_or_name: str) -> Integration:
        """The integration with this id (or else name); raises IntegrationNotFound."""

    @abc.abstractmethod
    async def list_integrations(self) -> list[Integration]:
        """All integrations, by id."""

    @abc.abstractmethod
    async def list_integration_heads(self) -> list[Integration]:
        """All integrations without their credentials (empty mapping): cheap for scans."""

    @abc.abstractmethod
    async def set_enabled(self, integration_id: str, enabled: bool) -> None:
        """Enable or disable an integration."""

    @abc.abstractmethod
    async def remove_integration(
        self, integration_id: str, *, live_since: datetime | None = None
    ) -> dict[str, int]:
        """Delete an integration and everything kept of it, in one transaction.

        Goes: the integration (and its encrypted credentials), its schedules,
        checkpoints, cached records of every model, resident↔lease links,
        quarantine rows and job log. Change events already in the outbox stay
        until the retention prune, so subscribers still receive them. Returns
        the rows removed per table. Raises IntegrationNotFound; with
        ``live_since``, raises RunConflict (and removes nothing) while a run of
        the integration is RUNNING with a heartbeat at or after that time.
        """

    # -- runs ---------------------------------------------------------------

    @abc.abstractmethod
    async def start_run(
        self,
        *,
        integration: Integration,
        model: str | None,
        mode: SyncMode,
        trigger: str,
        parent_run_id: str | None = None,
        root_run_id: str | None = None,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        window: FetchWindow | None = None,
        scheduled_for: datetime | None = None,
        owner: str | None = None,
        live: Collection[str] = (),
        coalesced_fires: int = 0,
    ) -> str:
        """Record a RUNNING run and return its id.

        ``window`` is the fetch window a model run asks for: a deletion sweep
        (even one approved later) only considers records inside it.
        ``scheduled_for`` is the schedule fire time a scheduled run answers,
        ``coalesced_fires`` the fire times before it that passed while the
        previous run went on. ``owner`` names the process running it.

        Runs of dead processes in the same scope are marked FAILED first: a
        model run of the same (integration, model) whose heartbeat is older
        than ``stale_after``; a root run of the integration silent that long
        with no live model run (its counts become the sum of its model
        runs'); and at once, any RUNNING run of this ``owner`` whose id is not
        in ``live`` (the process knows it no longer runs it). A live model
        run raises :class:`~syncd.errors.RunConflict` (the database enforces
        it too).
        """

    @abc.abstractmethod
    async def record_skipped_run(
        self,
        *,
        integration: Integration,
        mode: SyncMode,
        trigger: str,
        reason: str,
        scheduled_for: datetime | None = None,
        owner: str | None = None,
        coalesced_fires: int = 0,
        model: str | None = None,
        parent_run_id: str | None = None,
    ) -> str:
        """Record a run that did not run (status SKIPPED, ``reason`` as its error).

        A whole sync (``model`` None), or one model run of the sync
        ``parent_run_id``. A skipped scheduled sync is recorded once per fire
        time: skipping the same ``scheduled_for`` again updates that record.
        Returns its id.
        """

    @abc.abstractmethod
    async def abandon_runs(self, integration_id: str, *, owner: str, reason: str) -> int:
        """Mark the RUNNING runs ``owner`` left of an integration FAILED with ``reason``.

        For runs of a process known to be gone (a root run's counts become
        the sum of its model runs'). Returns how many.
        """

    @abc.abstractmethod
    async def active_runs(
        self,
        integration_id: str,
        *,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        owner: str | None = None,
        live: Collection[str] = (),
    ) -> list[RunRecord]:
        """RUNNING model runs of an integration with a heartbeat within ``stale_after``.

        Runs of ``owner`` whose ids are not in ``live`` are orphans of this
        very process and are left out.
        """

    @abc.abstractmethod
    async def running_owners(self, integration_id: str) -> set[str]:
        """Owners of an integration's RUNNING runs (roots too, however old their heartbeat)."""

    @abc.abstractmethod
    async def heartbeat_run(self, run_id: str) -> None:
        """Mark a run as alive (``start_run`` and every stored page do it too)."""

    @abc.abstractmethod
    async def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        counts: RunCounts | None,
        error: str | None = None,
        events: Sequence[OutboxEvent] = (),
    ) -> None:
        """Record a run's end, counts and error, with ``events`` in the same transaction.

        ``counts`` None (a root run): the sum of its model runs' counts, so a
        parent always adds up to its children, interrupted ones included.
        """

    @abc.abstractmethod
    async def add_events(self, events: Sequence[OutboxEvent]) -> None:
        """Write events to the change outbox."""

    @abc.abstractmethod
    async def has_synced(self, integration_id: str, model: str | None) -> bool:
        """True if a finished run stored the model (``None``: a whole sync) before.

        Finished means SUCCESS or NEEDS_ATTENTION: a held sweep does not undo the
        stored data. Running and failed runs do not count.
        """

    @abc.abstractmethod
    async def list_runs(
        self,
        *,
        integration_id: str | None = None,
        root_run_id: str | None = None,
        status: RunStatus | None = None,
        limit: int = 50,
    ) -> list[RunRecord]:
        """Runs, newest first."""

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> RunRecord | None:
        """One run by id."""

    @abc.abstractmethod
    async def run_ids_with_prefix(self, prefix: str, *, limit: int) -> list[str]:
        """Up to ``limit`` run ids starting with ``prefix`` (hex digits and dashes), sorted."""

    @abc.abstractmethod
    async def last_root_run(self, integration_id: str) -> RunRecord | None:
        """The newest top-level run of an integration."""

    # -- sync ---------------------------------------------------------------

    @abc.abstractmethod
    async def get_checkpoint(self, integration_id: str, model: str) -> Checkpoint:
        """The checkpoint of a model (empty if it never synced)."""

    @abc.abstractmethod
    async def store_page(
        self,
        *,
        integration: Integration,
        model: str,
        records: Sequence[NormalizedRecord],
        quarantined: Sequence[QuarantinedRecord],
        progress: PageProgress,
        now: datetime,
        seen: Sequence[str] = (),
        source_hashes: Mapping[str, str] | None = None,
        events: bool = True,
        fetched: int = 0,
    ) -> UpsertResult:
        """Upsert one page, its change events, quarantine rows and checkpoint atomically.

        The run's counts grow with the page (``fetched`` records came from
        the PMS), so a running or killed run shows what it stored.

        Records whose content hash is unchanged only get ``last_seen`` (and
        the run id) refreshed, and so do quarantined ones: the PMS listed
        them, so no sweep may take them for deleted. ``seen`` are x_ids the
        PMS returned unchanged at the source (not transformed again): they
        count as unchanged. ``source_hashes`` (x_id → digest) are stored with
        the records for the next run's comparison.

        With ``events``, created records get a DATA_NEW event (with the full
        record), changed ones a DATA_UPDATE with the diff of their changed
        fields, and soft-deleted ones seen again are undeleted with a
        DATA_NEW marked ``"undeleted": true``. A record whose hash changed
        but none of its fields (a lease whose links alone changed) gets no event.
        """

    @abc.abstractmethod
    async def known_sources(
        self, integration_id: str, model: str, x_ids: Sequence[str]
    ) -> dict[str, str]:
        """x_id → stored source digest of the live records among ``x_ids``."""

    @abc.abstractmethod
    async def sweep(
        self, scope: SweepScope, *, max_share: float, events: bool, now: datetime
    ) -> SweepResult:
        """Soft-delete the live records of ``scope`` the run did not see, under a guard.

        Call it after the run stored its last page and before it finishes.
        If the candidates exceed ``max_share`` of the scope, or would be the
        whole non-empty scope, nothing is deleted and the result is ``held``.
        Otherwise each candidate gets ``deleted_at`` and (with ``events``) a
        DATA_DELETED event, all in one transaction.
        """

    @abc.abstractmethod
    async def approve_sweep(
        self,
        run_id: str,
        *,
        date_field: str | None,
        events: bool,
        now: datetime,
        excluded_properties: frozenset[str] = frozenset(),
    ) -> SweepResult:
        """Apply the sweep a NEEDS_ATTENTION model run held, without the guard.

        The candidates are recomputed as the live records of the run's scope
        last seen before the run started, so anything seen since is spared;
        records of ``excluded_properties`` (disabled ones) never are.
        The run becomes SUCCESS with its deleted count. Raises
        :class:`~syncd.errors.SweepError` for a run that is not held.
        """

    @abc.abstractmethod
    async def dismiss_sweep(self, run_id: str) -> None:
        """Drop the sweep a NEEDS_ATTENTION model run held (the run becomes SUCCESS)."""

    @abc.abstractmethod
    async def complete_checkpoint(
        self, integration_id: str, model: str, watermark: datetime | None
    ) -> None:
        """Mark a model's window done: save the watermark, clear the cursor."""

    # -- schedules ------------------------------------------------------------

    @abc.abstractmethod
    async def put_schedule(
        self,
        integration_id: str,
        job: str,
        trigger: Mapping[str, Any],
        next_run_at: datetime | None,
        state: ScheduleState = ScheduleState.ACTIVE,
    ) -> None:
        """Create or replace a schedule's trigger, next fire time and state (keeps its lease)."""

    @abc.abstractmethod
    async def delete_schedule(self, integration_id: str, job: str) -> None:
        """Remove a schedule (its integration was disabled or the job unscheduled)."""

    @abc.abstractmethod
    async def add_schedules(
        self, rows: Sequence[tuple[str, str, Mapping[str, Any], datetime | None]]
    ) -> None:
        """Insert many new ACTIVE schedules ``(integration_id, job, trigger, next_run_at)``."""

    @abc.abstractmethod
    async def list_schedules(self, integration_id: str | None = None) -> list[Schedule]:
        """Schedules ordered by next fire time."""

    @abc.abstractmethod
    async def set_schedule_state(
        self, integration_id: str, state: ScheduleState, job: str | None = None
    ) -> int:
        """Pause or resume one job (or all jobs) of an integration; returns rows changed."""

    @abc.abstractmethod
    async def claim_due(
        self, node: str, now: datetime, lease: timedelta, limit: int
    ) -> list[Schedule]:
        """Atomically lease up to ``limit`` due ACTIVE schedules whose lease is free or expired.

        No two nodes ever hold the same schedule: PostgreSQL skips rows other
        claimers have locked, SQLite serializes claimers with BEGIN IMMEDIATE.
        """

    @abc.abstractmethod
    async def next_due_at(self, now: datetime) -> datetime | None:
        """The earliest fire time among schedules :meth:`claim_due` could take at ``now``."""

    @abc.abstractmethod
    async def renew_leases(
        self, node: str, keys: Sequence[tuple[str, str]], until: datetime
    ) -> int:
        """Extend this node's leases; returns how many it still held."""

    @abc.abstractmethod
    async def release_schedule(
        self,
        node: str,
        integration_id: str,
        job: str,
        *,
        next_run_at: datetime | None,
        last_run_at: datetime | None,
        coalesced_fires: int = 0,
    ) -> bool:
        """Give a lease back with the next fire time; False if the lease was lost.

        ``coalesced_fires`` counts the fire times that passed while the run
        went on; the next claim hands it to the run that answers ``next_run_at``.
        """

    @abc.abstractmethod
    async def defer_schedule(
        self, node: str, integration_id: str, job: str, *, until: datetime
    ) -> bool:
        """Keep a claimed schedule's fire time but let its lease lapse at ``until``.

        The job was skipped (another run was syncing): once the lease lapses
        any node claims it again, and the run answers the same fire time.
        """

    @abc.abstractmethod
    async def count_records(self, integration_id: str, model: str) -> int:
        """Live (not deleted) records of a model."""


# -- webhooks -----------------------------------------------------------------

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
