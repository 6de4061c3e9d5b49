"""How often each bot's tree is read (issue 29: watch smarter, not less). Pure: the times
come in from the supervisor's monotonic clock, or a fake one in tests.

A reading costs the same whatever it finds, so it is spent where it can matter. A bot is
read at the watch's ``interval`` while anything could happen soon: it started a short
while ago (its first trend verdict comes at the same time as before), it runs under a limit
the user set, its trend rises or a leak is suspected, or its last readings moved. A bot
past half of a limit is read every ``FAST_S``, as before. Only a bot whose readings are flat
and far from every limit is read once per bucket of its leak trend (every 20 s by default),
always at the same point of the bucket (a housekeeping tick, ``ticks``, so all flat bots are
read in one wake the supervisor takes anyway): each bucket still gets its floor, the first
trend verdict comes at most one tick (5 s) later than read at every interval, and the first
reading that moves (or a trend that starts to rise) brings it back to the interval. A bot
flat for a while longer, its trends settled near zero, is read every few buckets
(``flat_every``), still at that point, and *peeked at* in the buckets between: its memory
alone, from one small file (the cgroup's ``memory.current``, else each process's ``statm``),
and memory that moved beyond noise has it read at once. A leak that starts in a long flat
run is then seen moving as early as when every bucket was read (a burst of a few buckets
keeps its ramp, not a step), and an idle fleet costs the supervisor almost nothing between
readings.
"""

from __future__ import annotations

from enum import Enum

from ..common.leandataclass import dataclass

FAST_S = 0.1
"""How often a bot past half of its memory or open-files limit is read."""
YOUNG_READS = 5
"""A new process is read at the interval for this many intervals (its start moves most)."""
MOVED_BYTES = 1024 * 1024
"""RSS moving by more than this (or 2 %) between two readings is movement, not noise."""


FLAT_STRETCH = ((6, 3),)
"""(flat readings in a row, read every this many buckets): after six (two minutes at the
default bucket), every third bucket, peeked at in between (``Sampler``). Not further: the
open-file count is not peeked at, and a reading every minute bounds how late it is seen."""


def flat_every(streak: int) -> int:
    """How many trend buckets apart a bot read flat ``streak`` times in a row is read.

    >>> [flat_every(n) for n in (0, 5, 6, 11, 12, 100)]
    [1, 1, 3, 3, 3, 3]
    """
    every = 1
    for after, buckets in FLAT_STRETCH:
        if streak >= after:
            every = buckets
    return every


class Pace(Enum):
    """Why a bot is read as often as it is."""

    NEAR_LIMIT = "near_limit"
    YOUNG = "young"
    LIMIT_SET = "limit_set"
    RISING = "rising"
    MOVED = "moved"
    FLAT = "flat"


@dataclass(frozen=True)
class Outlook:
    """What the last readings of one bot say, as the pacing needs it."""

    age_s: float
    """Seconds since its process started (or was adopted)."""
    near_limit: bool
    limit_set: bool
    """The user set ``--max-memory`` or ``--max-fds`` (the default open-file ceiling is not
    one: an idle bot is far from it, and movement brings the interval back)."""
    rising: bool
    """A trend rises (at least half the leak threshold) or a leak is suspected."""
    moved: bool
    """The last two readings differ (RSS beyond noise, open files, processes)."""
    settled: bool = False
    """Every trend has its slope, each under a quarter of its leak threshold: flat for sure,
    so a long flat run may be read every few buckets (``flat_every``); a slow leak, flat to
    the eye of two readings, never is (its first verdict comes as early as before)."""


def pace(outlook: Outlook, young_s: float) -> Pace:
    """The reason that sets the bot's reading interval, the most urgent first."""
    if outlook.near_limit:
        return Pace.NEAR_LIMIT
    if outlook.age_s < young_s:
        return Pace.YOUNG
    if outlook.limit_set:
        return Pace.LIMIT_SET
    if outlook.rising:
        return Pace.RISING
    return Pace.MOVED if outlook.moved else Pace.FLAT


def next_reading(reason: Pace, now: float, next_tick: float, bucket_s: float, phase: float) -> float:
    """When a bot read at ``now`` for ``reason`` is read next: ``FAST_S`` on near a limit,
    the next tick at the interval, and when flat, once per bucket at ``phase`` into it (the
    time of the bot's first reading, modulo the bucket, or a moment just after it: the
    sampler's is the housekeeping tick, ``ticks``): its trend's points then lie whole buckets
    apart from the first, so the span a verdict needs is reached no later than when it is
    read at every tick, plus how far ``phase`` is after the first reading.

    >>> next_reading(Pace.FLAT, 41.0, 43.0, 20.0, 1.0), next_reading(Pace.YOUNG, 41.0, 43.0, 20.0, 1.0)
    (61.0, 43.0)
    """
    if reason is Pace.NEAR_LIMIT:
        return min(now + FAST_S, next_tick)
    if reason is Pace.FLAT and bucket_s > next_tick - now:
        wait = (phase - now) % bucket_s
        return now + (wait if wait > 1e-6 else bucket_s)  # read at the phase: the next bucket's
    return next_tick


def young_s(interval_s: float) -> float:
    """How long a new process is read at the interval whatever its readings."""
    return YOUNG_READS * interval_s


def moved(before: tuple[int, int, int] | None, after: tuple[int, int, int]) -> bool:
    """Two readings of (RSS, open files, processes) differ beyond noise.

    >>> moved((100 << 20, 7, 1), (100 << 20, 7, 1)), moved((100 << 20, 7, 1), (100 << 20, 8, 1))
    (False, True)
    >>> moved((100 << 20, 7, 1), ((100 << 20) + 4096, 7, 1))  # a page: noise
    False
    """
    if before is None:
        return True
    rss0, fds0, procs0 = before
    rss1, fds1, procs1 = after
    return memory_moved(rss0, rss1) or fds1 != fds0 or procs1 != procs0


def memory_moved(before: int, after: int) -> bool:
    """Memory moved beyond noise (``MOVED_BYTES`` or 2 %) between two looks.

    >>> memory_moved(100 << 20, (100 << 20) + 4096), memory_moved(100 << 20, 103 << 20)
    (False, True)
    """
    return abs(after - before) > max(MOVED_BYTES, before // 50)


class Schedule:
    """When each bot is next read: one due time per bot (a newer plan replaces the older).
    A plain dict: a pass over a few hundred entries at each wake costs less than keeping a
    heap in step with the replans."""

    def __init__(self) -> None:
        self._due: dict[str, float] = {}

    def plan(self, name: str, at: float) -> None:
        """Read ``name`` at ``at`` (an earlier plan for it is forgotten)."""
        self._due[name] = at

    def sooner(self, name: str, at: float) -> None:
        """Read ``name`` at ``at`` unless it is already due before."""
        if self._due.get(name, float("inf")) > at:
            self._due[name] = at

    def when(self, name: str) -> float | None:
        """When ``name`` is planned to be read, or None."""
        return self._due.get(name)

    def forget(self, name: str) -> None:
        self._due.pop(name, None)

    def due(self, now: float) -> list[str]:
        """The bots whose reading is due at ``now``; they stay due until planned again."""
        return [name for name, at in self._due.items() if at <= now]

    def next_at(self) -> float | None:
        """The earliest planned reading, or None when no bot is planned."""
        return min(self._due.values(), default=None)

    def __contains__(self, name: str) -> bool:
        return name in self._due
