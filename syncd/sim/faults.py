"""Fault injection, rate limiting and request statistics for PMS simulators.

Nothing here knows a vendor's wire format: a simulator asks :class:`FaultInjector`
whether the request in hand should misbehave, and shapes the misbehaviour
(error bodies, which fields to corrupt) itself.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

Clock = Callable[[], float]


class FaultKind(StrEnum):
    """What an injected fault does to the response."""

    RATE_LIMITED = "429"
    SERVER_ERROR = "500"
    SLOW = "slow"
    TRUNCATE = "truncate"
    MALFORMED = "malformed"
    EMPTY = "empty"


@dataclass(slots=True)
class Fault:
    """One pending fault: applies to the next ``count`` requests matching ``path``.

    ``path`` None matches every request; otherwise the request path must be
    equal to it. ``delay`` is the pause of a ``slow`` fault in seconds;
    ``retry_after`` (seconds) makes a ``429`` fault send a ``Retry-After``
    header.
    """

    kind: FaultKind
    count: int = 1
    path: str | None = None
    delay: float = 0.0
    retry_after: float | None = None

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if self.delay < 0 or not math.isfinite(self.delay):
            raise ValueError("delay must be a finite number of seconds >= 0")
        if self.retry_after is not None and (
            self.retry_after < 0 or not math.isfinite(self.retry_after)
        ):
            raise ValueError("retry_after must be a finite number of seconds >= 0")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Fault:
        """Build a fault from a JSON object; ``ValueError`` names what is wrong."""
        unknown = set(data) - {"kind", "count", "path", "delay", "retry_after"}
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        kind = data.get("kind")
        if not isinstance(kind, str | int) or str(kind) not in {k.value for k in FaultKind}:
            choices = ", ".join(k.value for k in FaultKind)
            raise ValueError(f"kind must be one of {choices}")
        count = data.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int):
            raise ValueError("count must be an integer")
        path = data.get("path")
        if path is not None and not isinstance(path, str):
            raise ValueError("path must be a string")
        delay = _number(data.get("delay", 0.0), "delay")
        retry_after_raw = data.get("retry_after")
        retry_after = None if retry_after_raw is None else _number(retry_after_raw, "retry_after")
        return cls(
            kind=FaultKind(str(kind)),
            count=count,
            path=path,
            delay=0.0 if delay is None else delay,
            retry_after=retry_after,
        )

    def to_json(self) -> dict[str, Any]:
        """The fault as a JSON-ready object (the shape :meth:`from_mapping` reads)."""
        return {
            "kind": self.kind.value,
            "count": self.count,
            "path": self.path,
            "delay": self.delay,
            "retry_after": self.retry_after,
        }


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return float(value)


class FaultInjector:
    """The queue of pending faults of one simulator.

    Faults are consumed in the order they were added: a request takes one
    unit of the first pending fault whose path matches it.
    """

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._pending: list[Fault] = []
        self.served: Counter[str] = Counter()
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault) -> None:
        """Queue a fault (a copy, so the caller's object is never consumed)."""
        self._pending.append(replace(fault))

    def clear(self) -> None:
        """Drop every pending fault."""
        self._pending.clear()

    def take(self, path: str) -> Fault | None:
        """Consume one use of the first fault matching ``path``, if any."""
        for i, fault in enumerate(self._pending):
            if fault.path is None or fault.path == path:
                fault.count -= 1
                if fault.count <= 0:
                    del self._pending[i]
                self.served[fault.kind.value] += 1
                return replace(fault, count=1)
        return None

    def pending(self) -> list[dict[str, Any]]:
        """The faults still queued, as JSON-ready objects."""
        return [fault.to_json() for fault in self._pending]

    def __len__(self) -> int:
        return len(self._pending)


class RateLimiter:
    """A sliding-window limit: at most ``rate`` requests per second per key.

    The window is one second for rates of one or more; a fractional rate
    below one allows one request per ``1 / rate`` seconds. Only admitted
    requests count towards the window, so a client that backs off recovers
    as soon as its earlier requests age out. ``rate <= 0`` disables the limit.
    """

    def __init__(self, rate: float, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, deque[float]] = {}
        self.rate = rate

    @property
    def rate(self) -> float:
        """Requests per second allowed (0 or less: unlimited)."""
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        if not math.isfinite(value):
            raise ValueError("rate must be finite")
        self._rate = float(value)
        if value > 0:
            self._capacity = max(1, math.floor(value))
            self._window = self._capacity / value
        else:
            self._capacity = 0
            self._window = 0.0
        self._windows.clear()

    @property
    def enabled(self) -> bool:
        """False when the limit is disabled."""
        return self._rate > 0

    def allow(self, key: str) -> bool:
        """Admit (and count) one request of ``key``, or refuse it."""
        if self._rate <= 0:
            return True
        now = self._clock()
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = deque()
        horizon = now - self._window
        while window and window[0] <= horizon:
            window.popleft()
        if len(window) >= self._capacity:
            return False
        window.append(now)
        return True


class RequestStats:
    """Counts of the requests a simulator served, by path and by status."""

    def __init__(self) -> None:
        self.by_path: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.rate_limited = 0

    def record(self, path: str, status: int, *, rate_limited: bool = False) -> None:
        """Count one response."""
        self.by_path[path] += 1
        self.by_status[status] += 1
        if rate_limited:
            self.rate_limited += 1

    def reset(self) -> None:
        """Forget every count."""
        self.by_path.clear()
        self.by_status.clear()
        self.rate_limited = 0

    def snapshot(self) -> dict[str, Any]:
        """The counts as a JSON-ready object.

        ``429s`` counts every 429 served (rate limit and injected faults);
        ``rate_limited`` only those refused by the rate limit.
        """
        return {
            "requests": sum(self.by_status.values()),
            "by_path": dict(sorted(self.by_path.items())),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "429s": self.by_status.get(429, 0),
            "rate_limited": self.rate_limited,
        }


def truncate_body(body: bytes) -> bytes:
    """The first half of ``body``: what a connection cut mid-transfer leaves."""
    return body[: len(body) // 2]


def format_retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds when exact, else a decimal."""
    if float(seconds).is_integer():
        return str(int(seconds))
    return f"{seconds:.3f}".rstrip("0")
