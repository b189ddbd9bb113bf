"""``syncd run``: sync one integration now, in the foreground, with progress bars.

Also ``syncd integrations sync``: queue a manual sync or back-sync for the
daemon's scheduler to run (the same request as ``POST .../manual-sync``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console

from syncd.app import open_store
from syncd.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Interrupted,
    Subparsers,
    option_error,
    until_signal,
)
from syncd.cli.output import console, print_json
from syncd.domain import Integration, RunStatus
from syncd.errors import ConfigError
from syncd.logs import configure_logging
from syncd.models import MODELS
from syncd.progress import RichProgress, report_json, summary_table
from syncd.services.runs import SyncOutcome, sync_integration, sync_target
from syncd.services.syncs import request_sync
from syncd.settings import Settings
from syncd.store.sql import SqlStore

#: The option of ``run`` behind each field a service error may name.
_OPTIONS = {"models": "--model", "models_to_sync": "--model"}


def add_parsers(sub: Subparsers) -> None:
    """Add the ``run`` command to the main parser."""
    run = sub.add_parser("run", help="sync one integration now, in the foreground")
    run.add_argument("--integration", required=True, help="id or name")
    run.add_argument(
        "--model", action="append", choices=sorted(MODELS), help="only this model (repeat)"
    )
    run.add_argument("--full", action="store_true", help="full sync instead of incremental")
    run.add_argument("--json", action="store_true", help="print the report as JSON")


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Sync an integration once and print its report; exit 1 if the sync failed."""
    async with open_store(settings) as store:
        try:
            integration = await sync_target(store, settings, args.integration, args.model)
        except ConfigError as exc:
            raise option_error(exc, _OPTIONS) from None
        if not integration.enabled:
            # Syncing on request is an operator's explicit act (like "sync
            # now"); the notice says why the daemon leaves it alone.
            print(
                f"note: integration {integration.id} is disabled; syncing it once on request "
                "(syncd serve does not schedule it)",
                file=sys.stderr,
            )
        code = EXIT_FAILED

        async def sync() -> None:
            nonlocal code
            code = await sync_and_report(
                store, settings, integration, models=args.model, full=args.full, as_json=args.json
            )

        if await until_signal(sync):
            raise Interrupted("interrupted: the run stopped after its last stored page")
        return code


def _want_progress(settings: Settings, err_console: Console) -> bool:
    if settings.progress == "always":
        return True
    return settings.progress == "auto" and err_console.is_terminal


async def sync_and_report(
    store: SqlStore,
    settings: Settings,
    integration: Integration,
    *,
    models: Sequence[str] | None,
    full: bool,
    as_json: bool,
) -> int:
    """Sync ``integration`` (with progress bars on a terminal), print the report; exit code."""
    err_console = console(stderr=True)
    outcome: SyncOutcome
    if _want_progress(settings, err_console) and not as_json:
        if settings.log_level == "info":
            # The bars tell what info lines would; lines printed under a live
            # display would tear it.
            configure_logging("warning", settings.log_format)
        with RichProgress(err_console) as bars:
            outcome = await sync_integration(
                store, settings, integration, models=models, full=full, progress=bars
            )
    else:
        outcome = await sync_integration(store, settings, integration, models=models, full=full)
    report, stored = outcome.report, outcome.stored
    if as_json:
        print_json(report_json(report, stored))
    elif report.skipped:
        # Nothing ran: no table to show, only why.
        print(f"{integration.id}: {report.error}", file=sys.stderr)
    else:
        console().print(summary_table(report, stored))
        if report.error:
            print(f"error: {report.error}", file=sys.stderr)
    if report.definitions_failed:
        # A broken jobs/ or transforms/ file is bad configuration (the run is
        # recorded as FAILED all the same).
        return EXIT_USAGE
    return EXIT_OK if report.status is RunStatus.SUCCESS else EXIT_FAILED


def add_sync_parser(integrations: Subparsers) -> None:
    """Add ``integrations sync`` to the ``integrations`` subcommands."""
    sync = integrations.add_parser(
        "sync",
        help="queue a manual sync (or --back-sync) for syncd serve to run; "
        "`syncd run` syncs in the foreground instead",
    )
    sync.add_argument("integration", help="id or name")
    sync.add_argument(
        "--back-sync",
        action="store_true",
        help="a full run of all history (date filters widened), without data events",
    )
    sync.add_argument("--model", action="append", help="only this model (repeat)")
    sync.add_argument("--json", action="store_true", help="JSON output")


async def queue_sync(args: argparse.Namespace, store: SqlStore, settings: Settings) -> int:
    """Record a manual sync or back-sync of an integration for the scheduler."""
    try:
        queued = await request_sync(
            store, settings, args.integration, back_sync=args.back_sync, models=args.model
        )
    except ConfigError as exc:
        raise option_error(exc, _OPTIONS) from None
    request = queued.request
    if args.json:
        print_json(
            {
                "integration_id": queued.integration_id,
                "trigger": request.run_trigger,
                "models": list(request.models) if request.models else None,
                "requested_at": request.requested_at.isoformat(),
            }
        )
        return EXIT_OK
    kind = "back-sync" if request.back_sync else "manual sync"
    models = f" of {', '.join(request.models)}" if request.models else ""
    print(f"{queued.integration_id}: {kind}{models} queued; syncd serve runs it next")
    return EXIT_OK
