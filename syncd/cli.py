"""The ``syncd`` command line.

Exit codes: 0 success, 1 a sync or runtime failure, 2 bad usage or
configuration (argument, config file, unknown integration).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import anyio
import structlog
from rich.console import Console

from syncd import __version__
from syncd.app import make_runner, make_scheduler, open_store
from syncd.concurrency import unwrapped_task_group
from syncd.connectors.registry import get_connector_class, known_vendors
from syncd.domain import Capability, Environment, Integration, RunRecord, RunStatus, ScheduleState
from syncd.errors import (
    ConfigError,
    CredentialError,
    IntegrationNotFound,
    SubscriptionNotFound,
    SweepError,
    SyncdError,
    UnknownModel,
)
from syncd.integration_config import (
    apply_file,
    apply_job_overrides,
    apply_setting,
    disabled_properties,
    effective,
    load_file,
)
from syncd.jobs import load_jobs
from syncd.logs import configure_logging
from syncd.models import MODELS
from syncd.pms_cli import add_pms_parsers, cmd_pms
from syncd.progress import (
    RichProgress,
    report_json,
    run_json,
    runs_table,
    schedule_json,
    schedules_table,
    summary_table,
    table,
)
from syncd.runner import Runner, SyncReport
from syncd.services.integrations import (
    NewIntegration,
    add_integration,
    find_integration,
    remove_integration,
)
from syncd.services.runs import resolve_run
from syncd.settings import Settings, describe_settings, load_settings
from syncd.sim.registry import simulated_vendors
from syncd.store.engine import make_engine, redact_url
from syncd.store.migrate import current_revision, head_revision, upgrade
from syncd.store.sql import SqlStore
from syncd.webhooks.cli import add_parsers as add_webhook_parsers
from syncd.webhooks.cli import cmd_events, cmd_webhooks

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

log = structlog.get_logger(__name__)


class UsageError(SyncdError):
    """A command-line argument is invalid (exit code 2)."""


class Aborted(SyncdError):
    """The operator did not confirm a destructive command (exit code 1)."""


# -- argument helpers --------------------------------------------------------


def parse_credentials(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` arguments into a dict; a malformed or repeated one is a UsageError."""
    creds: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            # Never echo the value: it may be a secret.
            shown = key if sep else "<value hidden>"
            raise UsageError(f"--credential {shown!r}: expected KEY=VALUE")
        if key in creds:
            raise UsageError(f"--credential {key}: given twice")
        creds[key] = value
    return creds


#: The option of ``integrations add`` behind each field of the request.
_ADD_OPTIONS = {
    "vendor": "--vendor",
    "name": "--name",
    "id": "--id",
    "credentials": "--credential",
    "base_url": "--base-url",
    "rate_limit_per_second": "--rate-limit",
    "page_size": "--page-size",
}


