"""Browser tests' fixtures: headless Chromium, a real `syncd serve`, a screenshot on failure."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from support import free_port

SYNCD = [sys.executable, "-m", "syncd"]
#: The viewer's time zone: the pages must show times in it, with UTC on hover.
BROWSER_TZ = "America/New_York"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test, for fixtures that act on failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "report_call", None)
    return report is None or report.failed


@pytest.fixture
def chrome(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium through chromedriver; a failing test leaves ``failure.png`` in tmp_path."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = shutil.which("chromedriver")
    browser_path = shutil.which("chromium")
    if not driver_path or not browser_path:
        pytest.fail("Chromium and chromedriver are required: run scripts/ensure-chromium.sh")
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    service = Service(
        executable_path=driver_path,
        env={**os.environ, "TZ": BROWSER_TZ},
        log_output=str(tmp_path / "chromedriver.log"),
    )
    driver = webdriver.Chrome(service=service, options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        if _failed(request):
            shot = tmp_path / "failure.png"
            try:
                driver.save_screenshot(str(shot))
                (tmp_path / "failure.html").write_text(driver.page_source)
                print(f"screenshot of the failure: {shot}")
            except Exception as exc:  # the browser itself may be what failed
                print(f"no screenshot: {exc!r}")
        driver.quit()


@dataclass
class Served:
    """A running `syncd serve`: where, the key to sign in with, its environment."""

    url: str
    admin_key: str
    env: dict[str, str]
    log: Path

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the CLI against the same database."""
        return subprocess.run(
            [*SYNCD, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"syncd serve exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    pytest.fail(f"syncd serve did not answer: {log.read_text()[-3000:]}")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start `syncd serve` over a database URL (a fresh SQLite file by default)."""
    started: list[subprocess.Popen[bytes]] = []
    logs: list[Any] = []

    def start(database_url: str | None = None) -> Served:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        env |= {
            "SYNCD_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
            "SYNCD_SECRET_KEY": Fernet.generate_key().decode(),
            "SYNCD_STATE_DIR": str(tmp_path / "state"),
            "SYNCD_LOG_FORMAT": "json",
            "SYNCD_SCHEDULER_POLL_SECONDS": "0.2",
            # Pages start data-access checks by themselves: none may leave this machine.
            "SYNCD_EGRESS_ALLOWED_HOSTS": "127.0.0.1",
        }
        migrated = subprocess.run(
            [*SYNCD, "db", "upgrade"], env=env, capture_output=True, text=True, check=False
        )
        assert migrated.returncode == 0, migrated.stderr
        made = subprocess.run(
            [*SYNCD, "keys", "create", "--name", "onboarding", "--scope", "admin"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        key = re.search(r"sk_[A-Za-z0-9_-]+", made.stdout)
        assert key, made.stdout
        port = free_port()
        log = tmp_path / f"serve-{len(started)}.log"
        out = log.open("w")
        logs.append(out)
        proc = subprocess.Popen(
            [*SYNCD, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=out,
        )  # fmt: skip
        started.append(proc)
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, proc, log)
        return Served(url=url, admin_key=key.group(0), env=env, log=log)

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for out in logs:
        out.close()
