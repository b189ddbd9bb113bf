"""Terminal output of runs: progress bars while syncing, a summary table after."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from syncd.domain import RunCounts, RunRecord, RunStatus, Schedule, SyncMode
from syncd.runner import SyncReport


class RichProgress:
    """A progress bar per model (a :class:`~syncd.runner.ProgressSink`)."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.fields[model]:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def model_started(self, model: str, mode: SyncMode) -> None:
        """Add the model's bar."""
        self._tasks[model] = self._progress.add_task(
            model, total=None, model=model, status=mode.value
        )

    def page_stored(self, model: str, done: int, total: int | None) -> None:
        """Advance the model's bar."""
        self._progress.update(self._tasks[model], completed=done, total=total)

    def model_finished(self, model: str, status: RunStatus, counts: RunCounts) -> None:
        """Close the model's bar."""
        task = self._tasks[model]
        colour = "green" if status is RunStatus.SUCCESS else "red"
        self._progress.update(
            task,
            total=counts.fetched or 1,
            completed=counts.fetched or 1,
            status=f"[{colour}]{status.value}",
        )


def _fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def summary_table(report: SyncReport, stored: Mapping[str, int]) -> Table:
    """The end-of-run table: one row per model plus a total."""
    table = Table(title=f"sync {report.integration_id}: {report.status.value}")
    for name in ("model", "mode", "status"):
        table.add_column(name)
    for name in ("fetched", "created", "updated", "unchanged", "quarantined", "requests"):
        table.add_column(name, justify="right")
    for name in ("retries", "in cache", "seconds"):
        table.add_column(name, justify="right")
    for o in report.outcomes:
        c = o.counts
        table.add_row(
            o.model,
            o.mode.value,
            o.status.value,
            str(c.fetched),
            str(c.created),
            str(c.updated),
            str(c.unchanged),
            str(c.quarantined),
            str(c.requests),
            str(c.retries),
            str(stored.get(o.model, 0)),
            f"{o.seconds:.2f}",
        )
    t = report.counts
    table.add_row(
        "total",
        "",
        report.status.value,
        str(t.fetched),
        str(t.created),
        str(t.updated),
        str(t.unchanged),
        str(t.quarantined),
        str(t.requests),
        str(t.retries),
        str(sum(stored.values())),
        f"{report.seconds:.2f}",
        style="bold",
    )
    return table


def report_json(report: SyncReport, stored: Mapping[str, int]) -> dict[str, Any]:
    """The run report as JSON-ready data."""
    return {
        "run_id": report.root_run_id,
        "integration_id": report.integration_id,
        "status": report.status.value,
        "seconds": round(report.seconds, 3),
        "error": report.error,
        "counts": counts_json(report.counts),
        "models": [
            {
                "model": o.model,
                "run_id": o.run_id,
                "mode": o.mode.value,
                "status": o.status.value,
                "error": o.error,
                "seconds": round(o.seconds, 3),
                "counts": counts_json(o.counts),
                "in_cache": stored.get(o.model, 0),
            }
            for o in report.outcomes
        ],
    }


def counts_json(c: RunCounts) -> dict[str, int]:
    """Counters as a dict, with records processed."""
    return c.as_dict()


def run_json(r: RunRecord) -> dict[str, Any]:
    """A job-log row as JSON-ready data."""
    return {
        "id": r.id,
        "root_run_id": r.root_run_id,
        "parent_run_id": r.parent_run_id,
        "integration_id": r.integration_id,
        "vendor": r.vendor,
        "job": r.model or "sync",
        "mode": r.mode,
        "trigger": r.trigger,
        "status": r.status.value,
        "started_at": r.started_at.isoformat(),
        "ended_at": r.ended_at.isoformat() if r.ended_at else None,
        "counts": counts_json(r.counts),
        "error": r.error,
        "scheduled_for": r.scheduled_for.isoformat() if r.scheduled_for else None,
    }


def runs_table(runs: Sequence[RunRecord], title: str) -> Table:
    """The "last ran jobs" table."""
    table = Table(title=title)
    for name in ("job", "mode", "status", "started", "ended", "fetched", "created", "updated"):
        table.add_column(name)
    for name in ("unchanged", "quarantined", "requests", "retries", "error"):
        table.add_column(name)
    for r in runs:
        c = r.counts
        table.add_row(
            r.model or "sync (all)",
            r.mode,
            r.status.value,
            _fmt_time(r.started_at),
            _fmt_time(r.ended_at),
            str(c.fetched),
            str(c.created),
            str(c.updated),
            str(c.unchanged),
            str(c.quarantined),
            str(c.requests),
            str(c.retries),
            (r.error or "")[:60],
        )
    return table


def schedule_json(s: Schedule) -> dict[str, Any]:
    """A schedule as JSON-ready data."""
    return {
        "integration_id": s.integration_id,
        "job": s.job,
        "state": s.state.value,
        "trigger": dict(s.trigger),
        "next_run_at": s.next_run_at.isoformat() if s.next_run_at else None,
        "last_run_at": s.last_run_at.isoformat() if s.last_run_at else None,
        "lease_owner": s.lease_owner,
        "lease_expires_at": s.lease_expires_at.isoformat() if s.lease_expires_at else None,
    }


def _describe_trigger(trigger: Mapping[str, Any]) -> str:
    kind = trigger.get("type")
    zone = trigger.get("timezone", "UTC")
    if kind == "interval":
        return f"every {trigger.get('seconds')} s"
    if kind == "cron":
        return f"cron {trigger.get('expression')} {zone}"
    return f"weekly slots ({len(trigger.get('slots', []))}) {zone}"


def schedules_table(rows: Sequence[Schedule]) -> Table:
    """Schedules with their next run times."""
    table = Table(title="schedules")
    for name in ("integration", "job", "state", "trigger", "next run", "last run", "running on"):
        table.add_column(name)
    for s in rows:
        table.add_row(
            s.integration_id,
            s.job,
            s.state.value,
            _describe_trigger(s.trigger),
            _fmt_time(s.next_run_at),
            _fmt_time(s.last_run_at),
            s.lease_owner or "",
        )
    return table
