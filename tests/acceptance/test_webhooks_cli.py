"""``syncd webhooks`` and ``syncd events`` as subprocesses, against a verifying receiver."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from syncd.store.engine import make_engine
from syncd.store.tables import change_events, webhook_deliveries
from syncd.webhooks.signing import generate_secret

SYNCD = [sys.executable, "-m", "syncd"]


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops the connections of a 16-wide client.
    request_queue_size = 256
    daemon_threads = True


class Receiver:
    """A threaded HTTP receiver that verifies every Standard Webhooks signature."""

    def __init__(self, secret: str) -> None:
        self.verifier = Webhook(secret)
        self.accepted: list[str] = []
        self.forged = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    receiver.verifier.verify(body, headers)
                except WebhookVerificationError:
                    with receiver.lock:
                        receiver.forged += 1
                    self._answer(401, b"forged")
                    return
                with receiver.lock:
                    receiver.accepted.append(headers["webhook-id"])
                self._answer(200, b"thanks")

            def _answer(self, status: int, text: bytes) -> None:
                self.send_response(status)
                self.send_header("content-length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def ids(self) -> set[int]:
        with self.lock:
            return {int(i.removeprefix("evt_")) for i in self.accepted}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def env_for(tmp_path: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env["SYNCD_STATE_DIR"] = str(tmp_path / "state")
    env["SYNCD_LOG_FORMAT"] = "json"
    if database_url:
        env["SYNCD_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def syncd(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYNCD, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_subscription_commands_and_test_message(tmp_path: Path) -> None:
    secret = generate_secret()
    r = Receiver(secret)
    try:
        env = env_for(tmp_path)
        added = syncd(
            "webhooks", "add", "--url", r.url, "--trigger", "DATA_NEW,data_update",
            "--model", "units", "--header", "Authorization=Bearer t0ken", "--json",
            env=env,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        sub = json.loads(added.stdout)
        assert sub["triggers"] == ["DATA_NEW", "DATA_UPDATE"] and sub["models"] == ["units"]
        assert sub["secret"].startswith("whsec_")
        given = syncd(
            "webhooks", "add", "--url", r.url, "--trigger", "SYNC_COMPLETE", "--secret", secret,
            env=env,
        )  # fmt: skip
        assert given.returncode == 0, given.stderr
        assert secret not in given.stdout and "secret:" not in given.stdout
        given_id = given.stdout.split()[3]

        listed = syncd("webhooks", "list", "--json", env=env)
        rows = {row["id"]: row for row in json.loads(listed.stdout)}
        assert set(rows) == {sub["id"], given_id}
        assert rows[sub["id"]]["headers"] == ["Authorization"]
        assert "t0ken" not in listed.stdout and "whsec_" not in listed.stdout

        test = syncd("webhooks", "test", given_id, env=env)
        assert test.returncode == 0, test.stdout + test.stderr
        assert "HTTP 200" in test.stdout and "thanks" in test.stdout
        assert r.forged == 0 and len(r.accepted) == 1
        # The first one's secret is unknown to the receiver: it refuses.
        refused = syncd("webhooks", "test", sub["id"], env=env)
        assert refused.returncode == 1 and "HTTP 401" in refused.stdout

        for action in ("pause", "resume"):
            done = syncd("webhooks", action, given_id, env=env)
            assert done.returncode == 0 and f"{action}d" in done.stdout
        rotated = syncd("webhooks", "rotate-secret", given_id, env=env)
        assert rotated.returncode == 0 and "secret: whsec_" in rotated.stdout
        assert syncd("webhooks", "remove", given_id, env=env).returncode == 0
        gone = syncd("webhooks", "remove", given_id, env=env)
        assert gone.returncode == 2 and "no webhook subscription" in gone.stderr
        assert [
            x["id"] for x in json.loads(syncd("webhooks", "list", "--json", env=env).stdout)
        ] == [sub["id"]]
    finally:
        r.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "ftp://x/y", "--trigger", "DATA_NEW"], "--url:"),
        (["--url", "http://exa mple.com/h", "--trigger", "DATA_NEW"], "--url: not a URL"),
        (["--url", "https:///hooks", "--trigger", "DATA_NEW"], "--url: no host in the URL"),
        (["--url", "http://x:99999/y", "--trigger", "DATA_NEW"], "--url: not a URL: its port"),
        (["--url", "example.com/hook", "--trigger", "DATA_NEW"], "--url: not an http(s) URL"),
        (["--url", "http://x/y", "--trigger", "DATA_NEWS"], "--trigger: unknown trigger"),
        (["--url", "http://x/y", "--trigger", "DATA_NEW", "--model", "houses"], "--model:"),
        (["--url", "http://x/y", "--trigger", "DATA_NEW", "--secret", "whsec_abc"], "--secret:"),
        (["--url", "http://x/y", "--trigger", "DATA_NEW", "--header", "Host=x"], "--header:"),
    ],
)
def test_invalid_subscriptions_refused_with_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    env = env_for(tmp_path)
    result = syncd("webhooks", "add", *args, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"syncd: error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert json.loads(syncd("webhooks", "list", "--json", env=env).stdout) == []


def test_pending_counts_events_not_yet_fanned_out(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'state' / 'syncd.db'}"
    # Nothing is listening on port 9: every delivery fails and stays queued.
    units = syncd(
        "webhooks", "add", "--url", "http://127.0.0.1:9/h", "--trigger", "DATA_NEW",
        "--model", "units", "--json",
        env=env,
    )  # fmt: skip
    assert units.returncode == 0, units.stderr
    _seed_events(db_url, 4, models=("units", "leases"))  # before the second one
    updates = syncd(
        "webhooks", "add", "--url", "http://127.0.0.1:9/h", "--trigger", "DATA_UPDATE",
        "--json",
        env=env,
    )  # fmt: skip
    assert updates.returncode == 0, updates.stderr
    _seed_events(db_url, 24, models=("units", "leases"))
    ids = {"units": json.loads(units.stdout)["id"], "updates": json.loads(updates.stdout)["id"]}

    def pending() -> dict[str, tuple[int, int]]:
        rows = json.loads(syncd("webhooks", "list", "--json", env=env).stdout)
        by_id = {r["id"]: (r["pending"], r["not_yet_queued"]) for r in rows}
        return {name: by_id[i] for name, i in ids.items()}

    # 2 + 12 unit events await fan-out; no DATA_UPDATE was written.
    assert pending() == {"units": (14, 14), "updates": (0, 0)}
    table = syncd("webhooks", "list", env=env).stdout
    row = next(line for line in table.splitlines() if ids["units"] in line)
    assert "14" in row.split()
    # Fanned out (and failed once), they are queued deliveries: the same figure.
    assert syncd("webhooks", "deliver", "--once", env=env).returncode == 0
    assert pending() == {"units": (14, 0), "updates": (0, 0)}


def test_sync_events_feed_pages_and_delivery(
    tmp_path: Path, sim_process: Callable[..., tuple[str, dict[str, str]]]
) -> None:
    url, creds = sim_process(scale=5, seed=3)
    secret = generate_secret()
    r = Receiver(secret)
    try:
        env = env_for(tmp_path)
        added = syncd(
            "webhooks", "add", "--url", r.url, "--trigger", "DATA_NEW,FIRST_SYNC_COMPLETE",
            "--model", "units", "--secret", secret,
            env=env,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        integ = syncd(
            "integrations", "add", "--vendor", "buildium", "--name", "Acme",
            *(f"--credential={k}={v}" for k, v in creds.items()),
            "--base-url", url, "--rate-limit", "0", "--enable",
            env=env,
        )  # fmt: skip
        assert integ.returncode == 0, integ.stderr
        run = syncd("run", "--integration", "acme", "--json", env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        db_url = f"sqlite+aiosqlite:///{tmp_path / 'state' / 'syncd.db'}"
        seeded = _seed_events(db_url, 20, models=("units", "leases"))

        # Fresh events wait out the settle time (a PostgreSQL transaction may
        # still be committing lower ids): none of these is old enough yet.
        young = syncd("events", "list", "--settle", "60", "--json", env=env)
        assert json.loads(young.stdout)["events"] == []

        # Page through the whole feed, 7 at a time.
        cursor, seen, feed = "0", [], []
        while True:
            page = syncd(
                "events", "list", "--since", cursor, "--limit", "7", "--json", "--settle", "0",
                env=env,
            )  # fmt: skip
            assert page.returncode == 0, page.stderr
            data = json.loads(page.stdout)
            feed += data["events"]
            if not data["has_more"]:
                break
            assert data["next_cursor"] == str(data["events"][-1]["id"])
            cursor = data["next_cursor"]
        seen = [e["id"] for e in feed]
        assert seen == sorted(set(seen)) and set(seeded) <= set(seen)
        lifecycle = [e for e in feed if e["type"] == "FIRST_SYNC_COMPLETE"]
        assert lifecycle and lifecycle[0]["data"]["integration_id"] == "acme"
        text = syncd("events", "list", "--limit", "3", "--settle", "0", env=env)
        assert text.stdout.strip().splitlines()[-1] == f"next cursor: {seen[2]}"
        units = json.loads(
            syncd(
                "events",
                "list",
                "--model",
                "units",
                "--limit",
                "10000",
                "--json",
                "--settle",
                "0",
                env=env,
            ).stdout
        )["events"]
        assert len(units) == 10 and all(e["model"] == "units" for e in units)

        deliver = syncd("webhooks", "deliver", "--once", env=env)
        assert deliver.returncode == 0, deliver.stderr
        wanted = {e["id"] for e in units} | {e["id"] for e in lifecycle}
        assert f"delivered {len(wanted)}," in deliver.stdout
        assert r.ids() == wanted and r.forged == 0

        first = min(e["id"] for e in units)
        log = json.loads(syncd("webhooks", "log", f"evt_{first}", "--json", env=env).stdout)
        assert log["deliveries"][0]["status"] == "DELIVERED"
        assert log["attempts"][0]["status_code"] == 200
        replay = syncd("webhooks", "replay", "--event", str(first), env=env)
        assert replay.returncode == 0 and "1 deliveries queued again" in replay.stdout
        assert "delivered 1," in syncd("webhooks", "deliver", "--once", env=env).stdout
        assert syncd("webhooks", "replay", env=env).returncode == 2
        assert "pruned 0 events" in syncd("events", "prune", env=env).stdout
    finally:
        r.close()


def _seed_events(db_url: str, count: int, models: tuple[str, ...] = ("units",)) -> list[int]:
    async def go() -> list[int]:
        engine = make_engine(db_url)
        now = datetime.now(UTC)
        rows = [
            {
                "integration_id": "acme",
                "integration_vendor": "BUILDIUM",
                "model": models[i % len(models)],
                "record_id": uuid.uuid4(),
                "x_id": f"U{i}",
                "event_type": "DATA_NEW",
                "created_at": now,
            }
            for i in range(count)
        ]
        try:
            async with engine.begin() as conn:
                result = await conn.execute(
                    change_events.insert().returning(change_events.c.id), rows
                )
                return sorted(int(i) for i in result.scalars())
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _delivery_statuses(db_url: str) -> dict[str, int]:
    async def go() -> dict[str, int]:
        engine = make_engine(db_url)
        try:
            async with engine.connect() as conn:
                out: dict[str, int] = {}
                for (status,) in await conn.execute(
                    webhook_deliveries.select().with_only_columns(webhook_deliveries.c.status)
                ):
                    out[status] = out.get(status, 0) + 1
                return out
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_kill_9_dispatcher_loses_no_event(tmp_path: Path, pg_database_url: str) -> None:
    secret = generate_secret()
    r = Receiver(secret)
    env = env_for(
        tmp_path,
        pg_database_url,
        SYNCD_WEBHOOK_TIMEOUT_SECONDS="1",
        SYNCD_WEBHOOK_LEASE_SECONDS="2",
        SYNCD_WEBHOOK_MAX_CONCURRENCY="16",
        SYNCD_WEBHOOK_MAX_PER_SUBSCRIPTION="16",
        SYNCD_WEBHOOK_POLL_SECONDS="0.05",
    )
    try:
        added = syncd(
            "webhooks", "add", "--url", r.url, "--trigger", "DATA_NEW", "--secret", secret,
            env=env,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        ids = _seed_events(pg_database_url, 6000)
        rng = random.Random(20)
        log = (tmp_path / "dispatcher.log").open("w")
        kills, progress = 0, []
        try:
            while kills < 20:
                proc = subprocess.Popen(
                    [*SYNCD, "webhooks", "deliver"], env=env, stdout=log, stderr=log
                )
                before = len(r.ids())
                # Interrupt it at a random moment once it is delivering.
                deadline = time.monotonic() + 15
                while len(r.ids()) == before and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(rng.uniform(0.0, 0.3))
                proc.kill()
                proc.wait(timeout=10)
                kills += 1
                progress.append(len(r.ids()))
                if len(r.ids()) >= len(ids):
                    break
        finally:
            log.close()
        assert kills >= 10, progress
        assert len(r.ids()) < len(ids) or kills == 20
        # Leases of the killed dispatchers run out; a clean run finishes the job.
        time.sleep(2.2)
        final = syncd("webhooks", "deliver", "--once", env=env, timeout=120)
        assert final.returncode == 0, final.stderr
        assert r.ids() == set(ids), f"lost {len(set(ids) - r.ids())} events"
        assert _delivery_statuses(pg_database_url) == {"DELIVERED": len(ids)}
        assert r.forged == 0
        duplicates = len(r.accepted) - len(ids)
        assert duplicates >= 0
    finally:
        r.close()
