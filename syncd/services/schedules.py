"""Schedules: listing them, pausing and resuming them, and making them follow integrations."""

from __future__ import annotations

from dataclasses import dataclass

from syncd.app import runner_config, scheduler_config
from syncd.domain import Schedule, ScheduleState
from syncd.runner import Runner
from syncd.scheduler import Scheduler
from syncd.settings import Settings
from syncd.store.base import Store


async def reconcile_schedules(store: Store, settings: Settings) -> None:
    """Make the schedule rows match the integrations and job definitions now.

    A running ``syncd serve`` would do it within its next pass; doing it at
    once makes a change (enabling, a new schedule) visible and due as soon
    as it is made.
    """
    runner = Runner(store, runner_config(settings))
    await Scheduler(store, runner, scheduler_config(settings)).reconcile()


async def list_schedules(store: Store, integration: str | None = None) -> list[Schedule]:
    """Every schedule, or those of one integration (id or name), with next run times."""
    integration_id = (await store.get_integration(integration)).id if integration else None
    return await store.list_schedules(integration_id)


@dataclass(frozen=True, slots=True)
class ScheduleChange:
    """What pausing or resuming an integration's schedules changed."""

    integration_id: str
    state: ScheduleState
    #: None: every job of the integration.
    job: str | None
    #: Schedule rows the change touched.
    changed: int


async def set_schedules_state(
    store: Store, integration: str, state: ScheduleState, *, job: str | None = None
) -> ScheduleChange:
    """Pause or resume the schedules of an integration (id or name), or of one of its jobs."""
    found = await store.get_integration(integration)
    changed = await store.set_schedule_state(found.id, state, job=job)
    return ScheduleChange(integration_id=found.id, state=state, job=job, changed=changed)
