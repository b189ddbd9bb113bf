"""The write worker: carries stored write jobs to the PMS, one claim at a time.

It runs inside ``syncd serve`` (a named task of the daemon) and alone as
``syncd writes work --once``. Each job is claimed with a lease (no job runs
on two nodes at once), handed to the integration's connector, and finished
as SUCCESS, PARTIAL_SUCCESS (the PMS took part of it) or FAILURE with the
PMS's own messages, together with its WRITE_OPERATION_* event in the same
transaction. Transient faults (connection, timeout, 429, 5xx) are retried
with exponential backoff up to ``max_attempts``; a refusal (4xx) never is.
The connector shares its rate-limit bucket with the integration's syncs in
the same process.

**No duplicates.** Before a create is handed to the PMS the job records
``sent_at``. An attempt that finds ``sent_at`` already set (an earlier
attempt's answer was lost: a timeout, a dropped connection, a worker killed
mid-request) first asks the connector for a record the earlier attempt may
have made (:meth:`~syncd.connectors.base.Connector.find_written`, by the
PMS's own date filter and the record's natural key) and takes that record
instead of sending again. Updates are sent again as they are: the same
values twice change nothing.

After a success the written record is read back into the cache at once
(:func:`syncd.readback.read_back`), so ``created_record_id`` is readable
through the read API.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio
import orjson
import structlog

from syncd.connectors.base import Connector, WriteRequest, WriteResult
from syncd.domain import Capability, Integration, record_id
from syncd.errors import (
    IntegrationNotFound,
    PermanentError,
    StoreError,
    SyncdError,
    TransientError,
    WriteRejected,
)
from syncd.events import write_event
from syncd.jobs import load_jobs
from syncd.readback import read_back
from syncd.runner import RunnerConfig, make_connector
from syncd.store.base import Store
from syncd.store.writes import SqlWriteJobs, WriteJob, WriteStatus
from syncd.transform import TransformSet
from syncd.transform.overrides import custom_data_overrides, integration_transforms

log = structlog.get_logger("syncd.writes")

ConnectorFactory = Callable[[Integration], Connector]


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Tunables of the write worker (``SYNCD_WRITE_*`` settings)."""

    #: How long a claim holds a job; a worker silent longer lost it.
    lease: timedelta = timedelta(minutes=2)
    #: Attempts at a job before a transient fault fails it.
    max_attempts: int = 6
    #: Backoff after the first transient fault, doubled per attempt (with jitter).
    backoff_base: float = 2.0
    backoff_max: float = 300.0
    #: How often an idle worker looks for due jobs.
    poll: float = 1.0
    #: How far before ``sent_at`` a look-up for a lost create searches (PMS clocks drift).
    find_margin: timedelta = timedelta(minutes=10)
    #: How long a read-back waits for a running sync of the same model.
    read_back_wait: timedelta = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt at a job came to."""

    job_id: str
    status: WriteStatus
    errors: tuple[str, ...] = ()


class WriteWorker:
    """Claims due write jobs and carries them out (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        jobs: SqlWriteJobs,
        *,
        node: str,
        runner_config: RunnerConfig | None = None,
        config: WorkerConfig | None = None,
        connector_factory: ConnectorFactory | None = None,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.node = node
        self.runner_config = runner_config or RunnerConfig()
        self.config = config or WorkerConfig()
        self._factory = connector_factory or self._make_connector
        self._transform_cache: dict[tuple[str, bytes], TransformSet] = {}
        # Made by serve(): an event belongs to the loop it is waited on in.
        self._wake: anyio.Event | None = None

    def wake(self) -> None:
        """Look for due jobs now (a job was just queued in this process) instead of at the poll."""
        if self._wake is not None:
            self._wake.set()

    def _make_connector(self, integration: Integration) -> Connector:
        jobs = load_jobs(integration.vendor, self.runner_config.jobs_dir)
        return make_connector(integration, jobs, self.runner_config)

    async def work_once(self) -> list[Outcome]:
        """Carry out every job due now, one after another; what each attempt came to."""
        outcomes: list[Outcome] = []
        while True:
            job = await self.jobs.claim(self.node, datetime.now(UTC), self.config.lease)
            if job is None:
                return outcomes
            outcomes.append(await self.process(job))

    async def serve(self) -> None:
        """Work until cancelled: due jobs at once, then at each wake-up or every ``poll`` seconds.

        Jobs queued by another node (or the CLI) wait for the poll; those
        queued through this process's API wake the worker at once.
        """
        log.info("writes.worker.started", node=self.node)
        while True:
            wake = self._wake = anyio.Event()
            try:
                done = await self.work_once()
            except StoreError as exc:
                # The database is away: try again later, as the scheduler does.
                log.warning("writes.worker.store_error", error=str(exc))
                done = []
            if not done:
                with anyio.move_on_after(self.config.poll):
                    await wake.wait()

    async def process(self, job: WriteJob) -> Outcome:
        """One attempt at a claimed job, recorded before this returns."""
        bound = log.bind(write_job_id=job.id, integration_id=job.integration_id, model=job.model)
        try:
            integration = await self.store.get_integration(job.integration_id)
        except IntegrationNotFound:
            return await self._fail(job, ["the integration was removed"], bound)
        operation = Capability(job.operation)
        request = WriteRequest(
            model=job.model,
            operation=operation,
            payload=job.pms_payload,
            x_id=job.x_id,
            property_x_id=job.property_x_id,
            write_id=job.id,
        )
        try:
            connector = self._factory(integration)
        except SyncdError as exc:
            return await self._fail(job, [str(exc)], bound)
        try:
            async with connector:
                result = await self._carry(job, connector, request, bound)
                if result is None:
                    return Outcome(job.id, WriteStatus.RUNNING)
                return await self._succeed(job, integration, connector, result, bound)
        except WriteRejected as exc:
            return await self._fail(job, list(exc.messages), bound)
        except PermanentError as exc:
            return await self._fail(job, [str(exc)], bound)
        except TransientError as exc:
            return await self._transient(job, exc, bound)

    async def _carry(
        self,
        job: WriteJob,
        connector: Connector,
        request: WriteRequest,
        bound: structlog.typing.FilteringBoundLogger,
    ) -> WriteResult | None:
        """The PMS's answer to the write (or the record a lost attempt made); None: lease lost."""
        now = datetime.now(UTC)
        if request.operation is Capability.CREATE:
            if job.sent_at is not None:
                since = job.sent_at - self.config.find_margin
                found = await connector.find_written(request, since)
                if found is not None:
                    bound.info("writes.job.found_earlier_write", x_id=found)
                    return WriteResult(x_id=found)
            if not await self.jobs.mark_sent(job.id, self.node, now):
                bound.warning("writes.job.lease_lost")
                return None
        bound.info("writes.job.sending", attempt=job.attempts, operation=job.operation)
        return await connector.write(request)

    async def _succeed(
        self,
        job: WriteJob,
        integration: Integration,
        connector: Connector,
        result: WriteResult,
        bound: structlog.typing.FilteringBoundLogger,
    ) -> Outcome:
        x_id = result.x_id or job.x_id
        status = WriteStatus.PARTIAL_SUCCESS if result.warnings else WriteStatus.SUCCESS
        created: uuid.UUID | None = None
        if job.operation == Capability.CREATE.value and x_id is not None:
            created = record_id(integration.id, job.model, x_id)
        errors = list(result.warnings)
        if x_id is not None:
            await self._read_back(job, integration, connector, x_id, bound)
        event = write_event(
            job.integration_id,
            job.vendor,
            job.id,
            job.model,
            job.operation,
            status.value,
            errors,
            x_id=x_id,
            record_id=job.record_id,
            created_record_id=created,
        )
        done = await self.jobs.finish(
            job.id,
            self.node,
            status=status,
            errors=errors,
            now=datetime.now(UTC),
            created_x_id=x_id if created is not None else None,
            created_record_id=created,
            events=[event],
        )
        if not done:
            bound.warning("writes.job.lease_lost")
            return Outcome(job.id, WriteStatus.RUNNING)
        bound.info("writes.job.finished", status=status.value, x_id=x_id)
        return Outcome(job.id, status, tuple(errors))

    async def _read_back(
        self,
        job: WriteJob,
        integration: Integration,
        connector: Connector,
        x_id: str,
        bound: structlog.typing.FilteringBoundLogger,
    ) -> None:
        # Not reading back leaves the cache as it was until the next sync; the
        # write itself still succeeded, so this never fails the job.
        try:
            transforms = self._transforms(integration)
        except SyncdError as exc:
            bound.warning("writes.read_back.skipped", error=str(exc))
            return
        back = await read_back(
            self.store,
            connector,
            integration,
            transforms,
            job.model,
            [x_id],
            owner=self.node,
            wait=self.config.read_back_wait,
        )
        if back.error is not None:
            bound.warning("writes.read_back.incomplete", error=back.error, run_id=back.run_id)

    def _transforms(self, integration: Integration) -> TransformSet:
        # Loading and compiling a vendor's YAML costs more than the write:
        # keep one set per (vendor, the integration's own enum maps and fields).
        key = (
            integration.vendor,
            orjson.dumps(
                [integration.options.get("enum_maps"), custom_data_overrides(integration.options)],
                option=orjson.OPT_SORT_KEYS,
            ),
        )
        found = self._transform_cache.get(key)
        if found is None:
            found = integration_transforms(integration, self.runner_config.transforms_dir)
            if len(self._transform_cache) >= 64:
                self._transform_cache.clear()
            self._transform_cache[key] = found
        return found

    async def _fail(
        self, job: WriteJob, errors: list[str], bound: structlog.typing.FilteringBoundLogger
    ) -> Outcome:
        event = write_event(
            job.integration_id,
            job.vendor,
            job.id,
            job.model,
            job.operation,
            WriteStatus.FAILURE.value,
            errors,
            x_id=job.x_id,
            record_id=job.record_id,
            created_record_id=None,
        )
        done = await self.jobs.finish(
            job.id,
            self.node,
            status=WriteStatus.FAILURE,
            errors=errors,
            now=datetime.now(UTC),
            events=[event],
        )
        if not done:
            bound.warning("writes.job.lease_lost")
            return Outcome(job.id, WriteStatus.RUNNING)
        bound.warning("writes.job.failed", errors=errors)
        return Outcome(job.id, WriteStatus.FAILURE, tuple(errors))

    async def _transient(
        self, job: WriteJob, exc: TransientError, bound: structlog.typing.FilteringBoundLogger
    ) -> Outcome:
        message = f"attempt {job.attempts}: {exc}"
        if job.attempts >= self.config.max_attempts:
            return await self._fail(
                job, [*job.errors, message, f"gave up after {job.attempts} attempts"], bound
            )
        delay = min(self.config.backoff_max, self.config.backoff_base * 2 ** (job.attempts - 1))
        delay *= random.uniform(0.5, 1.0)
        now = datetime.now(UTC)
        at = now + timedelta(seconds=delay)
        if not await self.jobs.reschedule(job.id, self.node, at=at, error=message, now=now):
            bound.warning("writes.job.lease_lost")
            return Outcome(job.id, WriteStatus.RUNNING)
        bound.info("writes.job.retry_later", error=str(exc), seconds=round(delay, 2))
        return Outcome(job.id, WriteStatus.PENDING, (message,))
