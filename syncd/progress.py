"""Terminal output: progress bars while syncing, and tables that fit the terminal.

Every table wraps a cell rather than cut it with "…": ids and reasons are
what an operator copies into the next command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

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
        colour = {RunStatus.SUCCESS: "green", RunStatus.FAILED: "red"}.get(status, "yellow")
        self._progress.update(
            task,
            total=counts.fetched or 1,
            completed=counts.fetched or 1,
            status=f"[{colour}]{status.value}",
        )


def _fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _fmt_short_time(value: datetime | None) -> str:
    return value.strftime("%m-%d %H:%M:%S") if value else "-"


def table(title: str | None, *headers: str, right: Sequence[str] = ()) -> Table:
    """A table whose cells wrap (or fold) rather than end in "…" when the terminal is narrow."""
    out = Table(title=title)
    for name in headers:
        out.add_column(name, justify="right" if name in right else "left", overflow="fold")
    return out


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a :class:`FittedTable`: its cells and how it may narrow."""

    header: str
    values: Sequence[str]
    #: The header at narrow widths; explained in the legend when ``meaning`` is set.
    short: str | None = None
    meaning: str | None = None
    #: The cells at narrow widths (e.g. times without their year), and what
    #: the legend then says of them (e.g. ``incr=incremental``).
    short_values: Sequence[str] | None = None
    short_values_meaning: str | None = None
    numeric: bool = False
    #: At the narrowest a column of zeros may go (the legend names it).
    zero_droppable: bool = False
    #: At narrow widths a column with one value in every row moves into the title.
    to_title: bool = False


@dataclass(frozen=True, slots=True)
class _Layout:
    short: bool
    boxed: bool
    gap: int
    drop_zeros: bool


#: From the most readable to the narrowest; the first that fits is drawn.
_LAYOUTS = (
    _Layout(short=False, boxed=True, gap=2, drop_zeros=False),
    _Layout(short=False, boxed=False, gap=2, drop_zeros=False),
    _Layout(short=True, boxed=False, gap=2, drop_zeros=False),
    _Layout(short=True, boxed=False, gap=1, drop_zeros=False),
    _Layout(short=True, boxed=False, gap=1, drop_zeros=True),
)


class FittedTable:
    """A table laid out for the width it is printed at, never truncating a cell.

    Wide: every header in full, in a box. Narrower: no box; then short
    headers, with a one-line legend under the table; then one space between
    columns; then columns of zeros left out (the legend names them). Only
    if even that is too wide are cells wrapped, still whole. ``after``
    lines (e.g. whole error messages) follow the legend.
    """

    def __init__(
        self,
        title: str,
        columns: Sequence[Column],
        *,
        row_styles: Sequence[str | None] = (),
        after: Sequence[str] = (),
    ) -> None:
        self.title = title
        self.columns = list(columns)
        self.row_styles = list(row_styles)
        self.after = list(after)

    def layout(self, width: int, console: Console, options: ConsoleOptions) -> tuple[Table, str]:
        """The table and its legend ("" for none) in the first layout that fits ``width``."""
        # Measured without a width limit: Measurement.get clamps to the limit.
        unbounded = options.update(max_width=1_000_000)
        for layout in _LAYOUTS:
            built, legend = self._build(layout)
            if Measurement.get(console, unbounded, built).maximum <= width:
                break
        return built, legend

    def _build(self, layout: _Layout) -> tuple[Table, str]:
        title = self.title
        columns: list[Column] = []
        dropped: list[str] = []
        for col in self.columns:
            values = set(col.values)
            # Blank cells (a total row) take no part in whether a column is uniform.
            shared = values - {""}
            if layout.short and col.to_title and len(shared) == 1:
                title = f"{title} ({next(iter(shared))})"
            elif layout.drop_zeros and col.zero_droppable and values == {"0"}:
                dropped.append(col.short or col.header)
            else:
                columns.append(col)
        if layout.boxed:
            out = Table(title=title)
        else:
            # collapse_padding halves the padding between columns: two spaces.
            out = Table(
                title=title,
                box=box.SIMPLE_HEAD,
                show_edge=False,
                pad_edge=False,
                collapse_padding=True,
                padding=(0, 1) if layout.gap == 2 else (0, 0),
            )
        legend: list[str] = []
        for col in columns:
            short = layout.short and col.short is not None
            if short and col.meaning:
                legend.append(f"{col.short}={col.meaning}")
            out.add_column(
                col.short if short and col.short else col.header,
                justify="right" if col.numeric else "left",
                overflow="fold",
            )
        cells: list[Sequence[str]] = []
        for col in columns:
            if layout.short and col.short_values is not None:
                cells.append(col.short_values)
                if col.short_values_meaning and col.short_values != col.values:
                    legend.append(col.short_values_meaning)
            else:
                cells.append(col.values)
        for i in range(len(self.columns[0].values) if self.columns else 0):
            style = self.row_styles[i] if i < len(self.row_styles) else None
            out.add_row(*(values[i] for values in cells), style=style)
        if dropped:
            legend.append(f"(all 0: {', '.join(dropped)})")
        return out, "  ".join(legend)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        built, legend = self.layout(options.max_width, console, options)
        yield built
        if legend:
            yield Text(legend, style="dim")
        for line in self.after:
            yield Text(line)


