"""``syncd schedules list``: job schedules with their next run times."""

from __future__ import annotations

import argparse

from syncd.app import open_store
from syncd.cli.common import EXIT_OK, Subparsers
from syncd.cli.output import console, print_json
from syncd.progress import schedule_json, schedules_table
from syncd.services.schedules import list_schedules
from syncd.settings import Settings


def add_parsers(sub: Subparsers) -> None:
    """Add the ``schedules`` subcommands to the main parser."""
    sched = sub.add_parser("schedules", help="job schedules").add_subparsers(
        dest="schedules_command", required=True
    )
    slist = sched.add_parser("list", help="schedules with their next run times")
    slist.add_argument("--integration", help="id or name")
    slist.add_argument("--json", action="store_true", help="JSON output")


async def cmd_schedules(args: argparse.Namespace, settings: Settings) -> int:
    """Print the schedules of every integration, or of one."""
    async with open_store(settings) as store:
        rows = await list_schedules(store, args.integration)
        if args.json:
            print_json([schedule_json(r) for r in rows])
        elif not rows:
            print("no schedules (only enabled production integrations are scheduled)")
        else:
            console().print(schedules_table(rows))
    return EXIT_OK
