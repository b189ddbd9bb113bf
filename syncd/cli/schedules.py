"""``syncd schedules …``: list schedules, show an integration's job schedules, change one."""

from __future__ import annotations

import argparse
import json

from syncd.app import open_store
from syncd.cli.common import EXIT_OK, Subparsers, UsageError, option_error
from syncd.cli.output import console, print_json
from syncd.errors import ConfigError
from syncd.progress import schedule_json, schedules_table, table
from syncd.services.schedules import CADENCES, job_schedule_json, job_schedules, list_schedules
from syncd.services.syncs import KEEP, pending_request, set_job_schedule
from syncd.settings import Settings
from syncd.store.sql import SqlStore

#: The option of ``schedules set`` behind each field a service error may name.
_SET_OPTIONS = {
    "trigger": "--trigger",
    "sync_frequency": "--every",
    "sync_cadence": "--cadence",
    "job": "JOB",
}


def add_parsers(sub: Subparsers) -> None:
    """Add the ``schedules`` subcommands to the main parser."""
    sched = sub.add_parser("schedules", help="job schedules").add_subparsers(
        dest="schedules_command", required=True
    )
    slist = sched.add_parser("list", help="schedules with their next run times")
    slist.add_argument("--integration", help="id or name")
    slist.add_argument("--json", action="store_true", help="JSON output")
    show = sched.add_parser(
        "show",
        help="an integration's job schedules, active or not (why not), and any pending "
        "manual sync or back-sync",
    )
    show.add_argument("integration", help="id or name")
    show.add_argument("--json", action="store_true", help="JSON output")
    put = sched.add_parser("set", help="change, pause or resume one job schedule")
    put.add_argument("integration", help="id or name")
    put.add_argument("job", help="incremental or full")
    what = put.add_mutually_exclusive_group()
    what.add_argument(
        "--trigger",
        metavar="YAML",
        help="e.g. '{type: interval, seconds: 600}' or "
        "'{type: cron, expression: \"0 3 * * *\"}'; none unschedules the job",
    )
    what.add_argument("--every", type=int, metavar="N", help="an interval of N --cadence units")
    put.add_argument(
        "--cadence", choices=[c.lower() for c in CADENCES], default="minute", help="of --every"
    )
    state = put.add_mutually_exclusive_group()
    state.add_argument("--pause", action="store_true", help="stop it firing")
    state.add_argument("--resume", action="store_true", help="let it fire again")
    put.add_argument("--json", action="store_true", help="JSON output")


async def cmd_schedules(args: argparse.Namespace, settings: Settings) -> int:
    """Run one ``schedules`` subcommand."""
    async with open_store(settings) as store:
        if args.schedules_command == "show":
            return await _show(args, store, settings)
        if args.schedules_command == "set":
            return await _set(args, store, settings)
        rows = await list_schedules(store, args.integration)
        if args.json:
            print_json([schedule_json(r) for r in rows])
        elif not rows:
            print("no schedules (only enabled production integrations are scheduled)")
        else:
            console().print(schedules_table(rows))
    return EXIT_OK


async def _show(args: argparse.Namespace, store: SqlStore, settings: Settings) -> int:
    rows = await job_schedules(store, settings, args.integration)
    pending = await pending_request(store, args.integration)
    if args.json:
        print_json(
            {
                "job_schedules": [job_schedule_json(r) for r in rows],
                "pending_request": {
                    "trigger": pending.run_trigger,
                    "models": list(pending.models) if pending.models else None,
                    "requested_at": pending.requested_at.isoformat(),
                }
                if pending
                else None,
            }
        )
        return EXIT_OK
    title = f"job schedules of {rows[0].integration_id}" if rows else None
    shown = table(title, "job", "status", "trigger", "source", "next run", "last run")
    for r in rows:
        data = job_schedule_json(r)
        status = data["status"] + (f" ({r.inactive_reason})" if r.inactive_reason else "")
        shown.add_row(
            r.job,
            status,
            json.dumps(data["trigger"]),
            r.source,
            data["next_run_at"] or "-",
            data["last_run_at"] or "-",
        )
    console().print(shown)
    if pending:
        kind = "back-sync" if pending.back_sync else "manual sync"
        print(f"pending: a {kind} asked for at {pending.requested_at.isoformat()}")
    return EXIT_OK


async def _set(args: argparse.Namespace, store: SqlStore, settings: Settings) -> int:
    active = True if args.resume else False if args.pause else None
    if args.trigger is None and args.every is None and active is None:
        raise UsageError("schedules set: give --trigger, --every, --pause or --resume")
    try:
        updated = await set_job_schedule(
            store,
            settings,
            args.integration,
            args.job,
            trigger=args.trigger if args.trigger is not None else KEEP,
            frequency=(args.every, args.cadence.upper()) if args.every is not None else None,
            active=active,
        )
    except ConfigError as exc:
        raise option_error(exc, _SET_OPTIONS) from None
    if args.json:
        print_json(job_schedule_json(updated))
        return EXIT_OK
    state = "ACTIVE" if updated.active else f"INACTIVE ({updated.inactive_reason})"
    nxt = updated.next_run_at.isoformat() if updated.next_run_at else "-"
    print(f"{updated.integration_id} {updated.job}: {state}, next run {nxt}")
    return EXIT_OK
