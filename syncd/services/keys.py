"""API keys of the HTTP API: making, listing and revoking them, checking a request's key.

A key is ``sk_`` followed by 43 URL-safe characters (32 random bytes). Only
its SHA-256 digest is stored: a key of 256 random bits needs no slow,
salted hash, since nothing smaller than the whole key space can be guessed.
The key is returned once, by :func:`create_key`, and never logged.

Each key carries its own rate limit (requests per minute), enforced per
process by :class:`KeyRateLimiter`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import structlog

from syncd.errors import ConfigError, StoreError
from syncd.store.keys import ApiKey, KeyScope, KeyStore

log = structlog.get_logger(__name__)

#: What every key starts with, so a leaked one is recognizable (secret scanners).
KEY_PREFIX = "sk_"
#: Random bytes in a key: 43 characters of URL-safe base64.
_KEY_BYTES = 32
_KEY_BODY = re.compile(r"[A-Za-z0-9_-]{43}")
#: Characters of the key kept in the clear: ``sk_`` and 8 of the random ones.
PREFIX_LENGTH = len(KEY_PREFIX) + 8
_NAME = re.compile(r"[A-Za-z0-9 ._-]{1,64}")
MAX_RATE_LIMIT = 1_000_000

#: last_used_at is written at most this often per key: not once per request.
TOUCH_INTERVAL = timedelta(minutes=1)
#: Keys remembered as recently touched; beyond it the memo starts over.
_MAX_TOUCH_MEMO = 10_000
_touched: dict[str, datetime] = {}


def hash_key(key: str) -> str:
    """The stored digest of a key: SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            "must be 1 to 64 letters, digits, spaces, dots, underscores or hyphens", field="name"
        )
    if name != name.strip():
        raise ConfigError("must not start or end with a space", field="name")


def _check_scope(scope: KeyScope | str) -> KeyScope:
    try:
        return KeyScope(scope)
    except ValueError:
        choices = ", ".join(s.value for s in KeyScope)
        raise ConfigError(
            f"{scope!r} is not a scope: use one of {choices}", field="scope"
        ) from None


def _check_rate_limit(rate_limit: int) -> None:
    # bool is an int: True would pass as a limit of 1.
    if isinstance(rate_limit, bool) or not isinstance(rate_limit, int):
        raise ConfigError("must be a whole number of requests per minute", field="rate_limit")
    if not 1 <= rate_limit <= MAX_RATE_LIMIT:
        raise ConfigError(f"must be between 1 and {MAX_RATE_LIMIT}", field="rate_limit")


async def create_key(
    keys: KeyStore,
    *,
    name: str,
    scope: KeyScope | str,
    rate_limit: int,
    now: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Make and store a key; the stored record and the key, which nothing can show again.

    A bad ``name``, ``scope`` or ``rate_limit`` is a ConfigError naming that
    field; a name already taken (even by a revoked key) is
    :class:`~syncd.errors.KeyNameTaken`, a ConfigError on ``name``.
    """
    _check_name(name)
    valid_scope = _check_scope(scope)
    _check_rate_limit(rate_limit)
    secret = KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)
    record = await keys.add(
        ApiKey(
            id=str(uuid.uuid4()),
            name=name,
            scope=valid_scope,
            prefix=secret[:PREFIX_LENGTH],
            rate_limit_per_minute=rate_limit,
            created_at=now or datetime.now(UTC),
        ),
        hash_key(secret),
    )
    log.info("keys.created", key_id=record.id, name=record.name, scope=record.scope.value)
    return record, secret


async def list_keys(keys: KeyStore) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first."""
    return await keys.list_keys()


async def revoke_key(keys: KeyStore, key_id: str, *, now: datetime | None = None) -> ApiKey:
    """Revoke a key at once; revoking it again changes nothing. KeyNotFound if no such key."""
    record = await keys.revoke(key_id, now or datetime.now(UTC))
    log.info("keys.revoked", key_id=record.id, name=record.name)
    return record


def well_formed(token: str) -> bool:
    """Whether ``token`` looks like a key at all (checked before any database look-up)."""
    return (
        isinstance(token, str)
        and token.startswith(KEY_PREFIX)
        and _KEY_BODY.fullmatch(token, len(KEY_PREFIX)) is not None
    )


async def authenticate(keys: KeyStore, token: str, *, now: datetime | None = None) -> ApiKey | None:
    """The live key ``token`` is, or None (unknown, revoked or malformed).

    Records the use in ``last_used_at``, at most once per
    :data:`TOUCH_INTERVAL` per key, so a busy client costs no write per request.
    """
    if not well_formed(token):
        return None
    digest = hash_key(token)
    found = await keys.get_by_hash(digest)
    if found is None:
        return None
    record, stored = found
    # The look-up matched already; comparing in constant time anyway keeps
    # the answer independent of how a database compares strings.
    if not hmac.compare_digest(stored, digest) or record.revoked:
        return None
    at = now or datetime.now(UTC)
    if _due_for_touch(record, at):
        _touched[record.id] = at
        try:
            await keys.touch(record.id, at)
        except StoreError as exc:
            # Bookkeeping only: a valid key is not refused for it.
            log.warning("keys.touch_failed", key_id=record.id, error=str(exc))
    return record


def _due_for_touch(record: ApiKey, at: datetime) -> bool:
    # The stored time covers other processes; the memo covers this one's
    # requests that read the row before its first touch landed.
    last = max(
        (t for t in (record.last_used_at, _touched.get(record.id)) if t is not None),
        default=None,
    )
    if last is not None and abs(at - last) < TOUCH_INTERVAL:
        return False
    if len(_touched) >= _MAX_TOUCH_MEMO:
        _touched.clear()
    return True


class RateDecision(NamedTuple):
    """One request's verdict and what the ``x-ratelimit-*`` headers say."""

    allowed: bool
    limit: int
    remaining: int
    #: Seconds until the current window ends and the full limit is back.
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        """The ``x-ratelimit-*`` headers (and ``retry-after`` when refused)."""
        out = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_seconds),
        }
        if not self.allowed:
            out["retry-after"] = str(self.reset_seconds)
        return out


class KeyRateLimiter:
    """Per key, at most its limit of requests in each fixed one-minute window.

    Windows are aligned to whole minutes of ``clock`` (seconds, monotonic by
    default). Refused requests do not count. The counts live in this process:
    with several nodes each allows the limit. Not thread-safe: use one per
    event loop.
    """

    WINDOW_SECONDS = 60

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        #: key id → (window number, requests admitted in it).
        self._windows: dict[str, tuple[int, int]] = {}

    def hit(self, key: ApiKey) -> RateDecision:
        """Count one request of ``key`` against its own limit."""
        return self.check(key.id, key.rate_limit_per_minute)

    def check(self, key_id: str, limit: int) -> RateDecision:
        """Count one request of ``key_id`` against ``limit`` per minute."""
        now = self._clock()
        window = math.floor(now / self.WINDOW_SECONDS)
        reset = max(1, math.ceil((window + 1) * self.WINDOW_SECONDS - now))
        seen, count = self._windows.get(key_id, (window, 0))
        if seen != window:
            count = 0
            self._forget_old(window)
        if count >= limit:
            self._windows[key_id] = (window, count)
            return RateDecision(False, limit, 0, reset)
        count += 1
        self._windows[key_id] = (window, count)
        return RateDecision(True, limit, limit - count, reset)

    def _forget_old(self, window: int) -> None:
        # Revoked or idle keys would otherwise stay forever; cheap, since it
        # runs only when some key enters a new window.
        if len(self._windows) > 1024:
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
