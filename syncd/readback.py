"""Reading records back from the PMS one by one, right after a write.

The cache changes only by reading the PMS: after a write job, the record the
PMS created or changed is fetched (:meth:`Connector.fetch_one`), normalized
by the integration's transforms and stored like a synced page, with its
change events, inside a run of its own (trigger ``write``) in the job log.
That run holds the model's run slot, so it never stores records while a sync
of the same model does (the store's one-run-per-model rule keeps their
inserts apart); it waits for a running sync to end, within a bound. It is no
sync of the model: it never counts as one having run or finished.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio
import structlog

from syncd.connectors.base import Connector
from syncd.domain import (
    READ_BACK_TRIGGER,
    FetchWindow,
    Integration,
    RunCounts,
    RunStatus,
    SyncMode,
    record_id,
)
from syncd.errors import RunConflict, SyncdError
from syncd.store.base import PageProgress, Store
from syncd.transform import TransformSet

log = structlog.get_logger("syncd.readback")


@dataclass(frozen=True, slots=True)
class ReadBack:
    """What a read-back stored: the syncd ids of the records, or why it could not."""

    stored: tuple[uuid.UUID, ...]
    run_id: str | None = None
    error: str | None = None


async def read_back(
    store: Store,
    connector: Connector,
    integration: Integration,
    transforms: TransformSet,
    model: str,
    x_ids: Sequence[str],
    *,
    owner: str,
    wait: timedelta = timedelta(seconds=30),
    poll: float = 0.5,
) -> ReadBack:
    """Fetch ``x_ids`` of ``model`` from the PMS and store them; never raises a SyncdError."""
    deadline = time.monotonic() + wait.total_seconds()
    while True:
        try:
            run_id = await store.start_run(
                integration=integration,
                model=model,
                mode=SyncMode.INCREMENTAL,
                trigger=READ_BACK_TRIGGER,
                owner=owner,
                window=FetchWindow(),
            )
            break
        except RunConflict:
            # A sync of the model is storing pages: wait for it to end.
            if time.monotonic() >= deadline:
                return ReadBack((), error=f"a sync of {model} was still running")
            await anyio.sleep(poll)
        except SyncdError as exc:
            return ReadBack((), error=str(exc))
    counts = RunCounts()
    try:
        transform = transforms.for_model(model)
        raws = []
        for x_id in x_ids:
            raw = await connector.fetch_one(model, x_id)
            if raw is not None:
                raws.append(raw)
        records, quarantined = transform.transform_page(raws, integration.id)
        now = datetime.now(UTC)
        result = await store.store_page(
            integration=integration,
            model=model,
            records=records,
            quarantined=quarantined,
            progress=PageProgress(
                cursor=None,
                run_id=run_id,
                mode=SyncMode.INCREMENTAL,
                window=FetchWindow(),
                checkpoint=False,
            ),
            now=now,
            fetched=len(raws),
        )
        counts.fetched = len(raws)
        counts.created, counts.updated = result.created, result.updated
        counts.unchanged, counts.quarantined = result.unchanged, len(quarantined)
        missing = len(x_ids) - len(raws)
        error = None
        if missing or quarantined:
            error = f"{missing} not found by the PMS, {len(quarantined)} quarantined"
        await store.finish_run(
            run_id, RunStatus.FAILED if error else RunStatus.SUCCESS, counts, error
        )
        stored = tuple(record_id(integration.id, model, r.x_id) for r in records)
        return ReadBack(stored, run_id, error)
    except SyncdError as exc:
        with anyio.CancelScope(shield=True):
            try:
                await store.finish_run(run_id, RunStatus.FAILED, counts, str(exc))
            except SyncdError:
                log.warning("readback.finish_failed", run_id=run_id)
        return ReadBack((), run_id, str(exc))
    except BaseException:
        with anyio.CancelScope(shield=True):
            try:
                await store.finish_run(run_id, RunStatus.FAILED, counts, "interrupted")
            except SyncdError:
                log.warning("readback.finish_failed", run_id=run_id)
        raise
