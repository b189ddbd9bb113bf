"""The scheduler of ``syncd serve``: claims due schedules from the database and runs them.

State lives in the database, not in memory (DESIGN §5): every node polls
for due schedules, claims a few atomically with a lease, renews the lease
while the job runs, and gives it back with the next fire time. A node that
dies stops renewing; its lease expires and another node takes the job over,
resuming from the checkpoint.

A sync asked for on demand (a manual sync or a back-sync, see
:mod:`syncd.services.syncs`) is one more row of the same table: job
:data:`REQUEST_JOB`, due at once, its :class:`SyncRequest` in the trigger
column. Any node claims it like a schedule and deletes it once the run has
ended, so a request survives a restart and runs exactly once. While it is
leased no other job of its integration is claimed (one leased job per
integration), so scheduled runs wait until a back-sync is done.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import structlog

from syncd.domain import Environment, Schedule
from syncd.errors import IntegrationNotFound, RunConflict, StoreError, SyncdError
from syncd.jobs import SCHEDULED_JOBS, VendorJobs, load_jobs
from syncd.model_run import BACKSYNC_TRIGGER
from syncd.nodes import default_node_id
from syncd.runner import Runner, RunnerConfig, SyncReport
from syncd.store.base import Store
from syncd.triggers import (
    CronSpec,
    IntervalSpec,
    WeeklySpec,
    next_fire,
    parse_trigger,
    trigger_json,
)

__all__ = [
    "REQUEST_JOB",
    "Scheduler",
    "SchedulerConfig",
    "SyncRequest",
    "coalesced_fires",
    "default_node_id",
]

#: The job of a schedule row holding a sync asked for on demand (at most one
#: per integration: the table's key makes a second request a conflict).
REQUEST_JOB = "requested"


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """A manual sync or back-sync waiting in the schedules table for a node to run it."""

    back_sync: bool
    #: None: every enabled model.
    models: tuple[str, ...] | None
    requested_at: datetime

    @property
    def run_trigger(self) -> str:
        """The trigger its run is recorded with (``manual`` or ``backsync``)."""
        return BACKSYNC_TRIGGER if self.back_sync else "manual"

    def trigger_json(self) -> dict[str, Any]:
        """The request as the schedule row's trigger column stores it."""
        return {
            "type": "request",
            "back_sync": self.back_sync,
            "models": list(self.models) if self.models is not None else None,
            "requested_at": self.requested_at.isoformat(),
        }

    @classmethod
    def from_trigger(cls, data: Mapping[str, Any]) -> SyncRequest:
        """The request a row's trigger column holds (ValueError if it holds none)."""
        if data.get("type") != "request":
            raise ValueError(f"not a sync request: {dict(data)!r}")
        models = data.get("models")
        return cls(
            back_sync=bool(data.get("back_sync")),
            models=tuple(str(m) for m in models) if models else None,
            requested_at=datetime.fromisoformat(str(data["requested_at"])),
        )


#: Counting missed fire times stops here (a trigger of seconds left idle for days).
_MAX_COALESCED = 100_000


def coalesced_fires(
    spec: IntervalSpec | CronSpec | WeeklySpec, answered: datetime | None, now: datetime
) -> int:
    """Fire times strictly after ``answered`` and up to ``now``: missed while a run went on."""
    if answered is None:
        return 0
    count = 0
    fire = next_fire(spec, answered)
    while fire is not None and fire <= now and count < _MAX_COALESCED:
        count += 1
        fire = next_fire(spec, fire)
    return count


log = structlog.get_logger(__name__)


@dataclass(slots=True)
class SchedulerConfig:
    """Tunables of one scheduler (all from settings)."""

    node_id: str = field(default_factory=default_node_id)
    poll_interval: float = 1.0
    lease: timedelta = timedelta(seconds=60)
    max_concurrent: int = 4
    max_per_vendor: int = 4
    # A safety net: every change through syncd reconciles at once anyway.
    reconcile_every: float = 300.0
    jobs_dir: Path | None = None


