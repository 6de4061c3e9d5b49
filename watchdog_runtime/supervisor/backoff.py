"""Exponential backoff with full jitter. Pure: the random source is injected."""

from __future__ import annotations

from collections.abc import Callable

from ..common.leandataclass import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    """Delay before restart number ``attempt`` (0-based) of a failing bot.

    The ceiling doubles per attempt from ``initial_s`` up to ``max_s``; the delay is drawn
    uniformly below the ceiling ("full jitter"), so bots that crash together (a network
    blip, an exchange outage) do not all come back in the same second.
    """

    initial_s: float = 1.0
    max_s: float = 300.0
    factor: float = 2.0

    def ceiling_s(self, attempt: int) -> float:
        """The largest delay for ``attempt``.

        >>> BackoffPolicy(1.0, 300.0).ceiling_s(0), BackoffPolicy(1.0, 300.0).ceiling_s(20)
        (1.0, 300.0)
        """
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        # Cap the exponent first: factor ** 10_000 would overflow a float.
        exponent = min(attempt, 64)
        return float(min(self.max_s, self.initial_s * self.factor**exponent))

    def delay_s(self, attempt: int, uniform01: Callable[[], float]) -> float:
        """A jittered delay in ``[0, ceiling_s(attempt)]``; ``uniform01`` returns a float in [0, 1)."""
        return uniform01() * self.ceiling_s(attempt)
