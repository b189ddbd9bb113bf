"""Templates and the filters they use: times, durations, run statuses, state badges.

Templates ship in the wheel beside this module (``templates/``); they are
compiled once per process and rendered synchronously, which for pages of
this size costs well under a millisecond.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup, escape

from syncd.domain import RunRecord, RunStatus

#: How a run status reads on the page.
STATUS_LABELS = {
    RunStatus.RUNNING: "Running",
    RunStatus.SUCCESS: "Success",
    RunStatus.FAILED: "Failed",
    RunStatus.PARTIAL: "Partly failed",
    RunStatus.NEEDS_ATTENTION: "Needs attention",
    RunStatus.SKIPPED: "Skipped",
}


def time_tag(moment: datetime | None, empty: str = "never") -> Markup:
    """A ``<time>``: UTC in the markup and on hover; the script shows the viewer's zone."""
    if moment is None:
        return Markup('<span class="muted">{}</span>').format(empty)
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    iso = utc.isoformat().replace("+00:00", "Z")
    shown = utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" title="{}" data-local>{}</time>').format(iso, shown, shown)


def duration(run: RunRecord, now: datetime | None = None) -> str:
    """How long a run took (or has taken so far)."""
    end = run.ended_at or now or datetime.now(UTC)
    seconds = max((end - run.started_at).total_seconds(), 0.0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    whole = timedelta(seconds=round(seconds))
    minutes, secs = divmod(whole.seconds + whole.days * 86400, 60)
    if minutes < 120:
        return f"{minutes} min {secs} s"
    return f"{minutes // 60} h {minutes % 60} min"


def status_badge(status: RunStatus | str) -> Markup:
    """A run status as a labelled badge."""
    value = RunStatus(status)
    label = STATUS_LABELS.get(value, value.value)
    css = value.value.lower().replace("_", "-")
    return Markup('<span class="badge status-{}">{}</span>').format(css, label)


def state_badge(state: str) -> Markup:
    """An integration state (disabled, enabled, syncing, failing) as a badge."""
    return Markup('<span class="badge state-{}">{}</span>').format(state, state.capitalize())


def access_badge(status: str) -> Markup:
    """A data-access result status as a badge."""
    css = status.lower()
    return Markup('<span class="badge access-{}">{}</span>').format(css, status)


def lines(text: str | None) -> Markup:
    """Text with its line breaks kept."""
    if not text:
        return Markup("")
    return Markup("<br>").join(escape(line) for line in text.splitlines())


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The dashboard's template environment (autoescaping on, unknown names an error)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("syncd.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        time=time_tag,
        duration=duration,
        status=status_badge,
        state=state_badge,
        access=access_badge,
        lines=lines,
    )
    return env


def render(template: str, values: dict[str, Any]) -> str:
    """Render one template with ``values``."""
    return environment().get_template(template).render(values)
