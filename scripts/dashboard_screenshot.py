"""Render the dashboard's integration details page to a PNG (``make screenshot``).

Builds a demo database of its own (``syncd demo`` in a temporary state
directory), starts ``syncd serve`` on a free port, signs in with the key
the demo printed, runs a data-access check from the page and, once its
results are in, saves a screenshot of the page in headless Chromium.

    .venv/bin/python scripts/dashboard_screenshot.py docs/dashboard.png
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SYNCD = [sys.executable, "-m", "syncd"]


def free_port() -> int:
    """A TCP port on loopback nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes]) -> None:
    """Until ``url`` answers (or the server exits)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("syncd serve exited")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def browser() -> webdriver.Chrome:
    """Headless Chromium, tall enough for the whole details page."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1650", "--hide-scrollbars", "--lang=en-US"):  # fmt: skip
        options.add_argument(arg)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=options)


def main() -> None:
    """Make the screenshot at the path given (default docs/dashboard.png)."""
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/dashboard.png").resolve()
    state = Path(tempfile.mkdtemp(prefix="syncd-screenshot-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env |= {
        "SYNCD_STATE_DIR": str(state),
        "SYNCD_LOG_LEVEL": "warning",
        # The demo's simulator is on this machine; nothing else is asked.
        "SYNCD_EGRESS_ALLOWED_HOSTS": "127.0.0.1",
    }
    demo = subprocess.run(
        [*SYNCD, "demo", "--scale", "60"], env=env, capture_output=True, text=True, check=False
    )
    if demo.returncode != 0:
        raise SystemExit(f"syncd demo failed: {demo.stderr[-2000:]}")
    key = re.search(r"admin key \(shown once[^)]*\): (sk_\S+)", demo.stdout)
    if key is None:
        raise SystemExit(f"syncd demo printed no key: {demo.stdout[-2000:]}")
    port = free_port()
    serve = subprocess.Popen(
        [*SYNCD, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    driver = None
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz", serve)
        driver = browser()
        driver.get(base + "/dashboard/sign-in")
        driver.find_element(By.ID, "api_key").send_keys(key.group(1))
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        driver.get(base + "/dashboard/integrations/demo-buildium")
        driver.find_element(By.CSS_SELECTOR, "#data-access form button").click()
        WebDriverWait(
            driver, 90, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
        ).until(
            lambda d: (
                d.find_element(By.ID, "data-access").get_attribute("data-live") == "false"
                and "Last checked" in d.find_element(By.ID, "data-access").text
            )
        )
        driver.get(base + "/dashboard/integrations/demo-buildium")  # without the flash message
        driver.find_element(By.CSS_SELECTOR, "details.menu summary").click()
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out))
        print(f"wrote {out}")
    finally:
        if driver is not None:
            driver.quit()
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
