"""The SQL store on both engines: integrations, runs, checkpoints, page upserts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from syncd.crypto import Cipher
from syncd.domain import (
    Environment,
    FetchWindow,
    Integration,
    Link,
    NormalizedRecord,
    QuarantinedRecord,
    RunCounts,
    RunStatus,
    SyncMode,
    record_id,
)
from syncd.errors import CredentialError, IntegrationNotFound, StoreError
from syncd.store.base import PageProgress
from syncd.store.sql import SqlStore
from syncd.store.tables import (
    MODEL_TABLES,
    change_events,
    checkpoints,
    integrations,
    quarantine,
    residents_to_leases,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_integration(iid: str = "acme", name: str = "Acme") -> Integration:
    return Integration(
        id=iid,
        name=name,
        vendor="BUILDIUM",
        environment=Environment.PRODUCTION,
        enabled=False,
        base_url="http://127.0.0.1:1",
        credentials={"client_id": "cid", "client_secret": "TOPSECRET-123"},
        options={"page_size": 10},
    )


def unit(x_id: str, rent: int, number: str = "1A") -> NormalizedRecord:
    values = {
        "number": number,
        "rent_amount_market_in_cents": rent,
        "bedrooms": 2,
        "x_property_id": "9",
        "property_id": record_id("acme", "properties", "9"),
        "custom_data": {},
    }
    return NormalizedRecord(x_id=x_id, values=values, content_hash=f"h-{x_id}-{rent}-{number}")


def progress(run_id: str, cursor: str | None = "10") -> PageProgress:
    return PageProgress(
        cursor=cursor,
        run_id=run_id,
        mode=SyncMode.FULL,
        window=FetchWindow(since=None, until=NOW),
    )


async def test_integration_roundtrip_encrypts_credentials(store: SqlStore) -> None:
    await store.add_integration(make_integration())
    got = await store.get_integration("acme")
    assert got.credentials == {"client_id": "cid", "client_secret": "TOPSECRET-123"}
    assert (await store.get_integration("Acme")).id == "acme"
    assert got.options == {"page_size": 10}
    async with store.engine.connect() as conn:
        raw = (await conn.execute(select(integrations.c.credentials))).scalar_one()
    assert "TOPSECRET" not in raw and "cid" not in raw


async def test_integration_errors(store: SqlStore, database_url: str) -> None:
    await store.add_integration(make_integration())
    with pytest.raises(StoreError, match="already exists"):
        await store.add_integration(make_integration(iid="other", name="Acme"))
    with pytest.raises(IntegrationNotFound):
        await store.get_integration("nope")
    with pytest.raises(IntegrationNotFound):
        await store.set_enabled("nope", True)
    await store.set_enabled("acme", True)
    assert (await store.get_integration("acme")).enabled is True
    # Another key cannot read the credentials: a clear error, not garbage.
    other = SqlStore(store.engine, Cipher(Fernet.generate_key()))
    with pytest.raises(CredentialError, match="secret key differs"):
        await other.get_integration("acme")


async def test_store_page_classifies_and_writes_events(store: SqlStore) -> None:
    integ = make_integration()
    await store.add_integration(integ)
    run = await store.start_run(integration=integ, model="units", mode=SyncMode.FULL, trigger="t")
    first = await store.store_page(
        integration=integ,
        model="units",
        records=[unit("1", 100), unit("2", 200), unit("3", 300)],
        quarantined=[],
        progress=progress(run),
        now=NOW,
    )
    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
    later = NOW + timedelta(hours=1)
    second = await store.store_page(
        integration=integ,
        model="units",
        records=[unit("1", 100), unit("2", 250), unit("4", 400)],
        quarantined=[],
        progress=progress(run, cursor="20"),
        now=later,
    )
    assert (second.created, second.updated, second.unchanged) == (1, 1, 1)
    table = MODEL_TABLES["units"]
    async with store.engine.connect() as conn:
        rows = {
            r.x_id: r
            for r in await conn.execute(select(table).where(table.c.integration_id == "acme"))
        }
        events = [
            (r.x_id, r.event_type)
            for r in await conn.execute(select(change_events).order_by(change_events.c.id))
        ]
        cp = (await conn.execute(select(checkpoints))).one()
    assert rows["2"].rent_amount_market_in_cents == 250
    assert rows["1"].last_seen == later and rows["1"].updated_at == NOW
    assert rows["3"].last_seen == NOW
    assert rows["2"].created_at == NOW and rows["2"].updated_at == later
    assert rows["1"].id == record_id("acme", "units", "1")
    assert rows["1"].property_id == record_id("acme", "properties", "9")
    assert rows["1"].integration_vendor == "BUILDIUM"
    assert events == [
        ("1", "DATA_NEW"),
        ("2", "DATA_NEW"),
        ("3", "DATA_NEW"),
        ("2", "DATA_UPDATE"),  # in page order
        ("4", "DATA_NEW"),
    ]
    assert cp.cursor == "20" and cp.cursor_run_id == run and cp.window_until == NOW
    assert await store.count_records("acme", "units") == 4


async def test_quarantine_rows_and_cleanup(store: SqlStore) -> None:
    integ = make_integration()
    await store.add_integration(integ)
    bad = QuarantinedRecord(x_id="7", reason="MarketRent: not a number", raw={"Id": 7})
    await store.store_page(
        integration=integ,
        model="units",
        records=[unit("1", 100)],
        quarantined=[bad],
        progress=progress("r1"),
        now=NOW,
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(quarantine))).all()
    assert [(r.x_id, r.reason, r.raw) for r in rows] == [
        ("7", "MarketRent: not a number", {"Id": 7})
    ]
    # Once the record comes through clean, its quarantine entry goes away.
    await store.store_page(
        integration=integ,
        model="units",
        records=[unit("7", 700)],
        quarantined=[],
        progress=progress("r2"),
        now=NOW,
    )
    async with store.engine.connect() as conn:
        assert (await conn.execute(select(quarantine))).all() == []


async def test_lease_links_replaced_on_change(store: SqlStore) -> None:
    integ = make_integration()
    await store.add_integration(integ)

    def lease(tenants: list[str], h: str) -> NormalizedRecord:
        return NormalizedRecord(
            x_id="50",
            values={
                "start_date": date(2024, 1, 1),
                "status_raw": "Active",
                "status_normalized": "ACTIVE",
                "x_property_id": "9",
                "property_id": None,
                "custom_data": {},
            },
            content_hash=h,
            links=tuple(
                Link(t, {"resident_type_normalized": "PRIMARY" if i == 0 else "SECONDARY"})
                for i, t in enumerate(tenants)
            ),
        )

    await store.store_page(
        integration=integ,
        model="leases",
        records=[lease(["1", "2"], "a")],
        quarantined=[],
        progress=progress("r"),
        now=NOW,
    )
    await store.store_page(
        integration=integ,
        model="leases",
        records=[lease(["2", "3"], "b")],
        quarantined=[],
        progress=progress("r"),
        now=NOW,
    )
    async with store.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(residents_to_leases).order_by(residents_to_leases.c.x_resident_id)
            )
        ).all()
    assert [(r.x_resident_id, r.resident_type_normalized) for r in rows] == [
        ("2", "PRIMARY"),
        ("3", "SECONDARY"),
    ]
    assert rows[0].lease_id == record_id("acme", "leases", "50")
    assert rows[0].resident_id == record_id("acme", "residents", "2")
    lease_row = await store.count_records("acme", "leases")
    assert lease_row == 1


async def test_failed_page_stores_nothing(store: SqlStore) -> None:
    integ = make_integration()
    await store.add_integration(integ)
    await store.complete_checkpoint("acme", "units", NOW)
    # x_id is NOT NULL: the second row fails inside the database, after the first.
    broken = NormalizedRecord(x_id=None, values={"custom_data": {}}, content_hash="x")  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        await store.store_page(
            integration=integ,
            model="units",
            records=[unit("1", 100), broken],
            quarantined=[],
            progress=progress("r", cursor="999"),
            now=NOW,
        )
    assert await store.count_records("acme", "units") == 0
    cp = await store.get_checkpoint("acme", "units")
    assert cp.cursor is None and cp.watermark == NOW
    async with store.engine.connect() as conn:
        assert (await conn.execute(select(change_events))).all() == []


async def test_checkpoint_lifecycle(store: SqlStore) -> None:
    integ = make_integration()
    await store.add_integration(integ)
    assert (await store.get_checkpoint("acme", "units")).watermark is None
    await store.store_page(
        integration=integ,
        model="units",
        records=[unit("1", 1)],
        quarantined=[],
        progress=PageProgress(
            cursor="1000",
            run_id="run-1",
            mode=SyncMode.INCREMENTAL,
            window=FetchWindow(since=NOW - timedelta(days=1), until=NOW),
        ),
        now=NOW,
    )
    cp = await store.get_checkpoint("acme", "units")
    assert cp.cursor == "1000" and cp.cursor_mode is SyncMode.INCREMENTAL
    assert cp.window == FetchWindow(since=NOW - timedelta(days=1), until=NOW)
    await store.complete_checkpoint("acme", "units", NOW)
    cp = await store.get_checkpoint("acme", "units")
    assert cp.cursor is None and cp.window is None and cp.watermark == NOW


async def test_runs_are_logged(store: SqlStore) -> None:
    integ = make_integration()
    await store.add_integration(integ)
    root = await store.start_run(
        integration=integ, model=None, mode=SyncMode.FULL, trigger="manual"
    )
    child = await store.start_run(
        integration=integ,
        model="units",
        mode=SyncMode.FULL,
        trigger="manual",
        parent_run_id=root,
        root_run_id=root,
    )
    await store.finish_run(child, RunStatus.SUCCESS, RunCounts(fetched=5, created=5, requests=2))
    await store.finish_run(root, RunStatus.FAILED, RunCounts(fetched=5), "boom")
    last = await store.last_root_run("acme")
    assert last is not None and last.id == root and last.status is RunStatus.FAILED
    assert last.error == "boom" and last.ended_at is not None
    runs = await store.list_runs(root_run_id=root)
    by_id = {r.id: r for r in runs}
    assert by_id[child].counts.created == 5 and by_id[child].counts.requests == 2
    assert by_id[child].parent_run_id == root and by_id[child].model == "units"


async def test_every_column_type_roundtrips(store: SqlStore) -> None:
    """The bulk write path stores values exactly as SQLAlchemy reads them back."""
    integ = make_integration()
    await store.add_integration(integ)
    unit_ref = record_id("acme", "units", "5")
    lease_values = {
        "x_created_at": datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        "x_unit_id": "5",
        "unit_id": unit_ref,
        "start_date": date(2024, 2, 29),
        "rent_amount_in_cents": 12_345_678_901,
        "rent_due_day": 1,
        "status_raw": "Active",
        "x_property_id": "9",
        "property_id": None,
        "custom_data": {"nested": {"a": [1, "two", None]}, "é": "ü"},
    }
    employee_values = {
        "name": "Ann Lee",
        "is_active": False,
        "roles": ["Admin", "Leasing"],
        "x_property_id": None,
        "property_id": None,
        "custom_data": {},
    }
    for model, values in (("leases", lease_values), ("employees", employee_values)):
        await store.store_page(
            integration=integ,
            model=model,
            records=[NormalizedRecord(x_id="1", values=values, content_hash="h")],
            quarantined=[],
            progress=progress("r"),
            now=NOW,
            source_hashes={"1": "src"},
        )
        table = MODEL_TABLES[model]
        async with store.engine.connect() as conn:
            row = (await conn.execute(select(table))).one()._mapping
        for column, value in values.items():
            assert row[column] == value, column
        assert row["source_hash"] == "src" and row["content_hash"] == "h"
        assert row["created_at"] == NOW and row["deleted_at"] is None
    assert await store.known_sources("acme", "leases", ["1", "2"]) == {"1": "src"}
