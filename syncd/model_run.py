"""One model's run: fetch, transform and store its pages, then sweep what the PMS no longer lists.

:class:`ModelRunner` does the part of a sync that concerns one model of one
integration: it records the model's run in the job log, asks the connector
for pages within the job's date window and the integration's property
scope, normalizes them (skipping records whose source is unchanged), stores
each page with its events and checkpoint in one transaction, and, when the
listing is proven complete, sweeps the records it no longer holds. The root
run around it (which models, in what order, the sync's own events) is
:class:`syncd.runner.Runner`'s.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.abc
import structlog

from syncd.concurrency import unwrapped_task_group
from syncd.connectors.base import Connector
from syncd.domain import (
    Checkpoint,
    FetchWindow,
    Integration,
    ListingProof,
    NormalizedRecord,
    Page,
    PropertyScope,
    QuarantinedRecord,
    RunCounts,
    RunStatus,
    SweepResult,
    SweepScope,
    SyncMode,
)
from syncd.errors import (
    AuthenticationError,
    ConnectorError,
    IncompleteListing,
    PermissionDenied,
    RunConflict,
    StoreError,
    SyncdError,
)
from syncd.events import job_failure_event
from syncd.integration_config import (
    disabled_properties,
    emit_initial_events,
    new_properties_are_enabled,
    sweep_max_share,
)
from syncd.jobs import ModelJob
from syncd.models import MODELS
from syncd.store.base import DEFAULT_STALE_AFTER, PageProgress, Store
from syncd.transform import ModelTransform, TransformSet

log = structlog.get_logger(__name__)

#: The trigger of a back-sync (a re-fetch of history): a full run of every
#: model with its date filters widened to all history (no ``window_days``),
#: and no data events.
BACKSYNC_TRIGGER = "backsync"

#: The stored PMS date each ``date_filter`` windows on.
_DATE_FIELDS = {"updated": "x_updated_at", "created": "x_created_at"}

if TYPE_CHECKING:
    from syncd.runner import RunnerConfig


def sweep_date_field(job: ModelJob) -> str | None:
    """The stored column a date-window run of ``job`` filters on; None if the model has none."""
    name = _DATE_FIELDS.get(job.date_filter)
    if name is None or name not in MODELS[job.model].column_names:
        return None
    return name


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


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class ModelRunner:
    """Runs one model of an integration (see the module docstring)."""

    def __init__(self, store: Store, config: RunnerConfig, live: set[str]) -> None:
        self.store = store
        self.config = config
        # The runner's runs in hand (shared with it): a model run adds and
        # removes its own, so the store can tell orphans from live runs.
        self._live = live

    async def skip_model(
        self,
        integration: Integration,
        model: str,
        root_id: str,
        trigger: str,
        mode: SyncMode,
        reason: str,
    ) -> ModelOutcome:
        """Record a model run that did not run, with why."""
        run_id = await self.store.record_skipped_run(
            integration=integration,
            mode=mode,
            trigger=trigger,
            reason=reason,
            owner=self.config.owner,
            model=model,
            parent_run_id=root_id,
        )
        log.info(
            "sync.model.skipped",
            integration_id=integration.id,
            model=model,
            run_id=run_id,
            reason=reason,
        )
        return ModelOutcome(model, run_id, mode, RunStatus.SKIPPED, RunCounts(), reason, 0.0)

    async def _data_events_wanted(self, integration: Integration, model: str, trigger: str) -> bool:
        """False during a model's first sync or a back-sync, unless the integration opts in."""
        if emit_initial_events(integration.options):
            return True
        if trigger == BACKSYNC_TRIGGER:
            return False
        return await self.store.has_synced(integration.id, model)

    async def run_model(
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
        # The job's own date field goes to the PMS. A PMS that cannot filter
        # this model by it is listed whole (full mode), never by another date.
        windowed = job.date_filter != "none" and connector.supports_window(model, job.date_filter)
        if job.date_filter != "none" and not windowed:
            log.warning(
                "sync.date_filter.unsupported",
                integration_id=integration.id,
                model=model,
                date_filter=job.date_filter,
            )
        # A back-sync widens the date filter to all history: no window_days.
        all_history = trigger == BACKSYNC_TRIGGER
        window_days = job.window_days if windowed and not all_history else None
        mode, fetch_window, target, cursor = self._window(
            checkpoint, windowed, full, window_days, all_history=all_history
        )
        if windowed:
            fetch_window = replace(fetch_window, field=job.date_filter)
        emit = await self._data_events_wanted(integration, model, trigger)
        try:
            run_id = await self.store.start_run(
                integration=integration,
                model=model,
                mode=mode,
                trigger=trigger,
                parent_run_id=root_id,
                root_run_id=root_id,
                stale_after=stale_after or DEFAULT_STALE_AFTER,
                window=fetch_window,
                owner=self.config.owner,
                live=self._live,
            )
        except RunConflict as exc:
            # Another run started this model since the sync began: a skip.
            return await self.skip_model(
                integration, model, root_id, trigger, mode, f"skipped: {exc}"
            )
        self._live.add(run_id)
        try:
            return await self._run_started_model(
                integration,
                connector,
                transforms,
                job,
                trigger,
                root_id,
                progress,
                should_stop,
                run_id=run_id,
                mode=mode,
                fetch_window=fetch_window,
                target=target,
                cursor=cursor,
                emit=emit,
                started=started,
            )
        finally:
            self._live.discard(run_id)

    async def _run_started_model(
        self,
        integration: Integration,
        connector: Connector,
        transforms: TransformSet,
        job: ModelJob,
        trigger: str,
        root_id: str,
        progress: ProgressSink | None,
        should_stop: Callable[[], bool] | None,
        *,
        run_id: str,
        mode: SyncMode,
        fetch_window: FetchWindow,
        target: datetime,
        cursor: str | None,
        emit: bool,
        started: float,
    ) -> ModelOutcome:
        model = job.model
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
        # Quarantined records without a readable id could be any stored record.
        unidentified = 0
        try:
            # Fetch+transform and store run as two stages joined by a short
            # queue, so the next page is normalized while the database writes
            # this one. Pages are still stored strictly in order.
            send, receive = anyio.create_memory_object_stream[_Transformed](max_buffer_size=2)
            proof: ListingProof | None = None
            fetch_error: SyncdError | None = None

            async def fetch_and_transform() -> None:
                nonlocal proof, fetch_error
                try:
                    scope = PropertyScope(disabled_properties(integration.options))
                    listing = connector.pages(model, fetch_window, cursor=cursor, scope=scope)
                    async with send, listing as pages:
                        async for page in pages:
                            item = await self._transform(integration, transform, page)
                            try:
                                await send.send(item)
                            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                                # The store stage left (its error is the one to report).
                                return
                        proof = pages.proof
                except SyncdError as exc:
                    # The pages fetched before the fault are still stored, with
                    # their checkpoint, so the next run resumes after them; and
                    # a database failure seen by both stages surfaces once.
                    fetch_error = exc

            async with unwrapped_task_group() as tg, receive:
                tg.start_soon(fetch_and_transform, name=f"fetch-{integration.id}-{model}")
                async for item in receive:
                    page, records, quarantined = item.page, item.records, item.quarantined
                    for q in quarantined:
                        bound.warning("sync.record.quarantined", x_id=q.x_id, reason=q.reason)
                    unidentified += item.unidentified
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
                        now=(now := datetime.now(UTC)),
                        events=emit,
                        fetched=len(page.records),
                        refresh_before=now - self.config.last_seen_resolution,
                    )
                    if item.first_seen:
                        await self._hold_properties(integration, item.first_seen)
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
            if fetch_error is not None:
                raise fetch_error
            if proof is None:
                # Every connector must prove its listings; silence is no proof.
                raise IncompleteListing(
                    f"the {integration.vendor} connector ended the {model} listing "
                    "without proving it complete"
                )
            bound.info(
                "sync.listing.complete",
                listed=proof.listed,
                start=proof.start,
                announced=proof.announced,
                sweep_safe=proof.sweep_safe,
                note=proof.note,
            )
            await self.store.complete_checkpoint(integration.id, model, target)
        except ConnectorError as exc:
            status, error = RunStatus.FAILED, _describe(exc)
            # Refused credentials fail every model the same way: stop at the first.
            fatal = isinstance(exc, AuthenticationError | PermissionDenied)
            bound.error("sync.model.failed", error=error, error_type=type(exc).__name__)
        except _Stopped:
            status, error, stopped = RunStatus.FAILED, "stopped by shutdown", True
            bound.warning("sync.model.stopped")
        except StoreError as exc:
            counts.requests = connector.stats.requests - stats_before[0]
            counts.retries = connector.stats.retries - stats_before[1]
            # The database failed mid-run: try to say so; if it cannot hear,
            # this process recognizes the orphaned run as its own next time.
            with anyio.CancelScope(shield=True), contextlib.suppress(StoreError):
                await self.store.finish_run(run_id, RunStatus.FAILED, counts, f"database: {exc}")
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
        sweep: SweepResult | None = None
        if status is RunStatus.SUCCESS:
            reason = _no_sweep_reason(
                mode, resumed=cursor is not None, unidentified=unidentified, proof=proof
            )
            sweep = await self._sweep(
                integration, job, run_id, fetch_window, reason, events=emit, bound=bound
            )
            counts.deleted += sweep.deleted
            if sweep.held:
                status, error = RunStatus.NEEDS_ATTENTION, sweep.describe()
        events = []
        if status is RunStatus.NEEDS_ATTENTION or (status is RunStatus.FAILED and not stopped):
            events.append(
                job_failure_event(
                    integration, run_id, root_id, model, mode, trigger, status, error, sweep
                )
            )
        await self.store.finish_run(run_id, status, counts, error, events=events)
        await self.store.release_seen(integration.id, model)
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

    async def _sweep(
        self,
        integration: Integration,
        job: ModelJob,
        run_id: str,
        window: FetchWindow,
        skip: str | None,
        *,
        events: bool,
        bound: Any,
    ) -> SweepResult:
        """Soft-delete what a complete run did not see, or say why it may not."""
        if skip is not None:
            bound.debug("sync.sweep.skipped", reason=skip)
            return SweepResult(skipped=skip)
        scope = SweepScope(
            integration_id=integration.id,
            vendor=integration.vendor,
            model=job.model,
            run_id=run_id,
            window=window,
            date_field=sweep_date_field(job),
            excluded_properties=disabled_properties(integration.options),
        )
        result = await self.store.sweep(
            scope,
            max_share=sweep_max_share(integration.options, job.model),
            events=events,
            now=datetime.now(UTC),
        )
        fields = {
            "scope": result.scope,
            "candidates": result.candidates,
            "share": round(result.share, 4),
            "threshold": result.max_share,
        }
        if result.skipped:
            bound.info("sync.sweep.skipped", reason=result.skipped)
        elif result.held:
            bound.warning("sync.sweep.held", **fields)
        else:
            bound.info("sync.sweep.finished", deleted=result.deleted, **fields)
        return result

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
        disabled = disabled_properties(integration.options)
        if disabled:
            # A disabled property's data is not synced: neither stored nor announced.
            records = [r for r in records if not _of_property(r, transform.model, disabled)]
        # A quarantined record whose id cannot be read could be any stored record.
        unidentified = sum(transform.source_key(q.raw) is None for q in quarantined)
        first_seen = first_seen_properties(integration.options, transform.model, records, known)
        return _Transformed(page, records, quarantined, seen, digests, unidentified, first_seen)

    async def _hold_properties(self, integration: Integration, x_ids: Sequence[str]) -> None:
        """Disable properties seen for the first time (``new_properties_are_enabled: false``).

        Their records are stored by the page that found them; their data is
        not fetched by the models that follow, and they are never swept.
        """
        current = await self.store.get_integration(integration.id)
        controls = dict(current.options.get("properties", {}))
        held = [x for x in x_ids if x not in controls]
        if not held:
            return
        for x_id in held:
            controls[x_id] = {"enabled": False}
        options = {**current.options, "properties": controls}
        await self.store.update_integration(replace(current, options=options))
        log.info("sync.properties.held", integration_id=integration.id, x_property_ids=held)

    def _window(
        self,
        checkpoint: Checkpoint,
        windowed: bool,
        full: bool,
        window_days: int | None = None,
        *,
        all_history: bool = False,
    ) -> tuple[SyncMode, FetchWindow, datetime, str | None]:
        """(mode, window to ask the PMS, watermark to save on success, resume cursor).

        A full run asks for everything, or for the last ``window_days`` when
        the model's date filter has a window; an incremental run from the
        watermark (minus the overlap) to now. With ``all_history`` (a
        back-sync) an unfinished full run resumes only if it too had no window.
        """
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
            # A windowed run's cursor does not cover the history a back-sync wants.
            and not (all_history and checkpoint.window.since is not None)
        ):
            # An unfinished run of the same kind: resume it with its window.
            window = checkpoint.window
            unbounded = wanted is SyncMode.FULL and window.since is None
            fetch = FetchWindow() if unbounded else window
            return wanted, fetch, window.until, checkpoint.cursor  # type: ignore[return-value]
        now = _utcnow()
        if wanted is SyncMode.FULL:
            if window_days is None:
                return wanted, FetchWindow(), now, None
            return (
                wanted,
                FetchWindow(since=now - timedelta(days=window_days), until=now),
                now,
                None,
            )
        assert checkpoint.watermark is not None
        since = checkpoint.watermark - self.config.overlap
        return wanted, FetchWindow(since=since, until=now), now, None