def _as_option_error(exc: ConfigError) -> ConfigError | UsageError:
    """``exc`` under the command-line option names (``credentials.x`` → ``--credential x``)."""
    head, _, key = (exc.field or "").partition(".")
    option = _ADD_OPTIONS.get(head)
    if option is None or exc.file:
        return exc
    message = str(exc).removeprefix(f"{exc.field}: ")
    return UsageError(f"{option} {key}: {message}" if key else f"{option}: {message}")


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

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="migrate the database to the newest schema")
    db.add_parser("current", help="show the schema revision")

    integ = sub.add_parser("integrations", help="manage integrations").add_subparsers(
        dest="integrations_command", required=True
    )
    add = integ.add_parser("add", help="add an integration (disabled until enabled)")
    add.add_argument("--vendor", required=True, help=f"PMS vendor ({', '.join(known_vendors())})")
    add.add_argument("--name", required=True, help="a unique display name")
    add.add_argument("--id", dest="integration_id", help="a unique slug (default: from the name)")
    add.add_argument("--environment", choices=[e.value for e in Environment], default="production")
    add.add_argument(
        "--credential",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a credential (repeat); encrypted at rest",
    )
    add.add_argument("--base-url", help="PMS base URL (default: the vendor's for the environment)")
    add.add_argument("--rate-limit", type=float, help="max PMS requests per second (0 = no limit)")
    add.add_argument("--page-size", type=int, help="records per PMS request")
    add.add_argument("--enable", action="store_true", help="enable at once")
    for name in ("list",):
        p = integ.add_parser(name, help="list integrations")
        p.add_argument("--json", action="store_true", help="JSON output")
    show = integ.add_parser("show", help="show one integration")
    show.add_argument("integration", help="id or name")
    show.add_argument("--json", action="store_true", help="JSON output")
    for name in ("enable", "disable"):
        p = integ.add_parser(name, help=f"{name} an integration")
        p.add_argument("integration", help="id or name")
    remove = integ.add_parser(
        "remove",
        help="delete an integration with its credentials, schedules, checkpoints, cached "
        "records, quarantine and job log (asks first; change events already in the outbox "
        "stay until pruned)",
    )
    remove.add_argument("integration", help="id or name")
    remove.add_argument(
        "--yes", action="store_true", help="do not ask (required without a terminal)"
    )
    remove.add_argument("--json", action="store_true", help="JSON output (rows removed per table)")
    config = integ.add_parser(
        "config",
        help="show or change an integration's configuration (schedules, job controls, enum maps)",
    )
    config.add_argument("integration", help="id or name")
    config.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="e.g. jobs.leads.enabled=false, rate_limit_per_second=1, "
        "schedules.incremental='{type: interval, seconds: 600}' (repeat)",
    )
    config.add_argument("--file", type=Path, help="a YAML file of settings")
    config.add_argument("--json", action="store_true", help="JSON output")
    for name in ("pause", "resume"):
        p = integ.add_parser(name, help=f"{name} the schedules of an integration (or one job)")
        p.add_argument("integration", help="id or name")
        p.add_argument("--job", help="only this job (incremental, full)")

    run = sub.add_parser("run", help="sync one integration now, in the foreground")
    run.add_argument("--integration", required=True, help="id or name")
    run.add_argument(
        "--model", action="append", choices=sorted(MODELS), help="only this model (repeat)"
    )
    run.add_argument("--full", action="store_true", help="full sync instead of incremental")
    run.add_argument("--json", action="store_true", help="print the report as JSON")

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

    sched = sub.add_parser("schedules", help="job schedules").add_subparsers(
        dest="schedules_command", required=True
    )
    slist = sched.add_parser("list", help="schedules with their next run times")
    slist.add_argument("--integration", help="id or name")
    slist.add_argument("--json", action="store_true", help="JSON output")

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

    serve = sub.add_parser(
        "serve", help="the daemon: scheduler, runners and the HTTP server (health, metrics)"
    )
    serve.add_argument("--host", help="HTTP bind address (SYNCD_HTTP_HOST)")
    serve.add_argument("--port", type=int, help="HTTP port (SYNCD_HTTP_PORT)")
    serve.add_argument("--migrate", action="store_true", help="run `db upgrade` at start")

    demo = sub.add_parser(
        "demo", help="sync a simulated Buildium account into the default database"
    )
    demo.add_argument("--scale", type=int, default=500, help="simulated rental units")
    demo.add_argument("--seed", type=int, default=1)

    sim = sub.add_parser("sim", help="run a PMS simulator").add_subparsers(
        dest="sim_vendor", required=True
    )
    for vendor in simulated_vendors():
        vsim = sim.add_parser(vendor.lower(), help=f"a {vendor.lower()} API simulator")
        vsim.add_argument("--host", default="127.0.0.1")
        vsim.add_argument("--port", type=int, default=0, help="0 = any free port")
        vsim.add_argument("--seed", type=int, default=0)
        vsim.add_argument("--scale", type=int, default=100, help="units to simulate")
        vsim.add_argument("--credential", action="append", default=[], metavar="KEY=VALUE")
        vsim.add_argument(
            "--rate-limit",
            type=float,
            default=None,
            help="requests/second before 429 (0 = off; default: the PMS's documented limit)",
        )
    add_webhook_parsers(sub)
    add_pms_parsers(sub)
    return parser


# -- commands ----------------------------------------------------------------


def _integration_json(i: Integration) -> dict[str, Any]:
    return {
        "id": i.id,
        "name": i.name,
        "vendor": i.vendor,
        "environment": i.environment.value,
        "enabled": i.enabled,
        "base_url": i.base_url,
        # Only the keys: credentials never leave the store in clear.
        "credential_keys": sorted(i.credentials),
        "options": dict(i.options),
        "created_at": i.created_at.isoformat() if i.created_at else None,
    }


