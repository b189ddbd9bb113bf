"""``syncd keys create|list|revoke``: bearer keys of the HTTP API.

``create`` prints the new key alone on standard output (so it can be piped
or captured straight into a secret store) and everything else on standard
error; the key cannot be shown again.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from syncd.app import open_store
from syncd.errors import ConfigError, KeyNameTaken
from syncd.progress import table
from syncd.services.keys import create_key, list_keys, revoke_key
from syncd.settings import Settings
from syncd.store.keys import ApiKey, KeyScope, SqlKeyStore

EXIT_OK = 0

#: The option behind each field a service error may name.
_OPTIONS = {"name": "--name", "scope": "--scope", "rate_limit": "--rate-limit"}


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``keys`` subcommands to the main parser."""
    keys = sub.add_parser("keys", help="API keys of the HTTP API").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser(
        "create", help="make a key and print it (once, alone on standard output)"
    )
    create.add_argument(
        "--name", required=True, help="a unique name (1-64 of A-Z a-z 0-9 . _ - space)"
    )
    create.add_argument(
        "--scope",
        choices=[s.value for s in KeyScope],
        # The least a key can do unless asked for more.
        default=KeyScope.READ.value,
        help="read: the read API only; admin: everything (default: read)",
    )
    create.add_argument(
        "--rate-limit",
        type=int,
        metavar="N",
        help="requests per minute (default: SYNCD_API_KEY_RATE_LIMIT_PER_MINUTE)",
    )
    klist = keys.add_parser("list", help="every key (never the key itself), revoked ones too")
    klist.add_argument("--json", action="store_true", help="JSON output")
    revoke = keys.add_parser("revoke", help="revoke a key at once (it cannot be undone)")
    revoke.add_argument("key", metavar="ID", help="key id (see syncd keys list)")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _shown(value: datetime | None) -> str:
    # Seconds are plenty in a table; --json keeps the full timestamps.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else "-"


def key_json(key: ApiKey) -> dict[str, Any]:
    """A key's record as listed: its prefix, never the key."""
    return {
        "id": key.id,
        "name": key.name,
        "scope": key.scope.value,
        "prefix": key.prefix,
        "rate_limit_per_minute": key.rate_limit_per_minute,
        "created_at": _iso(key.created_at),
        "last_used_at": _iso(key.last_used_at),
        "revoked_at": _iso(key.revoked_at),
    }


def _console() -> Console:
    probe = Console()
    return probe if probe.is_terminal else Console(width=200)


def _as_option_error(exc: ConfigError) -> ConfigError:
    """``exc`` under the command-line option's name (``rate_limit`` → ``--rate-limit``)."""
    option = _OPTIONS.get(exc.field or "")
    if option is None or exc.file:
        return exc
    message = str(exc).removeprefix(f"{exc.field}: ")
    cls = KeyNameTaken if isinstance(exc, KeyNameTaken) else ConfigError
    return cls(message, field=option)


async def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    """``syncd keys …``."""
    async with open_store(settings) as base:
        keys = SqlKeyStore(base.engine)
        action = args.keys_command
        if action == "create":
            rate = args.rate_limit
            try:
                key, secret = await create_key(
                    keys,
                    name=args.name,
                    scope=args.scope,
                    rate_limit=settings.api_key_rate_limit_per_minute if rate is None else rate,
                )
            except ConfigError as exc:
                raise _as_option_error(exc) from None
            sys.stdout.write(secret + "\n")
            sys.stdout.flush()
            print(
                f"created API key {key.id} ({key.name}, scope {key.scope.value}, "
                f"{key.rate_limit_per_minute}/min); it is shown once: store it now",
                file=sys.stderr,
            )
            return EXIT_OK
        if action == "list":
            listed = await list_keys(keys)
            if args.json:
                sys.stdout.write(json.dumps([key_json(k) for k in listed], indent=2) + "\n")
            elif not listed:
                print("no API keys")
            else:
                listing = table(
                    "API keys",
                    *("id", "name", "scope", "prefix", "rate/min"),
                    *("created_at", "last_used_at", "revoked_at"),
                    right=("rate/min",),
                )
                for k in listed:
                    listing.add_row(
                        k.id,
                        k.name,
                        k.scope.value,
                        k.prefix + "…",
                        str(k.rate_limit_per_minute),
                        _shown(k.created_at),
                        _shown(k.last_used_at),
                        _shown(k.revoked_at),
                    )
                _console().print(listing)
            return EXIT_OK
        key = await revoke_key(keys, args.key)
        print(f"{key.id}: revoked ({key.name}) at {_shown(key.revoked_at)}")
        return EXIT_OK
