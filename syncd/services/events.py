"""The change feed: paging through the outbox of change events, and pruning it.

Errors name the field of the request (``since``, ``limit``, ``model``,
``older_than_days``); a front end may show them under its own option names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from syncd.errors import ConfigError
from syncd.events import event_json
from syncd.settings import Settings
from syncd.store.webhook_base import ChangeEvent, PruneCounts, WebhookStore
from syncd.webhooks.spec import KNOWN_MODELS

#: The largest page of events one request may ask for.
MAX_PAGE = 10000


@dataclass(frozen=True, slots=True)
class EventPage:
    """Events after a cursor, oldest first, and the cursor to ask for the next page with."""

    events: tuple[ChangeEvent, ...]
    next_cursor: str
    #: The page is full: more events may follow at once.
    has_more: bool


async def list_events(
    store: WebhookStore,
    *,
    since: str = "0",
    model: str | None = None,
    limit: int = 100,
    settle_seconds: float = 5.0,
    now: datetime | None = None,
) -> EventPage:
    """A page of events after the cursor ``since`` (the ``next_cursor`` of the last page).

    Events younger than ``settle_seconds`` are left out: a transaction
    still committing may hold an event with a lower id, which a cursor
    past it would skip for good (see ``WebhookStore.list_events``).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ConfigError(f"must be between 1 and {MAX_PAGE}", field="limit")
    cursor = since.strip()
    if not cursor.isdigit():
        raise ConfigError(f"{cursor!r} is not a cursor (a number)", field="since")
    if model is not None and model not in KNOWN_MODELS:
        raise ConfigError(
            f"unknown model {model!r} (known: {', '.join(KNOWN_MODELS)})", field="model"
        )
    settled = (now or datetime.now(UTC)) - timedelta(seconds=settle_seconds)
    events = await store.list_events(
        after=int(cursor), model=model, limit=limit, created_before=settled
    )
    return EventPage(
        events=tuple(events),
        next_cursor=str(events[-1].id) if events else cursor,
        has_more=len(events) == limit,
    )


def event_page_json(page: EventPage) -> dict[str, Any]:
    """A page of events as plain JSON data."""
    return {
        "events": [event_json(e) for e in page.events],
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }


async def prune_events(
    store: WebhookStore,
    settings: Settings,
    *,
    older_than_days: float | None = None,
    now: datetime | None = None,
) -> PruneCounts:
    """Delete events (with their deliveries and attempts) older than the retention period.

    ``older_than_days`` overrides ``SYNCD_EVENT_RETENTION_DAYS``; 0 or None
    means the setting.
    """
    days = older_than_days or settings.event_retention_days
    if days <= 0:
        raise ConfigError("must be positive", field="older_than_days")
    return await store.prune_events((now or datetime.now(UTC)) - timedelta(days=days))
