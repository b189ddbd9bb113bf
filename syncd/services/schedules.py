"""Schedules: listing them, pausing and resuming them, and making them follow integrations.

An integration has one job schedule per scheduled job (``incremental``,
``full``): its trigger comes from the integration's options or the vendor's
job definitions, and while the integration is enabled (and production) a row
of the schedules table holds its next fire time, its pause state and its
lease. :func:`job_schedules` joins the two into one view, so a job whose
integration is disabled (or whose trigger is ``none``) is still shown, as
inactive with the reason.

A sync asked for on demand waits in the same table (job
:data:`~syncd.scheduler.REQUEST_JOB`); it is no schedule, so the functions
here leave it out (see :mod:`syncd.services.syncs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from syncd.app import runner_config, scheduler_config
from syncd.domain import Environment, Integration, Schedule, ScheduleState
from syncd.errors import ConfigError
from syncd.integration_config import effective
from syncd.jobs import SCHEDULED_JOBS, load_jobs
from syncd.runner import Runner
from syncd.scheduler import REQUEST_JOB, Scheduler
from syncd.settings import Settings
from syncd.store.base import Store

#: Seconds in each cadence of the reference's ``sync_frequency``/``sync_cadence``,
#: largest first (a month has no fixed length: it is not an interval).
CADENCES: dict[str, int] = {
    "WEEK": 604_800,
    "DAY": 86_400,
    "HOUR": 3_600,
    "MINUTE": 60,
    "SECOND": 1,
}


async def reconcile_schedules(store: Store, settings: Settings) -> None:
    """Make the schedule rows match the integrations and job definitions now.

    A running ``syncd serve`` would do it within its next pass; doing it at
    once makes a change (enabling, a new schedule) visible and due as soon
    as it is made.
    """
    runner = Runner(store, runner_config(settings))
    await Scheduler(store, runner, scheduler_config(settings)).reconcile()


async def list_schedules(store: Store, integration: str | None = None) -> list[Schedule]:
    """Every schedule, or those of one integration (id or name), with next run times."""
    integration_id = (await store.get_integration(integration)).id if integration else None
    rows = await store.list_schedules(integration_id)
    return [r for r in rows if r.job != REQUEST_JOB]


@dataclass(frozen=True, slots=True)
class ScheduleChange:
    """What pausing or resuming an integration's schedules changed."""

    integration_id: str
    state: ScheduleState
    #: None: every job of the integration.
    job: str | None
    #: Schedule rows the change touched.
    changed: int


def check_job(job: str) -> str:
    """``job`` if it is a scheduled job (ConfigError naming ``job`` otherwise)."""
    if job not in SCHEDULED_JOBS:
        raise ConfigError(f"unknown job {job!r} (jobs: {', '.join(SCHEDULED_JOBS)})", field="job")
    return job


async def set_schedules_state(
    store: Store, integration: str, state: ScheduleState, *, job: str | None = None
) -> ScheduleChange:
    """Pause or resume the schedules of an integration (id or name), or of one of its jobs.

    A pending manual sync or back-sync is not paused with them: it was asked
    for explicitly.
    """
    found = await store.get_integration(integration)
    jobs = [check_job(job)] if job is not None else list(SCHEDULED_JOBS)
    rows = {s.job for s in await store.list_schedules(found.id)}
    changed = 0
    for name in jobs:
        if name in rows:
            changed += await store.set_schedule_state(found.id, state, job=name)
    return ScheduleChange(integration_id=found.id, state=state, job=job, changed=changed)


# -- the job schedules view ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobSchedule:
    """One scheduled job of an integration: its trigger and whether and when it fires."""

    integration_id: str
    job: str
    #: None: unscheduled (``schedules.<job>: none``).
    trigger: Mapping[str, Any] | None
    #: Where the trigger comes from: "integration" or "jobs/<vendor>.yaml".
    source: str
    #: True when the daemon fires it (scheduled and not paused).
    active: bool
    #: Why it does not fire (None when active).
    inactive_reason: str | None
    next_run_at: datetime | None
    last_run_at: datetime | None
    #: A node holds its lease now (a run of it is going on).
    running: bool
    #: When the integration (and so its schedules) was created.
    created_at: datetime
    #: The last change syncd knows of: the last run, else the creation.
    updated_at: datetime

    @property
    def frequency(self) -> tuple[int, str] | None:
        """The trigger as (sync_frequency, sync_cadence) when it is a plain interval."""
        return interval_frequency(self.trigger)


