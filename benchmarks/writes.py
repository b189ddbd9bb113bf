"""Writes to the PMS: accepted requests per second, and request → SUCCESS latency.

1. **Accepted writes/s**: ``--clients`` concurrent clients POST the ResMan
   create-lead request to ``syncd serve`` (validated, references checked in
   the cache, stored as a job) for ``--seconds``; the baseline is a bare
   aiohttp handler that parses the same JSON and inserts one row into a table
   of the same database, in the same run.
2. **Latency to SUCCESS**: a ResMan simulator that answers each write in
   100 ms (a ``slow`` fault on its POSTs); requests sent open-loop at
   ``--rate`` per second, each followed by polling ``write-status`` every
   10 ms until SUCCESS. The baseline is the same write POSTed straight to the
   simulator, one after another (the bare POST loop).

Figures are medians and p99s in ms, syncd as ratios to the baseline.

    .venv/bin/python benchmarks/writes.py [--engine postgresql|sqlite] [--seconds 10]
        [--clients 32] [--rate 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import web
from cryptography.fernet import Fernet
from sqlalchemy import Column, MetaData, String, Table, insert
from sqlalchemy.types import JSON

from syncd.store.engine import make_engine

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
PG_DB = "syncd_bench_writes"
SYNCD = [sys.executable, "-m", "syncd"]
POST_PATH = "/MITS/PostLeadManagement4_0"
_meta = MetaData()
BARE = Table(
    "bench_bare_writes",
    _meta,
    Column("id", String(36), primary_key=True),
    Column("payload", JSON, nullable=False),
)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def fresh_database(engine: str, state: Path) -> str:
    """An empty database of ``engine`` for this run."""
    if engine == "sqlite":
        return f"sqlite+aiosqlite:///{state}/bench.db"
    conn = await asyncpg.connect(database="postgres", **PG)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {PG_DB}")
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DB}"


def run(cmd: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[2:])} failed: {done.stderr[-2000:]}")
    return done.stdout


async def serve_bare(port: int, url: str) -> None:
    """The baseline: parse the body, insert one row, answer the id (until killed)."""
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_meta.create_all)

    async def handle(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        job_id = str(uuid.uuid4())
        async with engine.begin() as conn:
            await conn.execute(insert(BARE).values(id=job_id, payload=body))
        return web.Response(
            body=orjson.dumps({"meta": {"job_id": job_id}, "result": body}),
            content_type="application/json",
        )

    app = web.Application()
    app.router.add_post("/writes", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``, in ms."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


async def closed_loop(
    url: str, body: dict[str, Any], headers: dict[str, str], clients: int, seconds: float
) -> dict[str, float]:
    """``clients`` loops POSTing for ``seconds``: accepted/s, p50, p99."""
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession, n: int) -> None:
        nonlocal errors
        i = 0
        while time.monotonic() < stop:
            i += 1
            payload = body | {"first_name": f"C{n}x{i}", "email_1": f"c{n}x{i}@example.test"}
            started = time.monotonic()
            async with session.post(url, json=payload, headers=headers) as r:
                await r.read()
                if r.status == 200:
                    latencies.append(time.monotonic() - started)
                else:
                    errors += 1

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.monotonic()
        await asyncio.gather(*(client(session, n) for n in range(clients)))
        took = time.monotonic() - began
    return {
        "rps": len(latencies) / took,
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
        "errors": errors,
    }


async def to_success(
    api: str, body: dict[str, Any], headers: dict[str, str], rate: float, seconds: float
) -> dict[str, float]:
    """Open-loop writes at ``rate``/s; each timed from its send to SUCCESS in write-status."""
    latencies: list[float] = []
    failures = 0

    async def one(session: aiohttp.ClientSession, n: int, scheduled: float) -> None:
        nonlocal failures
        await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
        payload = body | {"first_name": f"L{n}", "email_1": f"l{n}@example.test"}
        async with session.post(api + "/v1/leads/resman/", json=payload, headers=headers) as r:
            job = (await r.json())["meta"]["job_id"]
        while True:
            async with session.get(api + f"/v1/admin/write-status/{job}", headers=headers) as r:
                state = (await r.json())["write_status"]
            if state != "PENDING":
                break
            await asyncio.sleep(0.01)
        if state == "SUCCESS":
            latencies.append(time.monotonic() - scheduled)
        else:
            failures += 1

    async with aiohttp.ClientSession() as session:
        start = time.monotonic() + 0.2
        count = int(rate * seconds)
        await asyncio.gather(*(one(session, n, start + n / rate) for n in range(count)))
    return {"p50": pct(latencies, 50), "p99": pct(latencies, 99), "errors": failures}


async def bare_posts(
    sim: str, creds: dict[str, str], refs: dict[str, str], count: int
) -> dict[str, float]:
    """The same create POSTed straight to the simulator, one after another."""
    from syncd.connectors.base import WriteRequest
    from syncd.connectors.resman import ResManConnector
    from syncd.domain import Capability

    latencies = []
    async with ResManConnector(base_url=sim, credentials=creds) as connector:
        for n in range(count):
            request = WriteRequest(
                model="leads",
                operation=Capability.CREATE,
                payload=refs | {"first_name": f"B{n}", "last_name": "Bare"},
                property_x_id=refs["property_id"],
            )
            started = time.monotonic()
            with suppress(Exception):
                await connector.write(request)
            latencies.append(time.monotonic() - started)
    return {"p50": pct(latencies, 50), "p99": pct(latencies, 99), "errors": 0}


async def wait_http(url: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while True:
            with suppress(aiohttp.ClientError):
                async with session.get(url) as r:
                    if r.status < 500:
                        return
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not come up")
            await asyncio.sleep(0.1)


async def measure(
    args: argparse.Namespace,
    api: str,
    bare_port: int,
    sim_url: str,
    creds: dict[str, str],
    key: str,
) -> None:
    """Both measurements against servers already running."""
    await wait_http(api + "/healthz")
    await wait_http(f"http://127.0.0.1:{bare_port}/writes")
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def first(path: str) -> dict[str, Any]:
            async with session.get(api + path) as r:
                found: dict[str, Any] = (await r.json())["results"][0]
                return found

        prop = await first("/v1/properties/?integration_id=bench&limit=1")
        source = await first(
            f"/v1/lead-sources/?integration_id=bench&property_id={prop['id']}&limit=1"
        )
        employee = await first("/v1/employees/?integration_id=bench&limit=1")
    body = {
        "integration_id": "bench",
        "property_id": prop["id"],
        "lead_source_id": source["id"],
        "employee_id": employee["id"],
        "first_name": "Nadia",
        "last_name": "Bench",
        "email_1": "nadia@example.test",
        "phone_1": "615-555-0142",
        "desired_num_bedrooms": 2,
    }
    results: list[tuple[str, str, dict[str, float]]] = []
    # The PMS answers each write in 100 ms; measured first, with no backlog.
    async with aiohttp.ClientSession(headers=headers) as session, session.post(
        sim_url + "/_sim/faults",
        json={"kind": "slow", "path": POST_PATH, "method": "POST", "delay": 0.1,
              "count": 1_000_000},
    ) as r:  # fmt: skip
        assert r.status < 300, await r.text()
    print(f"{args.engine}: request → SUCCESS at {args.rate:g}/s, PMS answering in 100 ms")
    bare_figures = await bare_posts(
        sim_url,
        creds,
        {
            "property_id": prop["x_id"],
            "lead_source_id": source["x_id"],
            "employee_id": employee["x_id"],
        },
        30,
    )
    results.append(("latency", "bare POST to the PMS", bare_figures))
    print(f"  {'bare POST to the PMS':30} p50 {bare_figures['p50']:7.1f} ms  "
          f"p99 {bare_figures['p99']:7.1f} ms")  # fmt: skip
    figures = await to_success(api, body, headers, args.rate, args.seconds)
    results.append(("latency", "syncd request → SUCCESS", figures))
    print(f"  {'syncd request → SUCCESS':30} p50 {figures['p50']:7.1f} ms  "
          f"p99 {figures['p99']:7.1f} ms  failures {figures['errors']:.0f}")  # fmt: skip
    # Accepted writes queue up behind the PMS's 100 ms: the worker carries
    # them out afterwards (syncd serve is stopped with the queue still full).
    print(f"{args.engine}: accepted writes, {args.clients} clients, {args.seconds:g} s")
    for name, target, hdrs in (
        ("bare POST + insert", f"http://127.0.0.1:{bare_port}/writes", {}),
        ("syncd POST /v1/leads/resman/", api + "/v1/leads/resman/", headers),
    ):
        await closed_loop(target, body, hdrs, args.clients, 1.0)  # warm up
        figures = await closed_loop(target, body, hdrs, args.clients, args.seconds)
        results.append(("accepted", name, figures))
        print(f"  {name:30} {figures['rps']:8.1f}/s  p50 {figures['p50']:7.1f} ms  "
              f"p99 {figures['p99']:7.1f} ms  errors {figures['errors']:.0f}")  # fmt: skip
    print(json.dumps({"engine": args.engine, "results": results}))


def bench(args: argparse.Namespace) -> None:
    """Start the simulator, ``syncd serve`` and the baseline; measure; stop them."""
    state = Path(tempfile.mkdtemp(prefix="syncd-bench-writes-"))
    url = asyncio.run(fresh_database(args.engine, state))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env |= {
        "SYNCD_DATABASE_URL": url,
        "SYNCD_STATE_DIR": str(state),
        "SYNCD_SECRET_KEY": Fernet.generate_key().decode(),
        "SYNCD_LOG_LEVEL": "warning",
        "SYNCD_LOG_FORMAT": "json",
    }
    procs: list[subprocess.Popen[str]] = []
    logs = (state / "servers.log").open("w")
    try:
        sim = subprocess.Popen(
            [*SYNCD, "sim", "resman", "--port", "0", "--scale", "40", "--rate-limit", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=logs,
            text=True,
        )
        procs.append(sim)
        assert sim.stdout is not None
        sim_url = sim.stdout.readline().strip().split("=", 1)[1]
        creds = dict(sim.stdout.readline().strip().split(" ", 1)[1].split("=", 1) for _ in range(3))
        add = [*SYNCD, "integrations", "add", "--vendor", "resman", "--name", "bench"]
        add += ["--id", "bench", "--base-url", sim_url, "--rate-limit", "0", "--enable"]
        for k, v in creds.items():
            add += ["--credential", f"{k}={v}"]
        run(add, env)
        run(
            [*SYNCD, "run", "--integration", "bench"]
            + [a for m in ("properties", "lead_sources", "employees") for a in ("--model", m)],
            env,
        )
        key = run([*SYNCD, "keys", "create", "--name", "bench", "--scope", "admin",
                   "--rate-limit", "1000000"], env).strip()  # fmt: skip
        port, bare_port = free_port(), free_port()
        serve = subprocess.Popen(
            [*SYNCD, "serve"], env=env | {"SYNCD_HTTP_PORT": str(port)}, stderr=logs, text=True
        )
        procs.append(serve)
        bare = subprocess.Popen(
            [sys.executable, __file__, "--serve-bare", str(bare_port), url],
            env=env,
            stderr=logs,
            text=True,
        )
        procs.append(bare)
        api = f"http://127.0.0.1:{port}"
        asyncio.run(measure(args, api, bare_port, sim_url, creds, key))
    finally:
        for proc in reversed(procs):
            with suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        logs.close()


def main() -> None:
    """Parse arguments and run the benchmark (or serve the bare baseline)."""
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-bare":
        asyncio.run(serve_bare(int(sys.argv[2]), sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--engine", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rate", type=float, default=4.0)
    bench(parser.parse_args())


if __name__ == "__main__":
    main()
