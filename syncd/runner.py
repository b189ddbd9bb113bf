"""One sync of one integration: fetch → transform → store, model by model.

Each page is stored in one transaction with its change events, quarantine
rows and checkpoint, so a crash resumes after the last stored page and a
failed run never advances the watermark past data that was not stored.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.abc
import structlog

from syncd.concurrency import unwrapped_task_group
from syncd.connectors.base import Connector, ConnectorOptions
from syncd.connectors.registry import get_connector_class
from syncd.domain import (
    Capability,
    Checkpoint,
    FetchWindow,
    Integration,
    NormalizedRecord,
    Page,
    QuarantinedRecord,
    RunCounts,
    RunStatus,
    SyncMode,
)
from syncd.errors import (
    AuthenticationError,
    ConnectorError,
    PermissionDenied,
    StoreError,
    SyncdError,
)
from syncd.jobs import ModelJob, VendorJobs, load_jobs
from syncd.store.base import DEFAULT_STALE_AFTER, PageProgress, Store
from syncd.transform import ModelTransform, TransformSet, load_transforms
from syncd.transform.loader import vendor_dirname

log = structlog.get_logger(__name__)


class ProgressSink(Protocol):
    """Receives progress of a run (the CLI draws bars from it)."""

    def model_started(self, model: str, mode: SyncMode) -> None:
        """A model's run began."""

    def page_stored(self, model: str, done: int, total: int | None) -> None:
        """``done`` records of ``model`` are stored; ``total`` if the PMS told."""

    def model_finished(self, model: str, status: RunStatus, counts: RunCounts) -> None:
        """A model's run ended."""


@dataclass(frozen=True, slots=True)
class ModelOutcome:
    """How one model's run ended."""

    model: str
    run_id: str
    mode: SyncMode
    status: RunStatus
    counts: RunCounts
    error: str | None
    seconds: float
    #: The failure would repeat for every model (e.g. refused credentials).
    fatal: bool = False
    #: Stopped by a shutdown after a stored page.
    stopped: bool = False
    #: 429 answers received (not kept in the job log; for metrics).
    throttled: int = 0


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

    @property
    def ok(self) -> bool:
        """True when every model succeeded."""
        return self.status is RunStatus.SUCCESS


@dataclass(slots=True)
class RunnerConfig:
    """Where the runner finds its definitions and how it windows incremental runs."""

    jobs_dir: Path | None = None
    transforms_dir: Path | None = None
    overlap: timedelta = timedelta(minutes=5)
    connector_overrides: dict[str, Any] = field(default_factory=dict)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def connector_options(
    jobs: VendorJobs, integration: Integration, **overrides: Any
) -> ConnectorOptions:
    """Connector tunables: job defaults, then integration options, then explicit overrides."""
    opts = dict(integration.options) | {k: v for k, v in overrides.items() if v is not None}
    return ConnectorOptions(
        page_size=int(opts.get("page_size", jobs.page_size)),
        concurrency=int(opts.get("concurrency", jobs.concurrency)),
        rate_limit=float(opts.get("rate_limit_per_second", jobs.rate_limit_per_second)),
    )


