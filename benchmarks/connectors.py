"""Every PMS's connector against its simulator: speed unthrottled, pace under the limit.

For each vendor (Buildium, Propertyware, Rent Manager, ResMan):

1. **Unthrottled**: the simulator as its own process with its rate limit
   lifted, about ``--records`` records, and ``syncd run`` (a subprocess) with
   no rate limit of its own: an initial full sync into a fresh database, then
   an unchanged re-sync (``--full``). Reports records/second and the sync
   process's peak RSS, each as a ratio to Buildium's in the same run, and
   ends with the CPU-per-record targets per PMS (syncd's CPU from ``wait4``).
2. **Under the documented limit**: the simulator enforcing its vendor's
   documented limit, syncd pacing itself by the default job definition, pages
   of 100 records and about 30 s of requests. Reports the achieved request rate as a
   share of the limit while data remains (target ≥ 90 %, never above 100 %)
   and the 429s the simulator answered (target 0).

    .venv/bin/python benchmarks/connectors.py [--records 100000] [--limited-records N]
        [--vendors buildium,propertyware,rentmanager,resman] [--engine postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from sync_buildium import compile_bytecode

from syncd.connectors.registry import get_connector_class
from syncd.jobs import load_jobs
from syncd.sim.registry import get_renderer
from syncd.sim.server import Simulator

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
VENDORS = "buildium,propertyware,rentmanager,resman"
#: Under the limit, pages of 100 records so the run makes enough requests to
#: measure a pace, and about 30 s of requests at each vendor's documented
#: limit (ResMan answers whole lists per property: ~11 records per request).
PACED_PAGE_SIZE = 100
PACED_RECORDS = {"buildium": 30_000, "propertyware": 30_000, "rentmanager": 25_000, "resman": 700}


def scale_for(vendor: str, records: int) -> int:
    """The simulator scale whose served models hold about ``records`` records.

    Searched in a child process: some simulators count by listing, and a
    child forked from a large parent starts with the parent's resident set,
    which its peak RSS (from wait4) would then report.
    """
    out = subprocess.run(
        [sys.executable, __file__, "--scale-for", vendor, str(records)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def _search_scale(vendor: str, records: int) -> int:
    renderer = get_renderer(vendor)
    lo, hi = 1, records
    while lo < hi:
        mid = (lo + hi) // 2
        if sum(Simulator(renderer, scale=mid).counts().values()) < records:
            lo = mid + 1
        else:
            hi = mid
    return lo


def start_simulator(
    vendor: str, scale: int, rate_limit: float | None
) -> tuple[subprocess.Popen[str], str, dict[str, str]]:
    """``syncd sim VENDOR`` as a subprocess: (process, base URL, credentials)."""
    args = [sys.executable, "-m", "syncd", "sim", vendor, "--port", "0", "--scale", str(scale)]
    args += ["--seed", "1"]
    if rate_limit is not None:
        args += ["--rate-limit", str(rate_limit)]
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, text=True, env=os.environ | {"SYNCD_LOG_FORMAT": "json"}
    )
    assert proc.stdout is not None
    keys = len(get_renderer(vendor).credential_keys)
    url, creds = "", {}
    while not url or len(creds) < keys:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {vendor} simulator did not start")
        if line.startswith("base_url="):
            url = line.strip().split("=", 1)[1]
        elif line.startswith("credential "):
            k, v = line.strip().split(" ", 1)[1].split("=", 1)
            creds[k] = v
    return proc, url, creds


async def sim_stats(url: str, *, reset: bool = False) -> dict[str, Any]:
    """The simulator's request statistics (``reset``: and start counting afresh)."""
    async with aiohttp.ClientSession() as session:
        method = session.delete if reset else session.get
        async with method(url + "/_sim/stats") as resp:
            data: dict[str, Any] = await resp.json()
            return data


