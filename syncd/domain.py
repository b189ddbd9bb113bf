"""Domain values shared by connectors, transforms, the store and the runner."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

#: Namespace for syncd record ids; never change it, or every id changes.
ID_NAMESPACE = uuid.UUID("6f1c2a9e-5b0d-5c8e-9f3a-2d4b7e8a1c05")

RawRecord = dict[str, Any]


_NAMESPACE_BYTES = ID_NAMESPACE.bytes


def _v5_int(integration_id: str, model: str, x_id: str) -> int:
    digest = hashlib.sha1(
        _NAMESPACE_BYTES + f"{integration_id}\x1f{model}\x1f{x_id}".encode(),
        usedforsecurity=False,
    ).digest()
    value = int.from_bytes(digest[:16], "big")
    return (value & _V5_CLEAR) | _V5_SET


# UUIDv5 version and variant bits, set directly on the digest's integer.
_V5_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_V5_SET = (5 << 76) | (0x8000 << 48)


def record_id(integration_id: str, model: str, x_id: str) -> uuid.UUID:
    """syncd's stable id of a record: UUIDv5 of integration, model and PMS id.

    Deterministic so references between models resolve without look-ups and a
    re-created record keeps its id. Equal to ``uuid.uuid5(ID_NAMESPACE, name)``,
    computed without its per-call overhead (it runs several times per record).
    """
    return uuid.UUID(int=_v5_int(integration_id, model, x_id))


def record_key(integration_id: str, model: str, x_id: str) -> str:
    """:func:`record_id` as 32 hex digits, for bulk writes that need no UUID object."""
    return f"{_v5_int(integration_id, model, x_id):032x}"


class Environment(StrEnum):
    """Where an integration's PMS account lives."""

    PRODUCTION = "production"
    SANDBOX = "sandbox"


class SyncMode(StrEnum):
    """How much of a model a run asks the PMS for."""

    INCREMENTAL = "incremental"
    FULL = "full"


class RunStatus(StrEnum):
    """Status of a sync run in the job log."""

    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    PARTIAL = "PARTIAL"
    #: The data is stored but a deletion sweep was held by the guard: a
    #: human approves (``syncd sweeps approve``) or dismisses it.
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    #: Not run: another run was syncing the same data, or a model it
    #: depends on failed. Not a failure; the error column says why.
    SKIPPED = "SKIPPED"


#: Statuses of a run that stored its whole scope (a held sweep does not undo that).
SYNCED_STATUSES: frozenset[RunStatus] = frozenset({RunStatus.SUCCESS, RunStatus.NEEDS_ATTENTION})

#: The trigger of a run that reads back the records a write job wrote: it
#: stores them like a sync (events included) but is no sync of the model, so
#: it never counts as one having run or finished.
READ_BACK_TRIGGER = "write"


class EventType(StrEnum):
    """Change outbox event types (the webhook triggers)."""

    DATA_NEW = "DATA_NEW"
    DATA_UPDATE = "DATA_UPDATE"
    DATA_DELETED = "DATA_DELETED"
    SYNC_COMPLETE = "SYNC_COMPLETE"
    FIRST_SYNC_COMPLETE = "FIRST_SYNC_COMPLETE"
    JOB_FAILURE = "JOB_FAILURE"
    WRITE_OPERATION_SUCCESS = "WRITE_OPERATION_SUCCESS"
    WRITE_OPERATION_FAILURE = "WRITE_OPERATION_FAILURE"


class Capability(StrEnum):
    """What a connector can do with a model."""

    READ = "read"
    CREATE = "create"
    UPDATE = "update"


@dataclass(frozen=True, slots=True)
class FetchWindow:
    """The date filter of one fetch: records whose ``field`` date lies in [since, until).

    ``since`` None means from the beginning (a full fetch). ``field`` is the
    job's ``date_filter``: ``updated`` (last-update time) or ``created``.
    """

    since: datetime | None = None
    until: datetime | None = None
    field: str = "updated"

    @property
    def is_full(self) -> bool:
        """True when the window covers the whole model."""
        return self.since is None


@dataclass(frozen=True, slots=True)
class PropertyScope:
    """The properties a fetch may skip: ``excluded`` holds their PMS ids (disabled ones)."""

    excluded: frozenset[str] = frozenset()

    def includes(self, x_property_id: object) -> bool:
        """Whether data of the property ``x_property_id`` is wanted."""
        return x_property_id is None or str(x_property_id) not in self.excluded


#: Every property: the scope of a fetch when none is disabled.
ALL_PROPERTIES: Final = PropertyScope()


@dataclass(frozen=True, slots=True)
class Page:
    """One page of raw PMS records.

    ``cursor`` is the position to resume *after* this page (opaque to
    everyone but the connector); ``total`` is the PMS's count of the whole
    result set when it reports one.
    """

    model: str
    records: list[RawRecord]
    cursor: str | None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class ListingProof:
    """What a connector's pages proved about a listing, read when they end.

    ``listed`` counts the distinct records the pages carried, ``start`` the
    position the listing resumed at (0 for a whole listing) and
    ``announced`` the total the PMS announced last (None: it gives none).
    ``sweep_safe`` is True only when the pages provably cover every record
    that existed throughout the listing, so a record not seen is truly
    gone; ``note`` says why not, or what drift was seen and allowed.
    """

    listed: int
    start: int = 0
    announced: int | None = None
    sweep_safe: bool = True
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """A resident↔lease link derived from a lease record."""

    x_resident_id: str
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class NormalizedRecord:
    """A record in the unified model, ready for the store.

    ``values`` holds the model-specific columns plus ``x_property_id``,
    ``property_id`` and ``custom_data``; ``content_hash`` covers all of them
    and the links, so an unchanged hash means nothing to write.
    """

    x_id: str
    values: Mapping[str, Any]
    content_hash: str
    links: tuple[Link, ...] = ()


