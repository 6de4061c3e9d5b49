"""Sleep detection: the pure detector on fake clocks, and the supervisor's event, status and
diagnosis wiring (the machine cannot be suspended in a test)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from watchdog_runtime.cli.render import dashboard
from watchdog_runtime.common.home import Home
from watchdog_runtime.states import ExitReason
from watchdog_runtime.supervisor.diagnosis import Failure, Pattern, diagnose
from watchdog_runtime.supervisor.sleepwatch import SleepDetector, system_clocks
from watchdog_runtime.supervisor.supervisor import Supervisor


class Clocks:
    def __init__(self) -> None:
        self.through = 1000.0
        self.awake = 500.0

    def run(self, seconds: float) -> None:
        self.through += seconds
        self.awake += seconds

    def suspend(self, seconds: float) -> None:
        self.through += seconds


def test_running_time_and_small_jitter_are_not_sleep() -> None:
    clocks = Clocks()
    detector = SleepDetector(lambda: clocks.through, lambda: clocks.awake)
    clocks.run(3600)
    clocks.suspend(2)  # a scheduling hiccup
    assert detector.check() is None
    clocks.suspend(45)
    slept = detector.check()
    assert slept is not None and slept.seconds == 45.0
    assert detector.check() is None  # reported once


def test_this_platform_has_the_two_clocks() -> None:
    clocks = system_clocks()
    assert clocks is not None
    through, awake = clocks
    assert through() >= awake() - 1  # a booted machine slept zero or more


def test_the_supervisor_records_a_sleep_as_an_event_and_in_its_status(tmp_path: Path) -> None:
    clocks = Clocks()
    sup = Supervisor(Home(tmp_path), clock=lambda: clocks.awake,
                     sleep_clocks=(lambda: clocks.through, lambda: clocks.awake))
    sup.check_sleep()
    assert sup.last_sleep is None
    clocks.suspend(3 * 3600 + 12 * 60)
    sup.check_sleep()
    event = json.loads((tmp_path / "events.jsonl").read_text().splitlines()[-1])
    assert event["kind"] == "sleep" and event["asleep_s"] == 11520.0
    assert event["message"].startswith("the machine was asleep for 3h12m")
    assert "as a service" in event["message"]
    assert sup.slept_recently() == 11520.0
    clocks.run(600)
    assert sup.slept_recently() is None  # ten minutes later, a crash is not the sleep's fault
    doc = {"supervisor": {"pid": 1, "version": "v", "home": "/h", "uptime_s": 5.0, "warnings": [],
                          "last_sleep": {"at": "2026-11-23T04:17:00+0000", "asleep_s": 11520.0,
                                         "message": event["message"]}}, "bots": []}
    console = Console(file=io.StringIO(), width=150, color_system=None)
    console.print(dashboard(doc, [], 150))
    assert "04:17 the machine was asleep for 3h12m" in console.file.getvalue()  # type: ignore[attr-defined]


def test_an_exit_right_after_a_sleep_is_put_down_to_the_sleep() -> None:
    reset = Failure(("ConnectionResetError",), "[Errno 104] Connection reset by peer", 104)
    after = diagnose(ExitReason.CRASH, 1, None, reset, slept_s=3600)
    assert after is not None and after.pattern is Pattern.SYSTEM and "slept" in after.hint
    payload = diagnose(ExitReason.CRASH, 1, None, Failure(("KeyError",), "'bids'"), slept_s=3600)
    assert payload is not None and payload.pattern is Pattern.PAYLOAD  # not the sleep's doing


def test_an_exit_just_after_a_wake_is_put_down_to_the_sleep_before_the_watch_looks(
        tmp_path: Path) -> None:
    """Issue 29: the sleep watch looks every 30 s now (it woke an idle supervisor every 5 s),
    so an exit in the seconds after a wake would find no sleep known yet. The diagnosis asks
    the clocks itself: the sleep is known, and said once, when the exit asks."""
    clocks = Clocks()
    sup = Supervisor(Home(tmp_path), clock=lambda: clocks.awake,
                     sleep_clocks=(lambda: clocks.through, lambda: clocks.awake))
    clocks.suspend(2 * 3600)
    clocks.run(1)  # the exit comes a second after the wake, before any look of the watch
    assert sup.slept_recently() == 7200.0
    sup.check_sleep()  # the watch's look after it: nothing more to say
    kinds = [json.loads(line)["kind"] for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert kinds.count("sleep") == 1