def run_syncd(args: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float, float]:
    """Run the CLI; return (JSON output, wall seconds, peak RSS MiB) of it.

    The process's CPU seconds (from ``wait4``) are kept in ``LAST_CPU``.
    """
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
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"syncd {' '.join(args[:2])} exited {code}: {out[-2000:]}")
    report = json.loads(out) if out.strip().startswith("{") else {}
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    return report, time.perf_counter() - started, usage.ru_maxrss / 1024


#: CPU seconds of the last ``run_syncd`` process.
LAST_CPU = [0.0]


async def fresh_pg(name: str) -> str:
    """An empty PostgreSQL database ``name``; its URL."""
    conn = await asyncpg.connect(database="postgres", **PG)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{name}"


def prepare(
    vendor: str,
    engine: str,
    workdir: Path,
    url: str,
    creds: dict[str, str],
    limited: bool,
    page_size: int | None = None,
) -> dict[str, str]:
    """A fresh database holding one integration of ``vendor``; the CLI's environment."""
    workdir.mkdir(parents=True, exist_ok=True)
    if engine == "postgresql":
        db_url = asyncio.run(fresh_pg(f"syncd_bench_{vendor}"))
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
    add = ["integrations", "add", "--vendor", vendor, "--name", "bench", "--base-url", url]
    if not limited:
        add += ["--rate-limit", "0"]
    if page_size is not None:
        add += ["--page-size", str(page_size)]
    for key, value in creds.items():
        add += ["--credential", f"{key}={value}"]
    run_syncd(add, env)
    return env


