"""How often an idle supervisor's periodic work wakes it (issue 29: each wake costs CPU): the
registry watch looks every few seconds while the file reads well, every second while it
cannot be read, and every housekeeping loop wakes on one grid (``ticks``), so together they
wake the supervisor once a tick; the supervisor's own log is checked further apart while it
does not grow, and at once when the supervisor writes it. The loops run on an event loop
whose clock is virtual: each wait of the loop moves it on, none is slept."""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.helpers import wait_until
from watchdog_runtime.common import logrotate
from watchdog_runtime.supervisor import housekeeping, modes, ticks


class VirtualSelector(selectors.SelectSelector):
    """The loop's selector: a wait moves the virtual clock on by its timeout, at once; each
    wait that moved it is a wake of the supervisor, kept in ``wakes``."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1003.7  # not on the grid: the loops find it themselves
        self.wakes: list[float] = []

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:
            raise AssertionError("the loops wait for ever: nothing would wake the supervisor")
        if timeout > 0:
            self.now += timeout
            self.wakes.append(self.now)
        return []


class VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.virtual = VirtualSelector()
        self.end = 0.0
        super().__init__(self.virtual)

    def wakes(self) -> list[float]:
        """The supervisor's wakes before the test's own at the end."""
        return [at for at in self.virtual.wakes if at < self.end - 1e-9]

    def time(self) -> float:
        return self.virtual.now


class StandIn:
    """What the housekeeping loops use of a supervisor: its registry look (broken at the
    looks in ``broken_at``), writer, sleep check, settings and runners (none: no --on-halt)."""

    def __init__(self, broken_at: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.unreadable: object | None = None
        self.looks: list[float] = []
        self._broken_at = broken_at
        self.writer = self
        self.runners: dict[str, Any] = {}
        self.events = SimpleNamespace(listeners=[])
        self.sleep_checks = 0

    def check_registry(self) -> None:
        self.looks.append(asyncio.get_running_loop().time())
        self.unreadable = "broken" if len(self.looks) in self._broken_at else None

    def flush_quietly(self) -> None:
        pass

    def check_sleep(self) -> None:
        self.sleep_checks += 1

    def settings(self) -> Any:
        return SimpleNamespace(uptime_interval_s=60.0, uptime_url=None)

    def healthy(self) -> bool:
        return True


def run_for(seconds: float, sup: StandIn) -> VirtualLoop:
    """The supervisor's housekeeping loops, for ``seconds`` of the virtual clock."""
    loop = VirtualLoop()

    async def main() -> None:
        tasks = [asyncio.create_task(work) for work in (
            housekeeping.watch_registry(sup),  # type: ignore[arg-type]
            housekeeping.watch_sleep(sup),  # type: ignore[arg-type]
            housekeeping.ping_forever(sup),  # type: ignore[arg-type]
            modes.ModeKeeper(sup).enforce_forever())]  # type: ignore[arg-type]
        loop.end = loop.time() + seconds
        await asyncio.sleep(seconds)  # the test's own wake, at the end: not counted
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in tasks:
            assert task.cancelled(), task

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return loop


def test_every_housekeeping_loop_wakes_on_the_grid_together_once_a_tick() -> None:
    """Issue 29: the registry look, the --on-halt look (no bot has it), the sleep watch and
    the uptime ping each slept for its period from whenever it last ran, so they drifted
    apart and each woke the supervisor on its own (about 21 wakes a minute with the watch's)."""
    sup = StandIn()
    loop = run_for(300.0, sup)
    wakes = loop.wakes()
    assert all(abs(at / ticks.TICK_S - round(at / ticks.TICK_S)) < 1e-6 for at in wakes), wakes[:5]
    assert len(wakes) == len(set(wakes)) == 60, "one wake a tick for all of them"
    gaps = {round(b - a, 6) for a, b in zip(sup.looks, sup.looks[1:], strict=False)}
    assert gaps == {housekeeping.REGISTRY_LOOK_S}
    assert sup.sleep_checks == 10, "every 30 s"


def test_the_registry_is_looked_at_every_second_while_broken_on_the_same_grid() -> None:
    sup = StandIn(broken_at={2, 3})
    run_for(30.0, sup)
    gaps = [round(b - a, 6) for a, b in zip(sup.looks, sup.looks[1:], strict=False)]
    quiet, broken = housekeeping.REGISTRY_LOOK_S, housekeeping.REGISTRY_BROKEN_LOOK_S
    assert gaps[:3] == [quiet, broken, broken] and gaps[3] <= quiet
    assert quiet >= 5 * broken
    assert all(abs(at - round(at)) < 1e-6 for at in sup.looks), "whole seconds: on the grid"
    assert sup.looks[4] % quiet == 0, "readable again: back on the others' ticks"


