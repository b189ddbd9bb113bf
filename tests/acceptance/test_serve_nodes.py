"""Two `syncd serve` nodes on one PostgreSQL: shared work, never twice, kill -9 takeover."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from support import with_store as db

from syncd.domain import Environment, Integration, RunRecord, RunStatus
from syncd.store.sql import SqlStore

SYNCD = [sys.executable, "-m", "syncd"]


@pytest.fixture
def sim(
    sim_process: Callable[..., tuple[str, dict[str, str]]],
) -> tuple[str, dict[str, str]]:
    """A simulator subprocess: (base URL, credentials)."""
    return sim_process(scale=20)


_LOGS: list[Any] = []


def node(env: dict[str, str], name: str, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("w")
    _LOGS.append(out)
    return subprocess.Popen(
        [*SYNCD, "serve", "--port", "0"],
        env=env | {"SYNCD_NODE_ID": name},
        stdout=subprocess.DEVNULL,
        stderr=out,
    )


def roots(runs: list[RunRecord]) -> list[RunRecord]:
    return sorted((r for r in runs if r.parent_run_id is None), key=lambda r: r.started_at)


def test_two_nodes_share_work_and_take_over_a_killed_node(
    tmp_path: Path, pg_database_url: str, sim: tuple[str, dict[str, str]]
) -> None:
    url, creds = sim
    key = Fernet.generate_key()

    async def seed(store: SqlStore) -> None:
        for i in range(8):
            await store.add_integration(
                Integration(
                    id=f"fast-{i}",
                    name=f"fast-{i}",
                    vendor="BUILDIUM",
                    environment=Environment.PRODUCTION,
                    enabled=True,
                    base_url=url,
                    credentials=creds,
                    options={
                        "rate_limit_per_second": 0,
                        "schedules": {
                            "incremental": {"type": "interval", "seconds": 2},
                            "full": None,
                        },
                    },
                )
            )
        await store.add_integration(
            Integration(
                id="slow",
                name="slow",
                vendor="BUILDIUM",
                environment=Environment.PRODUCTION,
                enabled=True,
                base_url=url,
                credentials=creds,
                # One record a page, four pages a second: units take ~5 s.
                options={
                    "rate_limit_per_second": 4,
                    "page_size": 1,
                    "concurrency": 1,
                    "jobs": {
                        m: {"enabled": m == "units"}
                        for m in ("properties", "residents", "leases", "leads", "employees")
                    },
                    "schedules": {
                        "incremental": {"type": "interval", "seconds": 3600},
                        "full": None,
                    },
                },
            )
        )

    db(pg_database_url, key, seed)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env |= {
        "SYNCD_DATABASE_URL": pg_database_url,
        "SYNCD_SECRET_KEY": key.decode(),
        "SYNCD_STATE_DIR": str(tmp_path / "state"),
        "SYNCD_LOG_FORMAT": "json",
        "SYNCD_SCHEDULER_POLL_SECONDS": "0.2",
        "SYNCD_LEASE_SECONDS": "5",
    }
    a = node(env, "node-a", tmp_path / "a.log")
    b: subprocess.Popen[bytes] | None = None
    try:
        # Wait until node A is inside the slow run, with some units stored.
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline, (tmp_path / "a.log").read_text()[-3000:]
            units = db(pg_database_url, key, lambda s: s.count_records("slow", "units"))
            if units >= 3:
                break
            time.sleep(0.2)
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
        stored_by_a = db(pg_database_url, key, lambda s: s.count_records("slow", "units"))
        assert stored_by_a < 20

        b = node(env, "node-b", tmp_path / "b.log")
        a2 = node(env, "node-a2", tmp_path / "a2.log")
        try:
            deadline = time.monotonic() + 45
            while True:
                assert time.monotonic() < deadline, (tmp_path / "b.log").read_text()[-3000:]
                done = db(pg_database_url, key, lambda s: s.list_runs(integration_id="slow"))
                if any(r.model == "units" and r.status is RunStatus.SUCCESS for r in done):
                    break
                time.sleep(0.3)
            time.sleep(4)  # let the fast integrations run on both nodes a while
        finally:
            for proc in (b, a2):
                proc.send_signal(signal.SIGTERM)
            for proc in (b, a2):
                assert proc.wait(timeout=40) == 0
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        while _LOGS:
            _LOGS.pop().close()

    slow = db(pg_database_url, key, lambda s: s.list_runs(integration_id="slow", limit=100))
    units = [r for r in slow if r.model == "units"]
    killed = [r for r in units if r.status is RunStatus.FAILED]
    assert killed and all("abandoned" in (r.error or "") for r in killed)
    (finished,) = [r for r in units if r.status is RunStatus.SUCCESS]
    # The taker-over resumed from the checkpoint: it did not fetch everything again.
    assert finished.counts.fetched <= 20 - stored_by_a + 1
    assert db(pg_database_url, key, lambda s: s.count_records("slow", "units")) == 20

    for i in range(8):
        runs = roots(
            db(
                pg_database_url,
                key,
                lambda s, i=i: s.list_runs(integration_id=f"fast-{i}", limit=500),
            )
        )
        assert len(runs) >= 2
        for before, after in itertools.pairwise(runs):
            if before.ended_at is not None:  # a run still RUNNING when the nodes stopped
                assert after.started_at >= before.ended_at, f"fast-{i} overlapped"
    schedules = db(pg_database_url, key, lambda s: s.list_schedules())
    assert all(s.lease_owner is None for s in schedules)
