"""The supervisor's housekeeping grid (issue 29: an idle supervisor's CPU is mostly its wakes).

Each periodic loop of the supervisor (the registry look, the ``--on-halt`` look, the sleep
watch, the uptime ping) sleeps until the next multiple of its period on the monotonic clock,
not for its period from whenever it last ran: loops whose periods are multiples of
``TICK_S`` wake together at the same instant, for ever (no drift apart, as sleeps taken from
the end of each loop's work do), and the watch puts its flat bots' readings on the same
grid (``sampler``). An idle supervisor then wakes once per tick for all of it.
"""

from __future__ import annotations

import asyncio
import math

TICK_S = 5.0
"""The grid's step: every housekeeping period (5 s, 30 s, 60 s) is a multiple of it."""


MIN_PERIOD_S = 0.001
"""The shortest period the grid keeps (a configured uptime interval may be any positive
number): a thousandth of a second, not a loop that never sleeps or a quotient that overflows."""


def tick_after(now: float, every_s: float = TICK_S) -> float:
    """The first multiple of ``every_s`` after ``now``; a hair before one counts as on it (a
    loop woken at a tick whose float came out a hair short must not wake again at once).

    >>> tick_after(12.0), tick_after(15.0), tick_after(15.0, 1.0), tick_after(59.9, 30.0)
    (15.0, 20.0, 16.0, 60.0)
    >>> tick_after(14.9999999999), tick_after(12.0, 1e-320) - 12.0 <= MIN_PERIOD_S
    (20.0, True)
    """
    every_s = max(every_s, MIN_PERIOD_S)
    tick = now - math.fmod(now, every_s) + every_s  # fmod is exact: no quotient to overflow
    return tick + every_s if tick - now < every_s * 1e-6 else tick


def tick_at_or_after(at: float, every_s: float = TICK_S) -> float:
    """The first multiple of ``every_s`` at or after ``at`` (a hair before counts as on it).

    >>> tick_at_or_after(12.0), tick_at_or_after(15.0), tick_at_or_after(14.9999999999)
    (15.0, 15.0, 15.0)
    """
    return math.ceil(at / every_s - 1e-9) * every_s


async def sleep_to_tick(every_s: float = TICK_S) -> None:
    """Sleep until the next multiple of ``every_s`` on the event loop's clock (the monotonic
    clock, as ``Supervisor.clock``)."""
    loop = asyncio.get_running_loop()
    now = loop.time()
    await asyncio.sleep(tick_after(now, every_s) - now)
