"""Fault injection, rate limiting and request statistics for PMS simulators.

Nothing here knows a vendor's wire format: a simulator asks :class:`FaultInjector`
whether the request in hand should misbehave, and shapes the misbehaviour
(error bodies, which fields to corrupt, which resource to change) itself.

The kinds, as list requests see them:

- ``429``: a rate-limit refusal (``retry_after`` adds a ``Retry-After`` header);
- ``500``: a server error;
- ``slow``: wait ``delay`` seconds, then answer normally;
- ``truncate``: the first half of the body only;
- ``malformed``: two records of the page broken;
- ``empty``: no records, and a total of 0;
- ``repeat``: the page at offset 0 whatever offset was asked (the true total);
- ``total``: the page as usual, announcing the true total plus ``delta``
  (never below 0);
- ``short``: the first half of the page's records (rounded down), the true total;
- ``drift``: first ``delete`` live records and ``create`` new ones of the
  requested resource, then answer from the changed data.

And as writes see them (any kind above may also hit a write before it is
carried out: a ``500`` or ``429`` refuses it, a ``slow`` one delays it):

- ``lost``: carry the request out (a write is committed), wait ``delay``
  seconds, then drop the connection without an answer, as when a PMS
  commits but its answer never arrives.

``method`` (e.g. ``POST``) limits a fault to requests of that method.

Every fault may wait: ``after`` requests matching its path pass before it
applies (see :class:`FaultInjector` for how that meets the queue order).
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, TypeVar

Clock = Callable[[], float]
_T = TypeVar("_T")

_FIELDS = frozenset(
    {
        "kind",
        "count",
        "path",
        "method",
        "delay",
        "retry_after",
        "after",
        "delta",
        "create",
        "delete",
    }
)


class FaultKind(StrEnum):
    """What an injected fault does to the response."""

    RATE_LIMITED = "429"
    SERVER_ERROR = "500"
    SLOW = "slow"
    TRUNCATE = "truncate"
    MALFORMED = "malformed"
    EMPTY = "empty"
    REPEAT = "repeat"
    TOTAL = "total"
    SHORT = "short"
    DRIFT = "drift"
    LOST = "lost"


@dataclass(slots=True)
class Fault:
    """One pending fault: lets ``after`` matching requests pass, then applies to ``count``.

    ``path`` None matches every request; otherwise the request path must be
    equal to it. ``delay`` is the pause of a ``slow`` fault in seconds;
    ``retry_after`` (seconds) makes a ``429`` fault send a ``Retry-After``
    header. ``delta`` is what a ``total`` fault adds to the announced total
    (negative to announce fewer). ``create`` and ``delete`` are how many
    records a ``drift`` fault creates and deletes before each answer.

    ``delta``, ``create`` and ``delete`` are refused on the kinds that do not
    use them (a typo'd kind would otherwise pass silently), and so are a
    ``total`` fault without a ``delta`` and a ``drift`` fault that changes
    nothing. ``delay`` and ``retry_after`` are accepted on any kind, as they
    always were.
    """

    kind: FaultKind
    count: int = 1
    path: str | None = None
    delay: float = 0.0
    retry_after: float | None = None
    after: int = 0
    delta: int = 0
    create: int = 0
    delete: int = 0
    method: str | None = None

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        if self.method is not None:
            self.method = self.method.upper()
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if self.delay < 0 or not math.isfinite(self.delay):
            raise ValueError("delay must be a finite number of seconds >= 0")
        if self.retry_after is not None and (
            self.retry_after < 0 or not math.isfinite(self.retry_after)
        ):
            raise ValueError("retry_after must be a finite number of seconds >= 0")
        if self.after < 0:
            raise ValueError("after must be an integer >= 0")
        for name in ("create", "delete"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be an integer >= 0")
        if self.kind is FaultKind.TOTAL:
            if self.delta == 0:
                raise ValueError("delta must be a non-zero integer for a total fault")
        elif self.delta != 0:
            raise ValueError("delta applies only to total faults")
        if self.kind is FaultKind.DRIFT:
            if self.create == 0 and self.delete == 0:
                raise ValueError("create or delete must be above 0 for a drift fault")
        else:
            for name in ("create", "delete"):
                if getattr(self, name) != 0:
                    raise ValueError(f"{name} applies only to drift faults")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Fault:
        """Build a fault from a JSON object; ``ValueError`` names what is wrong."""
        unknown = set(data) - _FIELDS
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        kind = data.get("kind")
        if not isinstance(kind, str | int) or str(kind) not in {k.value for k in FaultKind}:
            choices = ", ".join(k.value for k in FaultKind)
            raise ValueError(f"kind must be one of {choices}")
        path = data.get("path")
        if path is not None and not isinstance(path, str):
            raise ValueError("path must be a string")
        method = data.get("method")
        if method is not None and not isinstance(method, str):
            raise ValueError("method must be a string")
        delay = _number(data.get("delay", 0.0), "delay")
        retry_after_raw = data.get("retry_after")
        retry_after = None if retry_after_raw is None else _number(retry_after_raw, "retry_after")
        return cls(
            kind=FaultKind(str(kind)),
            count=_integer(data.get("count", 1), "count"),
            path=path,
            delay=delay,
            retry_after=retry_after,
            after=_integer(data.get("after", 0), "after"),
            delta=_integer(data.get("delta", 0), "delta"),
            create=_integer(data.get("create", 0), "create"),
            delete=_integer(data.get("delete", 0), "delete"),
            method=method,
        )

    def to_json(self) -> dict[str, Any]:
        """The fault as a JSON-ready object (the shape :meth:`from_mapping` reads)."""
        return {
            "kind": self.kind.value,
            "count": self.count,
            "path": self.path,
            "delay": self.delay,
            "retry_after": self.retry_after,
            "after": self.after,
            "delta": self.delta,
            "create": self.create,
            "delete": self.delete,
            "method": self.method,
        }

    def matches(self, path: str, method: str = "GET") -> bool:
        """Whether a ``method`` request to ``path`` is one this fault is about."""
        if self.method is not None and self.method != method.upper():
            return False
        return self.path is None or self.path == path

    def announced_total(self, total: int) -> int:
        """The total a list answer announces under this fault, given the true one."""
        if self.kind is FaultKind.EMPTY:
            return 0
        if self.kind is FaultKind.TOTAL:
            return max(0, total + self.delta)
        return total


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return float(value)


def _integer(value: Any, name: str) -> int:
    # bool is an int subclass, and JSON's true must not read as 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value


class FaultInjector:
    """The queue of pending faults of one simulator.

    A request matching a fault's path either counts down the fault's
    ``after`` (while it is above 0) or, once it has reached 0, may be hit by
    it. The rule, for each request that reaches the injector:

    - every waiting fault (``after`` above 0) whose path matches counts the
      request, whatever else happens to it. So a fault's ``after`` counts
      the requests to its path since it was queued, independently of the
      other faults: adding a fault never moves when another one starts;
    - a waiting fault neither applies nor stands in the way: the request goes
      on to the faults queued after it, for its own path or any other;
    - the request takes one unit of the first armed fault (``after`` 0) in
      queue order whose path matches. Armed faults behind it wait for the
      next matching request.

    With no ``after`` anywhere this is the plain rule: faults are consumed in
    the order they were added, one unit per matching request.
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

    def take(self, path: str, method: str = "GET") -> Fault | None:
        """Count a request against waiting faults; consume one use of the first armed match."""
        hit: int | None = None
        for i, fault in enumerate(self._pending):
            if not fault.matches(path, method):
                continue
            if fault.after > 0:
                fault.after -= 1
            elif hit is None:
                hit = i
        if hit is None:
            return None
        fault = self._pending[hit]
        fault.count -= 1
        if fault.count <= 0:
            del self._pending[hit]
        self.served[fault.kind.value] += 1
        return replace(fault, count=1)

    def pending(self) -> list[dict[str, Any]]:
        """The faults still queued, as JSON-ready objects (``after`` and ``count`` left)."""
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

    def state(self, key: str) -> tuple[int, int, float]:
        """``(capacity, remaining, seconds until a slot frees)`` of ``key``'s window now.

        For rate-limit headers (``X-RateLimit-Limit``/``-Remaining``/``-Reset``);
        a disabled limit reports ``(0, 0, 0.0)``.
        """
        if self._rate <= 0:
            return (0, 0, 0.0)
        now = self._clock()
        window = self._windows.get(key) or deque()
        live = [t for t in window if t > now - self._window]
        reset = (live[0] + self._window - now) if live else 0.0
        return (self._capacity, max(0, self._capacity - len(live)), max(0.0, reset))


class RequestStats:
    """Counts of the requests a simulator served, by path and by status."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self.by_path: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.rate_limited = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        # Requests of the last second, for the busiest second seen.
        self._recent: deque[float] = deque()
        self.peak_per_second = 0

    def record(self, path: str, status: int, *, rate_limited: bool = False) -> None:
        """Count one response."""
        self.by_path[path] += 1
        self.by_status[status] += 1
        if rate_limited:
            self.rate_limited += 1
        now = self._clock()
        self.first_at = now if self.first_at is None else self.first_at
        self.last_at = now
        self._recent.append(now)
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        self.peak_per_second = max(self.peak_per_second, len(self._recent))

    def reset(self) -> None:
        """Forget every count."""
        self.by_path.clear()
        self.by_status.clear()
        self.rate_limited = 0
        self.first_at = self.last_at = None
        self._recent.clear()
        self.peak_per_second = 0

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
            # Epoch seconds of the first and last request, and the most
            # requests answered within any one second: the pace a client kept.
            "first_at": self.first_at,
            "last_at": self.last_at,
            "peak_per_second": self.peak_per_second,
        }


def short_page(records: Sequence[_T]) -> list[_T]:
    """The first half of a page's records, rounded down: what a ``short`` fault serves."""
    return list(records[: len(records) // 2])


def truncate_body(body: bytes) -> bytes:
    """The first half of ``body``: what a connection cut mid-transfer leaves."""
    return body[: len(body) // 2]


def format_retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds when exact, else a decimal."""
    if float(seconds).is_integer():
        return str(int(seconds))
    return f"{seconds:.3f}".rstrip("0")
