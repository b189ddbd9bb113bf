"""Deletion sweeps at scale: 1,000,000 records of one model, 1 % unseen, on PostgreSQL.

    .venv/bin/python benchmarks/sweep.py [--records 1000000] [--unseen 0.01] [--url URL]

Without ``--url`` a fresh database ``syncd_sweep_bench`` is created on
127.0.0.1:5432. One integration's ``units`` are seeded in SQL (the last run
saw all but the unseen share), the table analyzed, then timed at the store:

1. guard check: a sweep whose threshold is below the unseen share, so the
   guard holds it: one counting scan, no write;
2. sweep: counts, then the soft delete of every unseen record with one
   DATA_DELETED event each, in one transaction;
3. approval: the same records restored, the run marked NEEDS_ATTENTION, and
   ``approve_sweep`` (candidates recomputed from ``last_seen``) timed.

Prints one JSON object. :func:`sweep_benchmark` is the same, callable from
other benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from cryptography.fernet import Fernet
from sqlalchemy import text

from syncd.crypto import Cipher
from syncd.domain import Environment, Integration, RunCounts, RunStatus, SweepScope, SyncMode
from syncd.store.engine import make_engine
from syncd.store.migrate import upgrade
from syncd.store.sql import SqlStore

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
TARGET_SECONDS = 10.0


async def fresh_db(name: str = "syncd_sweep_bench") -> str:
    """A new, empty PostgreSQL database's URL."""
    conn = await asyncpg.connect(database="postgres", **PG)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{name}"


async def _seed(
    store: SqlStore, iid: str, run_id: str, started: datetime, n: int, step: int
) -> None:
    # As after an unchanged re-sync: every record carries an earlier run's id
    # (no row was rewritten), the seen ones are listed in the run's seen
    # pages (1,000 per page) with a last_seen after its start, the unseen
    # ones have an older last_seen.
    seen_at, old = started + timedelta(seconds=1), started - timedelta(days=1)
    sql = text(
        """
        INSERT INTO units (id, integration_id, integration_vendor, x_id, x_property_id,
            property_id, created_at, updated_at, last_seen, custom_data, content_hash,
            last_run_id, number, bedrooms, rent_amount_market_in_cents)
        SELECT md5(CAST(:iid AS text) || '/' || i)::uuid, CAST(:iid AS text), 'BUILDIUM',
            i::text, (i % 500)::text, md5('p' || (i % 500))::uuid,
            CAST(:old AS timestamptz), CAST(:old AS timestamptz),
            CASE WHEN i % CAST(:step AS int) = 0 THEN CAST(:old AS timestamptz)
                 ELSE CAST(:seen AS timestamptz) END,
            '{}'::jsonb, md5(i::text),
            'an-earlier-run',
            'U' || i, i % 4, 100000 + i
        FROM generate_series(1, CAST(:n AS int)) AS i
        """
    )
    async with store.engine.begin() as conn:
        await conn.execute(text("DELETE FROM units WHERE integration_id = :iid"), {"iid": iid})
        await conn.execute(sql, {"iid": iid, "old": old, "seen": seen_at, "step": step, "n": n})
        await conn.execute(
            text(
                """
                INSERT INTO seen_pages (run_id, integration_id, model, seen_at, x_ids)
                SELECT CAST(:run AS text), CAST(:iid AS text), 'units',
                    CAST(:seen AS timestamptz), array_agg(i::text)
                FROM generate_series(1, CAST(:n AS int)) AS i
                WHERE i % CAST(:step AS int) <> 0 GROUP BY i / 1000
                """
            ),
            {"iid": iid, "seen": seen_at, "step": step, "run": run_id, "n": n},
        )
    async with store.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE units"))


async def _count(store: SqlStore, sql: str, iid: str) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(text(sql), {"iid": iid})).scalar_one())