def _console(*, stderr: bool = False) -> Console:
    """A rich console; wide when not a terminal so piped tables stay readable."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=200)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


async def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings.effective_database_url)
    try:
        if args.db_command == "upgrade":
            await upgrade(engine)
            log.info(
                "db.upgraded",
                database=redact_url(settings.effective_database_url),
                revision=head_revision(),
            )
            print(f"database at revision {head_revision()}")
        else:
            print(await current_revision(engine) or "none")
    finally:
        await engine.dispose()
    return EXIT_OK


async def cmd_integrations(args: argparse.Namespace, settings: Settings) -> int:
    async with open_store(settings) as store:
        action = args.integrations_command
        if action == "add":
            return await _add_integration(args, store)
        if action == "remove":
            return await _remove_integration(args, store)
        if action == "list":
            items = await store.list_integrations()
            if args.json:
                _print_json([_integration_json(i) for i in items])
            else:
                console = _console()
                listing = table(
                    "integrations", "id", "name", "vendor", "environment", "enabled", "last run"
                )
                for i in items:
                    last = await store.last_root_run(i.id)
                    listing.add_row(
                        i.id,
                        i.name,
                        i.vendor,
                        i.environment.value,
                        "yes" if i.enabled else "no",
                        f"{last.status.value} {last.started_at:%Y-%m-%d %H:%M}" if last else "-",
                    )
                console.print(listing)
            return EXIT_OK
        integration = await store.get_integration(args.integration)
        if action == "show":
            data = _integration_json(integration)
            last = await store.last_root_run(integration.id)
            data["last_run"] = run_json(last) if last else None
            if args.json:
                _print_json(data)
            else:
                for key, value in data.items():
                    print(f"{key}: {value}")
            return EXIT_OK
        if action == "config":
            return await _configure(args, store, settings, integration)
        if action in ("pause", "resume"):
            state = ScheduleState.PAUSED if action == "pause" else ScheduleState.ACTIVE
            changed = await store.set_schedule_state(integration.id, state, job=args.job)
            what = f"job {args.job}" if args.job else "all jobs"
            print(f"{integration.id}: {what} {action}d ({changed} schedule(s))")
            return EXIT_OK
        await store.set_enabled(integration.id, action == "enable")
        # Schedules follow at once (a running `syncd serve` would also
        # reconcile them within its next pass).
        await make_scheduler(store, settings).reconcile()
        print(f"{integration.id}: {action}d")
        return EXIT_OK


async def _add_integration(args: argparse.Namespace, store: SqlStore) -> int:
    options: dict[str, Any] = {}
    if args.rate_limit is not None:
        options["rate_limit_per_second"] = args.rate_limit
    if args.page_size is not None:
        options["page_size"] = args.page_size
    request = NewIntegration(
        vendor=args.vendor,
        name=args.name,
        id=args.integration_id,
        environment=Environment(args.environment),
        credentials=parse_credentials(args.credential),
        base_url=args.base_url,
        options=options,
        enabled=bool(args.enable),
    )
    try:
        integration = await add_integration(store, request)
    except ConfigError as exc:
        raise _as_option_error(exc) from None
    print(
        f"added integration {integration.id} ({integration.vendor}, "
        f"{integration.environment.value}, {'enabled' if integration.enabled else 'disabled'})"
    )
    return EXIT_OK


async def _remove_integration(args: argparse.Namespace, store: SqlStore) -> int:
    integration = await find_integration(store, args.integration)
    if not args.yes:
        _confirm_removal(integration)
    removal = await remove_integration(store, integration.id)
    if args.json:
        _print_json({"integration_id": removal.integration_id, "removed": dict(removal.removed)})
        return EXIT_OK
    n = removal.removed
    print(
        f"removed integration {integration.id}: {removal.records} cached records, "
        f"{n.get('sync_runs', 0)} job log rows, {n.get('schedules', 0)} schedules, "
        f"{n.get('checkpoints', 0)} checkpoints, {n.get('quarantine', 0)} quarantined records"
    )
    print("change events already in the outbox stay until the retention prune")
    return EXIT_OK


def _confirm_removal(integration: Integration) -> None:
    """Ask the operator to type the integration's id; without a terminal, ask for --yes."""
    if not sys.stdin.isatty():
        raise UsageError(
            f"removing integration {integration.id} deletes its data: "
            "pass --yes to confirm (there is no terminal to ask on)"
        )
    sys.stderr.write(
        f"This deletes integration {integration.id} ({integration.name}, {integration.vendor}): "
        "its credentials, schedules, checkpoints, cached records, quarantine and job log.\n"
        f"Type its id ({integration.id}) to confirm: "
    )
    sys.stderr.flush()
    # Read in the event loop's thread: nothing else runs meanwhile, and a
    # Ctrl-C interrupts the read at once.
    answer = sys.stdin.readline()
    if answer.strip() != integration.id:
        raise Aborted(f"not confirmed: integration {integration.id} was not removed")