def test_the_supervisors_own_log_is_checked_further_apart_while_quiet() -> None:
    """The waits of ``logrotate.start``'s thread with ``quiet_s`` (the supervisor's own log): a
    log that stops growing is checked 2, 4, 8, 8 s apart; a line brings back the 1 s check,
    a fast writer the busy one; without ``quiet_s`` (a bot's logs) nothing changes."""
    policy = logrotate.RotationPolicy(interval_s=1.0, busy_interval_s=0.1)
    waits = [logrotate._next_interval(1.0, policy, False, False, 8.0)]
    for _ in range(3):
        waits.append(logrotate._next_interval(waits[-1], policy, False, False, 8.0))
    assert waits == [2.0, 4.0, 8.0, 8.0]
    assert logrotate._next_interval(8.0, policy, False, True, 8.0) == 1.0  # it grew
    assert logrotate._next_interval(8.0, policy, True, True, 8.0) == 0.1  # it grew fast
    assert logrotate._next_interval(8.0, policy, False, False, None) == 1.0  # a bot's: as ever


class RecordedEvent(threading.Event):
    """The watch's wake: each wait it took, its timeout and whether a set ended it."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[tuple[float | None, bool]] = []

    def wait(self, timeout: float | None = None) -> bool:
        woken = super().wait(timeout)
        self.waits.append((timeout, woken))
        return woken


def test_a_line_of_the_supervisor_ends_its_own_log_watchs_quiet_wait_and_is_rotated(
        tmp_path: Path) -> None:
    """Issue 29: the own-log thread woke every 8 s at most while the log did not grow (7 wakes
    a minute of an idle supervisor). Its quiet waits now go to a minute, and the supervisor's
    own lines (a logging filter) end such a wait at once: a log past its size is rotated
    without waiting for the minute."""
    log = tmp_path / "supervisor.log"
    writer = log.open("a")  # the supervisor's stderr
    policy = logrotate.RotationPolicy(max_bytes=1024, backups=2, interval_s=0.05, busy_interval_s=0.01)
    nudge = logrotate.Nudge()
    nudge.event = RecordedEvent()
    nudge()
    assert not nudge.event.is_set(), "not listening yet: a line while it checks often is free"
    logrotate.start([(log, (writer.fileno(),))], policy, quiet_s=3600.0, nudge=nudge)
    with writer:
        wait_until(lambda: nudge.listening, "the watch in a quiet wait")
        nudge()  # the filter, called at a line
        writer.write("a line of the supervisor\n" * 100)  # 2.5 KB: past its size
        writer.flush()
        wait_until(lambda: (tmp_path / "supervisor.log.1").exists(), "the log rotated")
    waits = nudge.event.waits
    quiet = [woken for timeout, woken in waits if timeout is not None and timeout > policy.interval_s]
    assert True in quiet, f"no quiet wait was ended by the line: {waits}"
    assert all(timeout is not None and timeout <= 3600.0 for timeout, _ in waits)


SUPERVISOR_WIRING = r"""
import logging, os, sys, threading, time
from pathlib import Path
from watchdog_runtime.common import logrotate
from watchdog_runtime.common.home import Home
from watchdog_runtime.supervisor import daemon

home = Home(Path(sys.argv[1]))
home.root.mkdir(parents=True, exist_ok=True)
home.config.write_text('[logs]\nmax_size = "2K"\nbackups = 2\n')
fd = os.open(home.supervisor_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
os.dup2(fd, 2)  # as a launched supervisor's stderr
waits = []

class Recorded(threading.Event):
    def wait(self, timeout=None):
        woken = super().wait(timeout)
        waits.append((timeout, woken))
        return woken

made = logrotate.Nudge.__init__
def recorded_init(self):
    made(self)
    self.event = Recorded()
logrotate.Nudge.__init__ = recorded_init
logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True)
daemon._rotate_own_log(home)
nudge = sys.stderr._nudge
deadline = time.monotonic() + 30
while not nudge.listening and time.monotonic() < deadline:
    time.sleep(0.01)
assert nudge.listening, "the watch never went quiet"
def fail():
    raise RuntimeError("x" * 4000)  # a thread's traceback: through sys.stderr, not logging
threading.Thread(target=fail).start()
rotated = Path(str(home.supervisor_log) + ".1")
while not rotated.exists() and time.monotonic() < deadline:
    time.sleep(0.01)
print(rotated.exists(), any(woken for timeout, woken in waits if timeout > 1.0), file=sys.__stdout__)
"""


def test_the_supervisors_stderr_writes_that_are_not_log_records_end_the_quiet_wait_too(
        tmp_path: Path) -> None:
    """Review of issue 29's change: the nudge was a logging filter, so a thread's traceback,
    a warning or an unraisable exception (written to sys.stderr, not logged) waited up to the
    60 s quiet wait before the size check (8 s before the change). sys.stderr and the log
    handler's stream are now one nudging stream, nudged after each write."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", SUPERVISOR_WIRING, str(tmp_path / "home")],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["True", "True"], done.stdout + done.stderr[-2000:]
