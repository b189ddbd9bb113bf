"""The Buildium simulator's listing faults over real HTTP: ``after``, repeat, total, short, drift.

These are the faults a listing-completeness check must catch; each test
asserts what goes over the wire (records, ``X-Total-Count``, offsets).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest
from support import started_sim

from syncd.sim.buildium import BuildiumSimulator

UNITS = "/v1/rentals/units"
TENANTS = "/v1/leases/tenants"
UNIT_COUNT = 230
TENANT_COUNT = 276


class Reply:
    """A finished HTTP response."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def ids(self) -> list[int]:
        return [record["Id"] for record in self.json()]

    @property
    def total(self) -> int:
        return int(self.headers["X-Total-Count"])


@pytest.fixture
async def sim() -> AsyncIterator[BuildiumSimulator]:
    async with started_sim(seed=7, scale=UNIT_COUNT) as simulator:
        yield simulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _get(
    http: aiohttp.ClientSession, sim: BuildiumSimulator, path: str, **params: int | str
) -> Reply:
    headers = {
        "x-buildium-client-id": sim.credentials["client_id"],
        "x-buildium-client-secret": sim.credentials["client_secret"],
    }
    query = {key: str(value) for key, value in params.items()}
    async with http.get(sim.url + path, params=query, headers=headers) as response:
        return Reply(response.status, response.headers, await response.read())


async def _faults(http: aiohttp.ClientSession, sim: BuildiumSimulator, body: Any) -> Any:
    async with http.post(sim.url + "/_sim/faults", json=body) as response:
        return response.status, await response.json()


async def _pending(http: aiohttp.ClientSession, sim: BuildiumSimulator) -> list[dict[str, Any]]:
    async with http.get(sim.url + "/_sim/faults") as response:
        assert response.status == 200
        faults: list[dict[str, Any]] = (await response.json())["faults"]
        return faults


# -- after -----------------------------------------------------------------------


async def test_empty_page_at_page_20(sim: BuildiumSimulator, http: aiohttp.ClientSession) -> None:
    clean = [(await _get(http, sim, UNITS, offset=o, limit=10)).ids for o in range(0, 230, 10)]
    status, _body = await _faults(http, sim, {"kind": "empty", "after": 19, "path": UNITS})
    assert status == 200
    for page in range(1, 24):
        # Requests to other paths never count towards the wait.
        assert (await _get(http, sim, "/v1/rentals", limit=5)).total == 23
        reply = await _get(http, sim, UNITS, offset=(page - 1) * 10, limit=10)
        assert reply.status == 200
        if page == 20:
            assert reply.json() == []
            assert reply.total == 0
        else:
            assert reply.ids == clean[page - 1], page
            assert reply.total == UNIT_COUNT
    assert await _pending(http, sim) == []


