"""Data-access checks over real HTTP against an in-process Buildium simulator, on both engines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from support import sim_integration, started_sim

from syncd.errors import RunConflict
from syncd.services.data_access import (
    AccessStatus,
    CheckLimits,
    check_data_access,
    claim_check,
)
from syncd.sim.buildium import BuildiumSimulator

from .conftest import Api

PATH = "/v1/admin/integrations/acme/data-access"
MODELS = {"properties", "units", "residents", "leases", "leads", "employees"}
#: The Buildium simulator's answer to refused credentials.
REFUSED = "The API client ID and secret were not provided or are not valid."


@pytest.fixture
async def sim() -> AsyncIterator[BuildiumSimulator]:
    async with started_sim(seed=5, scale=12) as simulator:
        yield simulator


async def finished(api: Api, *, within: float = 60.0) -> dict[str, Any]:
    """The GET answer once no check is in process (failing after ``within`` seconds)."""
    deadline = time.monotonic() + within
    while True:
        body = (await api.get(PATH))["result"]
        if not body["data_access_check_in_process"]:
            return dict(body)
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.05)


async def test_before_any_check_everything_is_untested(api: Api, sim: BuildiumSimulator) -> None:
    await api.store.add_integration(sim_integration(sim))
    body = (await api.get(PATH))["result"]
    assert body["last_data_access_check"] is None
    assert body["data_access_check_in_process"] is False
    assert set(body["models"]) == MODELS
    for model, access in body["models"].items():
        assert access["read"] == {"status": "UNTESTED", "error_message": None, "checked_at": None}
        # Buildium creates and updates leads (applicants) and updates residents (tenants).
        create = "UNTESTED" if model == "leads" else "UNSUPPORTED"
        update = "UNTESTED" if model in ("leads", "residents") else "UNSUPPORTED"
        assert access["create"]["status"] == create
        assert access["update"]["status"] == update
    assert sim.stats_snapshot()["requests"] == 0


async def test_a_healthy_integration_reads_every_model(api: Api, sim: BuildiumSimulator) -> None:
    await api.store.add_integration(sim_integration(sim))
    started = time.monotonic()
    status, body, _ = await api.call("POST", PATH)
    assert status == 202 and body == {"result": {"began_data_access": True}}
    result = await finished(api)
    assert time.monotonic() - started < 60
    stamp = datetime.fromisoformat(result["last_data_access_check"])
    for access in result["models"].values():
        assert access["read"]["status"] == "SUCCESS"
        assert access["read"]["error_message"] is None
        assert datetime.fromisoformat(access["read"]["checked_at"]) <= stamp
        assert access["create"]["status"] in ("UNTESTED", "UNSUPPORTED")
        assert access["update"]["status"] in ("UNTESTED", "UNSUPPORTED")
    # A check reads one small page per model (the pager may have asked for
    # the next one already) and writes nothing.
    stats = sim.stats_snapshot()
    assert len(MODELS) <= stats["requests"] <= 2 * len(MODELS)


async def test_refused_credentials_fail_with_the_pms_message(
    api: Api, sim: BuildiumSimulator
) -> None:
    wrong = {"client_id": "nobody", "client_secret": "wrong"}
    await api.store.add_integration(replace(sim_integration(sim), credentials=wrong))
    status, _, _ = await api.call("POST", PATH, json={})
    assert status == 202
    result = await finished(api)
    for access in result["models"].values():
        assert access["read"]["status"] == "FAILED"
        assert "HTTP 401" in access["read"]["error_message"]
        assert REFUSED in access["read"]["error_message"]
        assert "wrong" not in access["read"]["error_message"]


async def test_a_second_check_while_one_runs_is_a_conflict(
    api: Api, sim: BuildiumSimulator
) -> None:
    await api.store.add_integration(sim_integration(sim))
    # The properties read waits on the simulator while the check is polled.
    sim.add_fault("slow", path="/v1/rentals", delay=1.0)
    status, _, _ = await api.call("POST", PATH)
    assert status == 202
    status, body, _ = await api.call("POST", PATH)
    assert status == 409 and body["error"]["code"] == "conflict"
    assert "already running" in body["error"]["message"]
    running = (await api.get(PATH))["result"]
    assert running["data_access_check_in_process"] is True
    assert running["models"]["properties"]["read"]["status"] == "PROCESSING"
    result = await finished(api)
    assert {a["read"]["status"] for a in result["models"].values()} == {"SUCCESS"}
    # Once ended, the next check may start.
    status, _, _ = await api.call("POST", PATH)
    assert status == 202
    await finished(api)


async def test_only_one_of_two_simultaneous_claims_wins(api: Api, sim: BuildiumSimulator) -> None:
    await api.store.add_integration(sim_integration(sim))
    outcomes = await asyncio.gather(
        *(claim_check(api.store, api.settings, "acme") for _ in range(4)),
        return_exceptions=True,
    )
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert sum(isinstance(o, RunConflict) for o in outcomes) == 3


async def test_probes_are_bounded_and_server_errors_reported(
    api: Api, sim: BuildiumSimulator
) -> None:
    await api.store.add_integration(sim_integration(sim))
    sim.add_fault("slow", path="/v1/rentals", delay=1.5)
    sim.add_fault("500", path="/v1/users", count=10)
    started = time.monotonic()
    limits = CheckLimits(probe_timeout=0.5, total_timeout=5.0)
    report = await check_data_access(api.store, api.settings, "acme", limits)
    assert time.monotonic() - started < 3.0
    reads = {m.model: m.read for m in report.models}
    assert reads["properties"].status is AccessStatus.FAILED
    assert reads["properties"].error_message == "no answer within 0.5 s"
    assert reads["employees"].status is AccessStatus.FAILED
    assert "HTTP 500" in (reads["employees"].error_message or "")
    assert {reads[m].status for m in ("units", "residents", "leases", "leads")} == {
        AccessStatus.SUCCESS
    }
    assert report.in_process is False and report.last_check is not None
    assert not report.all_readable


async def test_keys_and_unknown_integrations(api: Api, sim: BuildiumSimulator) -> None:
    await api.store.add_integration(sim_integration(sim))
    for method in ("GET", "POST"):
        status, body, _ = await api.call(method, PATH, key=api.read_key)
        assert status == 403, body
        status, _, _ = await api.call(method, PATH, anonymous=True)
        assert status == 401
        status, body, _ = await api.call(method, "/v1/admin/integrations/nope/data-access")
        assert status == 404 and body["error"]["code"] == "not_found"
    status, body, _ = await api.call("POST", PATH, json={"extra": 1})
    assert status == 400 and body["error"]["details"]["issues"][0]["field"] == "extra"
