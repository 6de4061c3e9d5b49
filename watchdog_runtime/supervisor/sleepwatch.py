"""Noticing that the machine slept: a clock that counts suspended time against one that does
not. Pure detector; the clocks are injected.

Linux: ``CLOCK_BOOTTIME`` runs through a suspend, ``CLOCK_MONOTONIC`` (``time.monotonic``)
stops. macOS: ``CLOCK_MONOTONIC`` runs through sleep, ``CLOCK_UPTIME_RAW`` stops. The wall
clock is never used: NTP and people move it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from ..common.leandataclass import dataclass

Clock = Callable[[], float]
THRESHOLD_S = 30.0
"""Gaps shorter than this are scheduling noise, not sleep."""


@dataclass(frozen=True)
class Slept:
    """The machine was asleep for ``seconds``, noticed at ``noticed_mono`` (awake clock)."""

    seconds: float
    noticed_mono: float


class SleepDetector:
    """Compares the two clocks at each :meth:`check`; their difference grows only in sleep.

    >>> asleep, awake = [100.0], [100.0]
    >>> detector = SleepDetector(lambda: asleep[0], lambda: awake[0])
    >>> asleep[0] += 10; awake[0] += 10
    >>> detector.check() is None
    True
    >>> asleep[0] += 3 * 3600 + 5; awake[0] += 5        # suspended for three hours
    >>> detector.check().seconds
    10800.0
    """

    def __init__(self, through_sleep: Clock, awake: Clock, threshold_s: float = THRESHOLD_S) -> None:
        self.through_sleep = through_sleep
        self.awake = awake
        self.threshold_s = threshold_s
        self._offset = through_sleep() - awake()

    def check(self) -> Slept | None:
        awake = self.awake()
        offset = self.through_sleep() - awake
        gap, self._offset = offset - self._offset, offset
        return Slept(round(gap, 1), awake) if gap >= self.threshold_s else None


def system_clocks() -> tuple[Clock, Clock] | None:
    """(the clock that counts sleep, the one that does not) on this platform, or None."""
    if sys.platform.startswith("linux") and hasattr(time, "CLOCK_BOOTTIME"):
        return (lambda: time.clock_gettime(time.CLOCK_BOOTTIME)), time.monotonic
    if sys.platform == "darwin" and hasattr(time, "CLOCK_UPTIME_RAW"):
        return ((lambda: time.clock_gettime(time.CLOCK_MONOTONIC)),
                (lambda: time.clock_gettime(time.CLOCK_UPTIME_RAW)))
    return None
