"""The store interface: everything syncd keeps in its cache database.

The store knows unified models, integrations, runs, checkpoints, the change
outbox and the quarantine; it knows nothing of any PMS.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from syncd.domain import (
    Checkpoint,
    FetchWindow,
    Integration,
    NormalizedRecord,
    QuarantinedRecord,
    RunCounts,
    RunRecord,
    RunStatus,
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
    ) -> str:
        """Record a RUNNING run and return its id."""

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
        limit: int = 50,
    ) -> list[RunRecord]:
        """Runs, newest first."""

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

    @abc.abstractmethod
    async def count_records(self, integration_id: str, model: str) -> int:
        """Live (not deleted) records of a model."""
