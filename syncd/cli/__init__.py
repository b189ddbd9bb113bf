"""The ``syncd`` command line: one module per command group, over :mod:`syncd.services`.

A command parses its arguments, calls a service and prints the result;
what may be done, and how, is decided by the services (which an HTTP API
calls just the same).

Exit codes: 0 success, 1 a sync or runtime failure, 2 bad usage or
configuration (argument, config file, unknown integration).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import anyio

from syncd import __version__
from syncd.cli import (
    db,
    demo,
    integrations,
    jobs,
    keys,
    normalization,
    pms,
    run,
    schedules,
    serve,
    sim,
    sweeps,
    webhooks,
    writes,
)
from syncd.cli.common import EXIT_FAILED, EXIT_USAGE, Command, UsageError, overrides
from syncd.errors import (
    ConfigError,
    CredentialError,
    IntegrationNotFound,
    KeyNotFound,
    NotFound,
    SubscriptionNotFound,
    SweepError,
    SyncdError,
)
from syncd.logs import configure_logging
from syncd.runtime import tune_gc
from syncd.settings import describe_settings, load_settings

__all__ = ["COMMANDS", "build_parser", "main"]

#: The command groups, in the order ``syncd --help`` lists them.
_GROUPS = (
    db,
    integrations,
    run,
    jobs,
    schedules,
    sweeps,
    serve,
    demo,
    sim,
    webhooks,
    writes,
    keys,
    pms,
    normalization,
)

#: The coroutine behind each top-level command.
COMMANDS: dict[str, Command] = {
    "db": db.cmd_db,
    "integrations": integrations.cmd_integrations,
    "run": run.cmd_run,
    "jobs": jobs.cmd_jobs,
    "schedules": schedules.cmd_schedules,
    "sweeps": sweeps.cmd_sweeps,
    "demo": demo.cmd_demo,
    "serve": serve.cmd_serve,
    "sim": sim.cmd_sim,
    "pms": pms.cmd_pms,
    "webhooks": webhooks.cmd_webhooks,
    "events": webhooks.cmd_events,
    "keys": keys.cmd_keys,
    "writes": writes.cmd_writes,
    "normalization": normalization.cmd_normalization,
}

#: Errors that are the operator's to fix: bad usage or configuration (exit code 2).
_USAGE_ERRORS = (
    UsageError,
    ConfigError,
    IntegrationNotFound,
    CredentialError,
    SweepError,
    SubscriptionNotFound,
    KeyNotFound,
    NotFound,
)


def _settings_epilog() -> str:
    lines = [
        "settings (TOML file via --config/SYNCD_CONFIG, overridden by environment, "
        "overridden by options):"
    ]
    for key, env, default, desc in describe_settings():
        shown = f" [default: {default}]" if default else ""
        lines.append(f"  {env:<36} {key}: {desc}{shown}")
    lines.append("  SYNCD_CONFIG                         path of the TOML configuration file")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="syncd",
        description="syncd: sync property management systems into one cache database.",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--database-url", help="cache database URL (SYNCD_DATABASE_URL)")
    parser.add_argument("--state-dir", type=Path, help="state directory (SYNCD_STATE_DIR)")
    parser.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="SYNCD_LOG_LEVEL"
    )
    parser.add_argument(
        "--log-format", choices=["auto", "console", "json"], help="SYNCD_LOG_FORMAT"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in _GROUPS:
        group.add_parsers(sub)
    return parser


def _fail(code: int, message: str) -> NoReturn:
    print(f"syncd: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``syncd`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config, overrides(args))
    except ConfigError as exc:
        _fail(EXIT_USAGE, str(exc))
    configure_logging(settings.log_level, settings.log_format)
    tune_gc()
    try:
        return anyio.run(COMMANDS[args.command], args, settings)
    except _USAGE_ERRORS as exc:
        _fail(EXIT_USAGE, str(exc))
    except SyncdError as exc:
        _fail(EXIT_FAILED, str(exc))
    except KeyboardInterrupt:
        _fail(EXIT_FAILED, "interrupted")
