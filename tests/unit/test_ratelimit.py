"""``wd.RateLimiter``: the bucket's arithmetic on a fake clock, pauses, and its lock under
real threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from watchdog_runtime.bot.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=4, burst=2, clock=clock)
    assert [limiter.reserve() for _ in range(4)] == [0.0, 0.0, 0.25, 0.5]
    clock.now += 10  # the bucket refills to its burst, no more
    assert [limiter.reserve() for _ in range(3)] == [0.0, 0.0, 0.25]


def test_a_pause_holds_every_caller_then_resumes_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=5, clock=clock)
    limiter.pause(10)
    assert limiter.reserve() == 10.5 and limiter.reserve() == 11.0
    clock.now += 20
    assert limiter.reserve() == 0.0


def test_a_pause_reaches_callers_already_waiting() -> None:
    clock = Clock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 1:
            limiter.pause(30)  # a 429 arrives while this caller sleeps
        clock.now += seconds

    limiter = RateLimiter(rate=1, burst=1, clock=clock, sleep=sleep)
    limiter.acquire()
    limiter.acquire()
    assert slept == [1.0, 29.0]  # woke at +1 s into a 30 s pause that began at +0


def test_cost_above_burst_is_refused() -> None:
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(rate=1, burst=2).reserve(3)
    with pytest.raises(ValueError):
        RateLimiter(rate=0)


def test_reservations_from_many_threads_are_never_shared() -> None:
    clock = Clock()  # frozen: every reservation after the burst must get its own slot
    limiter = RateLimiter(rate=1000, burst=10, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = [limiter.reserve() for _ in range(250)]
        with lock:
            waits.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(waits) == 2000
    assert sorted(waits) == [0.0] * 10 + [round(i / 1000, 9) for i in range(1, 1991)]


def test_context_managers_sync_and_async() -> None:
    clock = Clock()
    slept: list[float] = []
    limiter = RateLimiter(rate=1000, burst=2, clock=clock, sleep=slept.append)
    with limiter:
        pass

    async def use() -> None:
        async with limiter:
            pass
        await limiter.acquire_async()  # the third token: a real 1 ms asyncio sleep

    asyncio.run(use())
    with limiter:
        pass
    assert slept == [0.002] and limiter.reserve() == 0.003
