"""The per-bot resource watch, driven by synthetic samples and a fake clock."""

from __future__ import annotations

import pytest

from watchdog_runtime.spec import BotSpec, RestartPolicy
from watchdog_runtime.states import Event, ExitReason
from watchdog_runtime.supervisor.backoff import BackoffPolicy
from watchdog_runtime.supervisor.lifecycle import ExitInfo, decide_after_exit
from watchdog_runtime.supervisor.resources import Limits, ResourceWatch, TreeSample, WatchSettings

MB = 1024 * 1024
LIMITS = Limits(max_memory_bytes=500 * MB, max_fds=100, machine_memory_bytes=8192 * MB, fd_rlimit=1024)


def sample(t: float, rss: float = 100 * MB, fds: int = 10, cpu: float = 0.0) -> TreeSample:
    return TreeSample(at=t, rss_bytes=int(rss), num_fds=fds, threads=2, cpu_seconds=cpu, procs=1)


def test_cpu_percent_from_cpu_time_between_samples() -> None:
    watch = ResourceWatch()
    watch.observe(sample(0, cpu=1.0), LIMITS)
    assert watch.status()["cpu_percent"] is None, "one sample says nothing about CPU"
    watch.observe(sample(2, cpu=2.0), LIMITS)
    assert watch.status()["cpu_percent"] == 50.0
    watch.observe(sample(4, cpu=1.5), LIMITS)  # a member died with its CPU time
    assert watch.status()["cpu_percent"] == 0.0


def test_a_limit_needs_consecutive_samples() -> None:
    watch = ResourceWatch(WatchSettings(consecutive=2))
    assert watch.observe(sample(0, rss=600 * MB), LIMITS).breach is None
    assert watch.observe(sample(2, rss=400 * MB), LIMITS).breach is None, "a spike is not a breach"
    assert watch.observe(sample(4, rss=600 * MB), LIMITS).breach is None
    breach = watch.observe(sample(6, rss=610 * MB), LIMITS).breach
    assert breach is not None and breach.reason is ExitReason.MEMORY_LIMIT
    assert "610M over the limit of 500M" in breach.detail
    fds = ResourceWatch(WatchSettings(consecutive=1)).observe(sample(0, fds=101), LIMITS).breach
    assert fds is not None and fds.reason is ExitReason.FD_LIMIT and "101 over the limit of 100" in fds.detail
    no_limit = Limits(None, None, 8192 * MB, None)
    assert ResourceWatch(WatchSettings(consecutive=1)).observe(sample(0, rss=10**12), no_limit).breach is None


def test_a_leak_is_reported_once_with_its_projection_and_cleared_when_it_stops() -> None:
    watch = ResourceWatch()
    new, cleared = [], []
    t = 0.0
    while t < 40 * 60:
        rss = 100 * MB + 10 * MB * min(t, 600) / 60  # 10 MB/min for 10 minutes, then flat
        verdict = watch.observe(sample(t, rss=rss), LIMITS)
        new += verdict.new_leaks
        cleared += verdict.cleared
        if t == 300:
            status = watch.status()
            assert status["leak"]["resource"] == "memory"
            # 150 MB now, 600 MB an hour: the 500 MB limit in 35 minutes
            assert status["leak"]["detail"] == \
                "RSS rising 600M/h; reaches its --max-memory (500M) in about 35m00s"
            assert status["leak"]["eta_s"] == pytest.approx(35 * 60, rel=0.02)
            assert status["rss_trend_bytes_per_hour"] == pytest.approx(600 * MB, rel=0.05)
        t += 2
    assert [leak.resource for leak in new] == ["memory"], "one event, not one per sample"
    assert cleared == ["memory"]
    assert watch.status()["leak"] is None


def test_an_fd_leak_projects_to_the_open_file_limit_without_max_fds() -> None:
    watch = ResourceWatch()
    limits = Limits(None, None, 8192 * MB, 1024)
    leaks = []
    for i in range(0, 300):
        leaks += watch.observe(sample(i * 2.0, fds=10 + i // 3), limits).new_leaks  # 10 an minute
    assert [leak.resource for leak in leaks] == ["fds"]
    assert "reaches its open-file limit (1024)" in leaks[0].detail
    assert leaks[0].eta_s is not None and leaks[0].eta_s > 0


def test_reset_forgets_the_old_process() -> None:
    watch = ResourceWatch()
    for i in range(100):
        watch.observe(sample(i * 2.0, rss=100 * MB + i * MB), LIMITS)
    watch.reset()
    assert watch.status() == ResourceWatch().status()
    assert Limits.default_max_fds(1024) == 921 and Limits.default_max_fds(None) is None


@pytest.mark.parametrize("reason", [ExitReason.MEMORY_LIMIT, ExitReason.FD_LIMIT])
def test_a_limit_restart_never_escalates_the_backoff(reason: ExitReason) -> None:
    spec = BotSpec(name="b", path="/b.py")
    info = ExitInfo(None, 15, reason, "over", "t")
    healthy = decide_after_exit(spec, info, uptime_s=3600, failures=4, uniform01=lambda: 1.0)
    assert healthy == (healthy.__class__(Event.EXIT_RESTART, 0.0, 0))
    early = decide_after_exit(spec, info, uptime_s=5, failures=2, uniform01=lambda: 1.0)
    assert early.event is Event.EXIT_RESTART and early.failures == 2
    assert early.delay_s == BackoffPolicy(1.0, 300.0).delay_s(2, lambda: 1.0), "waits, counts nothing"
    never = BotSpec(name="b", path="/b.py", restart=RestartPolicy.NEVER)
    assert decide_after_exit(never, info, 3600, 0, lambda: 1.0).event is Event.EXIT_FATAL


def held_bytes(make: object) -> int:
    """What building ``make()`` leaves allocated (tracemalloc), the result kept alive."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = make()  # type: ignore[operator]
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del kept
    return held


def test_a_bots_readings_stay_small_over_a_long_run() -> None:
    """Regression (issue 29, what a bot costs the supervisor): two hours of readings every
    2 s (fake clock, a noisy RSS) left each bot's watch holding ~18 KiB: two trends of 60
    ``(time, value)`` tuples in deques and a deque of 30 readings for the sparkline. The
    minima and readings are flat arrays now: about 4 KiB whatever the run's length, and the
    verdicts the same (the status still says the trend, the sparkline its 30 readings)."""
    def two_hours() -> ResourceWatch:
        watch = ResourceWatch()
        for i in range(2 * 1800):
            watch.observe(sample(i * 2.0, rss=100 * MB + (i * 7919 % 1000) * 4096, fds=10 + i % 3), LIMITS)
        return watch

    assert held_bytes(two_hours) <= 6 * 1024  # ~4 KiB on this code
    status = two_hours().status()
    assert len(status["rss_history"]) == 30 and status["rss_trend_bytes_per_hour"] is not None
    assert status["leak"] is None, "noise around a flat floor is no leak"
