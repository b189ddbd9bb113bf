"""Initial and unchanged re-sync of ~200,000 Buildium records, against a raw-fetch floor.

Runs the Buildium simulator as its own process (rate limit lifted, so the
figures measure syncd, not Buildium's 10 requests/second), then:

1. the floor: the same pages fetched with aiohttp and parsed with orjson only,
   same page size and concurrency as syncd;
2. per engine (PostgreSQL, SQLite): the end-to-end floor (``floor.py``: the
   same pages fetched, mapped and written, a transaction per page, into an
   empty database of its own), then ``syncd run`` as a subprocess, first an
   initial sync into an empty database, then an unchanged full re-sync.

Reports records/second, ratios against the floors and between the two syncs,
each sync process's own CPU per record and peak RSS (from wait4, so only that
process counts), and last a table of the CPU-per-record targets with each
measured value and the floor it is compared with.

With ``--large N`` it then syncs N records per engine the same way (no
floors) and adds to the table how records/s at N compare with the base size.
``make bench`` runs ``--records 100000 --large 1000000``.

    .venv/bin/python benchmarks/sync_buildium.py [--records 200000] [--engines postgresql,sqlite]
        [--large 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from floor import end_to_end_floor, fetch_pages

import syncd
from syncd.sim.buildium import BuildiumSimulator

PATHS = [
    "/v1/rentals",
    "/v1/rentals/units",
    "/v1/leases/tenants",
    "/v1/leases",
    "/v1/applicants",
    "/v1/users",
]
PAGE_SIZE = 1000
CONCURRENCY = 4
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def scale_for(records: int) -> int:
    """The simulator scale whose six resources hold about ``records`` records."""
    lo, hi = 1, records
    while lo < hi:
        mid = (lo + hi) // 2
        if sum(BuildiumSimulator(scale=mid).counts().values()) < records:
            lo = mid + 1
        else:
            hi = mid
    return lo


def start_simulator(scale: int) -> tuple[subprocess.Popen[str], str, dict[str, str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syncd",
            "sim",
            "buildium",
            "--port",
            "0",
            "--scale",
            str(scale),
            "--seed",
            "1",
            "--rate-limit",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"SYNCD_LOG_FORMAT": "json"},
    )
    assert proc.stdout is not None
    url, creds = "", {}
    while len(creds) < 2:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("simulator did not start")
        if line.startswith("base_url="):
            url = line.strip().split("=", 1)[1]
        elif line.startswith("credential "):
            k, v = line.strip().split(" ", 1)[1].split("=", 1)
            creds[k] = v
    return proc, url, creds


async def raw_fetch(url: str, creds: dict[str, str]) -> tuple[int, float]:
    """The floor: fetch and parse every page, nothing else."""

    async def keep_nothing(path: str, page: list[dict[str, Any]]) -> None:
        return None

    started = time.perf_counter()
    total = await fetch_pages(url, creds, PAGE_SIZE, CONCURRENCY, keep_nothing)
    return total, time.perf_counter() - started


def run_syncd(args: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float, float, float]:
    """Run the CLI; return (JSON output, wall seconds, peak RSS MiB, CPU seconds) of it."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"syncd {' '.join(args)} exited {proc.returncode}: {out[-2000:]}")
    report = json.loads(out) if out.strip().startswith("{") else {}
    return report, wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


