"""When a failed delivery is tried again: exponential backoff with full jitter.

The n-th retry waits a uniformly random time between zero and
``min(max_delay, base * 2**(n-1))`` (full jitter keeps a receiver that comes
back from being hit by every dispatcher at once). Retries go on until
``window`` after the first attempt; the last one happens at the window's
end, and if it fails too the delivery is dead-lettered. The defaults retry
for 24 hours.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The retry schedule of failed deliveries."""

    base: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(hours=6)
    window: timedelta = timedelta(hours=24)
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base <= timedelta(0) or self.max_delay < self.base:
            raise ValueError("retry base must be positive and at most max_delay")
        if self.window < timedelta(0):
            raise ValueError("retry window must not be negative")

    def ceiling(self, attempts: int) -> timedelta:
        """The longest wait after ``attempts`` failed attempts (before jitter)."""
        exponent = min(max(attempts - 1, 0), 60)
        grown: timedelta = self.base * (2**exponent)
        return min(self.max_delay, grown)

    def next_attempt(
        self, attempts: int, first_attempt_at: datetime, now: datetime
    ) -> datetime | None:
        """When to try again after ``attempts`` failures, or None: dead-letter it."""
        deadline = first_attempt_at + self.window
        if now >= deadline:
            return None
        wait = self.ceiling(attempts).total_seconds() * self.rng.random()
        return min(now + timedelta(seconds=wait), deadline)