class Runner:
    """Runs syncs; the same code path serves ``syncd run``, the demo and the daemon."""

    def __init__(self, store: Store, config: RunnerConfig | None = None) -> None:
        self.store = store
        self.config = config or RunnerConfig()

    def _connector(self, integration: Integration, jobs: VendorJobs) -> Connector:
        cls = get_connector_class(integration.vendor)
        base_url = integration.base_url or cls.default_base_url(integration.environment.value)
        return cls(
            base_url=base_url,
            credentials=integration.credentials,
            options=connector_options(jobs, integration, **self.config.connector_overrides),
        )

    def plan(self, integration: Integration, models: Sequence[str] | None = None) -> list[ModelJob]:
        """The jobs a run would execute, in dependency order."""
        jobs = load_jobs(integration.vendor, self.config.jobs_dir)
        cls = get_connector_class(integration.vendor)
        caps = cls.capabilities()
        wanted = set(models) if models else None
        if wanted:
            unknown = sorted(wanted - {j.model for j in jobs.jobs})
            if unknown:
                raise SyncdError(
                    f"{integration.vendor} has no job for model {unknown[0]!r} "
                    f"(known: {', '.join(j.model for j in jobs.jobs)})"
                )
        overrides = integration.options.get("jobs", {})

        def enabled(job: ModelJob) -> bool:
            flag = overrides.get(job.model, {}).get("enabled")
            return job.enabled if flag is None else bool(flag)

        return [
            j
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
    ) -> SyncReport:
        """Sync ``models`` (default: every enabled job) of ``integration``."""
        started = time.monotonic()
        jobs = load_jobs(integration.vendor, self.config.jobs_dir)
        plan = self.plan(integration, models)
        root = self.config.transforms_dir
        transforms = load_transforms(
            integration.vendor,
            directory=root / vendor_dirname(integration.vendor) if root else None,
            enum_overrides=integration.options.get("enum_maps"),
        )
        root_mode = SyncMode.FULL if full else SyncMode.INCREMENTAL
        root_id = await self.store.start_run(
            integration=integration, model=None, mode=root_mode, trigger=trigger
        )
        bound = log.bind(integration_id=integration.id, vendor=integration.vendor, run_id=root_id)
        bound.info("sync.run.started", models=[j.model for j in plan], mode=root_mode.value)
        outcomes: list[ModelOutcome] = []
        total = RunCounts()
        fatal: str | None = None
        stopped = False
        try:
            async with self._connector(integration, jobs) as connector:
                for job in plan:
                    if should_stop and should_stop():
                        stopped = True
                        break
                    outcome = await self._run_model(
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
                    await self.store.finish_run(root_id, RunStatus.FAILED, total, reason)
                except StoreError:
                    bound.warning("sync.run.unrecorded", error=reason)
            bound.error("sync.run.failed", error=reason)
            raise
        status = (
            RunStatus.SUCCESS
            if outcomes and all(o.status is RunStatus.SUCCESS for o in outcomes) and not fatal
            else RunStatus.FAILED
        )
        if not plan:
            status = RunStatus.FAILED
            fatal = "no model to sync"
        if stopped:
            status = RunStatus.FAILED
            fatal = fatal or "stopped by shutdown; resumes from its checkpoint"
        error = fatal or next((f"{o.model}: {o.error}" for o in outcomes if o.error), None)
        await self.store.finish_run(root_id, status, total, error)
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

    async def _run_model(
        self,
        integration: Integration,
        connector: Connector,
        transforms: TransformSet,
        job: ModelJob,
        full: bool,
        trigger: str,
        root_id: str,
        progress: ProgressSink | None,
        should_stop: Callable[[], bool] | None = None,
        stale_after: timedelta | None = None,
    ) -> ModelOutcome:
        model = job.model
        started = time.monotonic()
        checkpoint = await self.store.get_checkpoint(integration.id, model)
        windowed = job.date_filter != "none" and connector.supports_window(model)
        mode, fetch_window, target, cursor = self._window(checkpoint, windowed, full)
        run_id = await self.store.start_run(
            integration=integration,
            model=model,
            mode=mode,
            trigger=trigger,
            parent_run_id=root_id,
            root_run_id=root_id,
            stale_after=stale_after or DEFAULT_STALE_AFTER,
        )
        bound = log.bind(integration_id=integration.id, model=model, run_id=run_id, mode=mode.value)
        bound.info(
            "sync.model.started",
            since=fetch_window.since.isoformat() if fetch_window.since else None,
            resume_cursor=cursor,
        )
        if progress:
            progress.model_started(model, mode)
        counts = RunCounts()
        stats_before = (
            connector.stats.requests,
            connector.stats.retries,
            connector.stats.throttled,
        )
        transform = transforms.for_model(model)
        saved = PageProgress(
            cursor=None,
            run_id=run_id,
            mode=mode,
            # The checkpoint remembers the watermark target as the window's end.
            window=FetchWindow(since=fetch_window.since, until=target),
        )
        status, error, fatal, stopped = RunStatus.SUCCESS, None, False, False
        try:
            # Fetch+transform and store run as two stages joined by a short
            # queue, so the next page is normalized while the database writes
            # this one. Pages are still stored strictly in order.
            send, receive = anyio.create_memory_object_stream[_Transformed](max_buffer_size=2)

            async def fetch_and_transform() -> None:
                async with send, connector.pages(model, fetch_window, cursor=cursor) as pages:
                    async for page in pages:
                        await send.send(await self._transform(integration, transform, page))

            async with unwrapped_task_group() as tg, receive:
                tg.start_soon(fetch_and_transform, name=f"fetch-{integration.id}-{model}")
                async for item in receive:
                    page, records, quarantined = item.page, item.records, item.quarantined
                    for q in quarantined:
                        bound.warning("sync.record.quarantined", x_id=q.x_id, reason=q.reason)
                    result = await self.store.store_page(
                        integration=integration,
                        model=model,
                        records=records,
                        quarantined=quarantined,
                        seen=item.seen,
                        source_hashes=item.source_hashes,
                        progress=PageProgress(
                            cursor=page.cursor, run_id=run_id, mode=mode, window=saved.window
                        ),
                        now=datetime.now(UTC),
                    )
                    counts.fetched += len(page.records)
                    counts.created += result.created
                    counts.updated += result.updated
                    counts.unchanged += result.unchanged
                    counts.quarantined += len(quarantined)
                    if progress:
                        progress.page_stored(model, counts.fetched, page.total)
                    if should_stop and should_stop():
                        # Leave after the page in hand: its checkpoint is committed.
                        raise _Stopped
            await self.store.complete_checkpoint(integration.id, model, target)
        except ConnectorError as exc:
            status, error = RunStatus.FAILED, _describe(exc)
            # Refused credentials fail every model the same way: stop at the first.
            fatal = isinstance(exc, AuthenticationError | PermissionDenied)
            bound.error("sync.model.failed", error=error, error_type=type(exc).__name__)
        except _Stopped:
            status, error, stopped = RunStatus.FAILED, "stopped by shutdown", True
            bound.warning("sync.model.stopped")
        except StoreError:
            raise
        except SyncdError as exc:
            status, error = RunStatus.FAILED, str(exc)
            bound.error("sync.model.failed", error=error, error_type=type(exc).__name__)
        except BaseException:
            counts.requests = connector.stats.requests - stats_before[0]
            counts.retries = connector.stats.retries - stats_before[1]
            with anyio.CancelScope(shield=True), contextlib.suppress(StoreError):
                await self.store.finish_run(run_id, RunStatus.FAILED, counts, "interrupted")
            raise
        counts.requests = connector.stats.requests - stats_before[0]
        counts.retries = connector.stats.retries - stats_before[1]
        await self.store.finish_run(run_id, status, counts, error)
        seconds = time.monotonic() - started
        bound.info(
            "sync.model.finished",
            status=status.value,
            seconds=round(seconds, 3),
            **counts.as_dict(),
        )
        if progress:
            progress.model_finished(model, status, counts)
        throttled = connector.stats.throttled - stats_before[2]
        return ModelOutcome(
            model, run_id, mode, status, counts, error, seconds, fatal, stopped, throttled
        )

    async def _transform(
        self, integration: Integration, transform: ModelTransform, page: Page
    ) -> _Transformed:
        """Normalize a page, skipping records whose source is unchanged since stored."""
        keys = [transform.source_key(raw) for raw in page.records]
        known = await self.store.known_sources(
            integration.id, transform.model, [k[0] for k in keys if k is not None]
        )
        seen: list[str] = []
        digests: dict[str, str] = {}
        todo = []
        for raw, key in zip(page.records, keys, strict=True):
            if key is not None and known.get(key[0]) == key[1]:
                seen.append(key[0])
                continue
            todo.append(raw)
            if key is not None:
                digests[key[0]] = key[1]
        records, quarantined = transform.transform_page(todo, integration.id)
        return _Transformed(page, records, quarantined, seen, digests)

    def _window(
        self, checkpoint: Checkpoint, windowed: bool, full: bool
    ) -> tuple[SyncMode, FetchWindow, datetime, str | None]:
        """(mode, window to ask the PMS, watermark to save on success, resume cursor)."""
        wanted = (
            SyncMode.FULL
            if full or not windowed or checkpoint.watermark is None
            else (SyncMode.INCREMENTAL)
        )
        if (
            checkpoint.cursor is not None
            and checkpoint.window is not None
            and checkpoint.window.until is not None
            and checkpoint.cursor_mode is wanted
        ):
            # An unfinished run of the same kind: resume it with its window.
            window = checkpoint.window
            fetch = FetchWindow() if wanted is SyncMode.FULL else window
            return wanted, fetch, window.until, checkpoint.cursor  # type: ignore[return-value]
        now = _utcnow()
        if wanted is SyncMode.FULL:
            return wanted, FetchWindow(), now, None
        assert checkpoint.watermark is not None
        since = checkpoint.watermark - self.config.overlap
        return wanted, FetchWindow(since=since, until=now), now, None


class _Stopped(Exception):
    """Raised inside a model run to leave it after the page in hand."""


@dataclass(frozen=True, slots=True)
class _Transformed:
    """A page and what the transform made of it."""

    page: Page
    records: list[NormalizedRecord]
    quarantined: list[QuarantinedRecord]
    #: x_ids returned unchanged at the source: not transformed again.
    seen: list[str]
    #: x_id → source digest of the transformed records.
    source_hashes: dict[str, str]


def _describe(exc: ConnectorError) -> str:
    where = f" (HTTP {exc.status})" if exc.status else ""
    return f"{type(exc).__name__}{where}: {exc}"
