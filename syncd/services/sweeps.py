"""Deletion sweeps the guard held: listing them, approving them, dismissing them.

A held sweep is a model run left NEEDS_ATTENTION because it would have
deleted more of its scope than the guard allows. Approving applies it
without the guard, to the records not seen since that run started;
dismissing drops it and deletes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from syncd.domain import RunRecord, RunStatus
from syncd.errors import IntegrationNotFound, SweepError
from syncd.integration_config import apply_job_overrides, disabled_properties
from syncd.jobs import load_jobs
from syncd.model_run import sweep_date_field
from syncd.services.integrations import find_integration
from syncd.services.runs import resolve_run
from syncd.settings import Settings
from syncd.store.base import Store

log = structlog.get_logger(__name__)

#: The most held sweeps listed at once (each is a run an operator must look at).
_LISTED = 500


async def held_sweeps(store: Store, integration: str | None = None) -> list[RunRecord]:
    """Model runs whose deletion sweep is held, newest first, of one integration or all."""
    integration_id = (await find_integration(store, integration)).id if integration else None
    runs = await store.list_runs(
        integration_id=integration_id, status=RunStatus.NEEDS_ATTENTION, limit=_LISTED
    )
    # A root run is NEEDS_ATTENTION when one of its model runs is: only the
    # model runs hold a sweep.
    return [r for r in runs if r.model is not None]


async def sweep_run(store: Store, ref: str) -> RunRecord:
    """The model run (id or unique id prefix) whose sweep an operator names.

    ConfigError when no run or several match; SweepError for a whole sync.
    Whether the run still holds a sweep is the store's to say, when the
    sweep is approved or dismissed.
    """
    run = await resolve_run(store, ref)
    _model_of(run)
    return run


def _model_of(run: RunRecord) -> str:
    """The model a run synced; SweepError for a whole sync (only model runs sweep)."""
    if run.model is None:
        raise SweepError(f"run {run.id} is a whole sync, not a model run")
    return run.model


@dataclass(frozen=True, slots=True)
class ApprovalScope:
    """What an approved sweep may delete beyond "not seen since the run started"."""

    #: The stored date column a date-window run's scope is limited by (None: no window).
    date_field: str | None
    #: Properties whose records are never swept (disabled in the integration).
    excluded_properties: frozenset[str]


async def approval_scope(store: Store, settings: Settings, run: RunRecord) -> ApprovalScope:
    """The scope of ``run``'s held sweep, from its job and its integration's options.

    Reads the integration's options only: approving needs no credentials
    (nor the key to decrypt them).
    """
    model = _model_of(run)
    heads = {i.id: i for i in await store.list_integration_heads()}
    integration = heads.get(run.integration_id)
    if integration is None:
        raise IntegrationNotFound(f"no integration {run.integration_id!r}")
    try:
        job = load_jobs(run.vendor, settings.jobs_dir).job(model)
        date_field = sweep_date_field(apply_job_overrides(job, integration.options))
    except KeyError:
        # The vendor no longer has a job for the model: sweep its whole scope.
        date_field = None
    return ApprovalScope(
        date_field=date_field, excluded_properties=disabled_properties(integration.options)
    )


@dataclass(frozen=True, slots=True)
class SweepApproval:
    """What approving a held sweep did."""

    run_id: str
    integration_id: str
    model: str
    #: Live records in the scope before the sweep.
    scope: int
    deleted: int
    skipped: str | None


async def approve_sweep(
    store: Store, settings: Settings, ref: str, *, now: datetime | None = None
) -> SweepApproval:
    """Apply a held sweep: delete its scope's records not seen since that run started.

    Each deletion announces a DATA_DELETED event. SweepError when the run
    holds no sweep (any more).
    """
    run = await sweep_run(store, ref)
    scope = await approval_scope(store, settings, run)
    result = await store.approve_sweep(
        run.id,
        date_field=scope.date_field,
        events=True,
        now=now or datetime.now(UTC),
        excluded_properties=scope.excluded_properties,
    )
    log.info(
        "sweep.approved",
        run_id=run.id,
        integration_id=run.integration_id,
        model=run.model,
        deleted=result.deleted,
    )
    return SweepApproval(
        run_id=run.id,
        integration_id=run.integration_id,
        model=_model_of(run),
        scope=result.scope,
        deleted=result.deleted,
        skipped=result.skipped,
    )


async def dismiss_sweep(store: Store, ref: str) -> RunRecord:
    """Drop a held sweep without deleting anything; the model run it belonged to."""
    run = await sweep_run(store, ref)
    await store.dismiss_sweep(run.id)
    log.info("sweep.dismissed", run_id=run.id, integration_id=run.integration_id)
    return run


def approval_json(approval: SweepApproval) -> dict[str, Any]:
    """An approval as plain JSON data."""
    return {
        "run_id": approval.run_id,
        "integration_id": approval.integration_id,
        "model": approval.model,
        "scope": approval.scope,
        "deleted": approval.deleted,
        "skipped": approval.skipped,
    }
