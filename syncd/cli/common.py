"""What every command group shares: exit codes, usage errors, option names, signals."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeAlias

import anyio
import structlog

from syncd.concurrency import unwrapped_task_group
from syncd.errors import ConfigError, SyncdError
from syncd.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: What ``parser.add_subparsers()`` returns: each group adds its commands to it.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
#: A command: parsed arguments and settings in, exit code out.
Command: TypeAlias = Callable[[argparse.Namespace, Settings], Awaitable[int]]

log = structlog.get_logger(__name__)


class UsageError(SyncdError):
    """A command-line argument is invalid (exit code 2)."""


class Aborted(SyncdError):
    """The operator did not confirm a destructive command (exit code 1)."""


class Interrupted(SyncdError):
    """SIGINT or SIGTERM stopped the command (the run is recorded as FAILED)."""


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


def option_error(exc: ConfigError, options: Mapping[str, str]) -> ConfigError | UsageError:
    """``exc`` under the command-line option behind its field.

    Services name the fields of their requests; ``options`` maps a field to
    the option that fills it (``credentials.x`` becomes ``--credential x``).
    An error about a file, or a field no option fills, is left as it is.
    """
    head, _, key = (exc.field or "").partition(".")
    option = options.get(head)
    if option is None or exc.file:
        return exc
    message = str(exc).removeprefix(f"{exc.field}: ")
    return UsageError(f"{option} {key}: {message}" if key else f"{option}: {message}")


def overrides(args: argparse.Namespace) -> dict[str, Any]:
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


async def until_signal(work: Callable[[], Awaitable[None]]) -> bool:
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
