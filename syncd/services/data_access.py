"""Data-access checks: can syncd read (and could it write) each model of an integration?

A check probes every model the vendor's connector supports. **read**: ask the
PMS for the first page of the model (the smallest page the connector sends)
and stop there: SUCCESS, or FAILED with the PMS's own message (refused
credentials, 403, no answer in time). **create** / **update**: syncd writes
nothing to a PMS during a check, so an operation the connector supports is
UNTESTED and one it does not is UNSUPPORTED.

Each result has a ``status`` (:class:`AccessStatus`), an ``error_message``
(FAILED only) and a ``checked_at`` (when it was probed; None for static
results). While a check runs, reads not yet answered are PROCESSING.

One check at a time per integration, across nodes: :func:`claim_check`
claims it in the database (:mod:`syncd.store.data_access`), or raises
:class:`~syncd.errors.RunConflict`. A check ends within
:attr:`CheckLimits.total_timeout`: each probe is bounded, models are probed
a few at a time, and whatever has not answered by the deadline is FAILED.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import anyio
import structlog

from syncd.concurrency import unwrapped_task_group
from syncd.connectors.base import Connector
from syncd.connectors.registry import get_connector_class
from syncd.domain import Capability, FetchWindow, Integration, PropertyScope
from syncd.egress import parse_hosts
from syncd.errors import ConnectorError, RunConflict, SyncdError
from syncd.integration_config import disabled_properties
from syncd.jobs import load_jobs
from syncd.runner import connector_options
from syncd.services.integrations import find_integration
from syncd.settings import Settings
from syncd.store.data_access import DataAccessRow, SqlDataAccessChecks
from syncd.store.sql import SqlStore

log = structlog.get_logger(__name__)

#: The operations a check reports per model, in order.
OPERATIONS = (Capability.READ, Capability.CREATE, Capability.UPDATE)


class AccessStatus(StrEnum):
    """The outcome of one operation of one model."""

    #: The PMS answered the probe.
    SUCCESS = "SUCCESS"
    #: The PMS refused or did not answer (``error_message`` says why).
    FAILED = "FAILED"
    #: A running check has not probed it yet.
    PROCESSING = "PROCESSING"
    #: The connector cannot do this operation on this model.
    UNSUPPORTED = "UNSUPPORTED"
    #: Supported, but not probed (no check yet; writes are never probed).
    UNTESTED = "UNTESTED"


@dataclass(frozen=True, slots=True)
class AccessResult:
    """One operation's result: its status, the PMS's message when FAILED, when probed."""

    status: AccessStatus
    error_message: str | None = None
    checked_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The result as stored."""
        return {
            "status": self.status.value,
            "error_message": self.error_message,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
        }

    @classmethod
    def from_json(cls, data: Any) -> AccessResult | None:
        """A stored result (None when unreadable)."""
        if not isinstance(data, Mapping):
            return None
        try:
            status = AccessStatus(str(data.get("status")))
            when = data.get("checked_at")
            return cls(
                status, data.get("error_message"), datetime.fromisoformat(when) if when else None
            )
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class ModelAccess:
    """What syncd can do with one model of the integration."""

    model: str
    read: AccessResult
    create: AccessResult
    update: AccessResult

    def of(self, operation: Capability) -> AccessResult:
        """The result of ``operation``."""
        return {"read": self.read, "create": self.create, "update": self.update}[operation.value]


@dataclass(frozen=True, slots=True)
class DataAccessReport:
    """The data access of one integration: per model, and the state of the check."""

    integration_id: str
    vendor: str
    models: tuple[ModelAccess, ...]
    #: When the last check ended (None: none has ended).
    last_check: datetime | None
    in_process: bool

    @property
    def all_readable(self) -> bool:
        """True when every model's read succeeded."""
        return bool(self.models) and all(m.read.status is AccessStatus.SUCCESS for m in self.models)


@dataclass(frozen=True, slots=True)
class CheckLimits:
    """How long a check may take and how many models it probes at once."""

    #: Seconds one model's read probe may take (retries included).
    probe_timeout: float = 15.0
    #: Seconds the whole check may take.
    total_timeout: float = 55.0
    #: Models probed at once.
    concurrency: int = 4

    @property
    def lease(self) -> timedelta:
        """How long a claim holds without its check ending: then it counts as lost."""
        return timedelta(seconds=2 * self.total_timeout + 10)


