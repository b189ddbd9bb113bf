"""``syncd demo``: sync a simulated Buildium account into the default database."""

from __future__ import annotations

import argparse

from syncd.app import open_store
from syncd.cli.common import Subparsers
from syncd.cli.run import sync_and_report
from syncd.services.demo import demo_dashboard_key, ensure_demo_integration
from syncd.settings import Settings
from syncd.store.engine import redact_url
from syncd.store.keys import SqlKeyStore


def add_parsers(sub: Subparsers) -> None:
    """Add the ``demo`` command to the main parser."""
    demo = sub.add_parser(
        "demo", help="sync a simulated Buildium account into the default database"
    )
    demo.add_argument("--scale", type=int, default=500, help="simulated rental units")
    demo.add_argument("--seed", type=int, default=1)


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Keep the demo integration, sync it once and print the report."""
    async with open_store(settings) as store:
        demo = await ensure_demo_integration(store, seed=args.seed, scale=args.scale)
        print(
            f"integration {demo.id} in {redact_url(settings.effective_database_url)}: "
            f"a simulated Buildium account ({args.scale} units, seed {args.seed}) that each "
            "run starts for itself"
        )
        code = await sync_and_report(store, settings, demo, models=None, full=False, as_json=False)
        key = await demo_dashboard_key(SqlKeyStore(store.engine))
        print(f"next: syncd jobs last --integration {demo.id}")
        print(
            f"dashboard: start the daemon (`syncd serve`, or `make serve`) and open "
            f"{dashboard_url(settings)}\n"
            f"sign in with this admin key (shown once; the next demo makes a new one): {key}"
        )
        return code


def dashboard_url(settings: Settings) -> str:
    """Where ``syncd serve`` with these settings serves the dashboard."""
    host = settings.http_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{settings.http_port}/dashboard"