async def _configure(
    args: argparse.Namespace, store: SqlStore, settings: Settings, integration: Integration
) -> int:
    jobs = load_jobs(integration.vendor, settings.jobs_dir)
    options: dict[str, Any] = dict(integration.options)
    if args.file:
        options = apply_file(options, jobs, load_file(args.file), str(args.file))
    for pair in args.settings:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {pair!r}: expected KEY=VALUE")
        options = apply_setting(options, jobs, key.strip(), value)
    if options != dict(integration.options):
        await store.update_integration(replace(integration, options=options))
        await make_scheduler(store, settings).reconcile()
        log.info("integration.configured", integration_id=integration.id)
    rows = effective(options, jobs)
    if args.json:
        _print_json({r.key: {"value": r.value, "source": r.source} for r in rows})
    else:
        shown = table(f"configuration of {integration.id}", "key", "value", "source")
        for r in rows:
            shown.add_row(r.key, json.dumps(r.value), r.source)
        _console().print(shown)
    return EXIT_OK


def _want_progress(settings: Settings, console: Console) -> bool:
    if settings.progress == "always":
        return True
    return settings.progress == "auto" and console.is_terminal


async def _sync_and_report(
    store: SqlStore,
    settings: Settings,
    integration: Integration,
    *,
    models: Sequence[str] | None,
    full: bool,
    as_json: bool,
) -> int:
    runner = make_runner(store, settings)
    err_console = _console(stderr=True)
    report: SyncReport
    if _want_progress(settings, err_console) and not as_json:
        if settings.log_level == "info":
            # The bars tell what info lines would; lines printed under a live
            # display would tear it.
            configure_logging("warning", settings.log_format)
        with RichProgress(err_console) as bars:
            report = await runner.run(integration, models=models, full=full, progress=bars)
    else:
        report = await runner.run(integration, models=models, full=full)
    stored = {o.model: await store.count_records(integration.id, o.model) for o in report.outcomes}
    if as_json:
        _print_json(report_json(report, stored))
    elif report.skipped:
        # Nothing ran: no table to show, only why.
        print(f"{integration.id}: {report.error}", file=sys.stderr)
    else:
        _console().print(summary_table(report, stored))
        if report.error:
            print(f"error: {report.error}", file=sys.stderr)
    if report.definitions_failed:
        # A broken jobs/ or transforms/ file is bad configuration (the run is
        # recorded as FAILED all the same).
        return EXIT_USAGE
    return EXIT_OK if report.status is RunStatus.SUCCESS else EXIT_FAILED


class Interrupted(SyncdError):
    """SIGINT or SIGTERM stopped the command (the run is recorded as FAILED)."""


def _check_models(
    runner: Runner, settings: Settings, integration: Integration, models: Sequence[str] | None
) -> None:
    """Refuse, as bad usage, a ``--model`` this integration's vendor cannot sync."""
    if not models:
        return
    # An unknown model is reported below, with the models the vendor can sync.
    with contextlib.suppress(UnknownModel):
        runner.plan(integration, models)
    capabilities = get_connector_class(integration.vendor).capabilities()
    syncable = [
        j.model
        for j in load_jobs(integration.vendor, settings.jobs_dir).jobs
        if Capability.READ in capabilities.get(j.model, frozenset())
    ]
    unknown = [m for m in models if m not in syncable]
    if unknown:
        raise UsageError(
            f"--model {unknown[0]}: integration {integration.id} ({integration.vendor}) "
            f"cannot sync it; its models: {', '.join(syncable)}"
        )


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    async with open_store(settings) as store:
        integration = await store.get_integration(args.integration)
        _check_models(make_runner(store, settings), settings, integration, args.model)
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
            code = await _sync_and_report(
                store, settings, integration, models=args.model, full=args.full, as_json=args.json
            )

        if await _until_signal(sync):
            raise Interrupted("interrupted: the run stopped after its last stored page")
        return code


