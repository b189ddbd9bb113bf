"""``syncd serve``: the daemon (scheduler, runners, webhook dispatcher, HTTP server)."""

from __future__ import annotations

import argparse

from syncd.cli.common import Subparsers, overrides
from syncd.settings import Settings, load_settings


def add_parsers(sub: Subparsers) -> None:
    """Add the ``serve`` command to the main parser."""
    serve = sub.add_parser(
        "serve", help="the daemon: scheduler, runners and the HTTP server (health, metrics)"
    )
    serve.add_argument("--host", help="HTTP bind address (SYNCD_HTTP_HOST)")
    serve.add_argument("--port", type=int, help="HTTP port (SYNCD_HTTP_PORT)")
    serve.add_argument("--migrate", action="store_true", help="run `db upgrade` at start")


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the daemon until SIGTERM; SIGHUP reloads its settings."""
    # The daemon's modules load only for `serve`: other commands start faster.
    from syncd.serve import serve

    # SIGHUP reads the file and environment again; the command line still wins.
    return await serve(
        settings, migrate=args.migrate, reload=lambda: load_settings(args.config, overrides(args))
    )
