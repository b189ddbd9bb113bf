"""The end-to-end floor of a sync: fetch, map and write the same pages, and nothing else.

What a minimal hand-written loader does with the pages ``syncd run`` reads:
fetch every page of the six Buildium resources (same page size and
concurrency), parse it with orjson, map each record to the row its model
table needs (the stable id, PMS id, times, an empty ``custom_data`` and a
digest of the record), and write each page in its own transaction: COPY on
PostgreSQL, ``executemany`` on SQLite. No normalization, no change
detection, no events, no checkpoints: syncd's initial sync is measured
against it (the target is ≥ 0.8 of its rate).
"""

from __future__ import annotations

import asyncio
import resource
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from hashlib import blake2b
from typing import Any

import aiohttp
import asyncpg
import orjson

from syncd.domain import record_id

#: Buildium resource → its unified model table.
TABLES = {
    "/v1/rentals": "properties",
    "/v1/rentals/units": "units",
    "/v1/leases/tenants": "residents",
    "/v1/leases": "leases",
    "/v1/applicants": "leads",
    "/v1/users": "employees",
}
COLUMNS = (
    "id", "integration_id", "integration_vendor", "x_id", "created_at", "updated_at",
    "last_seen", "custom_data", "content_hash",
)  # fmt: skip
INTEGRATION = "floor"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rows(model: str, page: list[dict[str, Any]], now: Any, sqlite: bool) -> list[tuple[Any, ...]]:
    rows = []
    for record in page:
        x_id = str(record["Id"])
        key = record_id(INTEGRATION, model, x_id)
        digest = blake2b(orjson.dumps(record), digest_size=16).hexdigest()
        rows.append(
            (key.hex if sqlite else key, INTEGRATION, "BUILDIUM", x_id, now, now, now, "{}", digest)
        )
    return rows


async def fetch_pages(
    url: str, creds: dict[str, str], page_size: int, concurrency: int,
    store: Callable[[str, list[dict[str, Any]]], Awaitable[None]],
) -> int:  # fmt: skip
    """Fetch and parse every page of the six resources, handing each to ``store``; the count."""
    headers = {
        "x-buildium-client-id": creds["client_id"],
        "x-buildium-client-secret": creds["client_secret"],
    }
    total = 0
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        sem = asyncio.Semaphore(concurrency)

        async def page(path: str, offset: int) -> tuple[int, int]:
            async with sem:
                params = {"offset": offset, "limit": page_size, "orderby": "Id"}
                async with session.get(url + path, params=params) as resp:
                    body = orjson.loads(await resp.read())
                    count = int(resp.headers["X-Total-Count"])
            await store(path, body)
            return len(body), count

        for path in TABLES:
            n, count = await page(path, 0)
            rest = await asyncio.gather(
                *(page(path, off) for off in range(page_size, count, page_size))
            )
            total += n + sum(r[0] for r in rest)
    return total


async def end_to_end_floor(
    engine: str, database: str, url: str, creds: dict[str, str], page_size: int, concurrency: int
) -> dict[str, float]:
    """Fetch, map and write every page into ``database`` (migrated, empty); its figures.

    ``database`` is an asyncpg DSN for PostgreSQL or a file path for SQLite.
    """
    now = datetime.now(UTC)
    cpu0, started = _cpu(), time.perf_counter()
    if engine == "postgresql":
        conn = await asyncpg.connect(database)
        lock = asyncio.Lock()

        async def store(path: str, page: list[dict[str, Any]]) -> None:
            rows = _rows(TABLES[path], page, now, sqlite=False)
            async with lock, conn.transaction():
                await conn.copy_records_to_table(TABLES[path], records=rows, columns=COLUMNS)

        try:
            total = await fetch_pages(url, creds, page_size, concurrency, store)
        finally:
            await conn.close()
    else:
        db = sqlite3.connect(database)
        marks = ", ".join("?" * len(COLUMNS))

        async def store(path: str, page: list[dict[str, Any]]) -> None:
            rows = _rows(TABLES[path], page, now.isoformat(), sqlite=True)
            with db:
                db.executemany(
                    f"INSERT INTO {TABLES[path]} ({', '.join(COLUMNS)}) VALUES ({marks})", rows
                )

        try:
            total = await fetch_pages(url, creds, page_size, concurrency, store)
        finally:
            db.close()
    seconds = time.perf_counter() - started
    return {
        "records": total,
        "seconds": round(seconds, 3),
        "records_per_second": round(total / seconds),
        "cpu_us_per_record": round((_cpu() - cpu0) / total * 1e6, 1),
    }
