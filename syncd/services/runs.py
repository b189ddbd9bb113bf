"""Runs: syncing on request, the job log, and runs named by an operator.

An operator names a run by its whole id or a unique prefix of one (as the
job log tables show them).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from syncd.app import runner_config
from syncd.connectors.registry import get_connector_class
from syncd.domain import Capability, Integration, RunRecord, RunStatus
from syncd.errors import ConfigError, UnknownModel
from syncd.jobs import load_jobs
from syncd.runner import ProgressSink, Runner, SyncReport
from syncd.services.integrations import find_integration
from syncd.settings import Settings
from syncd.store.base import Store

#: Run ids are UUIDs: a prefix holds hex digits and dashes only (so LIKE needs no escaping).
_PREFIX = re.compile(r"^[0-9a-f-]{1,36}$")
#: Matches shown when a prefix is ambiguous.
_SHOWN = 5
#: The most runs one sync tree is read with (a root and its model runs).
_TREE_LIMIT = 500


async def resolve_run(store: Store, ref: str) -> RunRecord:
    """The run whose id is ``ref`` or, failing that, the one run whose id starts with it.

    Raises :class:`~syncd.errors.ConfigError` naming the problem when no run
    or more than one matches.
    """
    run = await store.get_run(ref)
    if run is not None:
        return run
    prefix = ref.strip().lower()
    if not _PREFIX.match(prefix):
        raise ConfigError(f"no run {ref!r}")
    ids = await store.run_ids_with_prefix(prefix, limit=_SHOWN + 1)
    if not ids:
        raise ConfigError(f"no run {ref!r}")
    if len(ids) > 1:
        shown = ", ".join(ids[:_SHOWN]) + (" and others" if len(ids) > _SHOWN else "")
        more = "more than " if len(ids) > _SHOWN else ""
        raise ConfigError(
            f"run id prefix {ref!r} is ambiguous: {more}{min(len(ids), _SHOWN)} run ids "
            f"start with it ({shown}); give more of the id"
        )
    found = await store.get_run(ids[0])
    if found is None:  # removed in between
        raise ConfigError(f"no run {ref!r}")
    return found


# -- the job log --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobLog:
    """A page of the job log, newest first, and the filters it was read with."""

    runs: tuple[RunRecord, ...]
    #: The integration asked for (None: every integration).
    integration_id: str | None
    status: RunStatus | None
    #: Whether the log holds any run of ``integration_id`` whatever its status,
    #: so an empty page can say "none with this status" rather than "none yet".
    has_runs: bool


async def job_log(
    store: Store,
    *,
    integration: str | None = None,
    status: RunStatus | None = None,
    limit: int = 50,
) -> JobLog:
    """Runs, newest first, of one integration (id or name) or all, optionally of one status."""
    integration_id = (await find_integration(store, integration)).id if integration else None
    runs = await store.list_runs(integration_id=integration_id, status=status, limit=limit)
    has_runs = bool(runs)
    if not runs and status is not None:
        has_runs = bool(await store.list_runs(integration_id=integration_id, limit=1))
    return JobLog(runs=tuple(runs), integration_id=integration_id, status=status, has_runs=has_runs)


@dataclass(frozen=True, slots=True)
class RunTree:
    """One whole sync: its root run first, then its model runs in the order they ran."""

    integration_id: str
    #: None: the integration never ran (``runs`` is empty).
    root_run_id: str | None
    runs: tuple[RunRecord, ...]


async def _tree(store: Store, integration_id: str, root_run_id: str) -> RunTree:
    """The runs of one root, ordered as :class:`RunTree` promises."""
    runs = await store.list_runs(root_run_id=root_run_id, limit=_TREE_LIMIT)
    runs.sort(key=lambda r: (r.parent_run_id is not None, r.started_at))
    return RunTree(integration_id=integration_id, root_run_id=root_run_id, runs=tuple(runs))


async def run_tree(store: Store, ref: str) -> RunTree:
    """The whole sync a run (id or unique id prefix, root or model run) belongs to."""
    run = await resolve_run(store, ref)
    return await _tree(store, run.integration_id, run.root_run_id or run.id)


async def last_run_tree(store: Store, integration: str) -> RunTree:
    """The last whole sync of an integration (id or name); empty if it never ran."""
    found = await find_integration(store, integration)
    last = await store.last_root_run(found.id)
    if last is None:
        return RunTree(integration_id=found.id, root_run_id=None, runs=())
    return await _tree(store, found.id, last.id)


# -- syncing on request -------------------------------------------------------


def _runner(store: Store, settings: Settings) -> Runner:
    """A runner configured from settings (on any store, not only SqlStore)."""
    return Runner(store, runner_config(settings))


def syncable_models(settings: Settings, integration: Integration) -> list[str]:
    """The models a sync of ``integration`` can read, in the order its jobs run."""
    capabilities = get_connector_class(integration.vendor).capabilities()
    return [
        j.model
        for j in load_jobs(integration.vendor, settings.jobs_dir).jobs
        if Capability.READ in capabilities.get(j.model, frozenset())
    ]


def check_models(
    runner: Runner, settings: Settings, integration: Integration, models: Sequence[str] | None
) -> None:
    """Refuse a model ``integration``'s vendor cannot sync (ConfigError, field ``models.<m>``).

    Checked before anything is recorded, so a mistyped model leaves no
    failed run in the job log.
    """
    if not models:
        return
    # The plan raises for broken definitions; a model the vendor lacks is
    # reported below, with the models it can sync.
    with contextlib.suppress(UnknownModel):
        runner.plan(integration, models)
    syncable = syncable_models(settings, integration)
    unknown = [m for m in models if m not in syncable]
    if unknown:
        raise ConfigError(
            f"integration {integration.id} ({integration.vendor}) cannot sync it; "
            f"its models: {', '.join(syncable)}",
            field=f"models.{unknown[0]}",
        )


async def sync_target(
    store: Store, settings: Settings, integration: str, models: Sequence[str] | None = None
) -> Integration:
    """The integration (id or name) to sync on request, its ``models`` checked.

    A disabled integration is a valid target: syncing on request is an
    operator's explicit act, whatever the scheduler does.
    """
    found = await store.get_integration(integration)
    check_models(_runner(store, settings), settings, found, models)
    return found


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """How a sync on request ended, and what the cache then holds."""

    report: SyncReport
    #: Live records in the cache of each model the sync ran.
    stored: Mapping[str, int]


async def sync_integration(
    store: Store,
    settings: Settings,
    integration: Integration,
    *,
    models: Sequence[str] | None = None,
    full: bool = False,
    progress: ProgressSink | None = None,
) -> SyncOutcome:
    """Sync ``integration`` now (all its models, or ``models``), recorded in the job log.

    A failed sync is told by the report (its status and error); cancelling
    this stops the run after its last stored page (recorded as FAILED).
    """
    runner = _runner(store, settings)
    report = await runner.run(integration, models=models, full=full, progress=progress)
    stored = {o.model: await store.count_records(integration.id, o.model) for o in report.outcomes}
    return SyncOutcome(report=report, stored=stored)