#: (counter, header, short header, meaning of the short header if not evident).
_COUNTS: tuple[tuple[str, str, str, str | None], ...] = (
    ("fetched", "fetched", "fetch", None),
    ("created", "created", "new", "created"),
    ("updated", "updated", "upd", "updated"),
    ("unchanged", "unchanged", "same", "unchanged"),
    ("deleted", "deleted", "del", None),
    ("quarantined", "quarantined", "quar", "quarantined"),
    ("requests", "requests", "req", None),
    ("retries", "retries", "retry", None),
)


def _count_columns(counts: Sequence[RunCounts]) -> list[Column]:
    return [
        Column(
            header,
            [str(getattr(c, name)) for c in counts],
            short=short,
            meaning=meaning,
            numeric=True,
            zero_droppable=True,
        )
        for name, header, short, meaning in _COUNTS
    ]


_INCR_MEANING = "incr=incremental"


def _short_mode(mode: str) -> str:
    return "incr" if mode == SyncMode.INCREMENTAL.value else mode


def summary_table(report: SyncReport, stored: Mapping[str, int]) -> FittedTable:
    """The end-of-run table: one row per model plus a total, fitted to the terminal."""
    outcomes = report.outcomes
    modes = [o.mode.value for o in outcomes]
    columns = [
        Column("model", [*(o.model for o in outcomes), "total"]),
        Column(
            "mode",
            [*modes, ""],
            short_values=[*(_short_mode(m) for m in modes), ""],
            short_values_meaning=_INCR_MEANING,
            to_title=True,
        ),
        Column("status", [*(o.status.value for o in outcomes), report.status.value]),
        *_count_columns([*(o.counts for o in outcomes), report.counts]),
        Column(
            "in cache",
            [*(str(stored.get(o.model, 0)) for o in outcomes), str(sum(stored.values()))],
            short="cache",
            numeric=True,
        ),
        Column(
            "seconds",
            [*(f"{o.seconds:.2f}" for o in outcomes), f"{report.seconds:.2f}"],
            short="secs",
            numeric=True,
        ),
    ]
    return FittedTable(
        f"sync {report.integration_id}: {report.status.value}",
        columns,
        row_styles=[*(None for _ in outcomes), "bold"],
    )


def short_ids(ids: Sequence[str], minimum: int = 8) -> dict[str, str]:
    """The shortest prefix (at least ``minimum`` characters) telling each id from the others."""
    unique = sorted(set(ids))
    longest = max((len(i) for i in unique), default=0)
    for length in range(minimum, longest + 1):
        if len({i[:length] for i in unique}) == len(unique):
            return {i: i[:length] for i in unique}
    return {i: i for i in unique}


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


def _duration(r: RunRecord) -> str:
    if r.ended_at is None:
        return "-"
    return f"{(r.ended_at - r.started_at).total_seconds():.1f}"


def runs_table(runs: Sequence[RunRecord], title: str, *, integration: bool = False) -> FittedTable:
    """Job-log rows with their run ids (a unique prefix, which ``jobs show`` accepts).

    Errors are not squeezed into a column: each follows the table, whole.
    """
    ids = short_ids([r.id for r in runs])
    columns = [Column("run", [ids[r.id] for r in runs])]
    if integration:
        columns.append(Column("integration", [r.integration_id for r in runs], short="integ"))
    columns += [
        Column("job", [r.model or "sync (all)" for r in runs]),
        Column(
            "mode",
            [r.mode for r in runs],
            short_values=[_short_mode(r.mode) for r in runs],
            short_values_meaning=_INCR_MEANING,
        ),
        Column("status", [r.status.value for r in runs]),
        Column(
            "started",
            [_fmt_time(r.started_at) for r in runs],
            short_values=[_fmt_short_time(r.started_at) for r in runs],
        ),
        # Narrow, the end time gives way to the run's length.
        Column(
            "ended",
            [_fmt_time(r.ended_at) for r in runs],
            short="secs",
            short_values=[_duration(r) for r in runs],
            numeric=True,
        ),
        *_count_columns([r.counts for r in runs]),
    ]
    errors = [
        f"{ids[r.id]} {r.integration_id}/{r.model or 'sync'}: {r.error}" for r in runs if r.error
    ]
    return FittedTable(title, columns, after=errors)


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
    out = table(
        "schedules", "integration", "job", "state", "trigger", "next run", "last run", "running on"
    )
    for s in rows:
        out.add_row(
            s.integration_id,
            s.job,
            s.state.value,
            _describe_trigger(s.trigger),
            _fmt_time(s.next_run_at),
            _fmt_time(s.last_run_at),
            s.lease_owner or "",
        )
    return out