class Scheduler:
    """Claims and runs due jobs until asked to stop."""

    def __init__(
        self,
        store: Store,
        runner: Runner,
        config: SchedulerConfig | None = None,
        *,
        on_tick: Callable[[], None] | None = None,
        on_report: Callable[[SyncReport], None] | None = None,
        on_lag: Callable[[float], None] | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.config = config or SchedulerConfig()
        # The runs this node records carry its id: it knows its own orphans.
        runner.config.owner = self.config.node_id
        self._on_tick = on_tick
        self._on_report = on_report
        self._on_lag = on_lag
        self._running: dict[tuple[str, str], Schedule] = {}
        self._vendor_slots: dict[str, anyio.Semaphore] = {}
        self._stopping = False
        self._wake = anyio.Event()
        self._idle = anyio.Event()
        self.stopped = anyio.Event()

    @property
    def node_id(self) -> str:
        """This node's id, as written into leases."""
        return self.config.node_id

    @property
    def leases_held(self) -> int:
        """Schedules this node is running now."""
        return len(self._running)

    def request_stop(self) -> None:
        """Stop claiming; running jobs stop after the page in hand."""
        self._stopping = True
        self._wake.set()

    def wake(self) -> None:
        """Check for due schedules now (after a configuration change)."""
        self._wake.set()

    def reconfigure(self, config: SchedulerConfig, runner_config: RunnerConfig) -> None:
        """Adopt new tunables (a reload); the node id and running jobs stay."""
        config.node_id = self.node_id
        runner_config.owner = self.node_id
        if config.max_per_vendor != self.config.max_per_vendor:
            # Jobs running now keep the slot they hold; new ones take the new limits.
            self._vendor_slots = {}
        self.config = config
        self.runner.config = runner_config
        self._wake.set()

    async def reconcile(self, now: datetime | None = None) -> None:
        """Make schedule rows match integrations and job definitions.

        Enabled production integrations get one row per scheduled job; a job
        that never ran is due at once, so enabling an integration starts its
        first sync. Disabled and sandbox integrations have no rows: they
        never run on their own.
        """
        now = now or datetime.now(UTC)
        wanted: dict[tuple[str, str], dict[str, object]] = {}
        vendor_jobs: dict[str, VendorJobs] = {}
        for integration in await self.store.list_integration_heads():
            if not integration.enabled or integration.environment is not Environment.PRODUCTION:
                continue
            if integration.vendor not in vendor_jobs:
                vendor_jobs[integration.vendor] = load_jobs(
                    integration.vendor, self.config.jobs_dir
                )
            jobs = vendor_jobs[integration.vendor]
            overrides = integration.options.get("schedules", {})
            for job in SCHEDULED_JOBS:
                spec = jobs.schedules.get(job)
                if job in overrides:
                    spec = parse_trigger(overrides[job]) if overrides[job] else None
                if spec is not None:
                    wanted[(integration.id, job)] = trigger_json(spec)
        existing = {(s.integration_id, s.job): s for s in await self.store.list_schedules()}
        new = [(k[0], k[1], t, now) for k, t in wanted.items() if k not in existing]
        await self.store.add_schedules(new)
        for key, trigger in wanted.items():
            current = existing.get(key)
            if current is not None and dict(current.trigger) != trigger:
                spec = parse_trigger(trigger)
                await self.store.put_schedule(
                    key[0], key[1], trigger, next_fire(spec, now), current.state
                )
        for key, current in existing.items():
            # A pending request is no schedule: it goes once it has run.
            if key not in wanted and current.lease_owner is None and key[1] != REQUEST_JOB:
                await self.store.delete_schedule(key[0], key[1])

    async def run(self) -> None:
        """Poll, claim and run jobs until :meth:`request_stop`; then wait for them."""
        last_reconcile = -math.inf
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._renew_leases, name="scheduler-lease-renewal")
                while not self._stopping:
                    try:
                        if anyio.current_time() - last_reconcile >= self.config.reconcile_every:
                            await self.reconcile()
                            last_reconcile = anyio.current_time()
                        pause = await self._claim_if_due(tg)
                        if self._on_tick:
                            self._on_tick()
                    except StoreError as exc:
                        # The database may come back: keep polling, never die of it.
                        log.warning("scheduler.store_unavailable", error=str(exc))
                        pause = self.config.poll_interval
                    with anyio.move_on_after(pause):
                        await self._wake.wait()
                    self._wake = anyio.Event()
                if self._running:
                    await self._idle.wait()
                tg.cancel_scope.cancel()
        finally:
            self.stopped.set()

    async def _claim_if_due(self, tg: anyio.abc.TaskGroup) -> float:
        """Claim when something is due; return how long to wait before looking again.

        One cheap query per idle poll: the earliest claimable fire time tells
        both whether to claim now and how long to sleep (never past it).
        """
        now = datetime.now(UTC)
        due = await self.store.next_due_at(now)
        if due is not None and due <= now and len(self._running) < self.config.max_concurrent:
            await self._claim(tg)
            due = await self.store.next_due_at(datetime.now(UTC))
        if due is None:
            return self.config.poll_interval
        wait = (due - datetime.now(UTC)).total_seconds()
        # A floor keeps a due row this node cannot take yet (all slots busy)
        # from turning the loop into a busy spin.
        return min(self.config.poll_interval, max(wait, 0.02))

    async def _claim(self, tg: anyio.abc.TaskGroup) -> None:
        free = self.config.max_concurrent - len(self._running)
        if free <= 0:
            return
        now = datetime.now(UTC)
        for schedule in await self.store.claim_due(self.node_id, now, self.config.lease, free):
            key = (schedule.integration_id, schedule.job)
            self._running[key] = schedule
            self._idle = anyio.Event()
            if self._on_lag and schedule.next_run_at is not None:
                self._on_lag((now - schedule.next_run_at).total_seconds())
            tg.start_soon(self._execute, schedule, name=f"job-{key[0]}-{key[1]}")

    async def _renew_leases(self) -> None:
        # Renew at a third of the lease so two missed renewals still hold it.
        interval = self.config.lease.total_seconds() / 3
        while True:
            await anyio.sleep(interval)
            if not self._running:
                continue
            until = datetime.now(UTC) + self.config.lease
            try:
                await self.store.renew_leases(self.node_id, list(self._running), until)
            except StoreError as exc:
                log.warning("scheduler.lease_renewal_failed", error=str(exc))

    async def _execute(self, schedule: Schedule) -> None:
        key = (schedule.integration_id, schedule.job)
        bound = log.bind(integration_id=key[0], job=key[1], node=self.node_id)
        bound.info("scheduler.job.started")
        status, stopped, retry_soon = "error", False, False
        request: SyncRequest | None = None
        try:
            if schedule.job == REQUEST_JOB:
                try:
                    request = SyncRequest.from_trigger(schedule.trigger)
                except (ValueError, KeyError, TypeError) as exc:
                    # Unreadable: dropped (released below), never retried forever.
                    bound.error("scheduler.request.invalid", error=str(exc))
                    return
            integration = await self.store.get_integration(schedule.integration_id)
            if request is not None and not integration.enabled:
                # Disabled after it was asked for: nothing runs it on its own.
                status = "dropped"
                bound.warning("scheduler.request.dropped", reason="integration disabled")
                return
            slots = self._vendor_slots.setdefault(
                integration.vendor, anyio.Semaphore(self.config.max_per_vendor)
            )
            async with slots:
                if self._stopping:
                    # Claimed just before shutdown: hand it back untouched.
                    stopped = True
                    return
                report = await self.runner.run(
                    integration,
                    models=request.models if request else None,
                    full=request.back_sync if request else schedule.job == "full",
                    trigger=request.run_trigger if request else "schedule",
                    scheduled_for=schedule.next_run_at,
                    coalesced_fires=schedule.coalesced_fires,
                    should_stop=lambda: self._stopping,
                    # Holding the claim proves an older run's node lost it. That
                    # node renewed every third of a lease until it died, so its
                    # run has been silent for at least two thirds of one.
                    stale_after=self.config.lease / 2,
                )
            status, stopped = report.status.value, report.stopped
            if report.skipped:
                # Another run (a manual one) is syncing the integration: this
                # fire time (or request) is answered once it is done, not dropped.
                retry_soon = True
                bound.info("scheduler.job.busy", error=report.error)
            if self._on_report:
                self._on_report(report)
        except IntegrationNotFound:
            status = "gone"
        except RunConflict as exc:
            # Another process still runs it (a manual `syncd run`, or a node
            # whose run has not gone silent long enough): try again soon.
            status, retry_soon = "busy", True
            bound.warning("scheduler.job.busy", error=str(exc))
        except SyncdError as exc:
            bound.error("scheduler.job.failed", error=str(exc), error_type=type(exc).__name__)
        finally:
            with anyio.CancelScope(shield=True):
                await self._release(
                    schedule,
                    bound,
                    stopped=stopped,
                    busy=retry_soon,
                    done=schedule.job == REQUEST_JOB,
                )
            self._running.pop(key, None)
            if not self._running:
                self._idle.set()
            bound.info("scheduler.job.finished", status=status)

    async def _release(
        self,
        schedule: Schedule,
        bound: structlog.typing.FilteringBoundLogger,
        *,
        stopped: bool,
        busy: bool,
        done: bool = False,
    ) -> None:
        """Give the claim back; ``done``: a request whose run ended, whose row goes."""
        now = datetime.now(UTC)
        next_run: datetime | None
        coalesced = schedule.coalesced_fires
        try:
            if done and not busy and not stopped:
                await self.store.delete_schedule(schedule.integration_id, schedule.job)
                return
            if busy:
                # Blocked by another run: the lease lapses shortly and the same
                # fire time is claimed again (by any node), not the next one.
                held = await self.store.defer_schedule(
                    self.node_id,
                    schedule.integration_id,
                    schedule.job,
                    until=now + self.config.lease / 2,
                )
            else:
                if stopped:
                    # Interrupted by shutdown: due again at once, on whichever node is up.
                    next_run = schedule.next_run_at or now
                else:
                    spec = parse_trigger(schedule.trigger)
                    next_run = next_fire(spec, now)
                    # Fire times that passed while this run went on coalesce
                    # into the next run, which records how many.
                    coalesced = coalesced_fires(spec, schedule.next_run_at, now)
                held = await self.store.release_schedule(
                    self.node_id,
                    schedule.integration_id,
                    schedule.job,
                    next_run_at=next_run,
                    last_run_at=now,
                    coalesced_fires=coalesced,
                )
        except StoreError as exc:
            # The lease simply expires and another node (or this one) retries.
            bound.warning("scheduler.release_failed", error=str(exc))
            return
        if not held:
            bound.warning("scheduler.lease_lost")
