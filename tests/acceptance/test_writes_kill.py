"""No write is ever made twice: ``kill -9`` of the worker at 20 points during 100 writes.

The real ``syncd writes work`` runs as a subprocess against an in-process
ResMan simulator that also drops some answers after committing the lead.
Each kill comes right after the simulator committed a chosen number of
leads (plus a random few milliseconds), so kills land before, during and
after requests, read-backs and job updates. Afterwards every lead exists
exactly once in the simulator and every job succeeded. Both engines.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from syncd.app import make_cipher
from syncd.domain import Capability, Environment, Integration
from syncd.runner import Runner, RunnerConfig
from syncd.settings import Settings
from syncd.sim.resman import ResManRenderer
from syncd.sim.server import Simulator
from syncd.store.engine import make_engine
from syncd.store.reads import SqlRecordReader
from syncd.store.sql import SqlStore
from syncd.store.tables import MODEL_TABLES
from syncd.store.writes import SqlWriteJobs, WriteFilter, WriteStatus
from syncd.writes.service import WriteAsk, submit_write

SYNCD = [sys.executable, "-m", "syncd"]
WRITES = 100
KILLS = 20
POST_PATH = "/MITS/PostLeadManagement4_0"


async def _cached(store: SqlStore, model: str, x_id: str) -> str:
    from sqlalchemy import select

    table = MODEL_TABLES[model]
    async with store.engine.connect() as conn:
        found = (await conn.execute(select(table.c.id).where(table.c.x_id == x_id))).scalar_one()
    return str(found)


def _leads(sim: Simulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for lead in sim.world.all("leads"):
        if str(lead["last_name"]).startswith("Killtest"):
            counts[lead["first_name"]] = counts.get(lead["first_name"], 0) + 1
    return counts


async def _until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_kill_9_during_writes_never_makes_a_duplicate(
    database_url: str, tmp_path: Path
) -> None:
    key = Fernet.generate_key().decode()
    settings = Settings(database_url=database_url, state_dir=tmp_path / "state", secret_key=key)
    store = SqlStore(make_engine(database_url), make_cipher(settings))
    jobs = SqlWriteJobs(store.engine)
    rng = random.Random(20261203)
    with (tmp_path / "workers.log").open("w") as log:
        async with Simulator(ResManRenderer, seed=11, scale=40, rate_limit=0) as sim:
            try:
                integration = Integration(
                    id="acme",
                    name="Acme",
                    vendor="RESMAN",
                    environment=Environment.SANDBOX,
                    enabled=True,
                    base_url=sim.url,
                    credentials=dict(sim.credentials),
                    options={"rate_limit_per_second": 0},
                )
                await store.add_integration(integration)
                report = await Runner(store, RunnerConfig()).run(
                    integration, models=["properties", "lead_sources", "employees"]
                )
                assert report.ok, report
                renderer = sim.renderer
                assert isinstance(renderer, ResManRenderer)
                prop = sim.world.select("properties")[0]
                source = sim.world.select("lead_sources", property_id=prop["id"])[0]
                refs = {
                    "property_id": await _cached(
                        store, "properties", renderer.x_id("properties", prop["id"])
                    ),
                    "lead_source_id": await _cached(
                        store, "lead_sources", renderer.x_id("lead_sources", source["id"])
                    ),
                    "employee_id": await _cached(store, "employees", renderer.x_id("employees", 1)),
                }
                reader = SqlRecordReader(store.engine)
                for n in range(WRITES):
                    body = {
                        "integration_id": "acme",
                        **refs,
                        "first_name": f"Lead{n:03d}",
                        "last_name": "Killtest",
                        "email_1": f"lead{n:03d}@example.test",
                    }
                    await submit_write(
                        store,
                        reader,
                        jobs,
                        WriteAsk("leads", Capability.CREATE, body, vendor="resman"),
                    )
                # Some answers are lost after ResMan committed the lead.
                for after in (7, 31, 64):
                    sim.add_fault("lost", path=POST_PATH, method="POST", count=3, after=after)

                env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
                env |= {
                    "SYNCD_DATABASE_URL": database_url,
                    "SYNCD_STATE_DIR": str(tmp_path / "state"),
                    "SYNCD_SECRET_KEY": key,
                    "SYNCD_LOG_FORMAT": "json",
                    "SYNCD_LOG_LEVEL": "warning",
                    # A killed worker's job is taken over quickly, and retried at once.
                    "SYNCD_WRITE_LEASE_SECONDS": "1",
                    "SYNCD_WRITE_BACKOFF_BASE_SECONDS": "0.05",
                    "SYNCD_WRITE_MAX_ATTEMPTS": "100",
                    "SYNCD_WRITE_POLL_SECONDS": "0.05",
                    "SYNCD_WRITE_READ_BACK_WAIT_SECONDS": "0.2",
                }
                targets = sorted(rng.sample(range(1, WRITES), KILLS))
                kills = 0
                for target in targets:
                    proc = await asyncio.create_subprocess_exec(
                        *SYNCD, "writes", "work", env=env, stdout=log, stderr=log
                    )
                    try:
                        await _until(
                            lambda t=target: sum(_leads(sim).values()) >= t, 120, f"{target} leads"
                        )
                        await asyncio.sleep(rng.uniform(0, 0.03))
                    finally:
                        if proc.returncode is None:
                            proc.send_signal(signal.SIGKILL)
                        await proc.wait()
                    kills += proc.returncode == -signal.SIGKILL
                assert kills == KILLS

                # A last worker finishes what is left.
                proc = await asyncio.create_subprocess_exec(
                    *SYNCD, "writes", "work", env=env, stdout=log, stderr=log
                )
                try:
                    deadline = time.monotonic() + 180
                    while await jobs.pending_count():
                        assert time.monotonic() < deadline, "write jobs still pending"
                        await asyncio.sleep(0.1)
                finally:
                    proc.send_signal(signal.SIGTERM)
                    await proc.wait()

                leads = _leads(sim)
                assert len(leads) == WRITES, sorted(
                    {f"Lead{n:03d}" for n in range(WRITES)} - set(leads)
                )
                assert set(leads.values()) == {1}, {k: v for k, v in leads.items() if v != 1}
                finished = await jobs.list_jobs(WriteFilter(), offset=0, limit=WRITES + 1)
                assert {j.status for j in finished} == {WriteStatus.SUCCESS}
                assert len(finished) == WRITES
                # Attempts were interrupted (kills, lost answers) and taken over.
                assert sum(j.attempts for j in finished) > WRITES
            finally:
                await store.close()
