"""The pacing of the resource watch (issue 29): which bot is read how often, with a fake
clock, and that reading a flat bot once per trend bucket loses no leak verdict."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from watchdog_runtime.events import EventLog
from watchdog_runtime.supervisor.livewatch import LiveWatch
from watchdog_runtime.supervisor.pacing import (
    FAST_S,
    Outlook,
    Pace,
    Schedule,
    flat_every,
    moved,
    next_reading,
    pace,
    young_s,
)
from watchdog_runtime.supervisor.resources import Limits, ResourceWatch, TreeSample, WatchSettings
from watchdog_runtime.supervisor.ticks import TICK_S, tick_at_or_after

MIB = 1024 * 1024
SETTINGS = WatchSettings()  # interval 2 s, window 1200 s in 60 buckets of 20 s, min_span 120 s
BUCKET_S = 20.0
YOUNG_S = young_s(SETTINGS.interval_s)


def outlook(**changes: object) -> Outlook:
    base = {"age_s": 3600.0, "near_limit": False, "limit_set": False, "rising": False, "moved": False}
    return Outlook(**{**base, **changes})  # type: ignore[arg-type]


def test_each_reason_sets_its_pace_the_most_urgent_first() -> None:
    assert pace(outlook(), YOUNG_S) is Pace.FLAT
    assert pace(outlook(moved=True), YOUNG_S) is Pace.MOVED
    assert pace(outlook(rising=True, moved=True), YOUNG_S) is Pace.RISING
    assert pace(outlook(limit_set=True, rising=True), YOUNG_S) is Pace.LIMIT_SET
    assert pace(outlook(age_s=1.0, limit_set=True), YOUNG_S) is Pace.YOUNG
    assert pace(outlook(age_s=1.0, near_limit=True), YOUNG_S) is Pace.NEAR_LIMIT


def test_only_a_flat_bot_far_from_every_limit_waits_for_the_next_bucket() -> None:
    now, tick, phase = 41.0, 43.0, 7.0
    for reason in (Pace.YOUNG, Pace.LIMIT_SET, Pace.RISING, Pace.MOVED):
        assert next_reading(reason, now, tick, BUCKET_S, phase) == tick
    assert next_reading(Pace.NEAR_LIMIT, now, tick, BUCKET_S, phase) == pytest.approx(now + FAST_S)
    assert next_reading(Pace.FLAT, now, tick, BUCKET_S, phase) == pytest.approx(47.0)
    assert next_reading(Pace.FLAT, 47.0, 49.0, BUCKET_S, phase) == pytest.approx(67.0), "one bucket on"
    readings = [1.0]
    for _ in range(10):
        readings.append(next_reading(Pace.FLAT, readings[-1], readings[-1] + 2, BUCKET_S, readings[0]))
    assert [int(t // BUCKET_S) for t in readings] == list(range(11)), "one reading in every bucket"
    assert next_reading(Pace.FLAT, 41.0, 41.2, 0.1, phase) == 41.2, "buckets under a tick: every tick"


def test_movement_is_beyond_noise_and_any_change_of_files_or_processes() -> None:
    base = (100 * MIB, 7, 1)
    assert moved(None, base)
    assert not moved(base, (100 * MIB + 512 * 1024, 7, 1))
    assert moved(base, (103 * MIB, 7, 1))
    assert moved(base, (100 * MIB, 8, 1)) and moved(base, (100 * MIB, 7, 2))


def test_the_schedule_gives_each_due_bot_until_it_is_planned_again() -> None:
    schedule = Schedule()
    assert schedule.next_at() is None and schedule.due(0.0) == []
    schedule.plan("a", 5.0)
    schedule.plan("b", 2.0)
    schedule.sooner("a", 9.0)  # not sooner: kept at 5
    assert schedule.next_at() == 2.0 and schedule.due(4.0) == ["b"]
    assert schedule.due(4.0) == ["b"], "still due: nobody planned it again"
    schedule.plan("b", 30.0)
    assert sorted(schedule.due(6.0)) == ["a"]
    schedule.forget("a")
    assert "a" not in schedule and schedule.next_at() == 30.0


# ------------------------------------------------- a leak verdict comes as early as before
def leak_verdict_at(times: Callable[[float], float], rss: Callable[[float], float], first: float,
                    until_s: float = 600.0) -> float | None:
    """Feed a ResourceWatch the readings taken at ``times`` (next reading after t); the time
    of the first leak verdict."""
    watch = ResourceWatch(SETTINGS)
    limits = Limits(None, None, 64 << 30, 1024)
    t = first
    while t < until_s:
        verdict = watch.observe(TreeSample(t, int(rss(t)), 7, 1, 0.0, 1), limits)
        if verdict.new_leaks:
            return t
        t = times(t)
    return None


def test_a_slow_leak_read_once_per_bucket_is_suspected_as_early_as_read_every_interval() -> None:
    """Issue 29: a slow leak (60 MB/h: a few kB between two readings, flat to the eye of one
    reading) read only once per bucket, at the tick after its first reading's phase, is
    suspected within one housekeeping tick (``ticks``, 5 s) of the reading every 2 s that the
    watch did before: its phase is the tick at or after its first reading."""
    def rss(t: float) -> float:
        return 80 * MIB + 60 * MIB * t / 3600

    for first in (1.0, 7.0, 15.0, 19.5, 1003.7, 1004.9):
        tick = tick_at_or_after(first)  # as the sampler puts flat bots on the grid

        def per_bucket(t: float, tick: float = tick) -> float:
            return next_reading(Pace.FLAT, t, t + SETTINGS.interval_s, BUCKET_S, tick)

        def every(t: float) -> float:
            return t + SETTINGS.interval_s

        before = leak_verdict_at(every, rss, first, until_s=first + 600)
        after = leak_verdict_at(per_bucket, rss, first, until_s=first + 600)
        assert before is not None and after is not None
        assert after <= before + TICK_S, f"first reading at {first}"
        assert after < before + BUCKET_S / 2, "not a bucket later"


# ------------------------------------------------------------- LiveWatch.outlook
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def live_watch(tmp_path: Path, clock: Clock) -> LiveWatch:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "stderr.log").write_text("")
    watch = LiveWatch("bot", logs / "stderr.log", logs, EventLog(tmp_path / "events.jsonl"), clock)
    asyncio.run(_new_process(watch))
    return watch


async def _new_process(watch: LiveWatch) -> None:
    watch.new_process()


def reading(clock: Clock, rss: int, fds: int = 7) -> TreeSample:
    return TreeSample(clock.now, rss, fds, 1, 0.0, 1, (4242,))


def limits(max_memory: int | None = None) -> Callable[[], Limits]:
    return lambda: Limits(max_memory, Limits.default_max_fds(1024), 64 << 30, 1024)


def test_a_new_process_is_young_then_flat_and_moving_brings_it_back(tmp_path: Path) -> None:
    clock = Clock()
    watch = live_watch(tmp_path, clock)
    young = young_s(SETTINGS.interval_s)
    watch.observe(4242, reading(clock, 50 * MIB), SETTINGS, limits())
    assert pace(watch.outlook(), young) is Pace.YOUNG
    for _ in range(6):
        clock.now += SETTINGS.interval_s
        watch.observe(4242, reading(clock, 50 * MIB), SETTINGS, limits())
    assert pace(watch.outlook(), young) is Pace.FLAT, "flat and far: the default fd ceiling is no limit set"
    clock.now += BUCKET_S
    watch.observe(4242, reading(clock, 50 * MIB, fds=9), SETTINGS, limits())
    assert pace(watch.outlook(), young) is Pace.MOVED
    (tmp_path / "logs" / "stderr.log").write_text("Traceback (most recent call last):\n")
    clock.now += SETTINGS.interval_s
    watch.observe(4242, reading(clock, 50 * MIB, fds=9), SETTINGS, limits())
    assert pace(watch.outlook(), young) is Pace.MOVED, "new output on stderr is movement too"


def test_a_limit_set_keeps_the_interval_and_past_half_reads_fast(tmp_path: Path) -> None:
    clock = Clock()
    watch = live_watch(tmp_path, clock)
    clock.now += 3600
    for _ in range(3):
        clock.now += SETTINGS.interval_s
        watch.observe(4242, reading(clock, 50 * MIB), SETTINGS, limits(300 * MIB))
    assert pace(watch.outlook(), YOUNG_S) is Pace.LIMIT_SET
    clock.now += SETTINGS.interval_s
    watch.observe(4242, reading(clock, 160 * MIB), SETTINGS, limits(300 * MIB))
    assert pace(watch.outlook(), YOUNG_S) is Pace.NEAR_LIMIT


def test_a_rising_trend_keeps_the_interval(tmp_path: Path) -> None:
    clock = Clock()
    watch = live_watch(tmp_path, clock)
    rss = 50 * MIB
    while clock.now < 1000 + 400:
        clock.now += BUCKET_S
        rss += 2 * MIB // 3  # 120 MB/h: above the threshold, under the noise of one reading
        watch.observe(4242, reading(clock, rss), SETTINGS, limits())
    outlook = watch.outlook()
    assert outlook.rising and not outlook.moved
    assert pace(outlook, YOUNG_S) is Pace.RISING


def test_only_a_settled_trend_lets_a_flat_bot_be_read_every_few_buckets(tmp_path: Path) -> None:
    """Issue 29 (fourth round): a bot flat for six readings was read every third bucket,
    which put the first verdict on a slow leak (120 MB/h from the start: flat to the eye of
    two readings, before its trend has a slope) 40 s later than reading once per bucket. The
    stretch now waits for settled trends: a slope under a quarter of the threshold."""
    assert [flat_every(n) for n in (0, 5, 6, 12)] == [1, 1, 3, 3]
    clock = Clock()
    (tmp_path / "flat").mkdir()
    (tmp_path / "slow").mkdir()
    flat, slow = live_watch(tmp_path / "flat", clock), live_watch(tmp_path / "slow", clock)
    rss = 50 * MIB
    for step in range(12):  # four minutes, a reading per bucket
        clock.now += BUCKET_S
        rss += MIB // 3  # 60 MB/h: twice the threshold, a third of the noise of one reading
        flat.observe(4242, reading(clock, 50 * MIB), SETTINGS, limits())
        slow.observe(4243, reading(clock, rss), SETTINGS, limits())
        if step < 5:  # no slope yet (the first verdict's span): settled is never guessed
            assert not flat.outlook().settled and not slow.outlook().settled
    assert flat.outlook().settled and pace(flat.outlook(), YOUNG_S) is Pace.FLAT
    assert not slow.outlook().settled and not slow.outlook().moved