async def sweep_benchmark(
    url: str, records: int = 1_000_000, unseen: float = 0.01, keep: bool = False
) -> dict[str, Any]:
    """Seed, time the guard check, the sweep and an approval on ``url`` (PostgreSQL)."""
    engine = make_engine(url)
    await upgrade(engine)
    store = SqlStore(engine, Cipher(Fernet.generate_key()))
    iid = f"bench-sweep-{uuid.uuid4().hex[:8]}"
    step = max(1, round(1 / unseen))
    expected = records // step
    try:
        integration = Integration(
            id=iid,
            name=iid,
            vendor="BUILDIUM",
            environment=Environment.SANDBOX,
            enabled=False,
            base_url=None,
            credentials={"client_id": "x", "client_secret": "y"},
        )
        await store.add_integration(integration)
        run_id = await store.start_run(
            integration=integration, model="units", mode=SyncMode.FULL, trigger="bench"
        )
        run = await store.get_run(run_id)
        assert run is not None
        t0 = time.perf_counter()
        await _seed(store, iid, run_id, run.started_at, records, step)
        seed_seconds = time.perf_counter() - t0
        scope = SweepScope(iid, "BUILDIUM", "units", run_id)
        now = datetime.now(UTC)

        t0 = time.perf_counter()
        guard = await store.sweep(scope, max_share=unseen / 2, events=True, now=now)
        guard_seconds = time.perf_counter() - t0
        assert guard.held and guard.candidates == expected and guard.deleted == 0

        t0 = time.perf_counter()
        swept = await store.sweep(scope, max_share=0.1, events=True, now=now)
        sweep_seconds = time.perf_counter() - t0
        assert not swept.held and swept.deleted == expected, swept
        deleted = await _count(
            store,
            "SELECT count(*) FROM units WHERE integration_id = :iid AND deleted_at IS NOT NULL",
            iid,
        )
        events = await _count(
            store,
            "SELECT count(*) FROM change_events WHERE integration_id = :iid "
            "AND event_type = 'DATA_DELETED'",
            iid,
        )
        assert deleted == events == expected

        # Undo, hold, approve: the approval path recomputes from last_seen.
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE units SET deleted_at = NULL WHERE integration_id = :iid"),
                {"iid": iid},
            )
            await conn.execute(
                text("DELETE FROM change_events WHERE integration_id = :iid"), {"iid": iid}
            )
        await store.finish_run(run_id, RunStatus.NEEDS_ATTENTION, RunCounts(), "held (bench)")
        t0 = time.perf_counter()
        approved = await store.approve_sweep(
            run_id, date_field=None, events=True, now=datetime.now(UTC)
        )
        approve_seconds = time.perf_counter() - t0
        assert approved.deleted == expected, approved
        return {
            "engine": "postgresql",
            "records": records,
            "unseen": expected,
            "seed_seconds": round(seed_seconds, 2),
            "guard_check_seconds": round(guard_seconds, 3),
            "sweep_seconds": round(sweep_seconds, 3),
            "approve_seconds": round(approve_seconds, 3),
            "deleted": swept.deleted,
            "events": events,
            "target_seconds": TARGET_SECONDS,
            "ok": max(guard_seconds, sweep_seconds, approve_seconds) < TARGET_SECONDS,
        }
    finally:
        if not keep:
            async with engine.begin() as conn:
                for table in ("units", "change_events", "sync_runs"):
                    await conn.execute(
                        text(f"DELETE FROM {table} WHERE integration_id = :iid"), {"iid": iid}
                    )
                await conn.execute(text("DELETE FROM integrations WHERE id = :iid"), {"iid": iid})
        await store.close()


def main() -> None:
    """Command-line entry: print the figures as JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", help="a PostgreSQL SQLAlchemy URL (default: a fresh database)")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--unseen", type=float, default=0.01, help="share the run did not see")
    args = parser.parse_args()
    url = args.url or asyncio.run(fresh_db())
    result = asyncio.run(sweep_benchmark(url, args.records, args.unseen))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
