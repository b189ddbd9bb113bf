"""Two `syncd serve` nodes on one PostgreSQL, 50 integrations, for a few minutes.

Checked from the run table: every fire time of every schedule ran exactly once,
no integration ever ran twice at once, and both nodes shared the work.
``SYNCD_TEST_SOAK_SECONDS`` sets the length (default 120).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from support import with_store as db

from syncd.domain import Environment, Integration, RunRecord, RunStatus
from syncd.store.sql import SqlStore

SYNCD = [sys.executable, "-m", "syncd"]
INTEGRATIONS = 50
INTERVAL = 10  # seconds between fires of each integration's job
SOAK = float(os.environ.get("SYNCD_TEST_SOAK_SECONDS", "120"))


@pytest.mark.timeout(SOAK + 180)
def test_two_nodes_run_every_fire_exactly_once(
    tmp_path: Path,
    pg_database_url: str,
    sim_process: Callable[..., tuple[str, dict[str, str]]],
) -> None:
    sims = [sim_process(scale=4, seed=s) for s in (1, 2)]
    key = Fernet.generate_key()

    async def seed(store: SqlStore) -> None:
        for i in range(INTEGRATIONS):
            url, creds = sims[i % len(sims)]
            await store.add_integration(
                Integration(
                    id=f"soak-{i:02d}",
                    name=f"soak-{i:02d}",
                    vendor="BUILDIUM",
                    environment=Environment.PRODUCTION,
                    enabled=True,
                    base_url=url,
                    credentials=creds,
                    options={
                        "rate_limit_per_second": 0,
                        "schedules": {
                            "incremental": {"type": "interval", "seconds": INTERVAL},
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
        "SYNCD_LOG_LEVEL": "info",
        "SYNCD_SCHEDULER_POLL_SECONDS": "0.5",
        "SYNCD_LEASE_SECONDS": "10",
    }
    logs = {name: tmp_path / f"{name}.log" for name in ("node-a", "node-b")}
    files = [path.open("w") for path in logs.values()]
    nodes = [
        subprocess.Popen(
            [*SYNCD, "serve", "--port", "0"],
            env=env | {"SYNCD_NODE_ID": name},
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
        for name, out in zip(logs, files, strict=True)
    ]
    started = time.monotonic()
    try:
        while time.monotonic() - started < SOAK:
            time.sleep(1)
            for proc, name in zip(nodes, logs, strict=True):
                assert proc.poll() is None, logs[name].read_text()[-3000:]
    finally:
        for proc in nodes:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=60) for proc in nodes]
        for f in files:
            f.close()
    assert codes == [0, 0], [p.read_text()[-2000:] for p in logs.values()]

    runs: list[RunRecord] = db(pg_database_url, key, lambda s: s.list_runs(limit=100_000))
    roots = [r for r in runs if r.parent_run_id is None]
    assert all(r.trigger == "schedule" and r.scheduled_for is not None for r in roots)
    # Only runs the final SIGTERM caught may have ended early (they resume later).
    stopped = [r for r in runs if "stopped by shutdown" in (r.error or "")]
    assert all(r.status is RunStatus.SUCCESS for r in runs if r not in stopped), Counter(
        (r.status, r.error) for r in runs
    )
    assert len({r.root_run_id for r in stopped}) <= 8  # at most the jobs running at the end
    fires_expected = SOAK / INTERVAL
    for i in range(INTEGRATIONS):
        mine = sorted(
            (r for r in roots if r.integration_id == f"soak-{i:02d}"),
            key=lambda r: r.started_at,
        )
        fires = [r.scheduled_for for r in mine]
        # Exactly once per fire time, and every fire answered: run, or (when
        # a run outlasted its interval on a busy machine) coalesced into the
        # next run, which records how many it answered.
        assert len(set(fires)) == len(fires), f"soak-{i:02d} ran a fire twice"
        answered = len(mine) + sum(r.coalesced_fires for r in mine)
        assert answered >= fires_expected - 2, (f"soak-{i:02d}", len(mine), answered)
        for before, after in itertools.pairwise(mine):
            assert before.ended_at is not None
            assert after.started_at >= before.ended_at, f"soak-{i:02d} overlapped"
        # The first sync starts at once on enabling; from then on the fires
        # follow the interval: each run one interval after the previous one,
        # plus one interval per fire it coalesced. None skipped unrecorded.
        slack = timedelta(milliseconds=5)
        for before, after in itertools.pairwise(mine[1:]):
            assert before.scheduled_for is not None and after.scheduled_for is not None
            gap = after.scheduled_for - before.scheduled_for
            expected = timedelta(seconds=INTERVAL * (1 + after.coalesced_fires))
            assert abs(gap - expected) <= slack, (f"soak-{i:02d}", gap, after.coalesced_fires)

    # Both nodes took a share of the work.
    per_node = Counter()
    for name, path in logs.items():
        for line in path.read_text().splitlines():
            if line.startswith("{") and json.loads(line).get("event") == "scheduler.job.started":
                per_node[name] += 1
    assert per_node["node-a"] > len(roots) / 10 and per_node["node-b"] > len(roots) / 10, per_node
    assert sum(per_node.values()) >= len(roots)
    schedules = db(pg_database_url, key, lambda s: s.list_schedules())
    assert all(s.lease_owner is None for s in schedules)
