"""One sync of one integration: fetch → transform → store, model by model.

Each page is stored in one transaction with its change events, quarantine
rows and checkpoint, so a crash resumes after the last stored page and a
failed run never advances the watermark past data that was not stored.

Events. Data events (DATA_NEW, DATA_UPDATE, DATA_DELETED) are not written
during a model's first sync (no earlier SUCCESS or NEEDS_ATTENTION run of it)
nor during a back-sync (trigger ``backsync``): every record would be "new".
The integration option ``emit_initial_events: true`` writes them anyway.
Lifecycle events are always written: JOB_FAILURE when a model run fails
(after the HTTP layer's retries) or its sweep is held, SYNC_COMPLETE when a
sync ends (unless stopped by a shutdown, which resumes later), and
FIRST_SYNC_COMPLETE with the first sync whose every model succeeded.

Deletions. Only a model run that fetched its whole scope may sweep: mode
FULL, not resumed from an earlier run's cursor, finished SUCCESS, and no
quarantined record without an id (it could be any record). A run whose
window has bounds (a date-window full run) only sweeps records whose stored
PMS date (the job's ``date_filter`` field) lies inside the window, and never
sweeps a model that stores no such date. The guard
(``sweep_max_share``, default 10 %) holds a larger sweep: the run ends
NEEDS_ATTENTION and ``syncd sweeps approve RUN_ID`` applies it later.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import structlog

from syncd.connectors.base import Connector, ConnectorOptions
from syncd.connectors.registry import get_connector_class
from syncd.domain import (
    SYNCED_STATUSES,
    Capability,
    Integration,
    OutboxEvent,
    RunCounts,
    RunRecord,
    RunStatus,
    SyncMode,
)
from syncd.errors import (
    StoreError,
    SyncdError,
    UnknownModel,
)
from syncd.events import job_failure_event, sync_complete_events
from syncd.integration_config import (
    apply_job_overrides,
    new_properties_are_enabled,
)
from syncd.jobs import ModelJob, VendorJobs, load_jobs
from syncd.model_run import (
    BACKSYNC_TRIGGER,
    ModelOutcome,
    ModelRunner,
    ProgressSink,
)
from syncd.nodes import default_node_id, process_gone
from syncd.store.base import DEFAULT_STALE_AFTER, Store
from syncd.transform.overrides import integration_transforms

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SyncReport:
    """How a whole sync ended."""

    root_run_id: str
    integration_id: str
    vendor: str
    status: RunStatus
    outcomes: tuple[ModelOutcome, ...]
    counts: RunCounts
    seconds: float
    error: str | None = None
    #: The run was stopped by a shutdown after a stored page (it resumes later).
    stopped: bool = False
    #: The job definitions or transforms could not be loaded (bad configuration).
    definitions_failed: bool = False

    @property
    def skipped(self) -> bool:
        """True when the sync did not run because another run was syncing the integration."""
        return self.status is RunStatus.SKIPPED and not self.outcomes

    @property
    def ok(self) -> bool:
        """True when every model succeeded."""
        return self.status is RunStatus.SUCCESS


@dataclass(slots=True)
class RunnerConfig:
    """Where the runner finds its definitions and how it windows incremental runs.

    ``owner`` is written into every run this runner records: the process
    recognizes its own orphaned runs by it (the scheduler sets it to the
    node id).
    """

    jobs_dir: Path | None = None
    transforms_dir: Path | None = None
    overlap: timedelta = timedelta(minutes=5)
    #: An unchanged record's ``last_seen`` is rewritten once it is this old.
    last_seen_resolution: timedelta = timedelta(hours=1)
    connector_overrides: dict[str, Any] = field(default_factory=dict)
    owner: str = field(default_factory=default_node_id)


def connector_options(
    jobs: VendorJobs, integration: Integration, **overrides: Any
) -> ConnectorOptions:
    """Connector tunables: job defaults, then integration options, then explicit overrides."""
    opts = dict(integration.options) | {k: v for k, v in overrides.items() if v is not None}
    defaults = ConnectorOptions()
    return ConnectorOptions(
        page_size=int(opts.get("page_size", jobs.page_size)),
        concurrency=int(opts.get("concurrency", jobs.concurrency)),
        rate_limit=float(opts.get("rate_limit_per_second", jobs.rate_limit_per_second)),
        rate_limit_wait=float(opts.get("rate_limit_wait_seconds", defaults.rate_limit_wait)),
        backoff_base=float(opts.get("backoff_base_seconds", defaults.backoff_base)),
        backoff_max=float(opts.get("backoff_max_seconds", defaults.backoff_max)),
        drift_records=int(opts.get("listing_drift_records", defaults.drift_records)),
        drift_share=float(opts.get("listing_drift_share", defaults.drift_share)),
        allowed_hosts=tuple(overrides.get("allowed_hosts") or ()),
        # Vendor options (``connector.<name>``), checked against the connector's option_keys.
        extra=dict(opts.get("connector", {})),
    )


def make_connector(
    integration: Integration,
    jobs: VendorJobs,
    config: RunnerConfig,
    base_url: str | None = None,
) -> Connector:
    """The connector of ``integration`` (not yet opened), tuned as its syncs are."""
    cls = get_connector_class(integration.vendor)
    url = (
        base_url
        or integration.base_url
        or cls.base_url_for(integration.environment.value, integration.credentials)
    )
    return cls(
        base_url=url,
        credentials=integration.credentials,
        options=connector_options(jobs, integration, **config.connector_overrides),
    )


class Runner:
    """Runs syncs; the same code path serves ``syncd run``, the demo and the daemon."""

    def __init__(self, store: Store, config: RunnerConfig | None = None) -> None:
        self.store = store
        self.config = config or RunnerConfig()
        # Runs this runner has in hand: any other RUNNING run recorded with
        # its owner is an orphan (e.g. its database connection was cut).
        self._live: set[str] = set()
        self._models = ModelRunner(store, self.config, self._live)

    def _connector(
        self, integration: Integration, jobs: VendorJobs, base_url: str | None = None
    ) -> Connector:
        return make_connector(integration, jobs, self.config, base_url)

    def plan(
        self,
        integration: Integration,
        models: Sequence[str] | None = None,
        *,
        jobs: VendorJobs | None = None,
    ) -> list[ModelJob]:
        """The jobs a run would execute, in dependency order (``jobs``: already loaded)."""
        if jobs is None:
            jobs = load_jobs(integration.vendor, self.config.jobs_dir)
        cls = get_connector_class(integration.vendor)
        caps = cls.capabilities()
        wanted = set(models) if models else None
        if wanted:
            unknown = sorted(wanted - {j.model for j in jobs.jobs})
            if unknown:
                raise UnknownModel(
                    f"{integration.vendor} has no job for model {unknown[0]!r} "
                    f"(known: {', '.join(j.model for j in jobs.jobs)})",
                    field="model",
                )
        overrides = integration.options.get("jobs", {})

        def enabled(job: ModelJob) -> bool:
            flag = overrides.get(job.model, {}).get("enabled")
            return job.enabled if flag is None else bool(flag)

        return [
            apply_job_overrides(j, integration.options)
            for j in jobs.jobs
            if ((wanted is None and enabled(j)) or (wanted is not None and j.model in wanted))
            and Capability.READ in caps.get(j.model, frozenset())
        ]

    async def run(
        self,
        integration: Integration,
        *,
        models: Sequence[str] | None = None,
        full: bool = False,
        trigger: str = "manual",
        progress: ProgressSink | None = None,
        should_stop: Callable[[], bool] | None = None,
        stale_after: timedelta | None = None,
        scheduled_for: datetime | None = None,
        coalesced_fires: int = 0,
    ) -> SyncReport:
        """Sync ``models`` (default: every enabled job) of ``integration``.

        ``scheduled_for`` is the fire time a scheduled run answers and
        ``coalesced_fires`` the fire times before it that passed while the
        previous run went on (both kept in the job log). When another run
        is syncing the integration, nothing runs: the sync is recorded as
        SKIPPED. Unknown ``models`` raise :class:`~syncd.errors.UnknownModel`
        before anything is recorded; job definitions or transforms that
        cannot be loaded fail the recorded run with a JOB_FAILURE event.
        """
        started = time.monotonic()
        stale = stale_after or DEFAULT_STALE_AFTER
        owner = self.config.owner
        # A back-sync re-fetches everything, whoever asks for it.
        full = full or trigger == BACKSYNC_TRIGGER
        root_mode = SyncMode.FULL if full else SyncMode.INCREMENTAL
        if models:
            try:
                self.plan(integration, models)
            except UnknownModel:
                raise
            except SyncdError:
                pass  # broken definitions: recorded as the run's failure below
        bound = log.bind(integration_id=integration.id, vendor=integration.vendor)
        # Every RUNNING run counts here, roots and stale ones too: a process
        # killed between two models leaves only its root running.
        owners = await self.store.running_owners(integration.id)
        gone = {o for o in owners if o != owner and process_gone(o)}
        for other in sorted(gone):
            # A process of this host that no longer exists (killed): its runs
            # need not wait out their heartbeats.
            await self.store.abandon_runs(
                integration.id, owner=other, reason=f"abandoned: its process {other} is gone"
            )
            bound.warning("sync.run.abandoned", owner=other)
        active = await self.store.active_runs(
            integration.id, stale_after=stale, owner=owner, live=self._live
        )
        if active:
            # A collision is a skip, not a failure: the other run is syncing
            # the same data right now.
            reason = "skipped: " + _busy(active)
            root_id = await self.store.record_skipped_run(
                integration=integration,
                mode=root_mode,
                trigger=trigger,
                reason=reason,
                scheduled_for=scheduled_for,
                owner=owner,
                coalesced_fires=coalesced_fires,
            )
            bound.info("sync.run.skipped", run_id=root_id, reason=reason)
            return SyncReport(
                root_run_id=root_id,
                integration_id=integration.id,
                vendor=integration.vendor,
                status=RunStatus.SKIPPED,
                outcomes=(),
                counts=RunCounts(),
                seconds=time.monotonic() - started,
                error=reason,
            )
        root_id = await self.store.start_run(
            integration=integration,
            model=None,
            mode=root_mode,
            trigger=trigger,
            stale_after=stale,
            scheduled_for=scheduled_for,
            owner=owner,
            live=self._live,
            coalesced_fires=coalesced_fires,
        )
        self._live.add(root_id)
        try:
            return await self._run_root(
                integration,
                root_id,
                root_mode,
                models=models,
                full=full,
                trigger=trigger,
                progress=progress,
                should_stop=should_stop,
                stale_after=stale,
                started=started,
            )
        finally:
            self._live.discard(root_id)

    async def _run_root(
        self,
        integration: Integration,
        root_id: str,
        root_mode: SyncMode,
        *,
        models: Sequence[str] | None,
        full: bool,
        trigger: str,
        progress: ProgressSink | None,
        should_stop: Callable[[], bool] | None,
        stale_after: timedelta,
        started: float,
    ) -> SyncReport:
        bound = log.bind(integration_id=integration.id, vendor=integration.vendor, run_id=root_id)
        try:
            jobs = load_jobs(integration.vendor, self.config.jobs_dir)
            plan = self.plan(integration, models, jobs=jobs)
            transforms = integration_transforms(integration, self.config.transforms_dir)
        except SyncdError as exc:
            # A broken jobs/ or transforms/ file: record the failure where
            # operators look (the job log, JOB_FAILURE, /readyz), not only a log line.
            reason = f"cannot load the job definitions or transforms: {exc}"
            event = job_failure_event(
                integration, root_id, root_id, None, root_mode, trigger, RunStatus.FAILED, reason
            )
            await self.store.finish_run(root_id, RunStatus.FAILED, None, reason, events=[event])
            bound.error("sync.run.failed", error=reason, error_type=type(exc).__name__)
            return SyncReport(
                root_run_id=root_id,
                integration_id=integration.id,
                vendor=integration.vendor,
                status=RunStatus.FAILED,
                outcomes=(),
                counts=RunCounts(),
                seconds=time.monotonic() - started,
                error=reason,
                definitions_failed=True,
            )
        bound.info("sync.run.started", models=[j.model for j in plan], mode=root_mode.value)
        outcomes: list[ModelOutcome] = []
        total = RunCounts()
        fatal: str | None = None
        stopped = False
        # Models that did not sync: their dependents are skipped (see _blocked).
        unsynced: set[str] = set()
        try:
            async with (
                _endpoint(integration) as base_url,
                self._connector(integration, jobs, base_url) as connector,
            ):
                for job in plan:
                    if should_stop and should_stop():
                        stopped = True
                        break
                    blocked = [d for d in job.depends_on if d in unsynced]
                    if blocked:
                        outcome = await self._models.skip_model(
                            integration,
                            job.model,
                            root_id,
                            trigger,
                            root_mode,
                            f"skipped: depends on {', '.join(blocked)}, which did not sync",
                        )
                    else:
                        outcome = await self._models.run_model(
                            integration,
                            connector,
                            transforms,
                            job,
                            full,
                            trigger,
                            root_id,
                            progress,
                            should_stop,
                            stale_after,
                        )
                    outcomes.append(outcome)
                    total.add(outcome.counts)
                    if job.model == "properties" and not new_properties_are_enabled(
                        integration.options
                    ):
                        # Properties held back by that run are disabled from here on.
                        integration = await self._with_stored_options(integration)
                    if outcome.status not in SYNCED_STATUSES:
                        unsynced.add(job.model)
                    if outcome.stopped:
                        stopped = True
                        break
                    if outcome.fatal:
                        fatal = outcome.error
                        break
        except BaseException as exc:
            # Cancellation or a store failure: record what we can, then re-raise.
            reason = "cancelled" if isinstance(exc, anyio.get_cancelled_exc_class()) else str(exc)
            with anyio.CancelScope(shield=True):
                try:
                    await self.store.finish_run(root_id, RunStatus.FAILED, None, reason)
                except StoreError:
                    bound.warning("sync.run.unrecorded", error=reason)
            bound.error("sync.run.failed", error=reason)
            raise
        status = _root_status(outcomes, fatal)
        if not plan:
            status = RunStatus.FAILED
            fatal = "no model to sync"
        if stopped:
            status = RunStatus.FAILED
            fatal = fatal or "stopped by shutdown; resumes from its checkpoint"
        error = fatal or next(
            (
                f"{o.model}: {o.error}"
                for o in outcomes
                if o.error and o.status is not RunStatus.SKIPPED
            ),
            None,
        )
        events: list[OutboxEvent] = []
        if outcomes and not stopped:
            events = await self._sync_events(
                integration, root_id, root_mode, trigger, status, outcomes
            )
        # The root's counts are its model runs' sum, computed by the store.
        await self.store.finish_run(root_id, status, None, error, events=events)
        seconds = time.monotonic() - started
        bound.info(
            "sync.run.finished",
            status=status.value,
            seconds=round(seconds, 3),
            **total.as_dict(),
        )
        return SyncReport(
            root_run_id=root_id,
            integration_id=integration.id,
            vendor=integration.vendor,
            status=status,
            outcomes=tuple(outcomes),
            counts=total,
            seconds=seconds,
            error=error,
            stopped=stopped,
        )

    async def _sync_events(
        self,
        integration: Integration,
        root_id: str,
        mode: SyncMode,
        trigger: str,
        status: RunStatus,
        outcomes: Sequence[ModelOutcome],
    ) -> list[OutboxEvent]:
        """The events of a finished sync; FIRST_SYNC_COMPLETE if no earlier one finished."""
        first = status in SYNCED_STATUSES and not await self.store.has_synced(integration.id, None)
        return sync_complete_events(
            integration,
            root_id,
            mode,
            trigger,
            status,
            [o.status for o in outcomes],
            first=first,
        )

    async def _with_stored_options(self, integration: Integration) -> Integration:
        """``integration`` with its options as stored now (properties held meanwhile)."""
        current = await self.store.get_integration(integration.id)
        return replace(integration, options=current.options)


def _root_status(outcomes: Sequence[ModelOutcome], fatal: str | None) -> RunStatus:
    """The sync's status from its models'.

    SUCCESS if every model succeeded; FAILED if any failed; else
    NEEDS_ATTENTION if a sweep is held, else SKIPPED if a model was skipped
    (another run was syncing it).
    """
    if not outcomes or fatal:
        return RunStatus.FAILED
    statuses = {o.status for o in outcomes}
    if statuses == {RunStatus.SUCCESS}:
        return RunStatus.SUCCESS
    if RunStatus.FAILED in statuses or RunStatus.RUNNING in statuses:
        return RunStatus.FAILED
    if RunStatus.NEEDS_ATTENTION in statuses:
        return RunStatus.NEEDS_ATTENTION
    return RunStatus.SKIPPED


def _busy(active: Sequence[RunRecord]) -> str:
    """Which run is syncing the integration, for a skipped run's record."""
    run = active[0]
    since = run.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"run {run.root_run_id or run.id} ({run.trigger}) is syncing {run.model} since {since} UTC"
    )


@contextlib.asynccontextmanager
async def _endpoint(integration: Integration) -> AsyncIterator[str | None]:
    """The base URL to sync from: a demo integration starts its own simulator first."""
    demo = integration.options.get("simulator")
    if not isinstance(demo, Mapping):
        yield None
        return
    from syncd.sim.demo import running_simulator

    async with running_simulator(integration.vendor, demo, integration.credentials) as url:
        yield url
