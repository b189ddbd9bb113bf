"""``syncd sweeps list|approve|dismiss``: deletion sweeps the guard held."""

from __future__ import annotations

import argparse

from syncd.app import open_store
from syncd.cli.common import EXIT_OK, Subparsers, UsageError
from syncd.cli.output import console, print_json
from syncd.domain import RunRecord
from syncd.errors import ConfigError, SweepError
from syncd.progress import run_json, runs_table
from syncd.services.sweeps import (
    approval_json,
    approve_sweep,
    dismiss_sweep,
    held_sweeps,
    sweep_run,
)
from syncd.settings import Settings
from syncd.store.sql import SqlStore


def add_parsers(sub: Subparsers) -> None:
    """Add the ``sweeps`` subcommands to the main parser."""
    sweeps = sub.add_parser(
        "sweeps", help="deletion sweeps held by the guard (runs needing attention)"
    ).add_subparsers(dest="sweeps_command", required=True)
    swlist = sweeps.add_parser("list", help="model runs whose deletion sweep is held")
    swlist.add_argument("--integration", help="id or name")
    swlist.add_argument("--json", action="store_true", help="JSON output")
    swapprove = sweeps.add_parser(
        "approve",
        help="apply a held sweep: delete the scope's records not seen since that run started",
    )
    swapprove.add_argument("run_id", help="the model run (see `syncd sweeps list`)")
    swapprove.add_argument("--json", action="store_true", help="JSON output")
    swdismiss = sweeps.add_parser("dismiss", help="drop a held sweep without deleting anything")
    swdismiss.add_argument("run_id", help="the model run (see `syncd sweeps list`)")


async def cmd_sweeps(args: argparse.Namespace, settings: Settings) -> int:
    """List held sweeps, or approve or dismiss one."""
    async with open_store(settings) as store:
        if args.sweeps_command == "list":
            runs = await held_sweeps(store, args.integration)
            if args.json:
                print_json([run_json(r) for r in runs])
            elif not runs:
                print("no held sweeps")
            else:
                # The table's notes carry each held sweep's whole reason.
                console().print(
                    runs_table(runs, title="held deletion sweeps", integration=not args.integration)
                )
            return EXIT_OK
        run = await _named_run(store, args.run_id)
        if args.sweeps_command == "dismiss":
            await dismiss_sweep(store, run.id)
            print(f"{run.integration_id}/{run.model}: sweep of run {run.id} dismissed")
            return EXIT_OK
        approval = await approve_sweep(store, settings, run.id)
        if args.json:
            print_json(approval_json(approval))
        else:
            print(
                f"{run.integration_id}/{run.model}: sweep of run {run.id} approved, "
                f"{approval.deleted} deleted of {approval.scope} records in scope "
                "(those not seen since that run started)"
            )
    return EXIT_OK


async def _named_run(store: SqlStore, ref: str) -> RunRecord:
    """The model run an operator names; a mistake points at the list of held sweeps."""
    try:
        return await sweep_run(store, ref)
    except (ConfigError, SweepError) as exc:
        raise UsageError(f"{exc} (see `syncd sweeps list`)") from None
