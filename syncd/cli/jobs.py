"""``syncd jobs last|list|show``: the job log."""

from __future__ import annotations

import argparse

from syncd.app import open_store
from syncd.cli.common import EXIT_OK, Subparsers
from syncd.cli.output import console, print_json
from syncd.domain import RunRecord, RunStatus
from syncd.progress import run_json, runs_table
from syncd.services.runs import JobLog, job_log, last_run_tree, run_tree
from syncd.settings import Settings


def add_parsers(sub: Subparsers) -> None:
    """Add the ``jobs`` subcommands to the main parser."""
    jobs = sub.add_parser("jobs", help="the job log").add_subparsers(
        dest="jobs_command", required=True
    )
    last = jobs.add_parser("last", help="the last ran jobs of an integration")
    last.add_argument("--integration", required=True, help="id or name")
    last.add_argument("--json", action="store_true", help="JSON output")
    jlist = jobs.add_parser("list", help="the job log, newest first")
    jlist.add_argument("--integration", help="id or name")
    jlist.add_argument("--status", choices=[s.value for s in RunStatus])
    jlist.add_argument("--limit", type=int, default=50)
    jlist.add_argument("--json", action="store_true", help="JSON output")
    jshow = jobs.add_parser("show", help="one run and its model runs")
    jshow.add_argument("run_id")
    jshow.add_argument("--json", action="store_true", help="JSON output")


async def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    """Print the job log (``list``), one sync (``show``) or an integration's last (``last``)."""
    async with open_store(settings) as store:
        integration_column = False
        runs: tuple[RunRecord, ...]
        if args.jobs_command == "show":
            tree = await run_tree(store, args.run_id)
            runs, title = tree.runs, f"run {tree.root_run_id} of {tree.integration_id}"
        elif args.jobs_command == "list":
            status = RunStatus(args.status) if args.status else None
            page = await job_log(
                store, integration=args.integration, status=status, limit=args.limit
            )
            if not page.runs and not args.json:
                print(_no_runs(page))
                return EXIT_OK
            runs = page.runs
            title = f"job log of {page.integration_id}" if page.integration_id else "job log"
            integration_column = page.integration_id is None
        else:
            tree = await last_run_tree(store, args.integration)
            runs, title = tree.runs, f"last ran jobs of {tree.integration_id}"
        if args.json:
            print_json([run_json(r) for r in runs])
        elif not runs:
            print("no runs yet")
        else:
            console().print(runs_table(runs, title=title, integration=integration_column))
    return EXIT_OK


def _no_runs(page: JobLog) -> str:
    """What to say when the job log has no row to list."""
    of = f" of {page.integration_id}" if page.integration_id else ""
    if page.status is not None and page.has_runs:
        return f"no {page.status.value} runs{of}"
    return f"no runs{of} yet"
