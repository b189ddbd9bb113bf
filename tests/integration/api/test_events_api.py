"""The change feed over real HTTP, on both engines: paging, filters, late commits."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert

from syncd.domain import EventType, OutboxEvent
from syncd.services.records import GAP_HOLD, FeedPosition, decode_cursor, read_feed
from syncd.store.reads import EventFilter, SqlRecordReader
from syncd.store.tables import change_events

from .conftest import Api
from .test_read_api import integration, put, rec


def event(
    kind: EventType = EventType.DATA_UPDATE, *, iid: str = "acme", model: str | None = "units"
) -> OutboxEvent:
    return OutboxEvent(
        integration_id=iid,
        vendor="BUILDIUM",
        event_type=kind,
        payload={"integration_id": iid, "n": str(uuid.uuid4())},
        model=model,
        record_id=uuid.uuid4() if model else None,
        x_id="x" if model else None,
    )


async def read_all(api: Api, cursor: str | None = None, **params: Any) -> tuple[list[int], str]:
    """Every event after ``cursor``, page by page; (ids, the last cursor)."""
    ids: list[int] = []
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = await api.get("/v1/events", **query)
        ids += [e["id"] for e in page["results"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return ids, cursor


async def test_pages_have_no_gaps_or_repeats_and_the_cursor_goes_on(api: Api) -> None:
    acme = integration()
    await api.store.add_integration(acme)
    await put(api.store, acme, "units", [rec("u1", number="1"), rec("u2", number="2")])
    await api.store.add_events([event() for _ in range(5)])
    first = await api.get("/v1/events/", limit=3)
    assert len(first["results"]) == 3 and first["has_more"] is True
    new = first["results"][0]
    assert new["event_type"] == "DATA_NEW" and new["model"] == "units"
    assert new["data"]["record"]["number"] in {"1", "2"}
    assert new["integration_vendor"] == "BUILDIUM" and new["job_id"]
    assert uuid.UUID(new["record_id"]) and new["created_at"].endswith("+00:00")
    ids, cursor = await read_all(api, limit=3)
    assert len(ids) == 7 and ids == sorted(set(ids))
    rest, _ = await read_all(api, first["next_cursor"], limit=3)
    assert rest == ids[3:]
    # Nothing new: an empty page, and the same position.
    empty = await api.get("/v1/events", cursor=cursor)
    assert empty["results"] == [] and empty["has_more"] is False
    await api.store.add_events([event(EventType.SYNC_COMPLETE, model=None), event()])
    later, _ = await read_all(api, empty["next_cursor"], limit=1)
    assert len(later) == 2 and later[0] > ids[-1]
    status, body, _ = await api.call("GET", "/v1/events", key=api.read_key)
    assert status == 200 and len(body["results"]) == 9
    assert (await api.call("GET", "/v1/events", anonymous=True))[0] == 401


async def test_filters_and_bad_parameters(api: Api) -> None:
    await api.store.add_events(
        [
            event(iid="acme"),
            event(EventType.DATA_NEW, iid="other"),
            event(iid="acme", model="leases"),
            event(EventType.SYNC_COMPLETE, iid="acme", model=None),
            event(iid="other", model="leases"),
        ]
    )
    every, _ = await read_all(api)

    async def picked(**params: Any) -> list[int]:
        found, _ = await read_all(api, limit=1, **params)
        return [every.index(i) for i in found]

    assert await picked(integration_id="acme") == [0, 2, 3]
    assert await picked(model="leases") == [2, 4]
    assert await picked(event_type="DATA_UPDATE", integration_id="other") == [4]
    assert await picked(event_type="SYNC_COMPLETE") == [3]
    for params, name in (
        ({"cursor": "%%%"}, "cursor"),
        ({"cursor": "bm90IGpzb24"}, "cursor"),
        ({"cursor": "WzEsWzEsMl1d"}, "cursor"),
        ({"limit": "251"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"model": "owners"}, "model"),
        ({"event_type": "NEW"}, "event_type"),
        ({"since": "x"}, "since"),
    ):
        status, body, _ = await api.call("GET", "/v1/events", params=params)
        assert status == 400, params
        assert body["error"]["details"]["issues"][0]["field"] == name, params


async def test_an_event_committed_late_is_still_delivered_once(pg_api: Api) -> None:
    # PostgreSQL only: SQLite runs one writer at a time, so ids commit in order.
    api = pg_api
    row = {
        "integration_id": "acme",
        "integration_vendor": "BUILDIUM",
        "event_type": "DATA_UPDATE",
        "payload": {"late": True},
        "created_at": datetime.now(UTC),
    }
    async with api.store.engine.connect() as slow:
        # This transaction takes an id first and commits last.
        await slow.execute(insert(change_events).values(**row))
        await api.store.add_events([event()])
        seen, cursor = await read_all(api)
        assert len(seen) == 1
        await slow.commit()
    late, cursor = await read_all(api, cursor)
    assert len(late) == 1 and late[0] < seen[0]
    again, _ = await read_all(api, cursor)
    assert again == []
    assert decode_cursor(cursor).gaps == ()


async def test_skipped_ids_are_looked_for_only_so_long(api: Api) -> None:
    await api.store.add_events([event() for _ in range(3)])
    reader = SqlRecordReader(api.store.engine)
    every = await read_feed(reader, cursor=None, limit=10, matching=EventFilter())
    ids = [e["id"] for e in every.events]
    async with api.store.engine.begin() as conn:
        await conn.execute(change_events.delete().where(change_events.c.id == ids[1]))
    # Read again from the start: the deleted id is a gap the cursor remembers.
    page = await read_feed(reader, cursor=None, limit=10, matching=EventFilter())
    position = decode_cursor(page.next_cursor)
    assert position.after == ids[2] and [(g.lo, g.hi) for g in position.gaps][-1] == (
        ids[1],
        ids[1],
    )
    later = time.time() + GAP_HOLD.total_seconds() + 1
    aged = await read_feed(
        reader, cursor=page.next_cursor, limit=10, matching=EventFilter(), now=later
    )
    assert aged.events == () and decode_cursor(aged.next_cursor) == FeedPosition(after=ids[2])
    filtered = await read_feed(
        reader, cursor=None, limit=10, matching=EventFilter(model="units", event_type="DATA_NEW")
    )
    assert filtered.events == () and decode_cursor(filtered.next_cursor).after == ids[2]
