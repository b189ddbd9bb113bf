"""The store interface: everything syncd keeps in its cache database.

The store knows unified models, integrations, runs, checkpoints, the change
outbox and the quarantine; it knows nothing of any PMS.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from syncd.domain import (
    Checkpoint,
    FetchWindow,
    Integration,
    NormalizedRecord,
    QuarantinedRecord,
    RunCounts,
    RunRecord,
    RunStatus,
    Schedule,
    ScheduleState,
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
    ) -> str:
        """Record a RUNNING run and return its id.

        For a model run, a RUNNING run of the same (integration, model) whose
        heartbeat is older than ``stale_after`` belonged to a process that
        died: it is marked FAILED first. A live one raises
        :class:`~syncd.errors.RunConflict` (the database enforces it too).
        """

    @abc.abstractmethod
    async def heartbeat_run(self, run_id: str) -> None:
        """Mark a run as alive (``start_run`` and every stored page do it too)."""

    @abc.abstractmethod
    async def finish_run(
        self, run_id: str, status: RunStatus, counts: RunCounts, error: str | None = None
    ) -> None:
        """Record a run's end, counts and error."""

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
    ) -> UpsertResult:
        """Upsert one page, its change events, quarantine rows and checkpoint atomically.

        Records whose content hash is unchanged only get ``last_seen``
        refreshed; created and updated ones get an outbox event. ``seen`` are
        x_ids the PMS returned unchanged at the source (not transformed
        again): they count as unchanged. ``source_hashes`` (x_id → digest)
        are stored with the records for the next run's comparison.
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
    ) -> bool:
        """Give a lease back with the next fire time; False if the lease was lost."""

    @abc.abstractmethod
    async def count_records(self, integration_id: str, model: str) -> int:
        """Live (not deleted) records of a model."""
