"""An async token bucket that spaces out the requests of one connector.

Every concurrent request of a connector takes a token from the same bucket
before each attempt, so the PMS sees at most ``rate`` requests per second on
average and at most ``burst`` back to back. A 429 can :meth:`TokenBucket.pause`
the whole bucket, so requests already queued wait out the PMS's ``Retry-After``
instead of each running into the limit again.

A PMS limits requests per credential, not per connector: integrations that
use the same credential in one process take their tokens from one bucket
found by :func:`shared_bucket` under a key from :func:`bucket_key`.
"""

from __future__ import annotations

import hashlib
import time
import weakref
from collections.abc import Awaitable, Callable

import anyio

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Float refills rarely land exactly on a whole token; without some slack a
# waiter would wake up a hair short and sleep again for a few nanoseconds.
_EPSILON = 1e-9


class TokenBucket:
    """Rate limiter: ``rate`` tokens per second, holding at most ``burst``.

    ``rate <= 0`` means unlimited: :meth:`acquire` returns at once (unless the
    bucket is paused). ``burst`` defaults to ``max(1, rate)``, i.e. one
    second's worth of requests. Waiters are served first come, first served.
    ``clock`` and ``sleep`` are injectable so tests need not wait in real time.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        self._rate = float(rate)
        self._capacity = float(burst) if burst is not None else max(1.0, self._rate)
        if self._capacity < 1.0:
            raise ValueError("burst must allow at least one token")
        self._clock = clock
        self._sleep = sleep
        self._tokens = self._capacity
        self._stamp = clock()
        self._paused_until = float("-inf")
        self._lock = anyio.Lock()

    @property
    def rate(self) -> float:
        """Tokens added per second (0 or less: unlimited)."""
        return self._rate

    @property
    def capacity(self) -> float:
        """The most tokens the bucket holds (the burst size)."""
        return self._capacity

    @property
    def unlimited(self) -> bool:
        """True when the bucket never makes a caller wait for tokens."""
        return self._rate <= 0

    @property
    def paused_for(self) -> float:
        """Seconds left of the current pause (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def tighten(self, rate: float, burst: float | None = None) -> None:
        """Lower the rate and the burst to ``rate`` and ``burst`` where those are lower.

        ``burst`` defaults as in the constructor. An unlimited ``rate`` (0 or
        less) changes nothing; a limited one replaces an unlimited bucket's
        rate and burst. Tokens already earned stay, up to the new burst.
        """
        rate = float(rate)
        if rate <= 0:
            return
        capacity = float(burst) if burst is not None else max(1.0, rate)
        if capacity < 1.0:
            raise ValueError("burst must allow at least one token")
        now = self._clock()
        if self.unlimited:
            # An unlimited bucket never counted tokens: start it full.
            self._rate, self._capacity, self._tokens, self._stamp = rate, capacity, capacity, now
            return
        self._refill(now)
        self._rate = min(self._rate, rate)
        if capacity < self._capacity:
            self._capacity = capacity
            self._tokens = min(self._tokens, capacity)

    def pause(self, seconds: float) -> None:
        """Hold back every caller for ``seconds`` from now (e.g. after a 429)."""
        if seconds > 0:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    async def acquire(self, tokens: float = 1.0) -> None:
        """Wait until ``tokens`` are available and take them."""
        if self.unlimited and self._clock() >= self._paused_until:
            return
        if tokens > self._capacity:
            raise ValueError(f"cannot take {tokens} tokens from a bucket of {self._capacity}")
        # The lock is held while sleeping: that keeps waiters in arrival order,
        # and a cancelled waiter leaves without having taken anything.
        async with self._lock:
            while True:
                now = self._clock()
                wait = self._paused_until - now
                if wait <= 0:
                    if self.unlimited:
                        return
                    self._refill(now)
                    if self._tokens >= tokens - _EPSILON:
                        self._tokens -= tokens
                        return
                    wait = (tokens - self._tokens) / self._rate
                await self._sleep(wait)

    def _refill(self, now: float) -> None:
        elapsed = now - self._stamp
        if elapsed > 0:
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        self._stamp = now


# Buckets by key, alive while some client holds them: integrations using the
# same credential at the same time share one; the registry never outgrows the
# clients alive.
_SHARED: weakref.WeakValueDictionary[str, TokenBucket] = weakref.WeakValueDictionary()


def bucket_key(vendor: str, *identity: str) -> str:
    """An opaque key for :func:`shared_bucket`: the vendor and a SHA-256 of ``identity``.

    ``identity`` is whatever names the credential the PMS counts requests
    against (e.g. a client id, or a company code and user name). Only its
    digest is kept, so a secret passed here is never stored.
    """
    digest = hashlib.sha256()
    for part in identity:
        # Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        encoded = part.encode()
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return f"{vendor.upper()}:{digest.hexdigest()}"


def shared_bucket(key: str, rate: float, burst: float | None = None) -> TokenBucket:
    """The process-wide bucket for ``key`` (see :func:`bucket_key`), made on first use.

    Every caller with the same key gets the same bucket while any holds it.
    When callers ask for different limits, the lowest wins (see
    :meth:`TokenBucket.tighten`): two integrations configured differently
    for one credential must together stay within the stricter limit.
    """
    bucket = _SHARED.get(key)
    if bucket is None:
        bucket = TokenBucket(rate, burst)
        _SHARED[key] = bucket
    else:
        bucket.tighten(rate, burst)
    return bucket