async def test_a_waiting_fault_blocks_no_later_fault(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    await _faults(
        http,
        sim,
        [
            {"kind": "empty", "after": 3, "path": UNITS},
            {"kind": "500", "path": "/v1/users"},
            {"kind": "500", "path": UNITS},
        ],
    )
    assert (await _get(http, sim, UNITS)).status == 500
    assert (await _get(http, sim, "/v1/users")).status == 500
    pending = await _pending(http, sim)
    assert [(f["kind"], f["after"]) for f in pending] == [("empty", 2)]
    assert (await _get(http, sim, UNITS)).total == UNIT_COUNT
    assert (await _get(http, sim, UNITS)).total == UNIT_COUNT
    assert (await _get(http, sim, UNITS)).total == 0
    assert (await _get(http, sim, UNITS)).total == UNIT_COUNT


# -- repeat ----------------------------------------------------------------------


async def test_repeat_serves_the_first_page_for_every_offset(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    first = await _get(http, sim, UNITS, limit=10)
    newest = await _get(http, sim, UNITS, limit=7, orderby="Id desc")
    sim.add_fault("repeat", path=UNITS, count=1000, after=1)
    assert (await _get(http, sim, UNITS, limit=10)).ids == first.ids  # the one let through
    for offset in (10, 20, 110, 220, 5000):
        reply = await _get(http, sim, UNITS, offset=offset, limit=10)
        assert reply.status == 200
        assert reply.ids == first.ids, offset
        assert reply.total == UNIT_COUNT
    # Same limit and order as asked; only the offset is ignored.
    reply = await _get(http, sim, UNITS, offset=50, limit=7, orderby="Id desc")
    assert reply.ids == newest.ids
    assert (await _get(http, sim, UNITS, offset=0, limit=25)).ids[:10] == first.ids
    assert sim.stats_snapshot()["faults_served"] == {"repeat": 7}


# -- total -----------------------------------------------------------------------


@pytest.mark.parametrize(("delta", "announced"), [(5, 235), (-3, 227), (-1000, 0)])
async def test_total_skews_only_the_count(
    sim: BuildiumSimulator, http: aiohttp.ClientSession, delta: int, announced: int
) -> None:
    clean = await _get(http, sim, UNITS, offset=40, limit=20)
    sim.add_fault("total", path=UNITS, delta=delta)
    reply = await _get(http, sim, UNITS, offset=40, limit=20)
    assert reply.status == 200
    assert reply.ids == clean.ids
    assert reply.total == announced
    assert (await _get(http, sim, UNITS, offset=40, limit=20)).total == UNIT_COUNT


# -- short -----------------------------------------------------------------------


@pytest.mark.parametrize(("limit", "served"), [(10, 5), (7, 3), (1, 0)])
async def test_short_serves_half_the_page_with_the_true_total(
    sim: BuildiumSimulator, http: aiohttp.ClientSession, limit: int, served: int
) -> None:
    clean = await _get(http, sim, UNITS, offset=100, limit=limit)
    sim.add_fault("short", path=UNITS)
    reply = await _get(http, sim, UNITS, offset=100, limit=limit)
    assert reply.status == 200
    assert reply.ids == clean.ids[:served]
    assert reply.total == UNIT_COUNT
    assert (await _get(http, sim, UNITS, offset=100, limit=limit)).ids == clean.ids


async def test_short_last_page(sim: BuildiumSimulator, http: aiohttp.ClientSession) -> None:
    clean = await _get(http, sim, UNITS, offset=225, limit=10)
    assert len(clean.ids) == 5
    sim.add_fault("short", path=UNITS)
    reply = await _get(http, sim, UNITS, offset=225, limit=10)
    assert reply.ids == clean.ids[:2]
    assert reply.total == UNIT_COUNT


# -- drift -----------------------------------------------------------------------


async def test_drift_changes_the_data_mid_listing(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    before = (await _get(http, sim, TENANTS, limit=1000)).ids
    status, body = await _faults(
        http, sim, {"kind": "drift", "after": 1, "path": TENANTS, "create": 3, "delete": 4}
    )
    assert status == 200
    queued = body["faults"][0]
    shown = {key: queued[key] for key in ("kind", "after", "create", "delete")}
    assert shown == {"kind": "drift", "after": 1, "create": 3, "delete": 4}

    page1 = await _get(http, sim, TENANTS, offset=0, limit=100)
    assert page1.ids == before[:100]
    assert page1.total == TENANT_COUNT
    assert sim.counts()["tenants"] == TENANT_COUNT

    page2 = await _get(http, sim, TENANTS, offset=100, limit=100)
    after = TENANT_COUNT - 4 + 3
    assert page2.total == after
    assert sim.counts()["tenants"] == after
    # Answered from the changed data: what a clean request now sees.
    now = (await _get(http, sim, TENANTS, limit=1000)).ids
    assert page2.ids == now[100:200]
    assert len(now) == after
    deleted = set(before) - set(now)
    created = set(now) - set(before)
    assert len(deleted) == 4
    assert len(created) == 3 and min(created) > max(before)
    assert sim.stats_snapshot()["faults_served"] == {"drift": 1}


async def test_drift_repeats_with_count(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    sim.add_fault("drift", path=UNITS, create=2, count=3)
    totals = [(await _get(http, sim, UNITS, offset=o, limit=50)).total for o in (0, 50, 100, 150)]
    assert totals == [UNIT_COUNT + 2, UNIT_COUNT + 4, UNIT_COUNT + 6, UNIT_COUNT + 6]


async def test_drift_is_skipped_by_a_refused_request(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    sim.add_fault("drift", path=UNITS, delete=10)
    assert (await _get(http, sim, UNITS, limit=5000)).status == 400
    assert sim.counts()["units"] == UNIT_COUNT


# -- single-record endpoints -----------------------------------------------------


async def test_listing_faults_leave_single_records_alone(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    unit = await _get(http, sim, UNITS + "/1000004")
    listing_faults: list[tuple[str, dict[str, Any]]] = [
        ("repeat", {}),
        ("total", {"delta": 3}),
        ("short", {}),
    ]
    for kind, extra in listing_faults:
        sim.add_fault(kind, **extra)
        reply = await _get(http, sim, UNITS + "/1000004")
        assert reply.status == 200
        assert reply.body == unit.body
        assert "X-Total-Count" not in reply.headers
    assert sim.stats_snapshot()["faults_served"] == {"repeat": 1, "total": 1, "short": 1}
    assert len(sim.faults) == 0


async def test_drift_on_a_single_record(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    users = (await _get(http, sim, "/v1/users")).ids
    sim.add_fault("drift", path=f"/v1/users/{users[0]}", create=1)
    assert (await _get(http, sim, f"/v1/users/{users[0]}")).status == 200
    assert sim.counts()["users"] == len(users) + 1
    # Deleting every user first: the record asked for is gone.
    sim.add_fault("drift", path=f"/v1/users/{users[0]}", delete=100)
    assert (await _get(http, sim, f"/v1/users/{users[0]}")).status == 404
    assert sim.counts()["users"] == 0


# -- control plane ---------------------------------------------------------------


async def test_control_plane_shows_and_validates_the_new_fields(
    sim: BuildiumSimulator, http: aiohttp.ClientSession
) -> None:
    status, body = await _faults(
        http,
        sim,
        [
            {"kind": "total", "delta": -2, "after": 1, "path": UNITS},
            {"kind": "short", "count": 2},
        ],
    )
    assert status == 200
    assert body["faults"] == await _pending(http, sim)
    assert body["faults"][0] == {
        "kind": "total",
        "count": 1,
        "path": UNITS,
        "delay": 0.0,
        "retry_after": None,
        "after": 1,
        "delta": -2,
        "create": 0,
        "delete": 0,
        "method": None,
    }
    for bad, field in (
        ({"kind": "empty", "after": "3"}, "after"),
        ({"kind": "total", "delta": 0.5}, "delta"),
        ({"kind": "drift", "create": -1}, "create"),
        ({"kind": "drift", "delete": True}, "delete"),
        ({"kind": "repeat", "offset": 0}, "offset"),
    ):
        status, error = await _faults(http, sim, bad)
        assert status == 400, bad
        assert field in error["error"]
    assert len(await _pending(http, sim)) == 2  # a refused body queues nothing

    # The total fault waits one request, which the short fault behind it takes.
    shortened = await _get(http, sim, UNITS, limit=10)
    assert (len(shortened.ids), shortened.total) == (5, UNIT_COUNT)
    skewed = await _get(http, sim, UNITS, limit=10)
    assert (len(skewed.ids), skewed.total) == (10, UNIT_COUNT - 2)
    async with http.get(sim.url + "/_sim/stats") as response:
        stats = await response.json()
    assert stats["faults_served"] == {"short": 1, "total": 1}
    assert stats["faults_pending"] == [
        {
            "kind": "short",
            "count": 1,
            "path": None,
            "delay": 0.0,
            "retry_after": None,
            "after": 0,
            "delta": 0,
            "create": 0,
            "delete": 0,
            "method": None,
        }
    ]


async def test_add_fault_validates(sim: BuildiumSimulator) -> None:
    with pytest.raises(ValueError, match="delta"):
        sim.add_fault("total")
    with pytest.raises(ValueError, match="create or delete"):
        sim.add_fault("drift")
    with pytest.raises(ValueError, match="after"):
        sim.add_fault("empty", after=-1)
    assert len(sim.faults) == 0