def unthrottled(vendor: str, records: int, engine: str, workdir: Path) -> dict[str, Any]:
    """An initial full sync of about ``records`` records, then an unchanged re-sync.

    No rate limit anywhere. The initial sync's figures are at the top level,
    the re-sync's under ``resync``.
    """
    proc, url, creds = start_simulator(vendor, scale_for(vendor, records), 0)
    try:
        env = prepare(vendor, engine, workdir, url, creds, limited=False)
        runs = []
        for extra in ([], ["--full"]):
            report, wall, rss = run_syncd(["run", "--integration", "bench", "--json", *extra], env)
            assert report["status"] == "SUCCESS", report
            n = report["counts"]["fetched"]
            runs.append(
                {
                    "records": n,
                    "seconds": report["seconds"],
                    "records_per_second": round(n / report["seconds"]),
                    "peak_rss_mib": round(rss, 1),
                    "wall_seconds": round(wall, 2),
                    "cpu_us_per_record": round(LAST_CPU[0] / n * 1e6, 1),
                }
            )
        initial, resync = runs
        return {
            **initial,
            "resync": resync,
            "resync_speedup": round(initial["seconds"] / resync["seconds"], 2),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def paced(vendor: str, records: int | None, engine: str, workdir: Path) -> dict[str, Any]:
    """A full sync with the simulator enforcing the vendor's documented limit."""
    cls = get_connector_class(vendor)
    spec = cls.rate_limit
    limit = spec.per_second if spec is not None else load_jobs(cls.vendor).rate_limit_per_second
    wanted = records if records is not None else PACED_RECORDS.get(vendor, 20_000)
    proc, url, creds = start_simulator(vendor, scale_for(vendor, wanted), None)
    try:
        env = prepare(vendor, engine, workdir, url, creds, limited=True, page_size=PACED_PAGE_SIZE)
        asyncio.run(sim_stats(url, reset=True))
        report, _, _ = run_syncd(["run", "--integration", "bench", "--json"], env)
        stats = asyncio.run(sim_stats(url))
        assert report["status"] == "SUCCESS", report
        requests = int(stats["requests"])
        # Measured at the simulator, from the first request to the last:
        # the time the PMS was being asked for data.
        seconds = float(stats["last_at"]) - float(stats["first_at"])
        rate = (requests - 1) / seconds if seconds > 0 else 0.0
        return {
            "records": report["counts"]["fetched"],
            "requests": requests,
            "seconds": round(seconds, 2),
            "sync_seconds": report["seconds"],
            "peak_requests_in_one_second": int(stats["peak_per_second"]),
            "limit_per_second": round(limit, 3),
            "job_rate_per_second": load_jobs(cls.vendor).rate_limit_per_second,
            "achieved_per_second": round(rate, 3),
            "share_of_limit": round(rate / limit, 3),
            "429s": int(stats["429s"]),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    """Run both measurements for every vendor and print the table."""
    if len(sys.argv) == 4 and sys.argv[1] == "--scale-for":
        print(_search_scale(sys.argv[2], int(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument(
        "--limited-records", type=int, help="records under the limit (default: ~30 s per vendor)"
    )
    parser.add_argument("--vendors", default=VENDORS)
    parser.add_argument("--engine", default="postgresql", choices=["postgresql", "sqlite"])
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    compile_bytecode()
    vendors = args.vendors.split(",")
    out: dict[str, Any] = {"engine": args.engine, "vendors": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for vendor in vendors:
            fast = unthrottled(vendor, args.records, args.engine, Path(tmp) / vendor / "fast")
            slow = paced(vendor, args.limited_records, args.engine, Path(tmp) / vendor / "paced")
            out["vendors"][vendor] = {"unthrottled": fast, "paced": slow}
    base = out["vendors"].get("buildium", {}).get("unthrottled")
    for data in out["vendors"].values():
        fast = data["unthrottled"]
        if base:
            fast["rate_vs_buildium"] = round(
                fast["records_per_second"] / base["records_per_second"], 2
            )
            fast["rss_vs_buildium"] = round(fast["peak_rss_mib"] / base["peak_rss_mib"], 2)
    print(json.dumps(out, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2) + "\n")
    print()
    for vendor, data in out["vendors"].items():
        f, p = data["unthrottled"], data["paced"]
        print(
            f"{vendor:>12}: {f['records']:,} records at {f['records_per_second']:,}/s "
            f"({f.get('rate_vs_buildium', 1):.2f}x Buildium), peak RSS {f['peak_rss_mib']} MiB "
            f"({f.get('rss_vs_buildium', 1):.2f}x); under the limit "
            f"{p['achieved_per_second']}/s of {p['limit_per_second']}/s "
            f"= {p['share_of_limit']:.0%}, {p['429s']} 429s"
        )
    print("\n" + targets_table(out))


#: The CPU-per-record targets, per PMS: (label, value of a vendor's result, limit, at least?).
TARGETS: tuple[tuple[str, Callable[[dict[str, Any]], float], float, bool], ...] = (
    ("syncd CPU per record, initial (µs)", lambda f: f["cpu_us_per_record"], 40, False),
    (
        "syncd CPU per record, unchanged re-sync (µs)",
        lambda f: f["resync"]["cpu_us_per_record"],
        25,
        False,
    ),
    ("unchanged re-sync / initial sync", lambda f: f["resync_speedup"], 3.0, True),
    (
        "peak RSS of a sync (MiB)",
        lambda f: max(f["peak_rss_mib"], f["resync"]["peak_rss_mib"]),
        200,
        False,
    ),
)


def targets_table(out: dict[str, Any]) -> str:
    """The targets with each vendor's measured value (unthrottled runs)."""
    vendors = list(out["vendors"])
    lines = [
        f"targets on {out['engine']}, per PMS:",
        "",
        "| target | " + " | ".join(vendors) + " | met? |",
        "|---|" + "---|" * len(vendors) + "---|",
    ]
    for label, value, limit, at_least in TARGETS:
        values = [value(out["vendors"][v]["unthrottled"]) for v in vendors]
        met = all(x >= limit if at_least else x <= limit for x in values)
        bound = f"≥ {limit:g}" if at_least else f"≤ {limit:g}"
        shown = " | ".join(f"{x:,.2f}" if x < 10 else f"{x:,.0f}" for x in values)
        lines.append(f"| {label} {bound} | {shown} | {'yes' if met else 'no'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
