"""``wd.RateLimiter``: a token bucket shared by every caller of one API. Stdlib only.

``rate`` tokens per second flow into a bucket that holds at most ``burst``; each call takes
one (or ``cost``) and waits when the bucket is empty. Waiters queue in arrival order: a
token is reserved at once and the caller sleeps until it is due. ``pause(s)`` (or feeding it
a ``Retry-After``) empties the bucket and holds every caller for ``s`` seconds, so one 429
slows down the whole bot rather than the one call that saw it.

Thread-safe; ``acquire`` for threads, ``await acquire_async()`` for asyncio, and both as
context managers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType


class RateLimiter:
    """A token bucket: ``rate`` calls per second on average, ``burst`` at once.

    >>> ticks = iter([0.0, 0.0, 0.0, 0.0])
    >>> limiter = RateLimiter(rate=10, burst=2, clock=lambda: next(ticks))
    >>> limiter.reserve(), limiter.reserve(), limiter.reserve()  # the third waits 1/10 s
    (0.0, 0.0, 0.1)

    In a bot::

        limiter = wd.RateLimiter(rate=5, burst=10)   # the exchange allows 5 requests/s
        with limiter:
            ticker = exchange.fetch_ticker("BTC/USDT")
    """

    def __init__(self, rate: float, burst: int = 1, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be above 0 and burst at least 1")
        self.rate = float(rate)
        self.burst = int(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._since = clock()
        """Tokens accrue from this instant on; in the future while paused."""
        self._paused_until = float("-inf")

    def reserve(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens now and return how many seconds to wait before using them."""
        if cost > self.burst:
            raise ValueError(f"cost {cost} is more than the burst {self.burst}")
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= cost
            deficit_s = max(0.0, -self._tokens) / self.rate
            return round(max(0.0, self._since - now) + deficit_s, 9)

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (a server's ``Retry-After``), then resume slowly.

        >>> ticks = iter([0.0, 0.0, 0.0])
        >>> limiter = RateLimiter(rate=10, burst=5, clock=lambda: next(ticks))
        >>> limiter.pause(30)
        >>> limiter.reserve()  # the 30 s pause, plus one token's worth
        30.1
        """
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens = min(self._tokens, 0.0)
            self._since = max(self._since, now + max(0.0, seconds))
            self._paused_until = max(self._paused_until, now + max(0.0, seconds))

    def _held_s(self) -> float:
        """What is left of a pause that began while a caller was already waiting."""
        with self._lock:
            return max(0.0, self._paused_until - self._clock())

    def acquire(self, cost: float = 1.0) -> None:
        """Block until ``cost`` tokens are ours."""
        delay = self.reserve(cost)
        while delay > 0:
            self._sleep(delay)
            delay = self._held_s()

    async def acquire_async(self, cost: float = 1.0) -> None:
        """Wait (without blocking the event loop) until ``cost`` tokens are ours."""
        import asyncio

        delay = self.reserve(cost)
        while delay > 0:
            await asyncio.sleep(delay)
            delay = self._held_s()

    def _refill(self, now: float) -> None:
        if now > self._since:
            self._tokens = min(float(self.burst), self._tokens + (now - self._since) * self.rate)
            self._since = now

    def __enter__(self) -> RateLimiter:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    async def __aenter__(self) -> RateLimiter:
        await self.acquire_async()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        return None
