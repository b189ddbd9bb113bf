"""The read API of the unified data over real HTTP, on both engines.

One test syncs the Buildium simulator for realistic records; the others put
a handful of records into the cache with ``store_page`` so each filter and
order has a known answer.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from support import sim_integration, started_sim

from syncd.api.records import ROUTES
from syncd.crypto import Cipher
from syncd.domain import (
    Environment,
    FetchWindow,
    Integration,
    Link,
    NormalizedRecord,
    RunCounts,
    RunStatus,
    SyncMode,
    record_id,
)
from syncd.runner import Runner
from syncd.store.base import PageProgress
from syncd.store.sql import SqlStore
from syncd.store.tables import MODEL_TABLES

from .conftest import Api, serving_api

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
PATHS = {
    "properties": "properties",
    "units": "units",
    "floor_plans": "floor-plans",
    "residents": "residents",
    "leases": "leases",
    "leads": "leads",
    "lead_sources": "lead-sources",
    "employees": "employees",
}
RESPONSES = {r.op_id: r.response for r in ROUTES}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00$")


def integration(iid: str = "acme", vendor: str = "BUILDIUM") -> Integration:
    return Integration(
        id=iid,
        name=iid.title(),
        vendor=vendor,
        environment=Environment.PRODUCTION,
        enabled=False,
        base_url="http://127.0.0.1:1",
        credentials={"client_id": "c", "client_secret": "s"},
        options={},
    )


def rec(x_id: str, links: Sequence[Link] = (), **values: Any) -> NormalizedRecord:
    values.setdefault("custom_data", {})
    digest = hashlib.sha256(repr((x_id, sorted(values.items()), links)).encode()).hexdigest()
    return NormalizedRecord(x_id=x_id, values=values, content_hash=digest, links=tuple(links))


async def put(
    store: SqlStore,
    integ: Integration,
    model: str,
    records: Sequence[NormalizedRecord],
    *,
    now: datetime = NOW,
    finish: bool = True,
) -> str:
    """Store one page of ``model`` in a run of its own (finished unless told not to)."""
    run = await store.start_run(integration=integ, model=model, mode=SyncMode.FULL, trigger="t")
    progress = PageProgress(
        cursor=None, run_id=run, mode=SyncMode.FULL, window=FetchWindow(since=None, until=now)
    )
    await store.store_page(
        integration=integ, model=model, records=records, quarantined=[], progress=progress, now=now
    )
    if finish:
        await store.finish_run(run, RunStatus.SUCCESS, RunCounts())
    else:
        # store_page beat at the page's (fixed, past) time: alive means now.
        await store.heartbeat_run(run)
    return run


def rid(model: str, x_id: str, iid: str = "acme") -> str:
    return str(record_id(iid, model, x_id))


async def mark_deleted(store: SqlStore, model: str, x_id: str) -> None:
    table = MODEL_TABLES[model]
    async with store.engine.begin() as conn:
        await conn.execute(update(table).where(table.c.x_id == x_id).values(deleted_at=NOW))


async def error_field(api: Api, path: str, **params: Any) -> str:
    status, body, _ = await api.call("GET", path, params=params)
    assert status == 400, body
    return str(body["error"]["details"]["issues"][0]["field"])


async def seed_units(api: Api) -> None:
    """Seven units of acme (one page per minute, so created_at orders them) and two of other."""
    acme, other = integration(), integration("other", "RESMAN")
    for i in (acme, other):
        await api.store.add_integration(i)
    prop = record_id("acme", "properties", "p1")
    plan = record_id("acme", "floor_plans", "fp1")
    for n in range(7):
        unit = rec(
            f"u{n}",
            number=f"{100 + n}",
            bedrooms=n % 3,
            rent_amount_market_in_cents=1000 * (7 - n),
            is_vacant=n % 2 == 0,
            x_property_id="p1" if n < 5 else "p2",
            property_id=prop if n < 5 else record_id("acme", "properties", "p2"),
            floor_plan_id=plan if n < 3 else None,
        )
        await put(api.store, acme, "units", [unit], now=NOW + timedelta(minutes=n))
    await put(api.store, other, "units", [rec("u0", number="100"), rec("u9", number="900")])


async def test_a_real_sync_is_served_for_every_model(api: Api) -> None:
    async with started_sim(seed=11, scale=12) as sim:
        integ = sim_integration(sim, page_size=50)
        await api.store.add_integration(integ)
        report = await Runner(api.store).run(integ, full=True)
    assert report.status is RunStatus.SUCCESS, report.error
    for model, path in PATHS.items():
        stored = await api.store.count_records("acme", model)
        body = await api.get(f"/v1/{path}/", integration_id="acme", limit=250)
        assert body["meta"]["total"] == stored == len(body["results"]), model
        assert body["meta"]["sync_status"] == ("SYNCED" if stored else "NOT_SYNCED"), model
        singular = RESPONSES[f"get_{model.removesuffix('s').replace('ie', 'y')}"]
        listing = RESPONSES[f"list_{model}"]
        assert listing is not None and singular is not None
        listing.model_validate(body)  # exactly the shape the document declares
        if not stored:
            continue
        first = body["results"][0]
        assert {"content_hash", "source_hash", "last_run_id"}.isdisjoint(first)
        assert STAMP.match(first["created_at"]) and STAMP.match(first["last_seen"])
        one = await api.get(f"/v1/{path}/{first['id']}")
        singular.model_validate(one)
        assert one["results"] == first
    leases = (await api.get("/v1/leases/", limit=250))["results"]
    linked = [lease for lease in leases if lease["residents_meta_data"]]
    assert linked, "the simulator's leases have no tenants"
    lease = linked[0]
    entry = lease["residents_meta_data"][0]
    assert set(entry) == {
        "resident_id",
        "x_resident_id",
        "resident_type_normalized",
        "resident_type_raw",
        "status_raw",
        "move_in_date",
        "move_out_date",
    }
    assert entry["move_in_date"] is None or DATE.match(entry["move_in_date"])
    resident = (await api.get(f"/v1/residents/{entry['resident_id']}"))["results"]
    assert lease["id"] in {m["lease_id"] for m in resident["leases_meta_data"]}
    residents = await api.get("/v1/residents", lease_id=lease["id"])
    assert {r["id"] for r in residents["results"]} == {
        m["resident_id"] for m in lease["residents_meta_data"]
    }
    of_resident = await api.get("/v1/leases", resident_id=entry["resident_id"])
    assert lease["id"] in {x["id"] for x in of_resident["results"]}


async def test_paging_and_ordering(api: Api) -> None:
    await seed_units(api)
    first = await api.get("/v1/units/", integration_id="acme", limit=3)
    meta = first["meta"]
    assert (meta["offset"], meta["limit"], meta["total"], meta["hasMore"]) == (0, 3, 7, True)
    assert meta["orderBy"] == [
        {"field": "created_at", "direction": "desc"},
        {"field": "id", "direction": "desc"},
    ]
    assert [u["x_id"] for u in first["results"]] == ["u6", "u5", "u4"]
    seen: list[str] = []
    for offset in (0, 3, 6):
        page = await api.get("/v1/units", integration_id="acme", limit=3, offset=offset)
        seen += [u["x_id"] for u in page["results"]]
        assert page["meta"]["hasMore"] is (offset < 6)
    assert seen == [f"u{n}" for n in range(6, -1, -1)]
    beyond = await api.get("/v1/units/", offset=50)
    assert beyond["results"] == [] and beyond["meta"]["total"] == 9
    by_rent = await api.get(
        "/v1/units/", integration_id="acme", **{"order-by": "rent_amount_market_in_cents"}
    )
    assert [u["x_id"] for u in by_rent["results"]] == [f"u{n}" for n in range(6, -1, -1)]
    assert by_rent["meta"]["orderBy"][-1] == {"field": "id", "direction": "asc"}
    mixed = await api.get(
        "/v1/units/", integration_id="acme", **{"order-by": "bedrooms:desc,number:asc"}
    )
    assert [u["number"] for u in mixed["results"]] == [
        "102",
        "105",
        "101",
        "104",
        "100",
        "103",
        "106",
    ]
    # Nulls sort last ascending on both engines.
    plans = await api.get("/v1/units/", **{"order-by": "floor_plan_id:asc,x_id"})
    assert [u["floor_plan_id"] is None for u in plans["results"]] == [False] * 3 + [True] * 6
    assert await error_field(api, "/v1/units/", limit=251) == "limit"
    assert await error_field(api, "/v1/units/", limit=0) == "limit"
    assert await error_field(api, "/v1/units/", offset=-1) == "offset"
    assert await error_field(api, "/v1/units/", **{"order-by": "nope"}) == "order-by"
    assert await error_field(api, "/v1/units/", **{"order-by": "custom_data"}) == "order-by"
    assert await error_field(api, "/v1/units/", **{"order-by": "number:up"}) == "order-by"


async def test_totals_beyond_the_exact_count_limit(
    database_url: str, cipher: Cipher, tmp_path: Path
) -> None:
    async with serving_api(database_url, cipher, tmp_path, api_exact_total_limit=5) as api:
        await seed_units(api)
        # 7 of acme's units match: more than 5, so no total, and the bound instead.
        over = await api.get("/v1/units", integration_id="acme", limit=3)
        assert "total" not in over["meta"] and over["meta"]["total_exceeds"] == 5
        assert over["meta"]["hasMore"] is True
        # hasMore stays exact past the count limit.
        last = await api.get("/v1/units", integration_id="acme", limit=3, offset=6)
        assert [u["x_id"] for u in last["results"]] == ["u0"]
        assert last["meta"]["hasMore"] is False and "total" not in last["meta"]
        exact = await api.get("/v1/units", integration_id="acme", limit=2, offset=4, number="103")
        assert exact["meta"]["total"] == 1 and "total_exceeds" not in exact["meta"]


async def test_filters(api: Api) -> None:
    await seed_units(api)

    async def x_ids(**params: Any) -> set[str]:
        body = await api.get("/v1/units/", **params)
        assert body["meta"]["total"] == len(body["results"])
        return {f"{u['integration_id']}/{u['x_id']}" for u in body["results"]}

    assert len(await x_ids()) == 9
    assert await x_ids(integration_id="other") == {"other/u0", "other/u9"}
    assert await x_ids(integration_vendor="RESMAN") == {"other/u0", "other/u9"}
    assert await x_ids(integration_id="acme", x_id="u3") == {"acme/u3"}
    assert await x_ids(property_id=rid("properties", "p2")) == {"acme/u5", "acme/u6"}
    assert await x_ids(floor_plan_id=rid("floor_plans", "fp1")) == {"acme/u0", "acme/u1", "acme/u2"}
    assert await x_ids(is_vacant="false") == {"acme/u1", "acme/u3", "acme/u5"}
    assert await x_ids(number="100") == {"acme/u0", "other/u0"}
    assert await x_ids(unit_number="100", integration_id="other") == {"other/u0"}
    assert await x_ids(integration_id="nope") == set()
    assert await error_field(api, "/v1/units/", x_id="u3") == "x_id"
    assert await error_field(api, "/v1/units/", property_id="not-a-uuid") == "property_id"
    assert await error_field(api, "/v1/units/", is_vacant="maybe") == "is_vacant"
    assert await error_field(api, "/v1/units/", colour="red") == "colour"
    # Only the documented forms: no bare-hex UUIDs, yes/no booleans or NUL bytes.
    bare = rid("properties", "p2").replace("-", "")
    assert await error_field(api, "/v1/units/", property_id=bare) == "property_id"
    assert await error_field(api, "/v1/units/", is_vacant="yes") == "is_vacant"
    assert await error_field(api, "/v1/units/", include_deleted="1") == "include_deleted"
    assert await error_field(api, "/v1/units/", number="1\x00") == "number"
    await mark_deleted(api.store, "units", "u9")
    assert await x_ids(integration_id="other") == {"other/u0"}
    assert await x_ids(integration_id="other", include_deleted="true") == {"other/u0", "other/u9"}
    # By id, a deleted record is still there, saying so.
    gone = await api.get(f"/v1/units/{rid('units', 'u9', 'other')}")
    assert STAMP.match(gone["results"]["deleted_at"])


async def test_lease_and_resident_filters_and_links(api: Api) -> None:
    acme = integration()
    await api.store.add_integration(acme)
    await put(
        api.store,
        acme,
        "residents",
        [
            rec("r1", first_name="Ann", email_1="ann@example.com", phone_1="5550001111"),
            rec("r2", first_name="Bob", email_1="bob@example.com", date_of_birth=date(1990, 5, 6)),
            rec("r3", first_name="Cy"),
        ],
    )
    d = date.fromisoformat
    tenant = "resident_type_normalized"
    leases = [
        rec(
            "l1",
            [
                Link("r1", {tenant: "PRIMARY", "move_in_date": d("2024-01-01")}),
                Link("r2", {tenant: "SECONDARY", "resident_type_raw": "Roommate"}),
            ],
            unit_id=record_id("acme", "units", "u1"),
            unit_number="101",
            status_normalized="ACTIVE",
            status_raw="Current",
            realized_move_in_date=d("2024-01-01"),
            scheduled_move_in_date=d("2023-12-15"),
            services=[{"name": "parking"}],
        ),
        rec(
            "l2",
            [Link("r2", {tenant: "PRIMARY"})],
            unit_id=record_id("acme", "units", "u2"),
            status_normalized="INACTIVE",
            scheduled_move_in_date=d("2022-03-01"),
            realized_move_in_date=d("2022-03-02"),
            realized_move_out_date=d("2023-03-01"),
        ),
        rec(
            "l3",
            [Link("r3", {tenant: "PRIMARY"})],
            status_normalized="PENDING",
            scheduled_move_in_date=d("2026-06-01"),
            scheduled_move_out_date=d("2027-05-31"),
        ),
    ]
    await put(api.store, acme, "leases", leases)

    async def lease_ids(**params: Any) -> set[str]:
        body = await api.get("/v1/leases/", **{"order-by": "x_id", **params})
        return {lease["x_id"] for lease in body["results"]}

    assert await lease_ids(unit_id=rid("units", "u1")) == {"l1"}
    assert await lease_ids(resident_id=rid("residents", "r2")) == {"l1", "l2"}
    assert await lease_ids(status_normalized="PENDING") == {"l3"}
    assert await lease_ids(status_raw="Current", unit_number="101") == {"l1"}
    # Realized dates win over scheduled ones; bounds are exclusive.
    assert await lease_ids(before_move_in_date="2024-01-01") == {"l2"}
    assert await lease_ids(after_move_in_date="2023-12-31") == {"l1", "l3"}
    assert await lease_ids(after_move_in_date="2022-03-01", before_move_in_date="2024-01-02") == {
        "l1",
        "l2",
    }
    assert await lease_ids(before_move_out_date="2027-01-01") == {"l2"}
    assert await lease_ids(after_move_out_date="2023-03-01") == {"l3"}
    assert await lease_ids(only_null_move_outs="true") == {"l1"}
    assert await lease_ids(only_null_move_outs="false") == {"l1", "l2", "l3"}
    assert await lease_ids(resident_id=rid("residents", "r2"), after_move_in_date="2023-01-01") == {
        "l1"
    }
    for bad in ("soon", "0", "2024-01-01T00:00:00"):
        field = await error_field(api, "/v1/leases/", before_move_in_date=bad)
        assert field == "before_move_in_date", bad

    one = (await api.get(f"/v1/leases/{rid('leases', 'l1')}"))["results"]
    assert one["services"] == [{"name": "parking"}]
    assert one["realized_move_in_date"] == "2024-01-01"
    assert one["residents_meta_data"] == [
        {
            "resident_id": rid("residents", "r1"),
            "x_resident_id": "r1",
            "resident_type_normalized": "PRIMARY",
            "resident_type_raw": None,
            "status_raw": None,
            "move_in_date": "2024-01-01",
            "move_out_date": None,
        },
        {
            "resident_id": rid("residents", "r2"),
            "x_resident_id": "r2",
            "resident_type_normalized": "SECONDARY",
            "resident_type_raw": "Roommate",
            "status_raw": None,
            "move_in_date": None,
            "move_out_date": None,
        },
    ]

    async def residents(**params: Any) -> dict[str, Any]:
        body = await api.get("/v1/residents/", **{"order-by": "x_id", **params})
        return {r["x_id"]: r for r in body["results"]}

    assert set(await residents(lease_id=rid("leases", "l1"))) == {"r1", "r2"}
    assert set(await residents(lease_id=str(uuid.uuid4()))) == set()
    assert set(await residents(email_1="bob@example.com")) == {"r2"}
    assert set(await residents(phone_1="5550001111")) == {"r1"}
    everyone = await residents()
    assert everyone["r2"]["date_of_birth"] == "1990-05-06"
    assert [m["x_lease_id"] for m in everyone["r2"]["leases_meta_data"]] == ["l1", "l2"]
    assert everyone["r2"]["leases_meta_data"][1] == {
        "lease_id": rid("leases", "l2"),
        "x_lease_id": "l2",
        "resident_type_normalized": "PRIMARY",
        "resident_type_raw": None,
        "status_raw": None,
        "move_in_date": None,
        "move_out_date": None,
    }
    assert everyone["r3"]["leases_meta_data"][0]["x_lease_id"] == "l3"


async def test_get_by_id_paths_and_keys(api: Api) -> None:
    await seed_units(api)
    unit = rid("units", "u1")
    for path in (f"/v1/units/{unit}", f"/v1/units/{unit}/"):
        body = await api.get(path)
        assert body["results"]["x_id"] == "u1" and body["results"]["number"] == "101"
    for missing in (str(uuid.uuid4()), "not-a-uuid", rid("leases", "u1")):
        status, body, _ = await api.call("GET", f"/v1/units/{missing}")
        assert status == 404 and body["error"]["code"] == "not_found", missing
    status, _, _ = await api.call("GET", f"/v1/units/{unit}", params={"limit": "3"})
    assert status == 400
    for path in ("/v1/units", "/v1/units/", f"/v1/units/{unit}"):
        assert (await api.call("GET", path, key=api.read_key))[0] == 200
        assert (await api.call("GET", path, anonymous=True))[0] == 401
        assert (await api.call("GET", path, key="sk_wrong"))[0] == 401


async def test_sync_status_while_a_first_sync_runs(api: Api) -> None:
    acme, other = integration(), integration("other", "RESMAN")
    for i in (acme, other):
        await api.store.add_integration(i)

    async def status(**params: Any) -> str:
        return str((await api.get("/v1/units/", **params))["meta"]["sync_status"])

    assert await status() == "SYNCED"
    assert await status(integration_id="acme") == "NOT_SYNCED"
    run = await put(api.store, acme, "units", [rec("u1", number="1")], finish=False)
    # The first page is listed, but the list is not final yet.
    body = await api.get("/v1/units/", integration_id="acme")
    assert body["meta"]["sync_status"] == "FIRST_SYNC_IN_PROGRESS"
    assert body["meta"]["total"] == 1
    assert await status() == "FIRST_SYNC_IN_PROGRESS"
    assert await status(integration_id="other") == "NOT_SYNCED"
    assert (await api.get("/v1/leases/", integration_id="acme"))["meta"]["sync_status"] == (
        "NOT_SYNCED"
    )
    await api.store.finish_run(run, RunStatus.SUCCESS, RunCounts())
    assert await status(integration_id="acme") == "SYNCED"
    assert await status() == "SYNCED"
    # A later sync running is no first sync.
    await put(api.store, acme, "units", [rec("u2", number="2")], finish=False)
    assert await status(integration_id="acme") == "SYNCED"
    assert await status() == "SYNCED"
    # Another integration's first sync shows in the list over all of them.
    await put(api.store, other, "units", [rec("u1", number="1")], finish=False)
    assert await status() == "FIRST_SYNC_IN_PROGRESS"
    assert await status(integration_id="acme") == "SYNCED"
