"""The scheduler at scale: claims per second, schedule lag and idle CPU.

    .venv/bin/python benchmarks/scheduler.py [--integrations 10000] [--engines postgresql,sqlite]

1. claims/second: 10,000 integrations x 6 jobs = 60,000 schedule rows, all
   due; one node claims (batches of 100) and releases each at once, until
   every row was claimed once. Measured at the store, both engines.
2. schedule lag: 10,000 integrations with their two default jobs (reconciled
   as `syncd serve` does); 2,000 of them due at staggered times over 20 s; one
   in-process scheduler with a runner that returns at once (the lag is the
   scheduler's, not a sync's); p50/p99 of (claimed at - due at).
3. idle CPU: `syncd serve` as a subprocess holding those 20,000 schedules,
   none due; CPU over 30 s after a warm-up, as % of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from cryptography.fernet import Fernet
from sqlalchemy import bindparam, update

from syncd.crypto import Cipher
from syncd.domain import RunCounts, RunStatus
from syncd.runner import SyncReport
from syncd.scheduler import Scheduler, SchedulerConfig
from syncd.store.engine import make_engine
from syncd.store.migrate import upgrade
from syncd.store.sql import SqlStore
from syncd.store.tables import integrations, schedules

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
TRIGGER = {"type": "interval", "seconds": 900, "timezone": "UTC"}


async def fresh_db(engine_name: str, workdir: Path) -> str:
    if engine_name == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / 'sched.db'}"
    conn = await asyncpg.connect(database="postgres", **PG)
    try:
        await conn.execute("DROP DATABASE IF EXISTS syncd_sched_bench WITH (FORCE)")
        await conn.execute("CREATE DATABASE syncd_sched_bench")
    finally:
        await conn.close()
    return f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/syncd_sched_bench"


async def seed_integrations(store: SqlStore, cipher: Cipher, n: int) -> None:
    now = datetime.now(UTC)
    token = cipher.encrypt({"client_id": "x", "client_secret": "y"})
    rows = [
        {
            "id": f"int-{i:05d}",
            "name": f"Integration {i}",
            "vendor": "BUILDIUM",
            "environment": "production",
            "enabled": True,
            "base_url": "http://127.0.0.1:9",
            "credentials": token,
            "options": {},
            "created_at": now,
            "updated_at": now,
        }
        for i in range(n)
    ]
    async with store.engine.begin() as conn:
        for start in range(0, n, 2000):
            await conn.execute(integrations.insert(), rows[start : start + 2000])


async def claims_per_second(url: str, key: bytes, n: int) -> dict[str, Any]:
    store = SqlStore(make_engine(url), Cipher(key))
    try:
        now = datetime.now(UTC)
        rows = [
            {
                "integration_id": f"int-{i:05d}",
                "job": f"job{j}",
                "trigger": TRIGGER,
                "state": "ACTIVE",
                "next_run_at": now,
                "updated_at": now,
            }
            for i in range(n)
            for j in range(6)
        ]
        async with store.engine.begin() as conn:
            await conn.execute(schedules.delete())
            for start in range(0, len(rows), 5000):
                await conn.execute(schedules.insert(), rows[start : start + 5000])
        later = now + timedelta(days=1)
        claimed = 0
        started = time.perf_counter()
        while True:
            batch = await store.claim_due("bench", datetime.now(UTC), timedelta(seconds=60), 100)
            if not batch:
                break
            claimed += len(batch)
            for s in batch:
                await store.release_schedule(
                    "bench", s.integration_id, s.job, next_run_at=later, last_run_at=now
                )
        seconds = time.perf_counter() - started
        async with store.engine.begin() as conn:
            await conn.execute(schedules.delete())
        return {
            "schedules": len(rows),
            "claimed": claimed,
            "seconds": round(seconds, 2),
            "claims_per_second": round(claimed / seconds),
        }
    finally:
        await store.close()


class InstantRunner:
    """A runner that finishes at once: the benchmark measures the scheduler alone."""

    async def run(self, integration: Any, **_: Any) -> SyncReport:
        return SyncReport(
            root_run_id="-",
            integration_id=integration.id,
            vendor=integration.vendor,
            status=RunStatus.SUCCESS,
            outcomes=(),
            counts=RunCounts(),
            seconds=0.0,
        )


async def schedule_lag(url: str, key: bytes, due: int) -> dict[str, Any]:
    store = SqlStore(make_engine(url), Cipher(key))
    lags: list[float] = []
    try:
        node = Scheduler(
            store,
            InstantRunner(),  # type: ignore[arg-type]
            SchedulerConfig(
                node_id="bench", poll_interval=1.0, max_concurrent=16, reconcile_every=3600
            ),
            on_lag=lags.append,
        )
        t0 = time.perf_counter()
        await node.reconcile()
        reconcile_seconds = time.perf_counter() - t0
        base = datetime.now(UTC) + timedelta(seconds=3)
        async with store.engine.begin() as conn:
            await conn.execute(update(schedules).values(next_run_at=base + timedelta(days=1)))
            await conn.execute(
                update(schedules)
                .where(
                    schedules.c.integration_id == bindparam("iid"),
                    schedules.c.job == "incremental",
                )
                .values(next_run_at=bindparam("at")),
                [
                    {"iid": f"int-{i:05d}", "at": base + timedelta(seconds=20 * i / due)}
                    for i in range(due)
                ],
            )
        import anyio

        async with anyio.create_task_group() as tg:
            tg.start_soon(node.run)
            await anyio.sleep(26)
            node.request_stop()
        lags.sort()
        return {
            "reconcile_seconds": round(reconcile_seconds, 2),
            "jobs_due": due,
            "jobs_claimed": len(lags),
            "lag_p50_seconds": round(statistics.median(lags), 3) if lags else None,
            "lag_p99_seconds": round(lags[int(len(lags) * 0.99) - 1], 3) if lags else None,
            "lag_max_seconds": round(lags[-1], 3) if lags else None,
        }
    finally:
        await store.close()


async def nothing_due(url: str, key: bytes) -> None:
    """Push every schedule a day ahead, so the idle daemon really is idle."""
    store = SqlStore(make_engine(url), Cipher(key))
    try:
        # The schedules exist (as `syncd serve` would create them) even when
        # this phase runs alone.
        await Scheduler(store, InstantRunner()).reconcile()  # type: ignore[arg-type]
        async with store.engine.begin() as conn:
            await conn.execute(
                update(schedules).values(
                    next_run_at=datetime.now(UTC) + timedelta(days=1),
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
    finally:
        await store.close()


def idle_cpu(url: str, key: bytes, workdir: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env |= {
        "SYNCD_DATABASE_URL": url,
        "SYNCD_SECRET_KEY": key.decode(),
        "SYNCD_STATE_DIR": str(workdir / "state"),
        "SYNCD_LOG_FORMAT": "json",
        "SYNCD_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        p = psutil.Process(proc.pid)
        time.sleep(15)  # start-up and the first reconcile
        c0 = sum(p.cpu_times()[:2])
        time.sleep(30)
        cpu = sum(p.cpu_times()[:2]) - c0
        return {
            "window_seconds": 30,
            "cpu_seconds": round(cpu, 2),
            "percent_of_one_core": round(100 * cpu / 30, 2),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=60)


async def prepare(engine_name: str, workdir: Path, n: int, key: bytes) -> str:
    url = await fresh_db(engine_name, workdir)
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    store = SqlStore(make_engine(url), Cipher(key))
    try:
        await seed_integrations(store, Cipher(key), n)
    finally:
        await store.close()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--integrations", type=int, default=10_000)
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument("--phases", default="claims,lag,idle")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    key = Fernet.generate_key()
    out: dict[str, Any] = {"integrations": args.integrations}
    with tempfile.TemporaryDirectory() as tmp:
        for engine_name in args.engines.split(","):
            work = Path(tmp) / engine_name
            work.mkdir()
            url = asyncio.run(prepare(engine_name, work, args.integrations, key))
            res: dict[str, Any] = {}
            phases = args.phases.split(",")
            if "claims" in phases:
                res["claims"] = asyncio.run(claims_per_second(url, key, args.integrations))
            if "lag" in phases:
                res["lag"] = asyncio.run(schedule_lag(url, key, min(2000, args.integrations)))
            if "idle" in phases:
                asyncio.run(nothing_due(url, key))
                res["idle"] = idle_cpu(url, key, work)
            out[engine_name] = res
            print(engine_name, json.dumps(res), flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