async def fresh_pg(name: str) -> str:
    conn = await asyncpg.connect(database="postgres", **PG)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{name}"


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores)."""
    t = psutil.cpu_times()
    return float(
        t.user
        + t.system
        + getattr(t, "nice", 0.0)
        + getattr(t, "irq", 0.0)
        + getattr(t, "softirq", 0.0)
    )


def bench_engine(
    engine: str,
    url: str,
    creds: dict[str, str],
    workdir: Path,
    sim: psutil.Process,
    *,
    floor: bool = True,
) -> dict[str, Any]:
    if engine == "postgresql":
        db_url = asyncio.run(fresh_pg("syncd_bench"))
    else:
        db_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env |= {
        "SYNCD_DATABASE_URL": db_url,
        "SYNCD_STATE_DIR": str(workdir / "state"),
        "SYNCD_LOG_FORMAT": "json",
        "SYNCD_LOG_LEVEL": "warning",
    }
    run_syncd(["db", "upgrade"], env)
    run_syncd(
        [
            "integrations",
            "add",
            "--vendor",
            "buildium",
            "--name",
            "bench",
            "--base-url",
            url,
            "--rate-limit",
            "0",
            "--page-size",
            str(PAGE_SIZE),
            "--credential",
            f"client_id={creds['client_id']}",
            "--credential",
            f"client_secret={creds['client_secret']}",
        ],
        env,
    )
    results: dict[str, Any] = {}
    if floor:
        results["end_to_end_floor"] = _floor(engine, url, creds, workdir)
    for label, extra in (("initial", []), ("resync", ["--full"])):
        busy0, sim0 = _busy_seconds(), sum(sim.cpu_times()[:2])
        report, wall, rss, cpu = run_syncd(["run", "--integration", "bench", "--json", *extra], env)
        busy, sim_cpu = _busy_seconds() - busy0, sum(sim.cpu_times()[:2]) - sim0
        assert report["status"] == "SUCCESS", report
        n = report["counts"]["fetched"]
        results[label] = {
            "records": n,
            "seconds": report["seconds"],
            "wall_seconds": round(wall, 2),
            "records_per_second": round(n / report["seconds"]),
            "peak_rss_mib": round(rss, 1),
            # syncd's own CPU: close to wall_seconds means syncd, not the
            # database or the simulator, is the limit.
            "cpu_seconds": round(cpu, 2),
            # Where the machine's CPU went meanwhile (2 cores = 2 s per second).
            "machine_busy_seconds": round(busy, 2),
            "simulator_cpu_seconds": round(sim_cpu, 2),
            "database_and_other_cpu_seconds": round(busy - cpu - sim_cpu, 2),
            "created": report["counts"]["created"],
            "unchanged": report["counts"]["unchanged"],
            "model_seconds": {m["model"]: m["seconds"] for m in report["models"]},
        }
    return results


def _floor(engine: str, url: str, creds: dict[str, str], workdir: Path) -> dict[str, float]:
    """The end-to-end floor (fetch + map + write) into a migrated, empty database of its own."""
    if engine == "postgresql":
        db_url = asyncio.run(fresh_pg("syncd_bench_floor"))
        target = f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/syncd_bench_floor"
    else:
        path = workdir / "floor.db"
        db_url, target = f"sqlite+aiosqlite:///{path}", str(path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env |= {"SYNCD_DATABASE_URL": db_url, "SYNCD_STATE_DIR": str(workdir / "floor-state")}
    run_syncd(["db", "upgrade"], env)
    return asyncio.run(end_to_end_floor(engine, target, url, creds, PAGE_SIZE, CONCURRENCY))


#: The targets of the CPU-per-record work, as (label, key, limit, at least?).
TARGETS = (
    ("syncd CPU per record, initial (µs)", "initial_cpu_us", 40, False),
    ("syncd CPU per record, unchanged re-sync (µs)", "resync_cpu_us", 25, False),
    ("initial sync / end-to-end floor", "initial_vs_e2e", 0.8, True),
    ("unchanged re-sync / initial sync", "resync_speedup", 3.0, True),
    ("peak RSS of a sync (MiB)", "peak_rss_mib", 200, False),
    ("initial records/s at the large size / at the base size", "large_initial_ratio", 0.9, True),
    ("re-sync records/s at the large size / at the base size", "large_resync_ratio", 0.9, True),
)


def targets_table(out: dict[str, Any]) -> str:
    """Each target with its measured value, per engine, and what it is compared with."""
    lines = [
        "| target | " + " | ".join(out["engines"]) + " | met? |",
        "|---|" + "---|" * len(out["engines"]) + "---|",
    ]
    for label, key, limit, at_least in TARGETS:
        if any(key not in res["targets"] for res in out["engines"].values()):
            continue
        values = [res["targets"][key] for res in out["engines"].values()]
        met = all(v >= limit if at_least else v <= limit for v in values)
        bound = f"≥ {limit:g}" if at_least else f"≤ {limit:g}"
        shown = " | ".join(f"{v:,.2f}" if v < 10 else f"{v:,.0f}" for v in values)
        lines.append(f"| {label} {bound} | {shown} | {'yes' if met else 'no'} |")
    floors = ", ".join(
        f"{e}: {res['end_to_end_floor']['records_per_second']:,} rec/s "
        f"({res['end_to_end_floor']['cpu_us_per_record']} µs/record)"
        for e, res in out["engines"].items()
    )
    lines.append(f"\nend-to-end floor (fetch + map + write, same pages, same database): {floors}")
    if out.get("large"):
        lines.append(
            f"large size: {out['large']['records']:,} records against the base size's "
            f"{out['records']:,} (peak RSS above covers both)"
        )
    return "\n".join(lines)


def bench_large(records: int, engines: list[str]) -> dict[str, Any]:
    """Initial and unchanged re-sync of ``records`` records per engine (no floors)."""
    proc, url, creds = start_simulator(scale_for(records))
    try:
        asyncio.run(raw_fetch(url, creds))  # the simulator's caches, warm as for the base size
        out: dict[str, Any] = {"records": records, "engines": {}}
        with tempfile.TemporaryDirectory() as tmp:
            for engine in engines:
                out["engines"][engine] = bench_engine(
                    engine, url, creds, Path(tmp) / engine, psutil.Process(proc.pid), floor=False
                )
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def compile_bytecode() -> None:
    """Compile syncd's modules to bytecode, as installing its wheel does.

    A source checkout run with ``PYTHONDONTWRITEBYTECODE`` (or from a
    read-only tree) would otherwise compile every module in every ``syncd``
    process: start-up CPU an installed syncd does not spend.
    """
    compileall.compile_dir(str(Path(syncd.__file__).parent), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--large",
        type=int,
        default=0,
        help="also sync this many records (no floors) and compare records/s with --records",
    )
    args = parser.parse_args()
    compile_bytecode()
    scale = scale_for(args.records)
    proc, url, creds = start_simulator(scale)
    try:
        # Warm the simulator's caches equally for everyone, then take the best of two floors.
        asyncio.run(raw_fetch(url, creds))
        floors = [asyncio.run(raw_fetch(url, creds)) for _ in range(2)]
        floor_n, floor_s = min(floors, key=lambda f: f[1])
        floor_rps = floor_n / floor_s
        out: dict[str, Any] = {
            "records": floor_n,
            "scale": scale,
            "floor": {"seconds": round(floor_s, 2), "records_per_second": round(floor_rps)},
            "engines": {},
        }
        with tempfile.TemporaryDirectory() as tmp:
            for engine in args.engines.split(","):
                res = bench_engine(engine, url, creds, Path(tmp) / engine, psutil.Process(proc.pid))
                init, resync = res["initial"], res["resync"]
                res["initial_vs_floor"] = round(init["records_per_second"] / floor_rps, 2)
                res["resync_vs_floor"] = round(resync["records_per_second"] / floor_rps, 2)
                res["resync_speedup"] = round(init["seconds"] / resync["seconds"], 2)
                e2e = res["end_to_end_floor"]
                res["targets"] = {
                    "initial_cpu_us": round(init["cpu_seconds"] / init["records"] * 1e6, 1),
                    "resync_cpu_us": round(resync["cpu_seconds"] / resync["records"] * 1e6, 1),
                    "initial_vs_e2e": round(
                        init["records_per_second"] / e2e["records_per_second"], 2
                    ),
                    "resync_speedup": res["resync_speedup"],
                    "peak_rss_mib": max(init["peak_rss_mib"], resync["peak_rss_mib"]),
                }
                out["engines"][engine] = res
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if args.large:
        out["large"] = bench_large(args.large, args.engines.split(","))
        for engine, big in out["large"]["engines"].items():
            res = out["engines"][engine]
            targets = res["targets"]
            for label in ("initial", "resync"):
                ratio = big[label]["records_per_second"] / res[label]["records_per_second"]
                targets[f"large_{label}_ratio"] = round(ratio, 2)
                targets["peak_rss_mib"] = max(targets["peak_rss_mib"], big[label]["peak_rss_mib"])
    print(json.dumps(out, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nfloor (aiohttp + orjson only): {floor_rps:,.0f} records/s over {floor_n:,} records")
    for engine, res in out["engines"].items():
        i, r = res["initial"], res["resync"]
        print(
            f"{engine:>10}: initial {i['records_per_second']:,} rec/s "
            f"({res['initial_vs_floor']:.2f}x floor, peak RSS {i['peak_rss_mib']} MiB); "
            f"re-sync {r['records_per_second']:,} rec/s ({res['resync_speedup']:.2f}x faster "
            f"than initial, peak RSS {r['peak_rss_mib']} MiB)"
        )
    print("\n" + targets_table(out))


if __name__ == "__main__":
    main()
