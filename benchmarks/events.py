"""Webhook delivery: deliveries per second and the delay from commit to delivery.

    .venv/bin/python benchmarks/events.py [--events 20000] [--engines postgresql,sqlite]
                                          [--phases baseline,throughput,latency]

1. baseline: a bare aiohttp POST loop (same body size, 64 in flight, one
   connection pool) to the receiver: the most this machine's loopback and
   receiver allow.
2. throughput: N events already in the outbox, one subscription; one
   in-process dispatcher with the default settings fans them out, claims,
   signs, posts and records every delivery (``run_once``). Deliveries/second
   and its ratio to the baseline.
3. latency: an idle dispatcher (default 0.5 s poll); one event committed at
   a random moment every 0.2-0.5 s; delay = arrival at the receiver minus
   commit, p50/p99.
4. sweep (only if ``benchmarks/sweep.py`` exists): its ``sweep_benchmark(url)``.

The receiver is a separate process (aiohttp, answers 204) so it does not
share the dispatcher's core. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from cryptography.fernet import Fernet

from syncd.crypto import Cipher
from syncd.logs import configure_logging
from syncd.store.engine import make_engine
from syncd.store.migrate import upgrade
from syncd.store.tables import change_events
from syncd.store.webhook_base import Subscription
from syncd.store.webhooks import SqlWebhookStore
from syncd.webhooks.dispatcher import Dispatcher, DispatcherConfig
from syncd.webhooks.signing import generate_secret

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
HERE = Path(__file__).resolve().parent
BODY = json.dumps(
    {
        "type": "DATA_NEW",
        "timestamp": "2026-01-01T00:00:00.000000Z",
        "data": {"integration_id": "bench", "model": "units", "record_id": str(uuid.uuid4())},
    }
).encode()


# -- the receiver (its own process) ----------------------------------------------


def run_receiver(port: int) -> None:
    """Answer 204 to every POST; GET /stats returns arrival times by webhook-id."""
    from aiohttp import web

    arrivals: dict[str, float] = {}
    count = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal count
        await request.read()
        count += 1
        msg_id = request.headers.get("webhook-id")
        if msg_id is not None:
            arrivals.setdefault(msg_id, time.time())
        return web.Response(status=204)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"count": count, "arrivals": arrivals})

    async def reset(request: web.Request) -> web.Response:
        nonlocal count
        arrivals.clear()
        count = 0
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_receiver() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--receiver", str(port)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}"


async def receiver_stats(base: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(f"{base}/stats") as resp:
        data: dict[str, Any] = await resp.json()
        return data


async def receiver_reset(base: str) -> None:
    async with aiohttp.ClientSession() as s, s.post(f"{base}/reset") as resp:
        await resp.read()


# -- phases -----------------------------------------------------------------------


async def baseline(base: str, n: int, concurrency: int = 64) -> dict[str, Any]:
    """A bare POST loop: no database, no signing."""
    await receiver_reset(base)
    url = f"{base}/hook"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        queue = iter(range(n))

        async def worker() -> None:
            for _ in queue:
                async with session.post(
                    url, data=BODY, headers={"content-type": "application/json"}
                ) as r:
                    await r.read()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        took = time.perf_counter() - start
    return {"posts": n, "seconds": round(took, 3), "posts_per_second": round(n / took)}


def _fresh_sqlite(workdir: Path) -> str:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "events.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite+aiosqlite:///{path}"


async def fresh_db(engine_name: str, workdir: Path) -> str:
    if engine_name == "sqlite":
        return _fresh_sqlite(workdir)
    conn = await asyncpg.connect(database="postgres", **PG)
    try:
        await conn.execute("DROP DATABASE IF EXISTS syncd_events_bench WITH (FORCE)")
        await conn.execute("CREATE DATABASE syncd_events_bench")
    finally:
        await conn.close()
    return f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/syncd_events_bench"


async def add_events(engine: Any, n: int) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "integration_id": "bench",
            "integration_vendor": "BUILDIUM",
            "model": "units",
            "record_id": uuid.uuid4(),
            "x_id": f"U{i}",
            "event_type": "DATA_NEW",
            "payload": {"record_id": str(i), "rent": 1000 + i},
            "created_at": now,
        }
        for i in range(n)
    ]
    async with engine.begin() as conn:
        for i in range(0, n, 5000):
            await conn.execute(change_events.insert(), rows[i : i + 5000])


async def setup(engine_name: str, workdir: Path, base: str) -> tuple[Any, SqlWebhookStore]:
    url = await fresh_db(engine_name, workdir)
    engine = make_engine(url)
    await upgrade(engine)
    store = SqlWebhookStore(engine, Cipher(Fernet.generate_key()))
    await store.add_subscription(
        Subscription(
            id="wh_bench",
            url=f"{base}/hook",
            triggers=("DATA_NEW",),
            models=None,
            headers={},
            secret=generate_secret(),
        )
    )
    return engine, store


async def throughput(engine_name: str, workdir: Path, base: str, n: int) -> dict[str, Any]:
    engine, store = await setup(engine_name, workdir, base)
    try:
        await add_events(engine, n)
        await receiver_reset(base)
        dispatcher = Dispatcher(store, DispatcherConfig(retention=None))
        start = time.perf_counter()
        report = await dispatcher.run_once()
        took = time.perf_counter() - start
        received = (await receiver_stats(base))["count"]
    finally:
        await engine.dispose()
    return {
        "deliveries": report.delivered,
        "received": received,
        "seconds": round(took, 3),
        "deliveries_per_second": round(report.delivered / took),
    }


async def latency(engine_name: str, workdir: Path, base: str, samples: int) -> dict[str, Any]:
    engine, store = await setup(engine_name, workdir, base)
    rng = random.Random(1)
    committed: dict[int, float] = {}
    try:
        await receiver_reset(base)
        dispatcher = Dispatcher(store, DispatcherConfig(retention=None))
        task = asyncio.ensure_future(dispatcher.run())
        await asyncio.sleep(1.0)
        for i in range(samples):
            await asyncio.sleep(rng.uniform(0.2, 0.5))
            async with engine.begin() as conn:
                result = await conn.execute(
                    change_events.insert().returning(change_events.c.id),
                    [
                        {
                            "integration_id": "bench",
                            "integration_vendor": "BUILDIUM",
                            "model": "units",
                            "record_id": uuid.uuid4(),
                            "x_id": f"L{i}",
                            "event_type": "DATA_NEW",
                            "created_at": datetime.now(UTC),
                        }
                    ],
                )
                event_id = int(result.scalar_one())
            committed[event_id] = time.time()
        await asyncio.sleep(1.5)
        arrivals = (await receiver_stats(base))["arrivals"]
        dispatcher.request_stop()
        await asyncio.wait_for(task, 10)
    finally:
        await engine.dispose()
    delays = sorted(
        (arrivals[f"evt_{i}"] - t) * 1000 for i, t in committed.items() if f"evt_{i}" in arrivals
    )
    q = statistics.quantiles(delays, n=100, method="inclusive")  # never beyond the max
    return {
        "samples": len(delays),
        "lost": samples - len(delays),
        "p50_ms": round(statistics.median(delays), 1),
        "p99_ms": round(q[98], 1),
        "max_ms": round(delays[-1], 1),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    phases = set(args.phases.split(","))
    engines = [e for e in args.engines.split(",") if e]
    workdir = Path(args.workdir)
    proc, base = start_receiver()
    out: dict[str, Any] = {"events": args.events, "cpus": os.cpu_count()}
    try:
        if "baseline" in phases:
            await baseline(base, 2000)  # warm-up
            out["baseline"] = await baseline(base, args.events)
        for engine_name in engines:
            result: dict[str, Any] = {}
            if "throughput" in phases:
                result["throughput"] = await throughput(engine_name, workdir, base, args.events)
                if "baseline" in out:
                    result["throughput"]["vs_baseline"] = round(
                        result["throughput"]["deliveries_per_second"]
                        / out["baseline"]["posts_per_second"],
                        2,
                    )
            if "latency" in phases:
                result["idle_latency"] = await latency(engine_name, workdir, base, args.samples)
            out[engine_name] = result
        sweep_file = HERE / "sweep.py"
        if "sweep" in phases and sweep_file.exists():
            spec = importlib.util.spec_from_file_location("sweep_bench", sweep_file)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            db_url = await fresh_db(engines[0] if engines else "postgresql", workdir)
            sweep = module.sweep_benchmark(db_url)
            out["sweep"] = await sweep if asyncio.iscoroutine(sweep) else sweep
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    out["targets"] = {
        "deliveries_per_second>=2000": {
            e: out[e]["throughput"]["deliveries_per_second"] >= 2000
            for e in engines
            if "throughput" in out.get(e, {})
        },
        "idle_p99<1s": {
            e: out[e]["idle_latency"]["p99_ms"] < 1000
            for e in engines
            if "idle_latency" in out.get(e, {})
        },
    }
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--samples", type=int, default=60, help="idle-latency samples")
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument("--phases", default="baseline,throughput,latency,sweep")
    parser.add_argument("--workdir", default="/tmp/syncd-events-bench")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.receiver:
        run_receiver(arguments.receiver)
    else:
        # Logs to stderr: stdout carries only the JSON result.
        configure_logging("warning", "json", stream=sys.stderr)
        print(json.dumps(asyncio.run(main(arguments)), indent=2))
