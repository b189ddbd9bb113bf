"""A subscription's delivery log: its deliveries newest first, a page at a time.

Read-only, one query per page on the (subscription, event) unique index,
so a page costs the same however long the history is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from syncd.events import message_id
from syncd.store.engine import translate_errors
from syncd.store.tables import change_events, webhook_deliveries
from syncd.store.webhook_base import DeliveryStatus


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One event's delivery to the subscription, as its delivery log lists it."""

    event_id: int
    #: None once the event was pruned (its delivery may outlive it).
    event_type: str | None
    model: str | None
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime

    @property
    def webhook_id(self) -> str:
        """The ``webhook-id`` the receiver saw."""
        return message_id(self.event_id)

    @property
    def replayable(self) -> bool:
        """Whether a replay queues it again (queued deliveries are on their way already)."""
        return self.status in (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD)


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    """Deliveries newest first, and the event id the next (older) page starts below."""

    rows: tuple[DeliveryRow, ...]
    older_than: int | None


async def delivery_page(
    engine: AsyncEngine, subscription_id: str, *, before: int | None, limit: int
) -> DeliveryPage:
    """A subscription's deliveries below event id ``before``, newest first, in one query.

    Read-only and keyed on the (subscription, event) unique index, so a page
    costs the same however long the history is.
    """
    dl, ev = webhook_deliveries, change_events
    query = (
        select(
            dl.c.event_id,
            dl.c.status,
            dl.c.attempts,
            dl.c.last_status_code,
            dl.c.last_error,
            dl.c.last_attempt_at,
            dl.c.next_attempt_at,
            dl.c.delivered_at,
            dl.c.created_at,
            ev.c.event_type,
            ev.c.model,
        )
        .select_from(dl.outerjoin(ev, ev.c.id == dl.c.event_id))
        .where(dl.c.subscription_id == subscription_id)
        .order_by(dl.c.event_id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(dl.c.event_id < before)
    async with translate_errors(), engine.connect() as conn:
        found = (await conn.execute(query)).all()
    rows = tuple(
        DeliveryRow(
            event_id=int(r.event_id),
            event_type=r.event_type,
            model=r.model,
            status=DeliveryStatus(r.status),
            attempts=int(r.attempts),
            last_status_code=r.last_status_code,
            last_error=r.last_error,
            last_attempt_at=r.last_attempt_at,
            next_attempt_at=r.next_attempt_at,
            delivered_at=r.delivered_at,
            created_at=r.created_at,
        )
        for r in found[:limit]
    )
    older = rows[-1].event_id if len(found) > limit else None
    return DeliveryPage(rows=rows, older_than=older)
