"""The read API under load: ``GET /v1/leases`` on a cache of a million leases, while a sync writes.

For each engine (PostgreSQL, SQLite):

1. A cache of ``--records`` leases (default 1,000,000) in one integration,
   inserted once in bulk and kept between runs (``--fresh`` rebuilds it).
2. ``syncd serve`` (a subprocess) and, as the baseline, a bare aiohttp
   handler doing the same queries (count + page, same filters and order,
   orjson) in another subprocess.
3. While a writer syncs a Buildium simulator into a second integration of the
   same database again and again (full syncs in a loop, in one process), an
   open-loop load generator sends requests at each fixed rate of ``--rates``
   (default 200/s) for ``--seconds`` to each server: a plain page
   (``limit=250``) and a filtered, ordered one (``integration_id=bench&
   status_normalized=EVICTED&order-by=start_date:desc``). Before that, 50
   requests one after another give each server's service time alone (the
   median, with no queue in front of it).

Latency is measured from each request's scheduled send time (no coordinated
omission). Reports achieved requests/s, p50 and p99 in ms, and syncd's
figures as ratios to the baseline's in the same run.

    .venv/bin/python benchmarks/api.py [--records 1000000] [--rates 200] [--seconds 15]
        [--engines postgresql,sqlite] [--fresh]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import web
from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select

from syncd.settings import Settings
from syncd.store.engine import make_engine
from syncd.store.tables import MODEL_TABLES

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
PG_DB = "syncd_bench_api"
SQLITE_PATH = Path(tempfile.gettempdir()) / "syncd-bench-api.db"
SYNCD = [sys.executable, "-m", "syncd"]
BENCH = "bench"
STATUSES = ("ACTIVE", "INACTIVE", "PENDING", "EVICTED", "OTHER")
VARIANTS = {
    "plain": {"limit": "250"},
    "filtered": {
        "limit": "250",
        "integration_id": BENCH,
        "status_normalized": "EVICTED",
        "order-by": "start_date:desc",
    },
}
LEASES = MODEL_TABLES["leases"]
#: How far both servers count matches exactly (syncd's default SYNCD_API_EXACT_TOTAL_LIMIT).
COUNT_LIMIT = Settings.model_fields["api_exact_total_limit"].default
#: Columns the bare handler selects: those syncd's answer carries.
_HIDDEN = {"content_hash", "source_hash", "last_run_id"}
_SELECTED = [c for c in LEASES.columns if c.name not in _HIDDEN]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_url(engine: str) -> str:
    """The benchmark database of ``engine``."""
    if engine == "sqlite":
        return f"sqlite+aiosqlite:///{SQLITE_PATH}"
    return f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{PG_DB}"


# -- the cache -----------------------------------------------------------------


def _lease_rows(start: int, count: int, now: datetime) -> list[dict[str, Any]]:
    rnd = random.Random(start)
    rows = []
    for n in range(start, start + count):
        begin = date(2015, 1, 1) + timedelta(days=rnd.randrange(3650))
        rows.append(
            {
                "id": uuid.UUID(int=rnd.getrandbits(128)),
                "integration_id": BENCH,
                "integration_vendor": "BUILDIUM",
                "x_id": str(n),
                "x_property_id": str(n % 500),
                "created_at": now - timedelta(seconds=n),
                "updated_at": now,
                "last_seen": now,
                "custom_data": {},
                "content_hash": f"{n:064x}",
                "status_normalized": STATUSES[n % len(STATUSES)],
                "status_raw": "Active",
                "start_date": begin,
                "end_date": begin + timedelta(days=365),
                "rent_amount_in_cents": 100_000 + n % 50_000,
                "unit_number": str(n % 300),
                "term": "12 months",
            }
        )
    return rows


async def prepare(engine_name: str, records: int, fresh: bool) -> str:
    """The database with ``records`` leases of the bench integration (reused when it has them)."""
    from syncd.store.migrate import upgrade

    url = database_url(engine_name)
    if engine_name == "postgresql":
        conn = await asyncpg.connect(database="postgres", **PG)  # type: ignore[arg-type]
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", PG_DB)
            if fresh and exists:
                await conn.execute(f"DROP DATABASE {PG_DB} WITH (FORCE)")
                exists = None
            if not exists:
                await conn.execute(f"CREATE DATABASE {PG_DB}")
        finally:
            await conn.close()
    elif fresh:
        SQLITE_PATH.unlink(missing_ok=True)
    engine = make_engine(url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            have = (
                await conn.execute(
                    select(func.count()).select_from(LEASES).where(LEASES.c.integration_id == BENCH)
                )
            ).scalar_one()
        if have != records:
            print(f"  seeding {records:,} leases into {engine_name} ...", flush=True)
            started = time.monotonic()
            async with engine.begin() as conn:
                await conn.execute(LEASES.delete().where(LEASES.c.integration_id == BENCH))
            now = datetime.now(UTC)
            batch = 5000
            for start in range(0, records, batch):
                rows = _lease_rows(start, min(batch, records - start), now)
                async with engine.begin() as conn:
                    await conn.execute(insert(LEASES), rows)
            print(f"  seeded in {time.monotonic() - started:.0f} s", flush=True)
        async with engine.begin() as conn:
            if engine_name == "postgresql":
                await conn.exec_driver_sql("ANALYZE leases")
            else:
                await conn.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()
    return url


# -- the baseline: a bare handler doing the same queries ----------------------


def _baseline_query(params: dict[str, str]) -> tuple[Any, Any]:
    where = [LEASES.c.deleted_at.is_(None)]
    if "integration_id" in params:
        where.append(LEASES.c.integration_id == params["integration_id"])
    if "status_normalized" in params:
        where.append(LEASES.c.status_normalized == params["status_normalized"])
    order = [LEASES.c.created_at.desc(), LEASES.c.id.desc()]
    if params.get("order-by") == "start_date:desc":
        order = [LEASES.c.start_date.desc().nulls_first(), LEASES.c.id.desc()]
    limit = int(params.get("limit", "100"))
    offset = int(params.get("offset", "0"))
    # As syncd counts: exactly up to COUNT_LIMIT matches, and one row past the page.
    capped = select(LEASES.c.id).where(*where).limit(COUNT_LIMIT + 1).subquery()
    count = select(func.count()).select_from(capped)
    page = select(*_SELECTED).where(*where).order_by(*order).limit(limit + 1).offset(offset)
    return count, page


def _json_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


async def serve_baseline(port: int, url: str) -> None:
    """A bare aiohttp server answering ``GET /leases`` with count + page (until killed)."""
    engine = make_engine(url)

    async def leases(request: web.Request) -> web.Response:
        count, page = _baseline_query(dict(request.query))
        async with engine.connect() as conn:
            total = (await conn.execute(count)).scalar_one()
            rows = (await conn.execute(page)).mappings().all()
        limit = int(request.query.get("limit", "100"))
        results = [{str(k): _json_value(v) for k, v in row.items()} for row in rows[:limit]]
        meta = {"total": total, "limit": limit, "hasMore": len(rows) > limit}
        body = {"meta": meta, "results": results}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_get("/leases", leases)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def write_loop() -> None:
    """Full syncs of the writer integration, one after another, in one process (until killed).

    One long-lived process, as the daemon's scheduler would run them: a CLI
    start-up per sync would spend more CPU than the sync itself.
    """
    from syncd.app import open_store
    from syncd.services.runs import sync_integration

    settings = Settings()
    async with open_store(settings) as store:
        integration = await store.get_integration("writer")
        while True:
            await sync_integration(store, settings, integration, full=True)


# -- load -----------------------------------------------------------------------


async def load(
    url: str, params: dict[str, str], *, rate: float, seconds: float, headers: dict[str, str]
) -> dict[str, float]:
    """Open-loop requests at ``rate``/s for ``seconds``: achieved rate, p50, p99 (ms), errors."""
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one(scheduled: float) -> None:
            nonlocal errors
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                async with session.get(url, params=params) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                        return
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
                return
            latencies.append((time.perf_counter() - scheduled) * 1000)

        start = time.perf_counter() + 0.2
        await asyncio.gather(*(one(start + i / rate) for i in range(total)))
        elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0.0

    return {
        "rps": len(latencies) / elapsed,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "errors": float(errors),
    }


async def service_time(
    url: str, params: dict[str, str], *, count: int, headers: dict[str, str]
) -> float:
    """Median milliseconds of ``count`` requests sent one after another (no queueing)."""
    took: list[float] = []
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(count):
            started = time.perf_counter()
            async with session.get(url, params=params) as resp:
                await resp.read()
                if resp.status != 200:
                    raise SystemExit(f"{url}: HTTP {resp.status}")
            took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return took[len(took) // 2]


# -- processes --------------------------------------------------------------------


def _env(url: str, state: Path, key: str, port: int | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env |= {
        "SYNCD_DATABASE_URL": url,
        "SYNCD_STATE_DIR": str(state),
        "SYNCD_SECRET_KEY": key,
        "SYNCD_LOG_LEVEL": "warning",
        "SYNCD_LOG_FORMAT": "json",
        "SYNCD_EGRESS_ALLOWED_HOSTS": "127.0.0.1",
        # The baseline counts to the same limit.
        "SYNCD_API_EXACT_TOTAL_LIMIT": str(COUNT_LIMIT),
    }
    if port is not None:
        env["SYNCD_HTTP_PORT"] = str(port)
    return env


def _run(cmd: Sequence[str], env: dict[str, str]) -> str:
    done = subprocess.run(list(cmd), env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    return done.stdout


async def _wait_http(url: str, proc: subprocess.Popen[str], within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{url}: the server exited")
            with suppress(aiohttp.ClientError, OSError):
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer")
            await asyncio.sleep(0.1)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def bench_engine(engine: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every variant against syncd and the baseline on one engine, a writer syncing meanwhile."""
    print(f"{engine}:", flush=True)
    url = asyncio.run(prepare(engine, args.records, args.fresh))
    state = Path(tempfile.mkdtemp(prefix="syncd-bench-api-"))
    key = Fernet.generate_key().decode()
    env = _env(url, state, key)
    procs: list[subprocess.Popen[str]] = []
    try:
        sim = subprocess.Popen(
            [*SYNCD, "sim", "buildium", "--scale", str(args.writer_scale), "--rate-limit", "0"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(sim)
        assert sim.stdout is not None
        sim_url = sim.stdout.readline().strip().split("=", 1)[1]
        creds = [sim.stdout.readline().strip().split(" ", 1)[1] for _ in range(2)]
        with suppress(SystemExit):
            _run([*SYNCD, "integrations", "remove", "writer", "--yes"], env)
        add = [*SYNCD, "integrations", "add", "--vendor", "buildium", "--name", "writer"]
        add += ["--id", "writer", "--base-url", sim_url, "--rate-limit", "0"]
        for c in creds:
            add += ["--credential", c]
        _run(add, env)
        api_key = _run(
            [
                *SYNCD,
                "keys",
                "create",
                "--name",
                f"bench-{uuid.uuid4().hex[:6]}",
                "--rate-limit",
                "1000000",
            ],
            env,
        ).strip()
        port, base_port = free_port(), free_port()
        logs = (state / "servers.log").open("w")
        serve = subprocess.Popen(
            [*SYNCD, "serve"], env=_env(url, state, key, port), stderr=logs, text=True
        )
        procs.append(serve)
        baseline = subprocess.Popen(
            [sys.executable, __file__, "--serve-baseline", str(base_port), url],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=logs,
            text=True,
        )
        procs.append(baseline)
        asyncio.run(_wait_http(f"http://127.0.0.1:{port}/healthz", serve))
        asyncio.run(_wait_http(f"http://127.0.0.1:{base_port}/leases?limit=1", baseline))
        writer = subprocess.Popen(
            [sys.executable, __file__, "--write-loop"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=logs,
            text=True,
            start_new_session=True,
        )
        try:
            results = []
            auth = {"Authorization": f"Bearer {api_key}"}
            for variant, params in VARIANTS.items():
                targets = (
                    ("baseline", f"http://127.0.0.1:{base_port}/leases", {}),
                    ("syncd", f"http://127.0.0.1:{port}/v1/leases", auth),
                )
                for name, target, headers in targets:
                    alone = asyncio.run(service_time(target, params, count=50, headers=headers))
                    for rate in args.rates:
                        warm = load(target, params, rate=rate, seconds=2, headers=headers)
                        asyncio.run(warm)
                        figures = asyncio.run(
                            load(target, params, rate=rate, seconds=args.seconds, headers=headers)
                        )
                        row = {"engine": engine, "variant": variant, "target": name, "rate": rate}
                        results.append({**row, "alone": alone, **figures})
                        print(
                            f"  {variant:9} {name:8} alone {alone:6.1f} ms  at {rate:.0f}/s: "
                            f"{figures['rps']:7.1f} req/s  p50 {figures['p50']:8.1f} ms  "
                            f"p99 {figures['p99']:8.1f} ms  errors {figures['errors']:.0f}",
                            flush=True,
                        )
            return results
        finally:
            with suppress(ProcessLookupError):
                os.killpg(writer.pid, signal.SIGTERM)
            writer.wait()
    finally:
        for proc in reversed(procs):
            _stop(proc)


def report(results: list[dict[str, Any]]) -> None:
    """The figures as a table, syncd as ratios to the baseline."""
    print(
        "\n| engine | query | server | alone ms | offered/s | req/s | p50 ms | p99 ms "
        "| alone vs baseline | p99 vs baseline |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = {(r["engine"], r["variant"], r["rate"]): r for r in results if r["target"] == "baseline"}
    for r in results:
        ref = base[(r["engine"], r["variant"], r["rate"])]
        alone = r["alone"] / ref["alone"] if ref["alone"] else float("nan")
        ratio = r["p99"] / ref["p99"] if ref["p99"] else float("nan")
        print(
            f"| {r['engine']} | {r['variant']} | {r['target']} | {r['alone']:.1f} "
            f"| {r['rate']:.0f} | {r['rps']:.1f} | {r['p50']:.1f} | {r['p99']:.1f} "
            f"| {alone:.2f}x | {ratio:.2f}x |"
        )


def main() -> None:
    """Parse arguments and run the benchmark (or serve the baseline, or write)."""
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-baseline":
        asyncio.run(serve_baseline(int(sys.argv[2]), sys.argv[3]))
        return
    if sys.argv[1:] == ["--write-loop"]:
        asyncio.run(write_loop())
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--rates",
        type=lambda v: [float(r) for r in v.split(",")],
        default=[200.0],
        help="offered requests per second, comma-separated (each measured in turn)",
    )
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument(
        "--writer-scale", type=int, default=300, help="simulator units the writer syncs"
    )
    parser.add_argument("--fresh", action="store_true", help="rebuild the cache")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    for engine in args.engines.split(","):
        results += bench_engine(engine, args)
    report(results)


if __name__ == "__main__":
    main()
