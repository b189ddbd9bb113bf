"""``syncd writes ...``: writes to the PMS from the terminal, and the write worker.

- ``create MODEL --integration ID --field NAME=VALUE ...`` and ``update MODEL
  RECORD_ID --field ...``: queue a write (the same request as ``POST
  /v1/{model}/`` and ``PUT /v1/{model}/{id}``); prints the job id;
- ``status JOB``, ``list``, ``retry JOB``: follow and retry write jobs;
- ``work [--once]``: carry queued jobs to the PMS without the daemon.

The rules are the service's (:mod:`syncd.writes.service`); this module only
reads options and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import orjson

from syncd.app import make_write_worker, open_store
from syncd.cli.common import EXIT_FAILED, EXIT_OK, Subparsers, UsageError, until_signal
from syncd.cli.output import console, print_json
from syncd.domain import Capability
from syncd.nodes import default_node_id
from syncd.progress import table
from syncd.settings import Settings
from syncd.store.reads import SqlRecordReader
from syncd.store.writes import SqlWriteJobs, WriteStatus
from syncd.writes.fields import WRITABLE_MODELS
from syncd.writes.service import (
    WriteAsk,
    WriteState,
    get_write,
    list_writes,
    retry_write,
    submit_write,
)

_STATUSES = ("PENDING", "SUCCESS", "PARTIAL_SUCCESS", "FAILURE")


def add_parsers(sub: Subparsers) -> None:
    """Add the ``writes`` subcommands to the main parser."""
    writes = sub.add_parser("writes", help="writes to the PMS: queue, follow, retry, work")
    cmds = writes.add_subparsers(dest="writes_command", required=True)
    create = cmds.add_parser("create", help="queue a create (prints the job id)")
    create.add_argument("model", choices=WRITABLE_MODELS)
    create.add_argument("--integration", required=True, help="integration id")
    update = cmds.add_parser("update", help="queue an update of a cached record")
    update.add_argument("model", choices=WRITABLE_MODELS)
    update.add_argument("record_id", metavar="RECORD_ID", help="the record's syncd id")
    for cmd in (create, update):
        cmd.add_argument(
            "--field",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a field to write (repeat); VALUE is JSON when it parses (2, 1.5), else text",
        )
        cmd.add_argument("--vendor", help="refuse an integration of another PMS (e.g. resman)")
        cmd.add_argument(
            "--ignore-unknown-fields",
            action="store_true",
            help="leave out fields the PMS does not accept instead of refusing",
        )
        cmd.add_argument("--idempotency-key", help="a repeat with the same key queues nothing")
        cmd.add_argument("--json", action="store_true", help="print the answer as JSON")
    status = cmds.add_parser("status", help="where a write job stands")
    status.add_argument("job", metavar="JOB", help="write job id")
    status.add_argument("--json", action="store_true", help="JSON output")
    listing = cmds.add_parser("list", help="write jobs, newest first")
    listing.add_argument("--integration", help="only this integration's")
    listing.add_argument("--status", choices=_STATUSES, help="only jobs in this state")
    listing.add_argument("--model", choices=WRITABLE_MODELS, help="only writes of this model")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.add_argument("--json", action="store_true", help="JSON output")
    retry = cmds.add_parser("retry", help="queue a failed write again (prints the new job id)")
    retry.add_argument("job", metavar="JOB", help="write job id")
    work = cmds.add_parser("work", help="carry queued writes to the PMS (as syncd serve does)")
    work.add_argument("--once", action="store_true", help="carry out the jobs due now, then exit")


def _fields(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--field takes NAME=VALUE, not {pair!r}")
        try:
            out[name] = orjson.loads(value)
        except orjson.JSONDecodeError:
            out[name] = value
    return out


def state_json(state: WriteState) -> dict[str, Any]:
    """A write job as ``status --json`` and ``list --json`` print it."""
    job = state.job
    return {
        "job_id": job.id,
        "integration_id": job.integration_id,
        "vendor": job.vendor,
        "model": job.model,
        "operation": job.operation,
        "write_status": state.write_status,
        "errors": list(job.errors),
        "attempts": job.attempts,
        "record_id": None if job.record_id is None else str(job.record_id),
        "created_record_id": state.created_record_id,
        "stripped_fields": list(job.stripped_fields),
        "retry_of": job.retry_of,
        "created_at": job.created_at.isoformat(),
        "finished_at": None if job.finished_at is None else job.finished_at.isoformat(),
    }


async def cmd_writes(args: argparse.Namespace, settings: Settings) -> int:
    """``syncd writes …``."""
    async with open_store(settings) as store:
        jobs = SqlWriteJobs(store.engine)
        action = args.writes_command
        if action in ("create", "update"):
            create = action == "create"
            body = _fields(args.field)
            if create:
                body["integration_id"] = args.integration
            ask = WriteAsk(
                model=args.model,
                operation=Capability.CREATE if create else Capability.UPDATE,
                body=body,
                vendor=args.vendor.lower() if args.vendor else None,
                record_id=None if create else args.record_id,
                ignore_unknown=args.ignore_unknown_fields,
                idempotency_key=args.idempotency_key,
            )
            done = await submit_write(store, SqlRecordReader(store.engine), jobs, ask)
            if args.json:
                print_json(
                    {
                        "meta": {
                            "job_id": done.job.id,
                            "stripped_fields": list(done.job.stripped_fields),
                            "replayed": done.replayed,
                        },
                        "result": done.result,
                    }
                )
            else:
                print(done.job.id)
                if done.job.stripped_fields:
                    left = ", ".join(done.job.stripped_fields)
                    print(f"left out (not accepted by the PMS): {left}", file=sys.stderr)
            return EXIT_OK
        if action == "status":
            state = await get_write(jobs, args.job)
            if args.json:
                print_json(state_json(state))
            else:
                print(f"{state.job.id}: {state.write_status}")
                if state.created_record_id:
                    print(f"created record: {state.created_record_id}")
                for error in state.errors:
                    print(f"error: {error}")
            return EXIT_FAILED if state.write_status == WriteStatus.FAILURE.value else EXIT_OK
        if action == "list":
            states, total = await list_writes(
                jobs,
                integration_id=args.integration,
                statuses=() if args.status is None else (args.status,),
                model=args.model,
                limit=max(1, args.limit),
            )
            if args.json:
                sys.stdout.write(json.dumps([state_json(s) for s in states], indent=2) + "\n")
                return EXIT_OK
            if not states:
                print("no write jobs")
                return EXIT_OK
            shown = table(
                f"write jobs ({len(states)} of {total})",
                *("job", "integration", "model", "op", "status", "tries", "created", "error"),
                right=("tries",),
            )
            for s in states:
                shown.add_row(
                    s.job.id,
                    s.job.integration_id,
                    s.job.model,
                    s.job.operation,
                    s.write_status,
                    str(s.job.attempts),
                    s.job.created_at.strftime("%Y-%m-%d %H:%M:%SZ"),
                    s.job.errors[-1] if s.job.errors else "",
                )
            console().print(shown)
            return EXIT_OK
        if action == "retry":
            job = await retry_write(jobs, args.job)
            print(job.id)
            return EXIT_OK
        worker = make_write_worker(store, settings, default_node_id())
        if args.once:
            outcomes = await worker.work_once()
            for o in outcomes:
                print(f"{o.job_id}: {o.status.value}" + (f" ({o.errors[-1]})" if o.errors else ""))
            failed = any(o.status is WriteStatus.FAILURE for o in outcomes)
            return EXIT_FAILED if failed else EXIT_OK
        await until_signal(worker.serve)
        return EXIT_OK
