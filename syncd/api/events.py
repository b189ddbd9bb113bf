"""The change feed of the /v1 API: the outbox's events, paged by an opaque cursor.

``GET /v1/events`` gives the events after a cursor in id order with the
cursor to continue from; polling it with the last cursor sees every event
exactly once, including ones committed late (see :mod:`syncd.services.records`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from syncd.api.common import DEFAULT_LIMIT, MAX_LIMIT
from syncd.api.errors import invalid
from syncd.api.records import NO_NUL, dumps
from syncd.api.routing import Call, Raw, Route, Scope
from syncd.domain import EventType
from syncd.models import MODELS
from syncd.services.records import MAX_CURSOR, InvalidParameter, read_feed
from syncd.store.reads import EventFilter, SqlRecordReader

#: The models events are about, as a pattern (so the document lists them).
_MODEL_PATTERN = "^(" + "|".join(MODELS) + ")$"


class EventsQuery(BaseModel):
    """Where to continue the feed, how many events, and which."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    cursor: str | None = Field(
        default=None,
        max_length=MAX_CURSOR,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="`next_cursor` of the previous page; absent: from the oldest event kept",
    )
    limit: int = Field(
        default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="events per page, 1 to 250"
    )
    integration_id: str | None = Field(
        default=None, max_length=64, pattern=NO_NUL, description="only events of this integration"
    )
    model: str | None = Field(
        default=None, pattern=_MODEL_PATTERN, description="only events about this model"
    )
    event_type: EventType | None = Field(
        default=None, description="only events of this type, e.g. DATA_UPDATE"
    )


class FeedEvent(BaseModel):
    """One change event."""

    model_config = ConfigDict(extra="forbid")

    id: int = Field(description="increasing with the order events were written in")
    event_type: str
    integration_id: str
    integration_vendor: str
    model: str | None = Field(description="null for events about no record (SYNC_COMPLETE...)")
    record_id: uuid.UUID | None
    x_id: str | None
    job_id: str | None = Field(description="the sync run that wrote the event")
    created_at: datetime
    data: dict[str, Any] = Field(description="the `data` of the event's webhook body")


class FeedPage(BaseModel):
    """A page of the change feed."""

    model_config = ConfigDict(extra="forbid")

    results: list[FeedEvent]
    next_cursor: str = Field(description="pass as `cursor` to continue after this page")
    has_more: bool = Field(description="more events wait now; false: poll again later")


async def _list_events(call: Call) -> Raw:
    q: EventsQuery = call.query
    event_type = q.event_type.value if q.event_type is not None else None
    matching = EventFilter(integration_id=q.integration_id, model=q.model, event_type=event_type)
    try:
        page = await read_feed(
            SqlRecordReader(call.ctx.store.engine),
            cursor=q.cursor,
            limit=q.limit,
            matching=matching,
        )
    except InvalidParameter as exc:
        raise invalid("query", exc.field, exc.reason, exc.code) from None
    body = {"results": page.events, "next_cursor": page.next_cursor, "has_more": page.has_more}
    return Raw(dumps(body))


ROUTES: list[Route] = [
    Route(
        "GET",
        "/v1/events",
        _list_events,
        summary="Read the change feed",
        tag="events",
        scope=Scope.READ,
        query=EventsQuery,
        response=FeedPage,
        aliases=("/v1/events/",),
        operation_id="list_events",
        description=(
            "Change events (DATA_NEW, DATA_UPDATE, DATA_DELETED and lifecycle events) in "
            "the order they were written. Keep the last `next_cursor` and poll with it: "
            "no event is missed or repeated. A filtered page looks at a bounded number "
            "of events, so it can be short or empty while `has_more` is true."
        ),
    )
]
