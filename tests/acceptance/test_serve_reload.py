"""`syncd serve` as a subprocess: SIGHUP reloads settings; the watchdog bounds the poll."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from support import free_port

SYNCD = [sys.executable, "-m", "syncd"]


def log_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in path.read_text().splitlines():
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    return lines


def wait_for_event(path: Path, event: str, after: int = 0, timeout: float = 20) -> dict[str, Any]:
    """The first log line named ``event`` beyond the first ``after`` lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log_lines(path)[after:]:
            if line.get("event") == event:
                return line
        time.sleep(0.1)
    raise AssertionError(f"no {event} in {path.read_text()[-3000:]}")


def notifications(sock: socket.socket, seconds: float) -> list[str]:
    """Every sd_notify datagram received within ``seconds``."""
    got: list[str] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    return got


def test_sighup_reloads_settings_and_keeps_serving(tmp_path: Path) -> None:
    config = tmp_path / "syncd.toml"
    port = free_port()
    config.write_text(
        f'database_url = "sqlite+aiosqlite:///{tmp_path / "serve.db"}"\n'
        "scheduler_poll_seconds = 5\n"
        "max_concurrent_jobs = 2\n"
        f"http_port = {port}\n"
    )
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env |= {
        "SYNCD_CONFIG": str(config),
        "SYNCD_SECRET_KEY": Fernet.generate_key().decode(),
        "SYNCD_STATE_DIR": str(tmp_path / "state"),
        "SYNCD_LOG_FORMAT": "json",
        "NOTIFY_SOCKET": str(notify_path),
        # WatchdogSec=2: WATCHDOG=1 is due every second, sooner than the 5 s poll.
        "WATCHDOG_USEC": "2000000",
    }
    log = tmp_path / "serve.log"
    with (
        log.open("w") as err,
        subprocess.Popen([*SYNCD, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=err) as proc,
    ):
        try:
            warned = wait_for_event(log, "serve.watchdog_shorter_than_poll")
            assert warned["watchdog_interval_seconds"] == 1.0
            assert warned["poll_seconds"] == 5.0
            first = notifications(notify, 4.5)
            assert any("READY=1" in m for m in first), first
            # The loop came round at the watchdog's pace, not the poll's.
            assert sum("WATCHDOG=1" in m for m in first) >= 3, first

            mark = len(log_lines(log))
            config.write_text(
                f'database_url = "sqlite+aiosqlite:///{tmp_path / "serve.db"}"\n'
                "scheduler_poll_seconds = 0.5\n"
                "max_concurrent_jobs = 7\n"
                f'log_level = "debug"\n'
                f"http_port = {free_port()}\n"
            )
            proc.send_signal(signal.SIGHUP)
            restart = wait_for_event(log, "serve.reload_needs_restart", mark)
            assert restart["settings"] == ["http_port"]
            reloaded = wait_for_event(log, "serve.reloaded", mark)
            assert reloaded["poll_seconds"] == 0.5
            assert reloaded["max_concurrent_jobs"] == 7
            assert reloaded["log_level"] == "debug"
            told = notifications(notify, 1.0)
            assert any("RELOADING=1" in m for m in told), told
            assert any("READY=1" in m for m in told), told
            # The old port still serves: a bind address takes a restart.
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                assert r.status == 200

            mark = len(log_lines(log))
            config.write_text('scheduler_poll_seconds = "often"\n')
            proc.send_signal(signal.SIGHUP)
            failed = wait_for_event(log, "serve.reload_failed", mark)
            assert "syncd.toml" in failed["error"] and "scheduler_poll_seconds" in failed["error"]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                assert r.status == 200
            assert proc.poll() is None
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
            notify.close()
    assert code == 0, log.read_text()[-3000:]
