"""`syncd serve` on a private PostgreSQL cluster that is stopped and started again.

/readyz answers 503 while the database is down and 200 once it is back; the
daemon survives the outage and keeps running its schedules.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from support import free_port

SYNCD = [sys.executable, "-m", "syncd"]


class Cluster:
    """A throw-away PostgreSQL cluster run with the server's own binaries."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            raise RuntimeError(
                "PostgreSQL server binaries not found; run scripts/ensure-postgres.sh"
            )
        self.bin = Path(found[-1]).parent
        # PostgreSQL refuses to run as root: use its own account then.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.root = Path(tempfile.mkdtemp(prefix="syncd-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.port = free_port()
        if self.as_user:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
        )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    c.init()
    c.start()
    try:
        yield c
    finally:
        c.remove()


def readyz(base: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except urllib.error.URLError:
        return 0, {}  # not listening yet


def wait_status(base: str, want: int, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    status, body = 0, {}
    while time.monotonic() < deadline:
        status, body = readyz(base)
        if status == want:
            return body
        time.sleep(0.3)
    raise AssertionError(f"/readyz stayed {status}: {body}")


def test_readyz_follows_a_real_postgresql_outage(tmp_path: Path, cluster: Cluster) -> None:
    db_url = f"postgresql+asyncpg://postgres@127.0.0.1:{cluster.port}/postgres"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env |= {
        "SYNCD_DATABASE_URL": db_url,
        "SYNCD_SECRET_KEY": Fernet.generate_key().decode(),
        "SYNCD_STATE_DIR": str(tmp_path / "state"),
        "SYNCD_LOG_FORMAT": "json",
        "SYNCD_SCHEDULER_POLL_SECONDS": "0.3",
    }
    log = tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with (
        log.open("w") as err,
        subprocess.Popen(
            [*SYNCD, "serve", "--migrate", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        ) as proc,
    ):
        try:
            body = wait_status(base, 200)
            assert body["database"] == "ok"

            cluster.stop()
            body = wait_status(base, 503)
            assert body["database"] != "ok"
            # Down for a while: the daemon keeps answering, never exits.
            time.sleep(2)
            assert readyz(base)[0] == 503
            assert proc.poll() is None

            cluster.start()
            body = wait_status(base, 200)
            assert body["database"] == "ok"
            assert proc.poll() is None
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
    assert code == 0, log.read_text()[-3000:]
    events = [
        json.loads(line).get("event")
        for line in log.read_text().splitlines()
        if line.startswith("{")
    ]
    assert "scheduler.store_unavailable" in events