async def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    async with open_store(settings) as store:
        integration_column = False
        if args.jobs_command == "show":
            run = await resolve_run(store, args.run_id)
            root_id = run.root_run_id or run.id
            runs = await store.list_runs(root_run_id=root_id, limit=500)
            title = f"run {root_id} of {run.integration_id}"
        elif args.jobs_command == "list":
            iid = (await find_integration(store, args.integration)).id if args.integration else None
            status = RunStatus(args.status) if args.status else None
            runs = await store.list_runs(integration_id=iid, status=status, limit=args.limit)
            if not runs and not args.json:
                print(await _no_runs(store, iid, status))
                return EXIT_OK
            title = f"job log of {iid}" if iid else "job log"
            integration_column = iid is None
        else:
            integration = await find_integration(store, args.integration)
            last = await store.last_root_run(integration.id)
            runs = await store.list_runs(root_run_id=last.id, limit=500) if last else []
            title = f"last ran jobs of {integration.id}"
        if args.jobs_command != "list":
            # Root first, then its model runs in the order they ran.
            runs.sort(key=lambda r: (r.parent_run_id is not None, r.started_at))
        if args.json:
            _print_json([run_json(r) for r in runs])
        elif not runs:
            print("no runs yet")
        else:
            _console().print(runs_table(runs, title=title, integration=integration_column))
    return EXIT_OK


async def _no_runs(store: SqlStore, integration_id: str | None, status: RunStatus | None) -> str:
    """What to say when the job log has no row to list."""
    of = f" of {integration_id}" if integration_id else ""
    if status is not None and await store.list_runs(integration_id=integration_id, limit=1):
        return f"no {status.value} runs{of}"
    return f"no runs{of} yet"


async def cmd_schedules(args: argparse.Namespace, settings: Settings) -> int:
    async with open_store(settings) as store:
        iid = (await store.get_integration(args.integration)).id if args.integration else None
        rows = await store.list_schedules(iid)
        if args.json:
            _print_json([schedule_json(r) for r in rows])
        elif not rows:
            print("no schedules (only enabled production integrations are scheduled)")
        else:
            _console().print(schedules_table(rows))
    return EXIT_OK


