"""What and when an integration syncs: its job schedules, its configuration, and
syncs asked for on demand (manual syncs and back-syncs).

The HTTP API (``/v1/admin/integrations/{id}/...``) and the CLI (``syncd
schedules set``, ``syncd integrations sync``) both call these functions.

A manual sync or back-sync is not run here: it is recorded as a pending
request (a row of the schedules table, see :mod:`syncd.scheduler`) that the
scheduler of any ``syncd serve`` node claims and runs, so it works with
several nodes and survives a restart. One request per integration may be
pending or running at a time; another is refused with
:class:`~syncd.errors.RunConflict`. Only an enabled integration takes
requests (a sandbox one too: sandboxes sync on demand only); a disabled one
is refused with :class:`IntegrationDisabled`, since the daemon leaves
disabled integrations alone (``syncd run`` still syncs one in the
foreground).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from syncd.domain import ScheduleState
from syncd.errors import ConfigError, RunConflict, SyncdError
from syncd.scheduler import REQUEST_JOB, SyncRequest
from syncd.services.integrations import (
    IntegrationConfig,
    SettingsDocument,
    configure_integration,
)
from syncd.services.runs import sync_target
from syncd.services.schedules import (
    JobSchedule,
    check_job,
    frequency_trigger,
    job_schedules,
    set_schedules_state,
)
from syncd.settings import Settings
from syncd.store.base import Store

log = structlog.get_logger(__name__)

#: "Leave the trigger as it is" (``None`` means unschedule).
KEEP: Any = object()


class IntegrationDisabled(SyncdError):
    """The integration is disabled: the daemon runs nothing of it (enable it first)."""


class NotScheduled(SyncdError):
    """A job schedule that has no row to pause or resume (disabled, sandbox, unscheduled)."""


def _nul_key(data: Any, path: str) -> str | None:
    """The dotted path of the first string (key or value) holding a NUL byte, if any.

    PostgreSQL refuses NUL in JSON text: caught here, it is a 400, not a 5xx.
    """
    if isinstance(data, str):
        return path if "\x00" in data else None
    if isinstance(data, Mapping):
        for key, value in data.items():
            inner = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return inner
            found = _nul_key(value, inner)
            if found is not None:
                return found
    if isinstance(data, list | tuple):
        for i, value in enumerate(data):
            found = _nul_key(value, f"{path}.{i}")
            if found is not None:
                return found
    return None


def _refuse_nul(data: Any, field: str) -> None:
    where = _nul_key(data, field)
    if where is not None:
        raise ConfigError("must not contain NUL characters", field=where.replace("\x00", ""))


def _renamed(exc: ConfigError, old: str, new: str) -> ConfigError:
    """``exc`` with its field ``old[.rest]`` named ``new[.rest]`` (the caller's name for it)."""
    field = exc.field or old
    message = str(exc).removeprefix(f"{exc.file}: " if exc.file else "")
    message = message.removeprefix(f"{field}: ")
    return ConfigError(message, field=new + field.removeprefix(old))


# -- job schedules ------------------------------------------------------------


async def set_job_schedule(
    store: Store,
    settings: Settings,
    integration: str,
    job: str,
    *,
    trigger: Any = KEEP,
    frequency: tuple[int, str] | None = None,
    active: bool | None = None,
) -> JobSchedule:
    """Change one job schedule of an integration (id or name) and return it as it now is.

    ``trigger`` (data or YAML text; None to unschedule) or ``frequency``
    ((count, cadence), an interval) replaces the trigger, validated like
    ``syncd integrations config --set schedules.<job>=...``, errors naming
    ``trigger[.field]``; the next fire time follows at once. ``active``
    resumes (True) or pauses (False) it; a job with no schedule row to pause
    (disabled or sandbox integration, or no trigger) is :class:`NotScheduled`.
    """
    check_job(job)
    if trigger is not KEEP and frequency is not None:
        raise ConfigError("give a trigger or a sync_frequency, not both", field="trigger")
    if trigger is KEEP and frequency is None and active is None:
        raise ConfigError(
            "nothing to change: give a trigger, a frequency or a status", field="body"
        )
    found = await store.get_integration(integration)
    if frequency is not None:
        trigger = frequency_trigger(*frequency)
    if trigger is not KEEP:
        _refuse_nul(trigger, "trigger")
        key = f"schedules.{job}"
        try:
            await configure_integration(store, settings, found.id, changes=[(key, trigger)])
        except ConfigError as exc:
            raise _renamed(exc, key, "trigger") from None
    if active is not None:
        state = ScheduleState.ACTIVE if active else ScheduleState.PAUSED
        change = await set_schedules_state(store, found.id, state, job=job)
        if not change.changed:
            (current,) = await job_schedules(store, settings, found.id, job=job)
            raise NotScheduled(
                f"job {job} of integration {found.id} has no schedule to "
                f"{'resume' if active else 'pause'}: {current.inactive_reason}"
            )
    (updated,) = await job_schedules(store, settings, found.id, job=job)
    return updated


# -- configuration ------------------------------------------------------------


async def integration_config(
    store: Store, settings: Settings, integration: str
) -> IntegrationConfig:
    """The effective configuration of an integration (id or name), each key with its source."""
    return await configure_integration(store, settings, integration)


async def update_integration_config(
    store: Store, settings: Settings, integration: str, changes: Mapping[str, Any]
) -> IntegrationConfig:
    """Apply a partial document of settings and return the effective configuration.

    ``changes`` takes the keys of ``syncd integrations config --set`` either
    dotted (``{"date_filters.leases.window_days": 90}``) or nested
    (``{"date_filters": {"leases": {"window_days": 90}}}``). Every value is
    validated before anything is stored; a ConfigError names
    ``settings.<key>``. Runs started after the change use it.
    """
    _refuse_nul(changes, "settings")
    document = SettingsDocument(data=dict(changes), source="settings")
    try:
        return await configure_integration(store, settings, integration, document=document)
    except ConfigError as exc:
        if exc.file != "settings":
            raise
        key = exc.field or ""
        raise _renamed(exc, key, f"settings.{key}" if key else "settings") from None


# -- syncs on demand ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueuedSync:
    """A manual sync or back-sync recorded for the scheduler to run."""

    integration_id: str
    request: SyncRequest


async def request_sync(
    store: Store,
    settings: Settings,
    integration: str,
    *,
    back_sync: bool = False,
    models: Sequence[str] | None = None,
) -> QueuedSync:
    """Ask the daemon to sync an integration (id or name) once, as soon as it can.

    A back-sync is a full run of every model (or of ``models``) with every
    date filter widened to all history, writing no data events; while it
    runs no other job of the integration starts. ``models`` the vendor
    cannot sync are a ConfigError naming ``models_to_sync``.
    """
    wanted = list(dict.fromkeys(models or ()))
    try:
        found = await sync_target(store, settings, integration, wanted or None)
    except ConfigError as exc:
        if not (exc.field or "").startswith("models"):
            raise
        message = str(exc).removeprefix(f"{exc.field}: ")
        unknown = (exc.field or "").partition(".")[2]
        raise ConfigError(
            f"{unknown!r}: {message}" if unknown else message, field="models_to_sync"
        ) from None
    if not found.enabled:
        raise IntegrationDisabled(
            f"integration {found.id} is disabled: enable it first "
            "(or sync it in the foreground with `syncd run`)"
        )
    now = datetime.now(UTC)
    request = SyncRequest(back_sync=back_sync, models=tuple(wanted) or None, requested_at=now)
    if not await store.add_schedule_if_absent(found.id, REQUEST_JOB, request.trigger_json(), now):
        raise RunConflict(await _pending_text(store, found.id))
    log.info(
        "sync.requested",
        integration_id=found.id,
        trigger=request.run_trigger,
        models=list(request.models or ()),
    )
    return QueuedSync(integration_id=found.id, request=request)


async def pending_request(store: Store, integration: str) -> SyncRequest | None:
    """The manual sync or back-sync of an integration (id or name) pending or running, if any."""
    found = await store.get_integration(integration)
    for row in await store.list_schedules(found.id):
        if row.job == REQUEST_JOB:
            try:
                return SyncRequest.from_trigger(row.trigger)
            except (ValueError, KeyError, TypeError):
                return None
    return None


async def _pending_text(store: Store, integration_id: str) -> str:
    rows = [r for r in await store.list_schedules(integration_id) if r.job == REQUEST_JOB]
    if not rows:  # finished in between: a retry will be accepted
        return f"a sync of integration {integration_id} was just requested; try again"
    row = rows[0]
    try:
        kind = "back-sync" if SyncRequest.from_trigger(row.trigger).back_sync else "manual sync"
    except (ValueError, KeyError, TypeError):
        kind = "sync"
    where = "running" if row.lease_owner else "pending"
    return f"a {kind} of integration {integration_id} is already {where}"