@dataclass(frozen=True, slots=True)
class ClaimedCheck:
    """A check this process holds (see :func:`claim_check`); run it with :func:`run_check`."""

    integration: Integration
    token: str
    started_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def _models(
    integration: Integration, settings: Settings
) -> list[tuple[str, frozenset[Capability]]]:
    """The models the vendor's connector supports, in job order, with their capabilities."""
    caps = get_connector_class(integration.vendor).capabilities()
    order = [j.model for j in load_jobs(integration.vendor, settings.jobs_dir).jobs]
    ranked = sorted(caps, key=lambda m: (order.index(m) if m in order else len(order), m))
    return [(m, caps[m]) for m in ranked]


def _static(caps: frozenset[Capability], operation: Capability) -> AccessResult:
    """The result of an operation before (or without) probing."""
    supported = operation in caps
    return AccessResult(AccessStatus.UNTESTED if supported else AccessStatus.UNSUPPORTED)


def _report(
    integration: Integration, settings: Settings, row: DataAccessRow | None, now: datetime
) -> DataAccessReport:
    # A row written for a removed integration of the same id is not this one's.
    if row is not None and row.integration_created_at != integration.created_at:
        row = None
    in_process = row is not None and row.running and row.lease_until > now
    stored: Mapping[str, Any] = row.results if row is not None else {}
    models = []
    for model, caps in _models(integration, settings):
        own = stored.get(model)
        results = []
        for operation in OPERATIONS:
            found = (
                AccessResult.from_json(own.get(operation.value))
                if isinstance(own, Mapping)
                else None
            )
            if found is None:
                found = _static(caps, operation)
            elif found.status is AccessStatus.PROCESSING and not in_process:
                # The check holding it was lost (its process died).
                found = AccessResult(AccessStatus.FAILED, "the check was interrupted", None)
            results.append(found)
        models.append(ModelAccess(model, *results))
    return DataAccessReport(
        integration_id=integration.id,
        vendor=integration.vendor,
        models=tuple(models),
        last_check=row.finished_at if row is not None else None,
        in_process=in_process,
    )


async def data_access(store: SqlStore, settings: Settings, integration: str) -> DataAccessReport:
    """The integration's (id or name) data access as last checked, and whether a check runs.

    Before any check, every supported read is UNTESTED and ``last_check`` is None.
    """
    found = await find_integration(store, integration)
    row = await SqlDataAccessChecks(store.engine).get(found.id)
    return _report(found, settings, row, _now())


async def claim_check(
    store: SqlStore, settings: Settings, integration: str, limits: CheckLimits | None = None
) -> ClaimedCheck:
    """Claim the check of an integration (id or name); RunConflict while one runs."""
    limits = limits or CheckLimits()
    found = await store.get_integration(integration)
    if found.created_at is None:
        raise SyncdError(f"integration {found.id!r} has no creation time")
    now = _now()
    seed = {
        model: {
            op.value: (
                AccessResult(AccessStatus.PROCESSING)
                if op is Capability.READ and op in caps
                else _static(caps, op)
            ).to_json()
            for op in OPERATIONS
        }
        for model, caps in _models(found, settings)
    }
    token = await SqlDataAccessChecks(store.engine).claim(
        found.id, found.created_at, now=now, lease=limits.lease, results=seed
    )
    if token is None:
        raise RunConflict(f"a data-access check of integration {found.id!r} is already running")
    log.info("data_access.started", integration_id=found.id)
    return ClaimedCheck(found, token, now)


async def release_check(store: SqlStore, claimed: ClaimedCheck) -> None:
    """Give up a claimed check that will not run (e.g. the server is stopping)."""
    await SqlDataAccessChecks(store.engine).release(claimed.integration.id, claimed.token)


def _message(exc: SyncdError) -> str:
    if isinstance(exc, ConnectorError):
        where = f" (HTTP {exc.status})" if exc.status else ""
        return f"{type(exc).__name__}{where}: {exc}"
    return str(exc)


@contextlib.asynccontextmanager
async def _endpoint(integration: Integration) -> AsyncIterator[str | None]:
    """A demo integration's own simulator, started for the check (as a sync does)."""
    demo = integration.options.get("simulator")
    if not isinstance(demo, Mapping):
        yield None
        return
    from syncd.sim.demo import running_simulator

    async with running_simulator(integration.vendor, demo, integration.credentials) as url:
        yield url


