"""The store interface: everything syncd keeps in its cache database.

The store knows unified models, integrations, runs, checkpoints, the change
outbox and the quarantine; it knows nothing of any PMS. :class:`Store` is
the whole of it, made of one interface per repository (:class:`Integrations`,
:class:`RunLog`, :class:`Records`, :class:`Sweeps`, :class:`Schedules`) so a
caller or a test double can name just the part it needs. Webhook
subscriptions and deliveries have their own interface in
:mod:`syncd.store.webhook_base`.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from syncd.domain import (
    Checkpoint,
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
    """The checkpoint to save with a page: resume after ``cursor`` in ``window``.

    ``checkpoint`` False stores the page within its run without touching the
    model's checkpoint (records read back one by one after a write, outside
    any listing).
    """

    cursor: str | None
    run_id: str
    mode: SyncMode
    window: FetchWindow
    checkpoint: bool = True


#: A RUNNING run silent this long belonged to a process that died.
DEFAULT_STALE_AFTER = timedelta(minutes=15)


class Integrations(abc.ABC):
    """The integrations syncd syncs, their encrypted credentials and options."""

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
    async def find_integration_head(self, id_or_name: str) -> Integration | None:
        """The integration with this id, or else this name, without its credentials."""

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


class RunLog(abc.ABC):
    """The job log: every sync run, its model runs, their counts and heartbeats."""

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


class Records(abc.ABC):
    """The cached records of every model, their checkpoints and quarantine."""

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
        refresh_before: datetime | None = None,
    ) -> UpsertResult:
        """Upsert one page, its change events, quarantine rows and checkpoint atomically.

        The run's counts grow with the page (``fetched`` records came from
        the PMS), so a running or killed run shows what it stored.

        Written records carry the run's id. Records whose content hash is
        unchanged are not rewritten: they, and quarantined ones, go into the
        run's seen pages, so no sweep of this run takes them for deleted.
        Their ``last_seen`` becomes ``now`` only where it is older than
        ``refresh_before`` (default ``now``: always). ``seen`` are x_ids the
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
    async def complete_checkpoint(
        self, integration_id: str, model: str, watermark: datetime | None
    ) -> None:
        """Mark a model's window done: save the watermark, clear the cursor."""

    @abc.abstractmethod
    async def count_records(self, integration_id: str, model: str) -> int:
        """Live (not deleted) records of a model."""


class Sweeps(abc.ABC):
    """Deletion sweeps: soft-deleting records a run no longer saw, under a guard."""

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
    async def release_seen(self, integration_id: str, model: str) -> int:
        """Drop the seen pages of the model's runs that have ended; returns how many.

        Call it when a model run has finished. While a sweep of the model is
        held, the pages are first folded into the records' ``last_seen``, so
        its approval still spares every record seen since the held run started.
        """


class Schedules(abc.ABC):
    """When each integration's jobs fire, and which node holds each one's lease."""

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
    async def add_schedule_if_absent(
        self, integration_id: str, job: str, trigger: Mapping[str, Any], next_run_at: datetime
    ) -> bool:
        """Insert one ACTIVE schedule unless the (integration, job) row exists; True if added."""

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


class Store(Integrations, RunLog, Records, Sweeps, Schedules):
    """The cache database. Every method is one transaction."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise :class:`~syncd.errors.DatabaseUnavailable` if the database does not answer."""