def first_seen_properties(
    options: Mapping[str, Any],
    model: str,
    records: Sequence[NormalizedRecord],
    known: Mapping[str, str],
) -> tuple[str, ...]:
    """The properties of a page to start disabled: the ``new_properties_are_enabled`` rule.

    When the integration's ``new_properties_are_enabled`` is false, a property
    with no live record in the cache (``known``: the page's stored sources)
    and no setting of its own is seen for the first time: it is held back
    until an operator enables it. Otherwise none is.
    """
    if model != "properties" or new_properties_are_enabled(options):
        return ()
    configured = options.get("properties", {})
    return tuple(r.x_id for r in records if r.x_id not in known and r.x_id not in configured)


def _of_property(record: NormalizedRecord, model: str, properties: frozenset[str]) -> bool:
    """True if ``record`` is one of ``properties`` or belongs to one."""
    if model == "properties":
        return record.x_id in properties
    return record.values.get("x_property_id") in properties


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
    #: Quarantined records without a readable id.
    unidentified: int = 0
    #: Properties seen for the first time that are to start disabled.
    first_seen: tuple[str, ...] = ()


def _no_sweep_reason(
    mode: SyncMode, *, resumed: bool, unidentified: int, proof: ListingProof | None
) -> str | None:
    """Why a successful model run may not sweep (None: it may)."""
    if mode is not SyncMode.FULL:
        return "an incremental run sees only what changed"
    if resumed:
        return "the run resumed an earlier run's cursor and did not fetch the whole scope"
    if unidentified:
        return f"{unidentified} quarantined record(s) have no id and could be any record"
    if proof is not None and not proof.sweep_safe:
        return f"the listing is complete but not provably gap-free ({proof.note}); " + (
            "the next full run sweeps"
        )
    return None


def _describe(exc: ConnectorError) -> str:
    where = f" (HTTP {exc.status})" if exc.status else ""
    return f"{type(exc).__name__}{where}: {exc}"
