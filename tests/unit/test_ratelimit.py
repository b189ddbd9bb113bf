"""Token bucket: rate, burst, unlimited mode, pause, fairness under concurrency."""

from __future__ import annotations

import time

import anyio
import pytest

from syncd.connectors.ratelimit import TokenBucket


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()


def bucket(rate: float, burst: float | None = None) -> tuple[TokenBucket, FakeClock]:
    clock = FakeClock()
    return TokenBucket(rate, burst, clock=clock, sleep=clock.sleep), clock


async def test_burst_is_free_then_rate_applies() -> None:
    limiter, clock = bucket(10)
    for _ in range(10):
        await limiter.acquire()
    assert clock.now == 1000.0
    for _ in range(10):
        await limiter.acquire()
    assert clock.now - 1000.0 == pytest.approx(1.0)


async def test_default_burst_is_one_second_of_rate() -> None:
    assert TokenBucket(10).capacity == 10
    assert TokenBucket(0.5).capacity == 1
    assert TokenBucket(5, burst=2).capacity == 2


async def test_burst_of_one_spaces_every_request() -> None:
    limiter, clock = bucket(4, burst=1)
    for _ in range(5):
        await limiter.acquire()
    assert clock.now - 1000.0 == pytest.approx(1.0)


async def test_tokens_refill_while_idle_but_not_beyond_capacity() -> None:
    limiter, clock = bucket(10, burst=5)
    for _ in range(5):
        await limiter.acquire()
    clock.now += 100  # a long idle period refills only up to the burst
    for _ in range(5):
        await limiter.acquire()
    assert clock.sleeps == []
    await limiter.acquire()
    assert sum(clock.sleeps) == pytest.approx(0.1)


@pytest.mark.parametrize("rate", [0, -1])
async def test_zero_or_negative_rate_is_unlimited(rate: float) -> None:
    limiter, clock = bucket(rate)
    assert limiter.unlimited
    for _ in range(10_000):
        await limiter.acquire()
    assert clock.sleeps == []


async def test_pause_holds_back_callers_even_when_unlimited() -> None:
    limiter, clock = bucket(0)
    limiter.pause(0.5)
    await limiter.acquire()
    assert clock.now - 1000.0 == pytest.approx(0.5)


async def test_pause_keeps_the_later_deadline() -> None:
    limiter, clock = bucket(100)
    limiter.pause(2.0)
    limiter.pause(0.5)
    await limiter.acquire()
    assert clock.now - 1000.0 == pytest.approx(2.0)


async def test_too_many_tokens_at_once_is_an_error() -> None:
    limiter, _ = bucket(10, burst=2)
    with pytest.raises(ValueError, match="cannot take"):
        await limiter.acquire(3)


def test_burst_below_one_is_rejected() -> None:
    with pytest.raises(ValueError):
        TokenBucket(10, burst=0.5)


async def test_concurrent_waiters_share_the_rate() -> None:
    limiter, clock = bucket(10)
    done: list[float] = []

    async def worker() -> None:
        await limiter.acquire()
        done.append(clock.now)

    async with anyio.create_task_group() as tg:
        for _ in range(30):
            tg.start_soon(worker)
    assert len(done) == 30
    # 10 from the burst, then 20 more at 10/s.
    assert max(done) - 1000.0 == pytest.approx(2.0)


async def test_cancelled_waiter_takes_nothing() -> None:
    limiter, clock = bucket(1, burst=1)
    await limiter.acquire()
    with anyio.move_on_after(0.01):
        # Real sleep so the scope can expire while the waiter waits.
        limiter._sleep = anyio.sleep
        await limiter.acquire()
    limiter._sleep = clock.sleep
    clock.now += 1.0
    await limiter.acquire()  # the refilled token is still there
    assert clock.sleeps == []


async def test_real_clock_rate() -> None:
    limiter = TokenBucket(50, burst=1)
    started = time.monotonic()
    for _ in range(11):
        await limiter.acquire()
    elapsed = time.monotonic() - started
    assert 0.18 <= elapsed < 0.6
