"""Leak trends: a robust slope of a resource over a sliding window. Pure; times come in with
the samples (from the supervisor's monotonic clock, or a fake one in tests).

Memory is noisy in a way that fools a plain regression: the garbage collector and the
allocator make a sawtooth, a cache fills once and then stays (a step), and one sample can
spike. So:

1. The window is cut into buckets and each bucket keeps only its *minimum*: the floor the
   process returns to, not its peaks.
2. The slope is Theil-Sen (the median of all pairwise slopes), which a few outliers cannot
   move.
3. A leak is suspected only when the *floor from each point onward* (the suffix minimum,
   which a sawtooth keeps flat because its later drops pull earlier points down) rises over
   the whole window *and* over each half of it: a step then flat has a flat half, a
   sawtooth has a flat floor, a leak rises everywhere.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Sequence

from ..common.leandataclass import dataclass

Point = tuple[float, float]
"""(time in seconds, value)."""

MIN_POINTS = 4
"""No verdict from fewer completed buckets in the window (nor before ``min_span_s``)."""


def theil_sen(points: Sequence[Point]) -> float | None:
    """The median of the slopes between every pair of points (per second); None below 2.

    >>> theil_sen([(0, 0), (1, 2), (2, 4), (3, 6), (4, -100)])  # one outlier changes nothing
    2.0
    """
    if _mostly_level(points):
        return 0.0  # the median is one of the zero slopes: exact, without the n² of them
    slopes = [
        (v2 - v1) / (t2 - t1)
        for i, (t1, v1) in enumerate(points)
        for t2, v2 in points[i + 1:]
        if t2 > t1
    ]
    return _median(slopes) if slopes else None


def _mostly_level(points: Sequence[Point]) -> bool:
    """More than half of the pairs (and both middle ones, whatever the others) have equal
    values, so a slope of exactly zero: the median is zero. An idle bot's floor is one
    value bucket after bucket; its trends are refreshed at each reading of it (issue 29).

    >>> _mostly_level([(0, 5), (1, 5), (2, 5), (3, 5), (4, 9)])
    True
    >>> _mostly_level([(0, 5), (1, 5), (2, 5), (3, 9)])  # 3 of 6: a middle one is not zero
    False
    """
    if not _increasing(points):
        return False  # every pair counts only with distinct times: the plain way
    counts: dict[float, int] = {}
    for _, value in points:
        counts[value] = counts.get(value, 0) + 1
    level = sum(c * (c - 1) // 2 for c in counts.values())
    n = len(points)
    return level > (n * (n - 1) // 2) // 2  # more than half: both middles are zeros


def surely_below(floor: Sequence[Point], rate: float) -> bool:
    """True when the Theil-Sen slope of ``floor`` (non-decreasing values, increasing times)
    cannot reach ``rate`` (> 0): a pair's slope reaches it only over a time no longer than
    the floor's whole rise over ``rate``, and fewer than half of the pairs are that close.
    Exact, in one pass: a leak verdict is worked out only where one is possible.

    >>> surely_below([(0, 5), (60, 5), (120, 5)], 1.0), surely_below([(0, 0), (60, 60), (120, 120)], 1.0)
    (True, False)
    """
    n = len(floor)
    if n < 2 or rate <= 0:
        return False
    if not _increasing(floor):
        return False
    reach = (floor[-1][1] - floor[0][1]) / rate
    close, j = 0, 0
    for i in range(n):  # pairs (i, k > i) with t_k - t_i <= reach: a window over sorted times
        j = max(j, i + 1)
        while j < n and floor[j][0] - floor[i][0] <= reach:
            j += 1
        close += j - i - 1
    return close < (n * (n - 1) // 2) // 2


def _increasing(points: Sequence[Point]) -> bool:
    """Strictly increasing times (a trend's buckets always are; the fast paths count on it)."""
    return all(a[0] < b[0] for a, b in zip(points, points[1:], strict=False))


def _median(values: list[float]) -> float:
    """``statistics.median``, without importing statistics (decimal, fractions: ~0.4 MiB)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def all_level(pairs: array[float] | None, level: int, params: TrendParams) -> bool | None:
    """The verdict of a trend whose stored buckets (``pairs``: time, value, ...) all have one
    value (``level`` of them, from the newest back, have the newest's), without its points:
    True when the window holds enough for a verdict (every slope is then exactly zero, and no
    floor rises: no leak), False when it does not; None when the values differ (work it out).
    An idle bot's trends are one value bucket after bucket (issue 29: O(1), not O(n)).

    >>> params = TrendParams(window_s=100, buckets=10, min_span_s=30)
    >>> all_level(array("d", [0, 7, 10, 7, 20, 7, 30, 7]), 4, params)
    True
    >>> all_level(array("d", [0, 7, 10, 7, 20, 7, 30, 7]), 3, params) is None  # not all one value
    True
    """
    if not pairs or 2 * level < len(pairs):
        return None
    times = pairs[0::2]
    first = bisect_left(times, times[-1] - params.window_s)
    return len(times) - first >= MIN_POINTS and times[-1] - times[first] >= params.min_span_s


def suffix_minima(points: Sequence[Point]) -> list[Point]:
    """Each point's value replaced by the minimum from it to the end.

    >>> suffix_minima([(0, 5), (1, 3), (2, 4), (3, 9)])
    [(0, 3), (1, 3), (2, 4), (3, 9)]
    """
    out: list[Point] = []
    low = float("inf")
    for t, v in reversed(points):
        low = min(low, v)
        out.append((t, low))
    return out[::-1]


@dataclass(frozen=True, slots=True)
class TrendParams:
    """How a trend is measured; ``threshold_per_hour`` is the smallest rise called a leak."""

    window_s: float = 1200.0
    buckets: int = 60
    min_span_s: float = 120.0
    """Enough samples: no verdict (and no trend) before the buckets span this long."""
    threshold_per_hour: float = 30 * 1024 * 1024

    @property
    def bucket_s(self) -> float:
        return self.window_s / self.buckets


class Trend:
    """Per-bucket minima of one resource over a sliding window; bounded memory.

    The slope and the leak verdict are computed once per completed bucket and kept, so
    reading them (every status request) costs nothing. The completed minima are kept in one
    flat ``array('d')`` of (time, value) pairs (16 bytes a bucket, against ~100 for a tuple of
    two floats in a deque), allocated at the first completed bucket: every running bot has two
    trends, so they were a good part of what a bot costs the supervisor (issue 29).
    """

    __slots__ = ("params", "_pairs", "_level", "_open", "_open_index", "_slope", "_leak")

    def __init__(self, params: TrendParams) -> None:
        self.params = params
        self._pairs: array[float] | None = None
        self._level = 0
        """How many stored buckets, from the newest back, have the newest's value."""
        self._open: Point | None = None
        self._open_index = -1
        self._slope: float | None = None
        self._leak: float | None = None

    def add(self, t: float, value: float) -> bool:
        """Add a sample; True when a bucket was completed (the verdict may have changed)."""
        index = int(t // self.params.bucket_s)
        closed = False
        if self._open is not None and index != self._open_index:
            self._close(*self._open)
            self._open = None
            closed = True
            self._refresh()
        if self._open is None or value < self._open[1]:
            self._open = (t, value)
        self._open_index = index
        return closed

    def _close(self, t: float, value: float) -> None:
        """Keep a completed bucket's minimum; the oldest goes past ``buckets`` of them."""
        if self._pairs is None:
            self._pairs = array("d")
        self._level = self._level + 1 if self._pairs and self._pairs[-1] == value else 1
        self._pairs.extend((t, value))
        if len(self._pairs) > 2 * self.params.buckets:
            del self._pairs[:2]
            self._level = min(self._level, self.params.buckets)

    def stored(self) -> int:
        """How many completed buckets are kept (never more than ``params.buckets``)."""
        return len(self._pairs) // 2 if self._pairs is not None else 0

    def points(self) -> list[Point]:
        """The completed buckets' minima inside the window."""
        pairs = self._pairs
        if not pairs:
            return []
        since = pairs[-2] - self.params.window_s
        return [(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2) if pairs[i] >= since]

    def slope_per_hour(self) -> float | None:
        """Theil-Sen slope of the bucket minima, per hour; None until there is enough data."""
        return self._slope

    def leaking(self) -> float | None:
        """The rate per hour when a leak is suspected (the floor rises over the window and
        over each half of it, each at least the threshold), else None."""
        return self._leak

    def _refresh(self) -> None:
        self._slope = self._leak = None
        level = all_level(self._pairs, self._level, self.params)
        if level is not None:
            self._slope = 0.0 if level else None
            return
        pts = self.points()
        if len(pts) < MIN_POINTS or pts[-1][0] - pts[0][0] < self.params.min_span_s:
            return  # not enough samples for any verdict
        slope = theil_sen(pts)
        self._slope = None if slope is None else slope * 3600
        floor = suffix_minima(pts)
        if surely_below(floor, self.params.threshold_per_hour / 3600):
            return  # the whole window's floor cannot rise fast enough: no leak to weigh
        half = len(floor) // 2
        rates = [theil_sen(part) for part in (floor, floor[:half + 1], floor[half:])]
        per_hour = [r * 3600 for r in rates if r is not None]
        if len(per_hour) == len(rates) and min(per_hour) >= self.params.threshold_per_hour:
            self._leak = per_hour[0]
