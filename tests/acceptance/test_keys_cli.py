"""``syncd keys create|list|revoke`` as subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from syncd.services.keys import authenticate
from syncd.store.engine import make_engine
from syncd.store.keys import ApiKey, SqlKeyStore

SYNCD = [sys.executable, "-m", "syncd"]
KEY_LINE = re.compile(r"sk_[A-Za-z0-9_-]{43}\n")


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env["SYNCD_STATE_DIR"] = str(tmp_path / "state")
    env["SYNCD_LOG_FORMAT"] = "json"
    env.update(extra)
    return env


def syncd(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYNCD, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def error_line(out: subprocess.CompletedProcess[str]) -> str:
    """The one ``syncd: error:`` line of a failed command (log lines aside); no traceback."""
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line and not line.startswith("{")]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("syncd: error: "), out.stderr
    return lines[0].removeprefix("syncd: error: ")


def _authenticate(tmp_path: Path, token: str) -> ApiKey | None:
    async def go() -> ApiKey | None:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'state' / 'syncd.db'}")
        try:
            return await authenticate(SqlKeyStore(engine), token)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_create_list_revoke(tmp_path: Path) -> None:
    env = env_for(tmp_path, SYNCD_API_KEY_RATE_LIMIT_PER_MINUTE="42")
    created = syncd("keys", "create", "--name", "deploy bot", "--scope", "admin", env=env)
    assert created.returncode == 0, created.stderr
    # The key alone on standard output: `KEY=$(syncd keys create …)` just works.
    assert KEY_LINE.fullmatch(created.stdout), created.stdout
    admin_key = created.stdout.strip()
    assert "shown once" in created.stderr and admin_key not in created.stderr

    read = syncd("keys", "create", "--name", "dashboard", "--rate-limit", "5", env=env)
    assert read.returncode == 0, read.stderr
    assert KEY_LINE.fullmatch(read.stdout), read.stdout
    read_key = read.stdout.strip()

    listed = syncd("keys", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert set(rows) == {"deploy bot", "dashboard"}
    assert (rows["deploy bot"]["scope"], rows["deploy bot"]["rate_limit_per_minute"]) == (
        "admin",
        42,
    )
    # read: the default scope.
    assert (rows["dashboard"]["scope"], rows["dashboard"]["rate_limit_per_minute"]) == ("read", 5)
    assert rows["dashboard"]["prefix"] == read_key[:11]
    assert all(r["revoked_at"] is None and r["last_used_at"] is None for r in rows.values())
    assert admin_key not in listed.stdout and read_key not in listed.stdout

    found = _authenticate(tmp_path, read_key)
    assert found is not None and found.id == rows["dashboard"]["id"]

    table = syncd("keys", "list", env=env)
    assert table.returncode == 0, table.stderr
    assert "deploy bot" in table.stdout and read_key[:11] in table.stdout
    assert read_key not in table.stdout

    revoked = syncd("keys", "revoke", rows["dashboard"]["id"], env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert f"{rows['dashboard']['id']}: revoked" in revoked.stdout
    assert _authenticate(tmp_path, read_key) is None
    assert _authenticate(tmp_path, admin_key) is not None
    after = {r["name"]: r for r in json.loads(syncd("keys", "list", "--json", env=env).stdout)}
    assert after["dashboard"]["revoked_at"] is not None
    assert after["dashboard"]["last_used_at"] is not None  # authenticated once before
    assert after["deploy bot"]["revoked_at"] is None


def test_refusals_are_one_line_on_stderr(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    assert syncd("keys", "create", "--name", "taken", env=env).returncode == 0
    cases = [
        (("create", "--name", "taken"), "--name: an API key named 'taken' already exists"),
        (("create", "--name", "bad/name"), "--name: must be 1 to 64 letters"),
        (("create", "--name", "x", "--rate-limit", "0"), "--rate-limit: must be between 1 and"),
        (("revoke", "no-such-key"), "no API key 'no-such-key'"),
    ]
    # Independent of each other: run at once, each interpreter start is slow.
    procs = [
        subprocess.Popen(
            [*SYNCD, "keys", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args, _ in cases
    ]
    for proc, (args, message) in zip(procs, cases, strict=True):
        stdout, stderr = proc.communicate(timeout=60)
        out = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        assert error_line(out).startswith(message), (args, stderr)
        assert stdout == "", stdout
    listed = json.loads(syncd("keys", "list", "--json", env=env).stdout)
    assert [r["name"] for r in listed] == ["taken"]