async def cmd_sweeps(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from syncd.runner import sweep_date_field

    async with open_store(settings) as store:
        if args.sweeps_command == "list":
            iid = (await find_integration(store, args.integration)).id if args.integration else None
            runs = [
                r
                for r in await store.list_runs(
                    integration_id=iid, status=RunStatus.NEEDS_ATTENTION, limit=500
                )
                if r.model is not None
            ]
            if args.json:
                _print_json([run_json(r) for r in runs])
            elif not runs:
                print("no held sweeps")
            else:
                # The table's notes carry each held sweep's whole reason.
                _console().print(
                    runs_table(runs, title="held deletion sweeps", integration=iid is None)
                )
            return EXIT_OK
        run = await _model_run(store, args.run_id)
        if run.model is None:
            raise UsageError(
                f"run {run.id} is a whole sync, not a model run (see `syncd sweeps list`)"
            )
        if args.sweeps_command == "dismiss":
            await store.dismiss_sweep(run.id)
            log.info("sweep.dismissed", run_id=run.id, integration_id=run.integration_id)
            print(f"{run.integration_id}/{run.model}: sweep of run {run.id} dismissed")
            return EXIT_OK
        # Its options only: approving needs no credentials (nor the key to read them).
        heads = {i.id: i for i in await store.list_integration_heads()}
        if run.integration_id not in heads:
            raise IntegrationNotFound(f"no integration {run.integration_id!r}")
        integration = heads[run.integration_id]
        try:
            job = load_jobs(run.vendor, settings.jobs_dir).job(run.model)
            date_field = sweep_date_field(apply_job_overrides(job, integration.options))
        except KeyError:
            date_field = None
        result = await store.approve_sweep(
            run.id,
            date_field=date_field,
            events=True,
            now=datetime.now(UTC),
            excluded_properties=disabled_properties(integration.options),
        )
        log.info(
            "sweep.approved",
            run_id=run.id,
            integration_id=run.integration_id,
            model=run.model,
            deleted=result.deleted,
        )
        if args.json:
            _print_json(
                {
                    "run_id": run.id,
                    "integration_id": run.integration_id,
                    "model": run.model,
                    "scope": result.scope,
                    "deleted": result.deleted,
                    "skipped": result.skipped,
                }
            )
        else:
            print(
                f"{run.integration_id}/{run.model}: sweep of run {run.id} approved, "
                f"{result.deleted} deleted of {result.scope} records in scope "
                "(those not seen since that run started)"
            )
    return EXIT_OK


async def _model_run(store: SqlStore, ref: str) -> RunRecord:
    """The run an operator names by id or unique id prefix, for ``sweeps``."""
    try:
        return await resolve_run(store, ref)
    except ConfigError as exc:
        raise UsageError(f"{exc} (see `syncd sweeps list`)") from None


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.serve import serve

    # SIGHUP reads the file and environment again; the command line still wins.
    return await serve(
        settings, migrate=args.migrate, reload=lambda: load_settings(args.config, _overrides(args))
    )


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.sim.buildium_data import default_credentials
    from syncd.sim.demo import SIMULATOR_OPTION, simulator_option

    async with open_store(settings) as store:
        # No base URL: every run of the demo integration, this one and any
        # later `syncd run --integration demo-buildium`, starts its own
        # simulator, so its credentials never go to a port it once used.
        demo = Integration(
            id="demo-buildium",
            name="Demo Buildium",
            vendor="BUILDIUM",
            environment=Environment.SANDBOX,
            enabled=True,
            base_url=None,
            credentials=default_credentials(args.seed),
            # Smaller pages than Buildium's maximum make the progress visible.
            options={
                "page_size": 100,
                SIMULATOR_OPTION: simulator_option(seed=args.seed, scale=args.scale),
            },
        )
        try:
            await store.get_integration(demo.id)
            await store.update_integration(demo)
        except IntegrationNotFound:
            await store.add_integration(demo)
        print(
            f"integration {demo.id} in {redact_url(settings.effective_database_url)}: "
            f"a simulated Buildium account ({args.scale} units, seed {args.seed}) that each "
            "run starts for itself"
        )
        code = await _sync_and_report(store, settings, demo, models=None, full=False, as_json=False)
        print(f"next: syncd jobs last --integration {demo.id}")
        return code


async def cmd_sim(args: argparse.Namespace, settings: Settings) -> int:
    from syncd.sim.registry import get_renderer
    from syncd.sim.server import Simulator, serve_forever

    creds = parse_credentials(args.credential) or None
    try:
        sim = Simulator(
            get_renderer(args.sim_vendor),
            seed=args.seed,
            scale=args.scale,
            credentials=creds,
            rate_limit=args.rate_limit,
        )
    except ValueError as exc:
        raise UsageError(f"--credential: {exc}") from None

    def ready(url: str, credentials: Mapping[str, str]) -> None:
        print(f"base_url={url}", flush=True)
        for key, value in credentials.items():
            print(f"credential {key}={value}", flush=True)

    await _until_signal(lambda: serve_forever(sim, host=args.host, port=args.port, on_ready=ready))
    return EXIT_OK


async def _until_signal(work: Callable[[], Awaitable[None]]) -> bool:
    """Run ``work`` until it ends or SIGINT/SIGTERM cancels it; True if a signal came."""
    received = False
    async with unwrapped_task_group() as tg:

        async def watch() -> None:
            nonlocal received
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    received = True
                    log.warning("signal.received", signal=signal.Signals(signum).name)
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch, name="signal-watch")
        await work()
        tg.cancel_scope.cancel()
    return received


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], Awaitable[int]]] = {
    "db": cmd_db,
    "integrations": cmd_integrations,
    "run": cmd_run,
    "jobs": cmd_jobs,
    "schedules": cmd_schedules,
    "sweeps": cmd_sweeps,
    "demo": cmd_demo,
    "serve": cmd_serve,
    "sim": cmd_sim,
    "pms": cmd_pms,
    "webhooks": cmd_webhooks,
    "events": cmd_events,
}


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Settings given on the command line (they beat the file and environment)."""
    return {
        "database_url": args.database_url,
        "state_dir": args.state_dir,
        "log_level": args.log_level,
        "log_format": args.log_format,
        # Only `serve` has --host/--port (`sim` has its own).
        "http_host": args.host if args.command == "serve" else None,
        "http_port": args.port if args.command == "serve" else None,
    }


def _fail(code: int, message: str) -> NoReturn:
    print(f"syncd: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``syncd`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config, _overrides(args))
    except ConfigError as exc:
        _fail(EXIT_USAGE, str(exc))
    configure_logging(settings.log_level, settings.log_format)
    try:
        return anyio.run(COMMANDS[args.command], args, settings)
    except (
        UsageError,
        ConfigError,
        IntegrationNotFound,
        CredentialError,
        SweepError,
        SubscriptionNotFound,
    ) as exc:
        _fail(EXIT_USAGE, str(exc))
    except SyncdError as exc:
        _fail(EXIT_FAILED, str(exc))
    except KeyboardInterrupt:
        _fail(EXIT_FAILED, "interrupted")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
