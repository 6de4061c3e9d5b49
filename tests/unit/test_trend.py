"""The leak detector on synthetic series, sampled every 2 s by a fake clock."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from watchdog_runtime.supervisor import trend as trend_module
from watchdog_runtime.supervisor.trend import Trend, TrendParams, suffix_minima, surely_below, theil_sen

MB = 1024 * 1024
STEP_S = 2.0


def run(series: Callable[[float], float], minutes: float, params: TrendParams | None = None,
        ) -> tuple[Trend, list[float]]:
    """Feed ``series(t)`` for ``minutes``; return the trend and the times a leak was seen."""
    trend = Trend(params or TrendParams())
    seen: list[float] = []
    t = 0.0
    leaking = False
    while t <= minutes * 60:
        if trend.add(t, series(t)):  # as the supervisor does: a verdict per completed bucket
            leaking = trend.leaking() is not None
        if leaking:
            seen.append(t)
        t += STEP_S
    return trend, seen


def noise(seed: int, amplitude: float) -> Callable[[], float]:
    rng = random.Random(seed)
    return lambda: rng.uniform(-amplitude, amplitude)


def test_flat_is_never_a_leak() -> None:
    jitter = noise(1, 3 * MB)
    trend, seen = run(lambda t: 120 * MB + jitter(), 60)
    assert seen == []
    slope = trend.slope_per_hour()
    assert slope is not None and abs(slope) < 10 * MB


@pytest.mark.parametrize("period_s, amplitude", [(60, 40 * MB), (30, 10 * MB), (110, 60 * MB)])
def test_a_garbage_collector_sawtooth_is_never_a_leak(period_s: float, amplitude: float) -> None:
    _, seen = run(lambda t: 100 * MB + amplitude * ((t % period_s) / period_s), 60)
    assert seen == []


def test_a_slow_sawtooth_reads_as_a_rise_only_until_its_first_drop() -> None:
    # Before its first drop a 4-minute sawtooth cannot be told from a leak; after it, never.
    _, seen = run(lambda t: 100 * MB + 80 * MB * ((t % 240) / 240), 60)
    assert seen and max(seen) < 240 + TrendParams().bucket_s


def test_a_step_then_flat_is_never_a_leak() -> None:
    jitter = noise(2, 1 * MB)
    _, seen = run(lambda t: (100 * MB if t < 600 else 300 * MB) + jitter(), 60)
    assert seen == []


def test_a_10_mb_per_minute_leak_is_seen_within_3_minutes() -> None:
    trend, seen = run(lambda t: 100 * MB + 10 * MB * t / 60, 10)
    assert seen and seen[0] <= 180
    rate = trend.leaking()
    assert rate is not None and rate == pytest.approx(600 * MB, rel=0.05)


def test_a_noisy_leak_is_seen_too() -> None:
    jitter = noise(3, 25 * MB)
    _, seen = run(lambda t: 100 * MB + 10 * MB * t / 60 + jitter(), 10)
    assert seen and seen[0] <= 180


def test_a_leak_under_a_sawtooth_is_seen() -> None:
    _, seen = run(lambda t: 100 * MB + 2 * MB * t / 60 + 30 * MB * ((t % 60) / 60), 30)
    assert seen and seen[0] <= 12 * 60


def test_a_slow_leak_below_the_threshold_is_not_called_one() -> None:
    _, seen = run(lambda t: 100 * MB + 10 * MB * t / 3600, 60)  # 10 MB an hour
    assert seen == []


def test_a_leak_that_stops_stops_being_reported() -> None:
    def series(t: float) -> float:
        return 100 * MB + 10 * MB * min(t, 300) / 60

    trend, seen = run(series, 40)
    assert seen and seen[0] <= 180
    assert trend.leaking() is None, "flat for the last half of the window"


def test_no_verdict_and_no_trend_before_enough_samples() -> None:
    trend, _ = run(lambda t: 100 * MB + 50 * MB * t / 60, 1.5)
    assert trend.slope_per_hour() is None and trend.leaking() is None


def test_memory_is_bounded() -> None:
    trend, _ = run(lambda t: 100 * MB + math.sin(t) * MB, 300)
    assert trend.stored() <= TrendParams().buckets


def test_theil_sen_and_suffix_minima() -> None:
    assert theil_sen([(0, 1)]) is None
    assert theil_sen([(0, 0), (1, 1), (2, 2), (3, 3), (4, -50)]) == pytest.approx(1.0)
    assert suffix_minima([]) == []


def _median_of_all_pairs(points: list[tuple[float, float]]) -> float:
    """The definition, n² slopes sorted: what the fast paths must equal exactly."""
    slopes = sorted((v2 - v1) / (t2 - t1) for i, (t1, v1) in enumerate(points)
                    for t2, v2 in points[i + 1:])
    mid = len(slopes) // 2
    return slopes[mid] if len(slopes) % 2 else (slopes[mid - 1] + slopes[mid]) / 2


@pytest.mark.parametrize("seed", range(300))
def test_the_fast_paths_agree_with_the_definition(seed: int) -> None:
    """Issue 29: the refresh at each reading skips the n² slopes where the answer is sure
    (a mostly level floor: zero; a floor that cannot rise fast enough: no leak). Series with
    many ties (an idle bot's floor), at every size a window holds, against the definition."""
    rng = random.Random(seed)
    n = rng.randint(2, 60)
    levels = [rng.choice((0.0, 4096.0, 8192.0, 3 * MB)) for _ in range(rng.randint(1, 3))]
    points = [(i * 20.0 + rng.random(), rng.choice(levels) + (rng.random() < 0.2) * rng.random() * MB)
              for i in range(n)]
    assert theil_sen(points) == _median_of_all_pairs(points)
    floor = suffix_minima(points)
    rate = rng.choice((1.0, 100.0, 30 * MB / 3600, 1000.0))
    if surely_below(floor, rate):
        assert _median_of_all_pairs(floor) < rate, "said to be below, yet it reaches the rate"


def test_a_level_floor_is_known_below_without_its_slopes() -> None:
    level = [(t * 20.0, 50.0 * MB) for t in range(60)]
    assert surely_below(level, 30 * MB / 3600)
    rising = [(t * 20.0, 50.0 * MB + t * MB) for t in range(60)]
    assert not surely_below(rising, 30 * MB / 3600)
    assert not surely_below([(0.0, 1.0), (0.0, 2.0), (1.0, 3.0)], 1.0)  # equal times: the plain way
    # Half the pairs close enough, and the median (the mean of the middle two) reaches the rate:
    # not surely below (an even count of pairs needs fewer than half).
    edge = [(6.0, 2.0), (15.0, 3.0), (16.0, 8.0), (17.0, 10.0)]
    assert _median_of_all_pairs(edge) >= 1.0 and not surely_below(edge, 1.0)


def runs_of_levels(seed: int) -> Callable[[float], float]:
    """One of three values, each held for a random run of 1 to 40 buckets: level windows
    that come and go, the oldest bucket of a level run pushed out of the window."""
    rng = random.Random(seed)
    held = {"until": -1.0, "value": 0.0}

    def value(t: float) -> float:
        if t >= held["until"]:
            held["until"] = t + rng.randint(1, 40) * 20.0
            held["value"] = 80 * MB + rng.choice((0, 1, 40)) * MB
        return held["value"]
    return value


def slopes_each_bucket(series: Callable[[float], float], minutes: float) -> list[float | None]:
    """The trend's slope after each completed bucket (each verdict, not only the last)."""
    trend, out, t = Trend(TrendParams()), [], 0.0
    while t <= minutes * 60:
        if trend.add(t, series(t)):
            out.append(trend.slope_per_hour())
        t += STEP_S
    return out


@pytest.mark.parametrize("shape", ["flat", "step", "leak", "sawtooth", "late", "level", "runs"])
def test_the_verdicts_are_the_same_without_the_fast_paths(shape: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def series() -> Callable[[float], float]:
        jitter = noise(7, 2 * MB)  # the same noise for each run
        return {
            "flat": lambda t: 80 * MB + round(jitter() / MB) * MB,
            "step": lambda t: 80 * MB + (40 * MB if t > 600 else 0),
            "leak": lambda t: 80 * MB + 10 * MB * t / 60 + jitter(),
            "sawtooth": lambda t: 80 * MB + (t % 120) * MB / 4,
            "late": lambda t: 80 * MB + max(0.0, t - 1500) * MB / 6,
            "level": lambda t: 80 * MB,
            "runs": runs_of_levels(11),
        }[shape]

    trend, fast = run(series(), 60)
    fast_slopes = slopes_each_bucket(series(), 60)
    monkeypatch.setattr(trend_module, "surely_below", lambda floor, rate: False)
    monkeypatch.setattr(trend_module, "_mostly_level", lambda points: False)
    monkeypatch.setattr(trend_module, "all_level", lambda pairs, level, params: None)
    plain_trend, plain = run(series(), 60)
    assert fast == plain and trend.slope_per_hour() == plain_trend.slope_per_hour()
    assert fast_slopes == slopes_each_bucket(series(), 60), "a verdict of some bucket differs"


@pytest.mark.parametrize("seed", range(20))
def test_a_level_window_is_known_in_one_step_exactly(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 29: a trend whose window holds one value has slope 0 and no leak without its
    points; the count of level buckets is kept through the window's slide (random runs)."""
    fast = slopes_each_bucket(runs_of_levels(seed), 90)
    assert 0.0 in fast and any(s not in (0.0, None) for s in fast), "both kinds of window met"
    monkeypatch.setattr(trend_module, "all_level", lambda pairs, level, params: None)
    assert fast == slopes_each_bucket(runs_of_levels(seed), 90)