def interval_frequency(trigger: Mapping[str, Any] | None) -> tuple[int, str] | None:
    """(count, cadence) of an interval trigger in its largest whole unit; None for others."""
    if not trigger or trigger.get("type") != "interval":
        return None
    seconds = int(trigger["seconds"])
    for cadence, size in CADENCES.items():
        if seconds % size == 0:
            return seconds // size, cadence
    return None  # pragma: no cover - SECOND divides every whole number


def frequency_trigger(frequency: int, cadence: str) -> dict[str, Any]:
    """The interval trigger of ``frequency`` times ``cadence`` (ConfigError naming the field)."""
    if cadence not in CADENCES:
        known = ", ".join(CADENCES)
        raise ConfigError(
            f"{cadence!r} is not a fixed interval (use {known}, or a cron trigger for months)",
            field="sync_cadence",
        )
    if isinstance(frequency, bool) or not isinstance(frequency, int) or frequency < 1:
        raise ConfigError(
            f"expected a whole number >= 1, got {frequency!r}", field="sync_frequency"
        )
    seconds = frequency * CADENCES[cadence]
    if seconds > 10 * 366 * 86_400:
        raise ConfigError("at most ten years between runs", field="sync_frequency")
    return {"type": "interval", "seconds": seconds, "timezone": "UTC"}


def _inactive_reason(integration: Integration, trigger: Any, row: Schedule | None) -> str | None:
    if trigger is None:
        return "unscheduled (its trigger is none)"
    if not integration.enabled:
        return "the integration is disabled"
    if integration.environment is not Environment.PRODUCTION:
        return "sandbox integrations sync on demand only"
    if row is None:
        # Enabled and scheduled, but not reconciled yet (the daemon does it).
        return "not scheduled yet"
    if row.state is ScheduleState.PAUSED:
        return "paused"
    if row.next_run_at is None:
        return "its trigger fires no more"
    return None


async def job_schedules(
    store: Store, settings: Settings, integration: str, *, job: str | None = None
) -> list[JobSchedule]:
    """The job schedules of an integration (id or name), in job order, or only ``job``'s."""
    found = await store.get_integration(integration)
    names = [check_job(job)] if job is not None else list(SCHEDULED_JOBS)
    jobs = load_jobs(found.vendor, settings.jobs_dir)
    config = {e.key: e for e in effective(found.options, jobs)}
    rows = {s.job: s for s in await store.list_schedules(found.id)}
    created = found.created_at or datetime.now(UTC)
    out = []
    for name in names:
        setting = config[f"schedules.{name}"]
        row = rows.get(name)
        reason = _inactive_reason(found, setting.value, row)
        last = row.last_run_at if row else None
        out.append(
            JobSchedule(
                integration_id=found.id,
                job=name,
                trigger=setting.value,
                source=setting.source,
                active=reason is None,
                inactive_reason=reason,
                next_run_at=row.next_run_at if row and reason is None else None,
                last_run_at=last,
                running=bool(row and row.lease_owner),
                created_at=created,
                updated_at=max(created, last) if last else created,
            )
        )
    return out


def job_schedule_json(s: JobSchedule) -> dict[str, Any]:
    """A job schedule as JSON-ready data (what ``syncd schedules show --json`` prints)."""
    frequency = s.frequency
    return {
        "integration_id": s.integration_id,
        "job": s.job,
        "status": "ACTIVE" if s.active else "INACTIVE",
        "inactive_reason": s.inactive_reason,
        "trigger": dict(s.trigger) if s.trigger is not None else None,
        "source": s.source,
        "sync_frequency": frequency[0] if frequency else None,
        "sync_cadence": frequency[1] if frequency else None,
        "next_run_at": s.next_run_at.isoformat() if s.next_run_at else None,
        "last_run_at": s.last_run_at.isoformat() if s.last_run_at else None,
        "running": s.running,
    }