def _connector(
    integration: Integration, settings: Settings, limits: CheckLimits, base_url: str | None
) -> Connector:
    """The integration's connector tuned for probing: one small page, few retries."""
    cls = get_connector_class(integration.vendor)
    jobs = load_jobs(integration.vendor, settings.jobs_dir)
    options = connector_options(
        jobs,
        integration,
        allowed_hosts=parse_hosts(settings.egress_allowed_hosts),
        listing_drift_records=settings.listing_drift_records,
        listing_drift_share=settings.listing_drift_share,
    )
    options = replace(
        options,
        page_size=1,
        concurrency=1,
        max_attempts=2,
        timeout=limits.probe_timeout,
        rate_limit_wait=limits.probe_timeout,
        backoff_max=min(options.backoff_max, 2.0),
    )
    url = (
        base_url
        or integration.base_url
        or cls.base_url_for(integration.environment.value, integration.credentials)
    )
    return cls(base_url=url, credentials=integration.credentials, options=options)


async def _probe_read(
    connector: Connector, model: str, scope: PropertyScope, limit_seconds: float
) -> AccessResult:
    """Fetch the first page of ``model`` and stop: SUCCESS or FAILED with the PMS's message."""
    try:
        with anyio.fail_after(limit_seconds):
            async with connector.pages(model, FetchWindow(), scope=scope) as pages:
                async for _page in pages:
                    break
    except TimeoutError:
        return AccessResult(AccessStatus.FAILED, f"no answer within {limit_seconds:g} s", _now())
    except SyncdError as exc:
        return AccessResult(AccessStatus.FAILED, _message(exc), _now())
    return AccessResult(AccessStatus.SUCCESS, None, _now())


async def run_check(
    store: SqlStore, settings: Settings, claimed: ClaimedCheck, limits: CheckLimits | None = None
) -> DataAccessReport:
    """Probe every model of a claimed check, record the results and end the check."""
    limits = limits or CheckLimits()
    integration = claimed.integration
    checks = SqlDataAccessChecks(store.engine)
    models = _models(integration, settings)
    results: dict[str, dict[str, Any]] = {
        model: {op.value: _static(caps, op).to_json() for op in OPERATIONS}
        for model, caps in models
    }
    pending = {model for model, caps in models if Capability.READ in caps}
    for model in pending:
        results[model]["read"] = AccessResult(AccessStatus.PROCESSING).to_json()
    lock = anyio.Lock()

    async def record(model: str, result: AccessResult) -> None:
        async with lock:
            results[model]["read"] = result.to_json()
            pending.discard(model)
            await checks.save(integration.id, claimed.token, results)

    def fail_pending(message: str) -> None:
        for model in pending:
            results[model]["read"] = AccessResult(AccessStatus.FAILED, message, _now()).to_json()
        pending.clear()

    scope = PropertyScope(disabled_properties(integration.options))
    limiter = anyio.CapacityLimiter(limits.concurrency)

    async def probe(connector: Connector, model: str) -> None:
        async with limiter:
            await record(model, await _probe_read(connector, model, scope, limits.probe_timeout))

    try:
        with anyio.move_on_after(limits.total_timeout):
            try:
                async with (
                    _endpoint(integration) as base_url,
                    _connector(integration, settings, limits, base_url) as connector,
                    unwrapped_task_group() as tg,
                ):
                    for model in sorted(pending):
                        tg.start_soon(
                            probe, connector, model, name=f"data-access-{integration.id}-{model}"
                        )
            except SyncdError as exc:
                # The connector could not even be opened: every read failed the same way.
                fail_pending(_message(exc))
        fail_pending(f"not checked within the check's {limits.total_timeout:g} s")
    except BaseException:
        # Cancelled (the server stops): end the check so the next may start.
        with anyio.CancelScope(shield=True), contextlib.suppress(SyncdError):
            fail_pending("the check was interrupted")
            await checks.save(integration.id, claimed.token, results, finished_at=_now())
        raise
    finished = _now()
    await checks.save(integration.id, claimed.token, results, finished_at=finished)
    log.info(
        "data_access.finished",
        integration_id=integration.id,
        failed=sorted(m for m, r in results.items() if r["read"]["status"] == AccessStatus.FAILED),
        seconds=round((finished - claimed.started_at).total_seconds(), 3),
    )
    return _report(integration, settings, await checks.get(integration.id), _now())


async def check_data_access(
    store: SqlStore, settings: Settings, integration: str, limits: CheckLimits | None = None
) -> DataAccessReport:
    """Claim and run a check in the caller's task (the CLI); RunConflict while one runs."""
    claimed = await claim_check(store, settings, integration, limits)
    return await run_check(store, settings, claimed, limits)


def report_json(report: DataAccessReport) -> dict[str, Any]:
    """A report as plain JSON data (the HTTP answer's and ``--json``'s shape)."""
    return {
        "models": {
            m.model: {op.value: m.of(op).to_json() for op in OPERATIONS} for m in report.models
        },
        "last_data_access_check": report.last_check.isoformat() if report.last_check else None,
        "data_access_check_in_process": report.in_process,
    }
