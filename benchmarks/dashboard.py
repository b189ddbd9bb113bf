"""The dashboard's pages on a cache of a million records: each page's service time.

For each engine (PostgreSQL, SQLite):

1. The cache of ``benchmarks/api.py``: ``--records`` leases (default
   1,000,000) of the integration ``bench``, inserted once in bulk and kept
   between runs (``--fresh`` rebuilds it).
2. ``bench`` made to look like an onboarded customer (idempotently, so a
   re-run adds nothing twice): its integration row (Buildium, production,
   disabled so that the scheduler of ``syncd serve`` leaves it alone), 500
   cached properties, a finished sync (a root run and six model runs, the
   units run held NEEDS_ATTENTION by the deletion guard) and a recorded
   data-access check; ``--integrations`` other customers (default 200,
   across the four PMSs and both environments) with one finished sync each;
   and two webhook subscriptions, there while the run lasts.
3. ``syncd serve`` (a subprocess), an admin API key, and a dashboard session
   signed in through the sign-in form.
4. Each page, and two baselines from the same server, ``--requests`` times
   (default 50) after 5 warm-up requests, one request at a time: the
   targets take turns, so a page and its baselines are measured over the
   same seconds of a shared machine. Baselines: ``GET /healthz`` (the
   server's floor, no database) and ``GET /v1/admin/integrations/bench``
   (the JSON API's view of the same integration: comparable queries, no
   HTML). Every answer must be 200 and show what the page is about (the
   webhooks pages, if they do not answer 200, are left out and said so).
   Integrations stored with another secret key (``benchmarks/api.py``'s
   ``writer``) are removed first: no page could show them.

Reports p50 and p95 in ms, each page's p50 as a ratio to both baselines, and
whether its p95 meets the target: every page answers in < 100 ms on a cache
of 1,000,000 records.

    .venv/bin/python benchmarks/dashboard.py [--records 1000000] [--engines postgresql,sqlite]
        [--integrations 200] [--requests 50] [--fresh]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import math
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, insert, select

from syncd.crypto import Cipher
from syncd.domain import Environment, Integration, RunCounts, RunStatus, SyncMode
from syncd.errors import CredentialError
from syncd.logs import configure_logging
from syncd.services.data_access import AccessResult, AccessStatus, claim_check, data_access
from syncd.services.pms import pms_profile
from syncd.services.webhooks import NewSubscription, add_subscription, remove_subscription
from syncd.settings import Settings
from syncd.store.data_access import SqlDataAccessChecks
from syncd.store.engine import make_engine
from syncd.store.sql import SqlStore
from syncd.store.tables import MODEL_TABLES, data_access_checks, sync_runs
from syncd.store.webhooks import SqlWebhookStore

# benchmarks/api.py: its cache, its processes.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import api as api_bench

SYNCD = api_bench.SYNCD
BENCH = api_bench.BENCH
#: The secret key of every run: the integrations are stored once, encrypted with it.
KEY = base64.urlsafe_b64encode(hashlib.sha256(b"syncd-bench-dashboard").digest()).decode()
#: Where the integrations' PMS would be: nothing listens there (nothing syncs them).
NOWHERE = "http://127.0.0.1:9"
#: The webhook subscriptions' URLs start with this (how a re-run finds its own).
HOOKS = f"{NOWHERE}/bench-hooks/"
PROPERTY_COUNT = 500
VENDORS = ("BUILDIUM", "RENTMANAGER", "RESMAN", "PROPERTYWARE")
MODELS = ("properties", "units", "residents", "leases", "leads", "employees")
#: The model run whose deletion sweep the guard held.
HELD = "units"
WARM_UP = 5
TARGET_MS = 100.0
PROPERTIES = MODEL_TABLES["properties"]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
#: Ids in a path, shown as what they are in the table.
IDS = ((re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}"), "<root run id>"), (re.compile(r"wh_\w+"), "<id>"))


# -- an onboarded customer ---------------------------------------------------------


def _integration(
    integration_id: str, name: str, vendor: str, environment: Environment
) -> Integration:
    credentials = {
        spec.key: f"bench-{spec.key}"
        for spec in pms_profile(vendor).credential_fields
        if spec.required
    }
    return Integration(
        id=integration_id,
        name=name,
        vendor=vendor,
        environment=environment,
        enabled=False,
        base_url=NOWHERE,
        credentials=credentials,
    )


def _customers(count: int) -> list[Integration]:
    """The other customers: the four PMSs and both environments in turn."""
    environments = (Environment.PRODUCTION, Environment.SANDBOX)
    return [
        _integration(
            f"cust-{n:03d}",
            f"Customer {n:03d} Realty",
            VENDORS[n % len(VENDORS)],
            environments[(n // len(VENDORS)) % len(environments)],
        )
        for n in range(1, count + 1)
    ]


def _property_rows(now: datetime) -> list[dict[str, Any]]:
    rows = []
    for n in range(PROPERTY_COUNT):
        rows.append(
            {
                "id": uuid.uuid5(uuid.NAMESPACE_URL, f"syncd-bench-property-{n}"),
                "integration_id": BENCH,
                "integration_vendor": "BUILDIUM",
                "x_id": str(n),
                "x_property_id": str(n),
                "created_at": now - timedelta(days=n),
                "updated_at": now,
                "last_seen": now,
                "custom_data": {},
                "content_hash": f"{n:064x}",
                "name": f"{['Oak', 'Elm', 'Pine', 'Cedar', 'Birch'][n % 5]} Court {n:03d}",
                "code": f"P{n:03d}",
                "address_1": f"{100 + n} Main Street",
                "city": "Springfield",
                "state": "IL",
                "zip": f"{62700 + n % 100}",
                "country": "US",
                "is_active": True,
                "number_of_units": 40 + n % 60,
                "type_raw": "Residential",
                "type_normalized": "MULTIFAMILY",
            }
        )
    return rows


async def _drop_unreadable(store: SqlStore) -> None:
    """Remove integrations stored with another key (api.py's writer): no page could show them."""
    for head in await store.list_integration_heads():
        try:
            await store.get_integration(head.id)
        except CredentialError:
            print(f"  removing {head.id!r}: its credentials were stored with another key")
            await store.remove_integration(head.id)


async def _record_sync(store: SqlStore, integration: Integration, records: int) -> str:
    """A finished sync of ``bench``: a root run and one run per model, one sweep held."""
    fetched = {
        "properties": PROPERTY_COUNT,
        "units": records // 2,
        "residents": records + records // 5,
        "leases": records,
        "leads": records // 4,
        "employees": 40,
    }
    root = await store.start_run(
        integration=integration, model=None, mode=SyncMode.FULL, trigger="schedule"
    )
    for model in MODELS:
        run_id = await store.start_run(
            integration=integration,
            model=model,
            mode=SyncMode.FULL,
            trigger="schedule",
            parent_run_id=root,
            root_run_id=root,
        )
        n = fetched[model]
        counts = RunCounts(
            fetched=n, created=n // 100, updated=n // 20, unchanged=n - n // 100 - n // 20
        )
        counts.requests = max(1, n // 1000)
        if model == HELD:
            error = (
                f"deletion sweep held: it would delete {n // 8:,} of {n:,} {model} "
                "(12.5 %), more than the guard's 5 %"
            )
            await store.finish_run(run_id, RunStatus.NEEDS_ATTENTION, counts, error)
        else:
            await store.finish_run(run_id, RunStatus.SUCCESS, counts)
    await store.finish_run(root, RunStatus.NEEDS_ATTENTION, None)
    return root


async def _bench_sync(store: SqlStore, integration: Integration, records: int) -> str:
    """The root run id of ``bench``'s finished sync (recorded when it has none)."""
    last = await store.last_root_run(BENCH)
    if last is not None and last.status is not RunStatus.RUNNING:
        runs = await store.list_runs(integration_id=BENCH, root_run_id=last.id, limit=20)
        if len(runs) == len(MODELS) + 1:
            return last.id
    # None, or one a killed run left half-recorded: start over.
    async with store.engine.begin() as conn:
        await conn.execute(sync_runs.delete().where(sync_runs.c.integration_id == BENCH))
    return await _record_sync(store, integration, records)


async def _data_access_check(store: SqlStore, settings: Settings) -> None:
    """A finished data-access check of ``bench``: every read answered but the employees'."""
    checks = SqlDataAccessChecks(store.engine)
    row = await checks.get(BENCH)
    integration = await store.get_integration(BENCH)
    if (
        row is not None
        and not row.running
        and row.finished_at is not None
        and row.integration_created_at == integration.created_at
    ):
        return
    async with store.engine.begin() as conn:
        await conn.execute(
            data_access_checks.delete().where(data_access_checks.c.integration_id == BENCH)
        )
    claimed = await claim_check(store, settings, BENCH)
    seeded = await data_access(store, settings, BENCH)
    now = datetime.now(UTC)
    results: dict[str, dict[str, Any]] = {}
    for model in seeded.models:
        read = AccessResult(AccessStatus.SUCCESS, None, now)
        if model.model == "employees":
            message = "ConnectorError (HTTP 403): the API key may not read users"
            read = AccessResult(AccessStatus.FAILED, message, now)
        results[model.model] = {
            "read": read.to_json(),
            "create": model.create.to_json(),
            "update": model.update.to_json(),
        }
    await checks.save(BENCH, claimed.token, results, finished_at=now)


async def _customers_synced(store: SqlStore, count: int) -> None:
    """The other customers, each with one finished sync (every tenth failed)."""
    wanted = {c.id: c for c in _customers(count)}
    have = {h.id for h in await store.list_integration_heads()}
    for gone in sorted(i for i in have if i.startswith("cust-") and i not in wanted):
        await store.remove_integration(gone)
    for integration in wanted.values():
        if integration.id not in have:
            await store.add_integration(integration)
    query = select(sync_runs.c.integration_id).where(
        sync_runs.c.integration_id.like("cust-%"),
        sync_runs.c.parent_run_id.is_(None),
        sync_runs.c.status != RunStatus.RUNNING.value,
    )
    async with store.engine.connect() as conn:
        synced = set((await conn.execute(query)).scalars())
    for n, integration in enumerate(wanted.values()):
        if integration.id in synced:
            continue
        root = await store.start_run(
            integration=integration, model=None, mode=SyncMode.FULL, trigger="schedule"
        )
        if n % 10 == 9:
            error = "leases: ConnectorError (HTTP 401): the credentials were refused"
            await store.finish_run(root, RunStatus.FAILED, RunCounts(requests=1), error)
        else:
            counts = RunCounts(fetched=2000 + n, unchanged=2000 + n, requests=3 + n % 7)
            await store.finish_run(root, RunStatus.SUCCESS, counts)


async def onboard(url: str, engine_name: str, args: argparse.Namespace) -> str:
    """``bench`` as an onboarded customer among ``args.integrations`` others; its root run id."""
    engine = make_engine(url)
    store = SqlStore(engine, Cipher(KEY.encode()))
    settings = Settings(database_url=url, secret_key=KEY)
    try:
        await _drop_unreadable(store)
        have = {h.id for h in await store.list_integration_heads()}
        bench = _integration(BENCH, "Bench Property Group", "BUILDIUM", Environment.PRODUCTION)
        if BENCH not in have:
            await store.add_integration(bench)
        where = (PROPERTIES.c.integration_id == BENCH, PROPERTIES.c.deleted_at.is_(None))
        async with engine.connect() as conn:
            count = select(func.count()).select_from(PROPERTIES).where(*where)
            properties = (await conn.execute(count)).scalar_one()
        if properties != PROPERTY_COUNT:
            async with engine.begin() as conn:
                await conn.execute(PROPERTIES.delete().where(PROPERTIES.c.integration_id == BENCH))
                await conn.execute(insert(PROPERTIES), _property_rows(datetime.now(UTC)))
        root = await _bench_sync(store, bench, args.records)
        await _data_access_check(store, settings)
        await _customers_synced(store, args.integrations)
        async with engine.begin() as conn:
            if engine_name == "postgresql":
                await conn.exec_driver_sql("ANALYZE properties")
                await conn.exec_driver_sql("ANALYZE sync_runs")
                await conn.exec_driver_sql("ANALYZE integrations")
            else:
                await conn.exec_driver_sql("ANALYZE")
        return root
    finally:
        await engine.dispose()


async def subscribe(url: str) -> list[str]:
    """Two webhook subscriptions (one paused); the ids, reusing those a killed run left."""
    engine = make_engine(url)
    hooks = SqlWebhookStore(engine, Cipher(KEY.encode()))
    try:
        ids = [s.id for s in await hooks.list_subscriptions() if s.url.startswith(HOOKS)]
        wanted = (
            NewSubscription(
                url=HOOKS + "crm",
                triggers=["DATA_NEW", "DATA_UPDATE", "DATA_DELETED"],
                models=["leases", "residents"],
                headers={"Authorization": "Bearer bench"},
            ),
            NewSubscription(
                url=HOOKS + "ops", triggers=["SYNC_COMPLETE", "JOB_FAILURE"], paused=True
            ),
        )
        for request in wanted[len(ids) :]:
            ids.append((await add_subscription(hooks, request)).subscription.id)
        return ids
    finally:
        await engine.dispose()


async def unsubscribe(url: str, ids: list[str]) -> None:
    """Remove the run's subscriptions: api.py's syncs in this database would fan out to them."""
    engine = make_engine(url)
    hooks = SqlWebhookStore(engine, Cipher(KEY.encode()))
    try:
        for sub_id in ids:
            await remove_subscription(hooks, sub_id)
    finally:
        await engine.dispose()


# -- measuring -----------------------------------------------------------------------


@dataclass
class Target:
    """One URL measured: its name in the table, and what its answer must contain."""

    name: str
    path: str
    expect: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    baseline: bool = False
    took: list[float] = field(default_factory=list)


async def _get(session: aiohttp.ClientSession, base: str, target: Target) -> tuple[float, int, str]:
    started = time.perf_counter()
    async with session.get(base + target.path, headers=target.headers, allow_redirects=False) as r:
        body = await r.text()
    return (time.perf_counter() - started) * 1000, r.status, body


async def sign_in(session: aiohttp.ClientSession, base: str, api_key: str) -> None:
    """Open a dashboard session with ``api_key`` through the sign-in form."""
    async with session.get(f"{base}/dashboard/sign-in") as resp:
        form = await resp.text()
        if resp.status != 200:
            raise SystemExit(f"GET /dashboard/sign-in: HTTP {resp.status}")
    found = CSRF.search(form)
    if found is None:
        raise SystemExit("the sign-in form has no csrf_token")
    data = {"csrf_token": found.group(1), "api_key": api_key}
    async with session.post(f"{base}/dashboard/sign-in", data=data, allow_redirects=False) as resp:
        await resp.read()
        if resp.status != 303:
            raise SystemExit(f"POST /dashboard/sign-in: HTTP {resp.status}")
    if not any(c.key == "syncd_session" for c in session.cookie_jar):
        raise SystemExit("signing in set no syncd_session cookie")


async def measure(base: str, api_key: str, targets: list[Target], requests: int) -> list[Target]:
    """Every target ``requests`` times after the warm-up, taking turns; those that answer."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        await sign_in(session, base, api_key)
        shown = []
        for target in targets:
            _, status, body = await _get(session, base, target)
            if status != 200 and target.path.startswith("/dashboard/webhooks"):
                # The webhooks pages are optional: left out, and said so.
                print(f"  {target.path}: HTTP {status}, left out")
                continue
            if status != 200:
                raise SystemExit(f"{target.path}: HTTP {status}: {body[:500]}")
            missing = [text for text in target.expect if text not in body]
            if missing:
                raise SystemExit(f"{target.path}: the page does not show {missing}")
            shown.append(target)
        for round_no in range(WARM_UP + requests):
            for target in shown:
                took, status, body = await _get(session, base, target)
                if status != 200:
                    raise SystemExit(f"{target.path}: HTTP {status}: {body[:500]}")
                if round_no >= WARM_UP:
                    target.took.append(took)
    return shown


def _p50(took: list[float]) -> float:
    return statistics.median(took)


def _p95(took: list[float]) -> float:
    ordered = sorted(took)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


# -- one engine ------------------------------------------------------------------------


def bench_engine(engine: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every page's service time on one engine, with the baselines of the same server."""
    print(f"{engine}:", flush=True)
    url = asyncio.run(api_bench.prepare(engine, args.records, args.fresh))
    started = time.monotonic()
    root = asyncio.run(onboard(url, engine, args))
    print(
        f"  onboarded {BENCH!r} ({PROPERTY_COUNT} properties, last sync {root}) and "
        f"{args.integrations} other customers in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    state = Path(tempfile.mkdtemp(prefix="syncd-bench-dashboard-"))
    port = api_bench.free_port()
    env = api_bench._env(url, state, KEY, port)
    procs: list[subprocess.Popen[str]] = []
    subscriptions: list[str] = []
    try:
        subscriptions = asyncio.run(subscribe(url))
        api_key = api_bench._run(
            [
                *SYNCD,
                "keys",
                "create",
                "--name",
                f"bench-dashboard-{uuid.uuid4().hex[:6]}",
                "--scope",
                "admin",
                "--rate-limit",
                "1000000",
            ],
            env,
        ).strip()
        with (state / "serve.log").open("w") as logs:
            serve = subprocess.Popen([*SYNCD, "serve"], env=env, stderr=logs, text=True)
        procs.append(serve)
        print(f"  syncd serve on port {port} (log: {state / 'serve.log'})", flush=True)
        base = f"http://127.0.0.1:{port}"
        asyncio.run(api_bench._wait_http(f"{base}/healthz", serve))
        auth = {"Authorization": f"Bearer {api_key}"}
        neighbours = [
            c.name
            for c in _customers(args.integrations)
            if c.vendor == "BUILDIUM" and c.environment is Environment.PRODUCTION
        ]
        targets = [
            Target("baseline: floor", "/healthz", baseline=True),
            Target(
                "baseline: JSON API",
                f"/v1/admin/integrations/{BENCH}",
                ("Bench Property Group", HELD),
                auth,
                baseline=True,
            ),
            Target(
                "integrations list",
                "/dashboard/integrations?vendor=buildium&environment=production",
                ("Bench Property Group", *neighbours[:1]),
            ),
            Target(
                "new customer form",
                "/dashboard/integrations/new?vendor=buildium&environment=production",
                ("client_secret",),
            ),
            Target(
                "integration details",
                f"/dashboard/integrations/{BENCH}",
                (f"{PROPERTY_COUNT} properties", "Birch Court 004", f"Approve the {HELD} sweep"),
            ),
            Target("jobs fragment", f"/dashboard/integrations/{BENCH}/jobs?fragment=1", (HELD,)),
            Target(
                "data-access fragment",
                f"/dashboard/integrations/{BENCH}/data-access?fragment=1",
                ("may not read users",),
            ),
            Target("job tree", f"/dashboard/runs/{root}", MODELS),
            Target(
                "clone form", f"/dashboard/integrations/{BENCH}/clone", ("Bench Property Group",)
            ),
            Target("webhooks list", "/dashboard/webhooks", (HOOKS + "crm", HOOKS + "ops")),
        ]
        if subscriptions:
            targets.append(
                Target("webhook subscription", f"/dashboard/webhooks/{subscriptions[0]}", (HOOKS,))
            )
        print(
            f"  {len(targets)} targets, {WARM_UP} + {args.requests} requests each ...", flush=True
        )
        shown = asyncio.run(measure(base, api_key, targets, args.requests))
        if serve.poll() is not None:
            raise SystemExit("syncd serve exited during the measurement")
    finally:
        for proc in reversed(procs):
            api_bench._stop(proc)
        if subscriptions:
            asyncio.run(unsubscribe(url, subscriptions))
    floor, json_api = _p50(shown[0].took), _p50(shown[1].took)
    results = []
    for target in shown:
        p50, p95 = _p50(target.took), _p95(target.took)
        row = {
            "engine": engine,
            "page": target.name,
            "path": target.path,
            "p50": p50,
            "p95": p95,
            "vs_floor": p50 / floor,
            "vs_json": p50 / json_api,
            "baseline": target.baseline,
        }
        results.append(row)
        print(
            f"  {target.name:22} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  "
            f"{row['vs_floor']:6.1f}x /healthz  {row['vs_json']:5.2f}x JSON API",
            flush=True,
        )
    return results


def report(results: list[dict[str, Any]]) -> None:
    """The figures as a markdown table: each page's p50 as ratios to the baselines."""
    print("\n| engine | page | p50 ms | p95 ms | vs /healthz | vs JSON API | < 100 ms? |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in results:
        path = r["path"]
        for pattern, name in IDS:
            path = pattern.sub(name, path)
        met = "baseline" if r["baseline"] else ("yes" if r["p95"] < TARGET_MS else "**no**")
        print(
            f"| {r['engine']} | {r['page']} (`{path}`) | {r['p50']:.1f} | {r['p95']:.1f} "
            f"| {r['vs_floor']:.1f}x | {r['vs_json']:.2f}x | {met} |"
        )
    pages = [r for r in results if not r["baseline"]]
    slow = [r for r in pages if r["p95"] >= TARGET_MS]
    print(
        f"\n{len(pages) - len(slow)} of {len(pages)} page measurements answer within "
        f"{TARGET_MS:.0f} ms at p95."
    )


def main() -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=1_000_000, help="leases in the cache")
    parser.add_argument("--engines", default="postgresql,sqlite")
    parser.add_argument(
        "--integrations", type=int, default=200, help="customers besides bench (at most 999)"
    )
    parser.add_argument("--requests", type=int, default=50, help="measured requests per page")
    parser.add_argument("--fresh", action="store_true", help="rebuild the cache")
    args = parser.parse_args()
    # The services this process calls to set things up log at info: only progress is printed.
    configure_logging("warning")
    if not 0 <= args.integrations <= 999 or args.requests < 1:
        parser.error("--integrations must be 0-999 and --requests at least 1")
    results: list[dict[str, Any]] = []
    for engine in args.engines.split(","):
        results += bench_engine(engine.strip(), args)
    report(results)


if __name__ == "__main__":
    main()
