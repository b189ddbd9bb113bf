"""`syncd serve` as a subprocess: schedules run, probes answer, sd_notify, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from support import free_port

from syncd.crypto import Cipher
from syncd.domain import Environment, Integration
from syncd.store.engine import make_engine
from syncd.store.migrate import upgrade
from syncd.store.sql import SqlStore

SYNCD = [sys.executable, "-m", "syncd"]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture
def sim_url(
    sim_process: Callable[..., tuple[str, dict[str, str]]],
) -> tuple[str, dict[str, str]]:
    """A simulator subprocess: (base URL, credentials)."""
    return sim_process(scale=20)


def seed_integrations(db_url: str, key: bytes, url: str, creds: dict[str, str]) -> None:
    async def go() -> None:
        engine = make_engine(db_url)
        await upgrade(engine)
        store = SqlStore(engine, Cipher(key))
        for i in range(2):
            await store.add_integration(
                Integration(
                    id=f"acme-{i}",
                    name=f"Acme {i}",
                    vendor="BUILDIUM",
                    environment=Environment.PRODUCTION,
                    enabled=True,
                    base_url=url,
                    credentials=creds,
                    options={
                        "rate_limit_per_second": 0,
                        "schedules": {
                            "incremental": {"type": "interval", "seconds": 2},
                            "full": None,
                        },
                    },
                )
            )
        await store.close()

    asyncio.run(go())


def test_serve_runs_schedules_probes_and_stops_on_sigterm(
    tmp_path: Path, sim_url: tuple[str, dict[str, str]]
) -> None:
    url, creds = sim_url
    key = Fernet.generate_key()
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    seed_integrations(db_url, key, url, creds)
    port = free_port()
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(30)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env |= {
        "SYNCD_DATABASE_URL": db_url,
        "SYNCD_SECRET_KEY": key.decode(),
        "SYNCD_STATE_DIR": str(tmp_path / "state"),
        "SYNCD_LOG_FORMAT": "json",
        "SYNCD_SCHEDULER_POLL_SECONDS": "0.2",
        "NOTIFY_SOCKET": str(notify_path),
    }
    log = tmp_path / "serve.log"
    with (
        log.open("w") as err,
        subprocess.Popen(
            [*SYNCD, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        ) as proc,
    ):
        try:
            messages = notify.recv(4096).decode()
            assert "READY=1" in messages, messages
            base = f"http://127.0.0.1:{port}"
            assert get(f"{base}/healthz")[0] == 200
            deadline = time.monotonic() + 30
            ready: dict[str, object] = {}
            while time.monotonic() < deadline:
                status, body = get(f"{base}/readyz")
                ready = json.loads(body)
                runs = [i["last_run"] for i in ready.get("integrations", [])]  # type: ignore[union-attr]
                if (
                    status == 200
                    and len(runs) == 2
                    and all(r and r["status"] == "SUCCESS" for r in runs)
                ):
                    break
                time.sleep(0.3)
            else:
                pytest.fail(f"not ready with runs: {ready}\n{log.read_text()[-3000:]}")
            status, metrics = get(f"{base}/metrics")
            assert status == 200 and "syncd_runs_total{" in metrics
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=40) == 0, log.read_text()[-3000:]
            assert time.monotonic() - started < 35
        finally:
            if proc.poll() is None:
                proc.kill()
    seen = messages
    notify.settimeout(0.5)
    try:
        while True:
            seen += notify.recv(4096).decode()
    except TimeoutError:
        pass
    notify.close()
    assert "STOPPING=1" in seen
    out = subprocess.run(
        [*SYNCD, "schedules", "list", "--json"], env=env, capture_output=True, text=True, check=True
    )
    rows = json.loads(out.stdout)
    assert len(rows) == 2 and all(r["lease_owner"] is None for r in rows)
