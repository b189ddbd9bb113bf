"""Terminal tables fit the terminal: nothing is cut with "…", every figure is shown."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console, RenderableType

from syncd.domain import RunCounts, RunRecord, RunStatus, SyncMode
from syncd.model_run import ModelOutcome
from syncd.progress import runs_table, short_ids, summary_table
from syncd.runner import SyncReport

MODELS = ("properties", "units", "residents", "leases", "leads", "employees")
START = datetime(2026, 11, 30, 9, 15, 2, tzinfo=UTC)


def render(renderable: RenderableType, width: int) -> str:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def report(*, modes: tuple[SyncMode, ...] = (SyncMode.FULL,)) -> SyncReport:
    outcomes = []
    total = RunCounts()
    for i, model in enumerate(MODELS):
        counts = RunCounts(
            fetched=1000 + 111 * i,
            created=900 + i,
            updated=70 + i,
            unchanged=30 + i,
            deleted=5 + i,
            quarantined=i,
            requests=11 + i,
            retries=2 * i,
        )
        total.add(counts)
        outcomes.append(
            ModelOutcome(
                model=model,
                run_id=f"run-{i}",
                mode=modes[i % len(modes)],
                status=RunStatus.NEEDS_ATTENTION if model == "leases" else RunStatus.SUCCESS,
                counts=counts,
                error=None,
                seconds=1.5 + i,
            )
        )
    return SyncReport(
        root_run_id="root",
        integration_id="acme-homes",
        vendor="BUILDIUM",
        status=RunStatus.NEEDS_ATTENTION,
        outcomes=tuple(outcomes),
        counts=total,
        seconds=42.25,
    )


def figures(r: SyncReport) -> list[str]:
    out = []
    for c in [*(o.counts for o in r.outcomes), r.counts]:
        out += [str(getattr(c, name)) for name in c.as_dict() if name != "records_processed"]
    return out


@pytest.mark.parametrize("width", [80, 120, 200])
@pytest.mark.parametrize(
    "modes", [(SyncMode.FULL,), (SyncMode.INCREMENTAL, SyncMode.FULL)], ids=["one-mode", "mixed"]
)
def test_summary_fits_the_terminal_and_shows_every_figure(
    width: int, modes: tuple[SyncMode, ...]
) -> None:
    r = report(modes=modes)
    stored = {m: 2000 + i for i, m in enumerate(MODELS)}
    text = render(summary_table(r, stored), width)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    lines = text.splitlines()
    # Mixed modes, a long status and four-digit figures in every column are
    # more than 80 columns hold even abbreviated: there a cell may wrap.
    one_line = width > 80 or len(modes) == 1
    for model in MODELS:
        row = next(line for line in lines if re.match(rf"\W*{model}\b", line))
        status = "NEEDS_ATTENTION" if model == "leases" else "SUCCESS"
        assert (status if one_line else status[:7]) in row
    tokens = re.findall(r"[\w.]+", text)
    for figure in [*figures(r), *map(str, stored.values()), str(sum(stored.values())), "42.25"]:
        assert figure in tokens


def test_narrow_summary_abbreviates_with_a_one_line_legend() -> None:
    text = render(summary_table(report(), dict.fromkeys(MODELS, 1)), 80)
    lines = text.splitlines()
    legend = lines[-1]
    assert "new=created" in legend and "quar=quarantined" in legend
    assert "acme-homes" in lines[0] and "(full)" in lines[0]  # one mode: in the title
    header = next(line for line in lines if line.lstrip().startswith("model"))
    assert "quar" in header.split() and "quarantined" not in header


def test_wide_summary_keeps_the_full_headers() -> None:
    text = render(summary_table(report(), dict.fromkeys(MODELS, 1)), 200)
    assert "quarantined" in text and "in cache" in text and "=" not in text


def runs() -> list[RunRecord]:
    long_error = (
        "sweep held: 480 of 500 units in scope (96 %) were not seen by this run, more "
        "than the 10 % the guard allows without approval (syncd sweeps approve)"
    )
    rows = []
    for i, model in enumerate((None, *MODELS)):
        rows.append(
            RunRecord(
                id=f"3f2a9c{i:02d}-1111-4222-8333-44445555{i:04d}",
                root_run_id="3f2a9c00-1111-4222-8333-444455550000",
                parent_run_id=None if model is None else "3f2a9c00-1111-4222-8333-444455550000",
                integration_id="acme-homes-portfolio",
                vendor="BUILDIUM",
                model=model,
                mode="incremental",
                trigger="manual",
                status=RunStatus.NEEDS_ATTENTION if model == "units" else RunStatus.SUCCESS,
                started_at=START + timedelta(seconds=i),
                ended_at=START + timedelta(seconds=10 + i),
                counts=RunCounts(fetched=500 + i, created=400, updated=i, requests=3),
                error=long_error if model == "units" else None,
            )
        )
    return rows


@pytest.mark.parametrize("width", [80, 120, 200])
def test_runs_table_shows_ids_integration_and_whole_errors(width: int) -> None:
    rows = runs()
    text = render(runs_table(rows, title="job log", integration=True), width)
    assert "…" not in text
    ids = short_ids([r.id for r in rows])
    flat = " ".join(text.split())
    for r in rows:
        assert ids[r.id] in text
    assert "acme-homes-portfolio" in text
    # The reason is shown whole, however narrow the terminal.
    held = next(r for r in rows if r.error)
    assert f"{ids[held.id]} acme-homes-portfolio/units: {held.error}" in flat


def test_short_ids_are_unique_prefixes() -> None:
    assert short_ids(["12345678-a", "abcdef01-b"]) == {
        "12345678-a": "12345678",
        "abcdef01-b": "abcdef01",
    }
    ids = ["abcdef01x-1", "abcdef01y-2", "12345678z-3"]
    short = short_ids(ids)
    assert short == {i: i[:9] for i in ids}
    assert all(i.startswith(p) for i, p in short.items())
    assert len({len(p) for p in short.values()}) == 1