@dataclass(frozen=True, slots=True)
class QuarantinedRecord:
    """A raw record that failed to transform, with why."""

    x_id: str | None
    reason: str
    raw: RawRecord | Any


@dataclass(frozen=True, slots=True)
class Integration:
    """One customer's account at one PMS."""

    id: str
    name: str
    vendor: str
    environment: Environment
    enabled: bool
    base_url: str | None
    credentials: Mapping[str, str] = field(repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(slots=True)
class RunCounts:
    """Counters of one run (mutable while the run goes on)."""

    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    quarantined: int = 0
    requests: int = 0
    retries: int = 0

    @property
    def processed(self) -> int:
        """Records processed: every record fetched, whatever became of it."""
        return self.fetched

    def as_dict(self) -> dict[str, int]:
        """Every counter, plus records processed (the job log's and the logs' shape)."""
        values = {name: getattr(self, name) for name in COUNT_FIELDS}
        values["records_processed"] = self.processed
        return values

    def add(self, other: RunCounts) -> None:
        """Add another run's counts into this one."""
        for name in COUNT_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


#: The counters of a run, as stored in the job log.
COUNT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RunCounts))


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What one page's upsert did."""

    created: int
    updated: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Sync progress of one (integration, model).

    ``watermark`` is the end of the last completed window. ``cursor`` (with
    its run, mode and window) is set while a run is unfinished, so a crashed
    run resumes after the last stored page instead of starting over.
    """

    watermark: datetime | None = None
    cursor: str | None = None
    cursor_run_id: str | None = None
    cursor_mode: SyncMode | None = None
    window: FetchWindow | None = None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of the job log."""

    id: str
    root_run_id: str | None
    parent_run_id: str | None
    integration_id: str
    vendor: str
    model: str | None
    mode: str
    trigger: str
    status: RunStatus
    started_at: datetime
    ended_at: datetime | None
    counts: RunCounts
    error: str | None
    #: The schedule's fire time this run answered (None: not scheduled).
    scheduled_for: datetime | None = None
    #: The process that ran it (its node id).
    owner: str | None = None
    #: Fire times that passed while the previous run went on, answered by this one.
    coalesced_fires: int = 0


class ScheduleState(StrEnum):
    """Whether a schedule fires."""

    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"


@dataclass(frozen=True, slots=True)
class Schedule:
    """One (integration, job) schedule row: its trigger, next fire and lease."""

    integration_id: str
    job: str
    trigger: Mapping[str, Any]
    state: ScheduleState
    next_run_at: datetime | None
    last_run_at: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    #: Fire times missed while the last run went on (recorded by the next run).
    coalesced_fires: int = 0


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An event to write to the change outbox; ``payload`` is the webhook body's ``data``.

    Lifecycle events (SYNC_COMPLETE, JOB_FAILURE...) name no model or record.
    """

    integration_id: str
    vendor: str
    event_type: EventType
    payload: Mapping[str, Any]
    run_id: str | None = None
    model: str | None = None
    record_id: uuid.UUID | None = None
    x_id: str | None = None


@dataclass(frozen=True, slots=True)
class SweepScope:
    """What a deletion sweep may consider: one model of one integration, in a window.

    ``window`` is the fetch window the run asked for; when it has bounds, only
    records whose ``date_field`` (the stored PMS date the window filters on)
    lies inside it are in scope, and without a ``date_field`` nothing is.
    """

    integration_id: str
    vendor: str
    model: str
    run_id: str
    window: FetchWindow = FetchWindow()
    date_field: str | None = None
    #: PMS ids of disabled properties: their records are never candidates.
    excluded_properties: frozenset[str] = frozenset()

    @property
    def windowed(self) -> bool:
        """True when the run asked for a date window rather than everything."""
        return self.window.since is not None or self.window.until is not None


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What a deletion sweep found and did.

    ``scope`` counts the live records in scope before the sweep,
    ``candidates`` those the run did not see. ``held``: the guard refused
    (nothing deleted); ``skipped`` says why a run did not sweep at all.
    """

    scope: int = 0
    candidates: int = 0
    deleted: int = 0
    held: bool = False
    max_share: float = 0.0
    skipped: str | None = None

    @property
    def share(self) -> float:
        """Candidates as a share of the scope (0 for an empty scope)."""
        return self.candidates / self.scope if self.scope else 0.0

    def describe(self) -> str:
        """A one-line account for the job log and JOB_FAILURE events."""
        if self.skipped:
            return f"sweep skipped: {self.skipped}"
        verdict = "held" if self.held else f"{self.deleted} deleted"
        return (
            f"deletion sweep {verdict}: {self.candidates} of {self.scope} records not seen "
            f"({self.share:.1%}; threshold {self.max_share:.1%})"
        )
