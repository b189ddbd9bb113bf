"""/healthz, /readyz and /metrics served for real, against real stores on both engines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anyio
import pytest
import structlog.testing

from syncd.api import HttpServer, Readiness, build_app
from syncd.crypto import Cipher
from syncd.domain import Environment, Integration, RunCounts, RunStatus, SyncMode
from syncd.errors import StoreError
from syncd.metrics import Metrics
from syncd.store.base import Store
from syncd.store.engine import make_engine
from syncd.store.sql import SqlStore

#: Nothing listens on port 1: connecting is refused at once, like a stopped PostgreSQL.
UNREACHABLE_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/syncd"


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def serving(
    store: Store, readiness: Readiness, metrics: Metrics | None = None, **options: Any
) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    """The health app served on an ephemeral port, and a client session for it."""
    app = build_app(store=store, metrics=metrics or Metrics(), readiness=readiness, **options)
    server = HttpServer(app, shutdown_timeout=0.5)
    url = await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            yield url, session
    finally:
        await server.stop()


async def get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with session.get(url) as response:
        assert response.content_type == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
        return response.status, await response.json()


def integration(iid: str, *, enabled: bool = True) -> Integration:
    return Integration(
        id=iid,
        name=f"name-{iid}",
        vendor="BUILDIUM",
        environment=Environment.PRODUCTION,
        enabled=enabled,
        base_url="http://127.0.0.1:1",
        credentials={"client_id": "cid", "client_secret": "TOPSECRET-123"},
    )


@pytest.fixture
async def unreachable_store(cipher: Cipher) -> AsyncIterator[SqlStore]:
    s = SqlStore(make_engine(UNREACHABLE_URL), cipher)
    try:
        yield s
    finally:
        await s.close()


async def test_healthz(store: SqlStore) -> None:
    async with serving(store, Readiness()) as (url, session):
        assert url.startswith("http://127.0.0.1:")
        assert await get_json(session, f"{url}/healthz") == (200, {"status": "ok"})


async def test_readyz_lists_integrations_and_last_runs(store: SqlStore) -> None:
    done, idle = integration("i-done"), integration("i-idle", enabled=False)
    await store.add_integration(done)
    await store.add_integration(idle)
    root = await store.start_run(integration=done, model=None, mode=SyncMode.FULL, trigger="manual")
    model_run = await store.start_run(
        integration=done,
        model="units",
        mode=SyncMode.FULL,
        trigger="manual",
        parent_run_id=root,
        root_run_id=root,
    )
    await store.finish_run(model_run, RunStatus.FAILED, RunCounts(fetched=3), "boom")
    await store.finish_run(root, RunStatus.PARTIAL, RunCounts(fetched=3), "units: boom")
    readiness = Readiness()
    readiness.tick()

    async with serving(store, readiness) as (url, session):
        status, body = await get_json(session, f"{url}/readyz")

    assert status == 200, body
    assert body["status"] == "ready"
    assert body["database"] == "ok"
    assert body["scheduler"]["ok"] is True
    assert 0 <= body["scheduler"]["last_tick_age_seconds"] < 30
    assert "integrations_error" not in body
    by_id = {i["id"]: i for i in body["integrations"]}
    assert set(by_id) == {"i-done", "i-idle"}
    assert by_id["i-idle"] == {
        "id": "i-idle",
        "vendor": "BUILDIUM",
        "enabled": False,
        "last_run": None,
    }
    last = by_id["i-done"]["last_run"]
    assert by_id["i-done"]["enabled"] is True
    # The top-level run, not its model child.
    assert last["status"] == "PARTIAL"
    # Why, where a load balancer's operator looks (e.g. a broken transform).
    assert last["error"] == "units: boom"
    assert last["started_at"] is not None and last["ended_at"] is not None
    assert last["started_at"] <= last["ended_at"]
    assert 0 <= last["age_seconds"] < 60
    assert "TOPSECRET" not in str(body)


async def test_readyz_follows_scheduler_ticks(store: SqlStore) -> None:
    clock = Clock()
    metrics = Metrics()
    readiness = Readiness(stale_after=10, clock=clock, metrics=metrics)
    async with serving(store, readiness, metrics) as (url, session):
        # Never ticked: not ready yet.
        status, body = await get_json(session, f"{url}/readyz")
        assert status == 503
        assert body["status"] == "not_ready"
        assert body["database"] == "ok"
        assert body["scheduler"] == {"last_tick_age_seconds": None, "ok": False}

        readiness.tick()
        clock.now += 4
        status, body = await get_json(session, f"{url}/readyz")
        assert status == 200
        assert body["scheduler"] == {"last_tick_age_seconds": 4.0, "ok": True}

        clock.now += 7  # 11 s since the tick, past stale_after
        status, body = await get_json(session, f"{url}/readyz")
        assert status == 503
        assert body["scheduler"] == {"last_tick_age_seconds": 11.0, "ok": False}
        assert body["database"] == "ok"

        readiness.tick()
        status, body = await get_json(session, f"{url}/readyz")
        assert status == 200
        assert body["scheduler"]["ok"] is True

        readiness.mark_stopping()
        status, body = await get_json(session, f"{url}/readyz")
        assert status == 503
        assert body["stopping"] is True
    assert metrics.registry.get_sample_value("syncd_scheduler_last_tick_timestamp_seconds")


async def test_readyz_503_while_database_unreachable_then_200(
    store: SqlStore, unreachable_store: SqlStore
) -> None:
    await store.add_integration(integration("i-1"))
    readiness = Readiness()
    readiness.tick()

    async with serving(unreachable_store, readiness) as (url, session):
        for _ in range(2):  # and stays answering while the outage lasts
            status, body = await get_json(session, f"{url}/readyz")
            assert status == 503
            assert body["status"] == "not_ready"
            assert body["database"] != "ok"
            assert "unavailable" in body["database"]
            assert body["integrations"] == []
            assert body["scheduler"]["ok"] is True
        # Liveness is independent of the database.
        assert (await get_json(session, f"{url}/healthz"))[0] == 200

    async with serving(store, readiness) as (url, session):
        status, body = await get_json(session, f"{url}/readyz")
        assert status == 200, body
        assert body["database"] == "ok"
        assert [i["id"] for i in body["integrations"]] == ["i-1"]


async def test_readyz_times_out_on_a_hung_database(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hang() -> None:
        await anyio.sleep_forever()

    monkeypatch.setattr(store, "ping", hang)
    readiness = Readiness()
    readiness.tick()
    async with serving(store, readiness, db_timeout=0.2) as (url, session):
        with anyio.fail_after(10):
            status, body = await get_json(session, f"{url}/readyz")
    assert status == 503
    assert body["database"] == "no answer within 0.2 s"
    assert body["integrations"] == []


async def test_integration_summary_failure_does_not_fail_the_probe(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken() -> list[Integration]:
        raise StoreError("database error: relation does not exist")

    monkeypatch.setattr(store, "list_integrations", broken)
    readiness = Readiness()
    readiness.tick()
    async with serving(store, readiness) as (url, session):
        status, body = await get_json(session, f"{url}/readyz")
    assert status == 200
    assert body["integrations"] == []
    assert body["integrations_error"] == "database error: relation does not exist"


async def test_metrics_endpoint(store: SqlStore) -> None:
    metrics = Metrics()
    metrics.record_model_run(
        vendor="BUILDIUM",
        model="units",
        status=RunStatus.SUCCESS,
        duration_seconds=3.2,
        processed=42,
        requests=5,
        throttled=1,
        retries=1,
    )
    metrics.record_schedule_lag(0.4)
    metrics.set_leases_held(2)
    async with serving(store, Readiness(), metrics) as (url, session):
        async with session.get(f"{url}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == metrics.render()[1]
            text = await response.text()
        metrics.set_leases_held(0)
        async with session.get(f"{url}/metrics") as response:
            again = await response.text()

    assert 'syncd_runs_total{model="units",status="SUCCESS",vendor="BUILDIUM"} 1.0' in text
    assert 'syncd_records_processed_total{model="units",vendor="BUILDIUM"} 42.0' in text
    assert 'syncd_pms_throttled_total{vendor="BUILDIUM"} 1.0' in text
    assert "syncd_schedule_lag_seconds_count 1.0" in text
    assert "syncd_leases_held 2.0" in text
    assert "syncd_build_info{" in text
    assert "syncd_leases_held 0.0" in again


async def test_serve_in_a_task_group(store: SqlStore) -> None:
    readiness = Readiness()
    readiness.tick()
    server = HttpServer(
        build_app(store=store, metrics=Metrics(), readiness=readiness), shutdown_timeout=0.5
    )
    async with aiohttp.ClientSession() as session, anyio.create_task_group() as tg:
        url = await tg.start(server.serve, "127.0.0.1", 0)
        assert url == server.url
        assert (await get_json(session, f"{url}/readyz"))[0] == 200
        tg.cancel_scope.cancel()
    with pytest.raises(RuntimeError):
        _ = server.url
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"{url}/healthz")


def test_readiness_rejects_nonpositive_stale_after() -> None:
    with pytest.raises(ValueError):
        Readiness(stale_after=0)


async def test_access_log_goes_to_structlog_without_headers(store: SqlStore) -> None:
    readiness = Readiness()
    with structlog.testing.capture_logs() as logs:
        async with serving(store, readiness) as (url, session):
            headers = {"Authorization": "Bearer TOPSECRET-KEY"}
            async with session.get(f"{url}/healthz?probe=1", headers=headers) as response:
                assert response.status == 200
            # The access line is written after the response is sent.
            for _ in range(50):
                if any(e["event"] == "http.request" for e in logs):
                    break
                await anyio.sleep(0.01)
    access = [e for e in logs if e["event"] == "http.request"]
    assert access, logs
    assert access[0]["log_level"] == "debug"
    assert access[0]["method"] == "GET"
    assert access[0]["path"] == "/healthz"
    assert access[0]["status"] == 200
    assert "TOPSECRET" not in str(logs)
