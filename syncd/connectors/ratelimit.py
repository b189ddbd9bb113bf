"""An async token bucket that spaces out the requests of one connector.

Every concurrent request of a connector takes a token from the same bucket
before each attempt, so the PMS sees at most ``rate`` requests per second on
average and at most ``burst`` back to back. A 429 can :meth:`TokenBucket.pause`
the whole bucket, so requests already queued wait out the PMS's ``Retry-After``
instead of each running into the limit again.
"""

from __future__ import annotations

import time
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
