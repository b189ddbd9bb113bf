"""Token bucket: rate, burst, unlimited mode, pause, fairness under concurrency."""

from __future__ import annotations

import gc
import time
import weakref

import anyio
import pytest

from syncd.connectors import ratelimit
from syncd.connectors.ratelimit import TokenBucket, bucket_key, shared_bucket


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


# -- buckets shared by every client of one credential -----------------------------


def test_the_same_key_gives_the_same_bucket() -> None:
    key = bucket_key("RENTMANAGER", "acme", "api-user")
    first = shared_bucket(key, 8, burst=2)
    assert shared_bucket(key, 8, burst=2) is first
    other = shared_bucket(bucket_key("RENTMANAGER", "acme", "other-user"), 8, burst=2)
    assert other is not first


def test_the_lower_rate_and_burst_win() -> None:
    key = bucket_key("RESMAN", "partner-1", "account-7")
    bucket = shared_bucket(key, 10, burst=5)
    shared_bucket(key, 4, burst=8)
    assert (bucket.rate, bucket.capacity) == (4, 5)
    shared_bucket(key, 20)  # a laxer limit loosens nothing
    assert (bucket.rate, bucket.capacity) == (4, 5)
    shared_bucket(key, 0)  # nor does an unlimited one
    assert (bucket.rate, bucket.capacity) == (4, 5)
    shared_bucket(key, 3)  # a default burst is one second's worth
    assert (bucket.rate, bucket.capacity) == (3, 3)


def test_an_unlimited_shared_bucket_takes_the_first_limit_asked() -> None:
    key = bucket_key("BUILDIUM", "client-a")
    bucket = shared_bucket(key, 0)
    assert bucket.unlimited
    shared_bucket(key, 10, burst=1)
    assert not bucket.unlimited
    assert (bucket.rate, bucket.capacity) == (10, 1)


def test_the_registry_keeps_no_bucket_nobody_holds() -> None:
    key = bucket_key("BUILDIUM", "short-lived")
    bucket = shared_bucket(key, 5)
    ref = weakref.ref(bucket)
    del bucket
    gc.collect()
    assert ref() is None
    assert key not in ratelimit._SHARED
    assert shared_bucket(key, 3).rate == 3  # made anew, not tightened


def test_bucket_keys_hide_the_identity() -> None:
    key = bucket_key("rentmanager", "acme", "s3cret-password")
    assert key.startswith("RENTMANAGER:")
    assert "s3cret" not in key and "acme" not in key
    assert key == bucket_key("RENTMANAGER", "acme", "s3cret-password")
    # Parts are kept apart: ("ab", "c") is not ("a", "bc").
    assert bucket_key("X", "ab", "c") != bucket_key("X", "a", "bc")
    assert bucket_key("X", "a") != bucket_key("Y", "a")


async def test_tighten_keeps_earned_tokens_up_to_the_new_burst() -> None:
    limiter, clock = bucket(10, burst=10)
    limiter.tighten(2, burst=3)
    for _ in range(3):
        await limiter.acquire()
    assert clock.sleeps == []
    await limiter.acquire()
    assert sum(clock.sleeps) == pytest.approx(0.5)  # one token at 2 per second


async def test_tighten_rejects_a_burst_below_one() -> None:
    limiter, _ = bucket(10)
    with pytest.raises(ValueError, match="burst"):
        limiter.tighten(5, burst=0.5)


async def test_paused_for_counts_down() -> None:
    limiter, clock = bucket(10)
    assert limiter.paused_for == 0
    limiter.pause(2.0)
    assert limiter.paused_for == pytest.approx(2.0)
    clock.now += 1.5
    assert limiter.paused_for == pytest.approx(0.5)
    clock.now += 1.0
    assert limiter.paused_for == 0
