"""Runs: syncing on request, the job log (whole or in filtered pages), and named runs.

An operator names a run by its whole id or a unique prefix of one (as the
job log tables show them).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from syncd.app import runner_config
from syncd.connectors.registry import get_connector_class
from syncd.domain import Capability, Integration, RunRecord, RunStatus
from syncd.errors import ConfigError, UnknownModel
from syncd.jobs import load_jobs
from syncd.model_run import ProgressSink
from syncd.runner import Runner, SyncReport
from syncd.services.integrations import find_integration
from syncd.settings import Settings
from syncd.store.base import Store
from syncd.store.runs import RunFilter, SqlRunLog

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


# -- the job log, paged (the HTTP API) ------------------------------------------

#: The job type of a root run (a whole sync); a model run's job type is its model.
SYNC_JOB = "sync"
#: ``time_range`` values: how far back from now a page of the job log reaches.
TIME_RANGES: Mapping[str, timedelta] = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
    "month": timedelta(days=30),
}
#: Fields the job log can be ordered by, and the column behind each.
JOB_ORDER_FIELDS: Mapping[str, str] = {
    "created_at": "started_at",
    "started_at": "started_at",
    "ended_at": "ended_at",
    "status": "status",
    "integration_id": "integration_id",
    "job_type": "model",
    "id": "id",
}


#: Status names the reference uses for syncd's own.
_STATUS_ALIASES: Mapping[str, RunStatus] = {"FAILURE": RunStatus.FAILED}
#: Every name :func:`run_status` accepts.
STATUS_NAMES: tuple[str, ...] = (*(s.value for s in RunStatus), *_STATUS_ALIASES)


def run_status(name: str) -> RunStatus:
    """A run status by name, syncd's (``FAILED``) or the reference's (``FAILURE``)."""
    if name in _STATUS_ALIASES:
        return _STATUS_ALIASES[name]
    try:
        return RunStatus(name)
    except ValueError:
        known = ", ".join(STATUS_NAMES)
        raise ConfigError(f"unknown status {name!r} (known: {known})", field="status") from None


def job_type(run: RunRecord) -> str:
    """What a run syncs: its model, or :data:`SYNC_JOB` for a whole sync."""
    return run.model or SYNC_JOB


@dataclass(frozen=True, slots=True)
class JobQuery:
    """A page of the job log to read: filters, order and paging."""

    integration_id: str | None = None
    #: Any of these statuses (empty: any).
    statuses: Sequence[RunStatus] = ()
    #: A model, or :data:`SYNC_JOB` for whole syncs.
    job_type: str | None = None
    #: Runs started at or after this time ...
    started_after: datetime | None = None
    #: ... and before this one.
    started_before: datetime | None = None
    #: A key of :data:`TIME_RANGES`: runs started within that much of now.
    time_range: str | None = None
    #: (field of :data:`JOB_ORDER_FIELDS`, descending) pairs.
    order: Sequence[tuple[str, bool]] = (("created_at", True),)
    offset: int = 0
    limit: int = 100


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of runs and how many match in all."""

    runs: tuple[RunRecord, ...]
    total: int


def _columns(order: Sequence[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """``order`` by column; ConfigError (``order-by``) for a field that cannot be ordered by."""
    columns: list[tuple[str, bool]] = []
    for name, desc in order:
        if name not in JOB_ORDER_FIELDS:
            raise ConfigError(f"cannot order by {name!r}", field="order-by")
        column = JOB_ORDER_FIELDS[name]
        if all(column != seen for seen, _ in columns):
            columns.append((column, desc))
    return columns


async def job_log_page(
    store: SqlRunLog, query: JobQuery, *, now: datetime | None = None
) -> JobPage:
    """A page of the job log; every filter is applied in the database.

    Raises ConfigError naming ``time_range``, ``before`` or ``order-by`` when
    one is wrong.
    """
    after = query.started_after
    if query.time_range is not None:
        if query.time_range not in TIME_RANGES:
            raise ConfigError(
                f"unknown time range {query.time_range!r} (known: {', '.join(TIME_RANGES)})",
                field="time_range",
            )
        since = (now or datetime.now(UTC)) - TIME_RANGES[query.time_range]
        after = since if after is None else max(after, since)
    if after is not None and query.started_before is not None and query.started_before <= after:
        raise ConfigError("must be later than the start of the range", field="before")
    sync_only = query.job_type == SYNC_JOB
    matching = RunFilter(
        integration_id=query.integration_id,
        statuses=tuple(query.statuses),
        model=None if sync_only else query.job_type,
        roots_only=sync_only,
        started_after=after,
        started_before=query.started_before,
    )
    runs, total = await store.page_runs(
        matching, order=_columns(query.order), offset=query.offset, limit=query.limit
    )
    return JobPage(runs=tuple(runs), total=total)


@dataclass(frozen=True, slots=True)
class JobTreePage:
    """A page of the runs of one sync, asked for by one of its runs."""

    #: The run asked for.
    run: RunRecord
    root_run_id: str
    runs: tuple[RunRecord, ...]
    total: int


async def job_tree_page(
    store: SqlRunLog,
    run_id: str,
    *,
    include_all: bool = True,
    order: Sequence[tuple[str, bool]] = (("started_at", False),),
    offset: int = 0,
    limit: int = 100,
) -> JobTreePage | None:
    """The runs of the sync ``run_id`` (exact id) belongs to; None if there is no such run.

    With ``include_all`` the page holds the whole sync (the root run first, by
    default order: it starts before its model runs); without, only the run.
    """
    run = await store.get_run(run_id)
    if run is None:
        return None
    root = run.root_run_id or run.id
    matching = RunFilter(root_run_id=root) if include_all else RunFilter(run_id=run.id)
    runs, total = await store.page_runs(matching, order=_columns(order), offset=offset, limit=limit)
    return JobTreePage(run=run, root_run_id=root, runs=tuple(runs), total=total)


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
