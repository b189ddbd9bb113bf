"""What proving a listing complete costs: syncd's pager against a bare fetch loop.

Runs the Buildium simulator as its own process (rate limit lifted) and lists
``/v1/rentals/units`` end to end, interleaving repetitions of:

1. the floor: aiohttp + orjson fetching the same offsets (1,000 per page,
   always 4 pages in flight), no checks at all;
2. syncd: ``BuildiumConnector.pages`` — the shared ``OffsetPager`` with its
   ``ListingAudit`` (pages overlapping by one record, id order checked,
   the end confirmed by a short page, the total compared).

Reports the median records/second of each, their ratio, and the requests
each made per listing (the price of the overlap and of the confirming page).

    .venv/bin/python benchmarks/listing.py [--units 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from typing import Any

import aiohttp
import orjson

from syncd.connectors.base import ConnectorOptions
from syncd.connectors.buildium import BuildiumConnector
from syncd.domain import FetchWindow

PAGE, CONCURRENCY = 1000, 4
PATH = "/v1/rentals/units"


def start_simulator(units: int) -> tuple[subprocess.Popen[str], str, dict[str, str]]:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "syncd", "sim", "buildium", "--port", "0"),
            *("--rate-limit", "0", "--scale", str(units), "--seed", "7"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    url, creds = "", {}
    while len(creds) < 2:
        line = proc.stdout.readline()
        if line.startswith("base_url="):
            url = line.strip().split("=", 1)[1]
        elif line.startswith("credential "):
            key, value = line.strip().split(" ", 1)[1].split("=", 1)
            creds[key] = value
    return proc, url, creds


async def floor(url: str, creds: dict[str, str]) -> tuple[int, int, float]:
    headers = {
        "x-buildium-client-id": creds["client_id"],
        "x-buildium-client-secret": creds["client_secret"],
    }
    started = time.perf_counter()
    async with aiohttp.ClientSession(headers=headers) as session:

        async def page(offset: int) -> tuple[int, int]:
            params = {"orderby": "Id", "limit": PAGE, "offset": offset}
            async with session.get(url + PATH, params=params) as response:
                body = orjson.loads(await response.read())
                return len(body), int(response.headers["X-Total-Count"])

        first, total = await page(0)
        # Always CONCURRENCY pages in flight, as the pager keeps them.
        slots = asyncio.Semaphore(CONCURRENCY)

        async def bounded(offset: int) -> int:
            async with slots:
                return (await page(offset))[0]

        offsets = range(PAGE, total, PAGE)
        got = await asyncio.gather(*(bounded(o) for o in offsets))
    return first + sum(got), 1 + len(got), time.perf_counter() - started


async def syncd_pager(url: str, creds: dict[str, str]) -> tuple[int, int, float]:
    options = ConnectorOptions(page_size=PAGE, concurrency=CONCURRENCY, rate_limit=0)
    connector = BuildiumConnector(base_url=url, credentials=creds, options=options)
    started = time.perf_counter()
    records = 0
    async with connector, connector.pages("units", FetchWindow()) as pages:
        async for page in pages:
            records += len(page.records)
        assert pages.proof is not None and pages.proof.sweep_safe
    return records, connector.stats.requests, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    proc, url, creds = start_simulator(args.units)
    results: dict[str, list[tuple[int, int, float]]] = {"floor": [], "syncd": []}
    try:
        asyncio.run(floor(url, creds))  # warm-up: the simulator builds its index once
        for _ in range(args.repeat):
            results["floor"].append(asyncio.run(floor(url, creds)))
            results["syncd"].append(asyncio.run(syncd_pager(url, creds)))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    rate: dict[str, float] = {}
    print(f"{args.units:,} units, {args.repeat} interleaved repetitions, median:")
    for name, runs in results.items():
        records, requests, _ = runs[0]
        rate[name] = statistics.median(r[0] / r[2] for r in runs)
        print(f"  {name:<6} {rate[name]:>10,.0f} records/s  {requests:>5} requests  {records:,}")
    summary: dict[str, Any] = {
        "ratio": round(rate["syncd"] / rate["floor"], 3),
        "extra_requests": results["syncd"][0][1] - results["floor"][0][1],
    }
    print(
        f"  syncd / floor: {summary['ratio']:.2f}; "
        f"extra requests per listing: {summary['extra_requests']}"
    )


if __name__ == "__main__":
    main()
