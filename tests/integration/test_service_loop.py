"""``wdbot daemon`` under a real restart loop, as a service manager with ``Restart=always`` (or
a container restart policy, or a reboot) runs it: a hold by ``wdbot shutdown`` outlives every
restart, while bots that ran when the supervisor went down come back (issue 23, point 1)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.helpers import Wdbot, roots, wait_until, write_bot
from watchdog_runtime.common.control import NoSupervisor, RequestFailed, request
from watchdog_runtime.common.home import Home

TICKER = """
import os, time
print("up", os.getpid(), os.environ["WDBOT_START_REASON"], flush=True)
while True:
    time.sleep(0.1)
"""

LOOP = """
    # Restart=always, RestartSec=0: 'wdbot daemon' again the moment it exits, whatever its
    # status, until this loop gets SIGTERM (forwarded, and no restart after).
    import os, signal, subprocess, sys
    journal, log = sys.argv[1], sys.argv[2]
    child, stopping = None, False

    def on_term(signum, frame):
        global stopping
        stopping = True
        if child is not None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)
    n = 0
    while not stopping:
        n += 1
        with open(log, "ab") as out:
            child = subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "daemon"],
                                     stdout=out, stderr=out)
        with open(journal, "a") as fh:
            fh.write(f"started {n} {child.pid}\\n")
        code = child.wait()
        with open(journal, "a") as fh:
            fh.write(f"exited {n} {code}\\n")
"""


@dataclass
class Loop:
    """The restart loop and its journal (``started N PID`` / ``exited N CODE`` lines)."""

    proc: subprocess.Popen[bytes]
    journal: Path
    home: Path

    def started(self) -> list[int]:
        text = self.journal.read_text() if self.journal.exists() else ""
        return [int(line.split()[2]) for line in text.splitlines() if line.startswith("started")]

    def serving(self, n: int) -> int:
        """Wait until the loop's ``n``-th daemon (or a later one: a daemon that lost the
        home lock to a command's brief look exits 1 and the loop starts another) answers on
        the socket; its pid. Asked without launching a supervisor (a command would start
        one outside the loop)."""
        def answers() -> int | None:
            started = self.started()
            if len(started) < n:
                return None
            with contextlib.suppress(NoSupervisor, RequestFailed):
                pid = request(Home(self.home), "ping", timeout_s=5.0)["pid"]
                assert pid in started, f"a supervisor outside the loop ({pid}) serves"
                return int(pid) if pid in started[n - 1:] else None
            return None

        return wait_until(answers, f"the loop's daemon number {n} to serve", timeout_s=60)

    def signal_and_restart(self, pid: int, how: signal.Signals) -> int:
        """Send ``how`` to the loop's daemon ``pid``; the pid of the next one, serving."""
        n = len(self.started()) + 1
        os.kill(pid, how)
        return self.serving(n)


@pytest.fixture
def loop(wd: Wdbot, tmp_path: Path) -> Iterator[Loop]:
    """The restart loop over ``wdbot daemon`` for ``wd``'s home, its first daemon serving;
    stopped (SIGTERM, forwarded) after the test, then killed by its group if it lingers."""
    journal = tmp_path / "journal"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(LOOP), str(journal),
                             str(tmp_path / "daemon.log")], env=wd.env, start_new_session=True)
    running = Loop(proc, journal, wd.home)
    try:
        running.serving(1)
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def starts(wd: Wdbot, name: str) -> int:
    return len(wd.events("start", name))


@pytest.mark.slow
def test_a_shutdown_stays_a_shutdown_under_a_restart_loop(wd: Wdbot, bots: Path, loop: Loop) -> None:
    """Regression (issue 23, point 1): under the unit's Restart=always the manager ran
    'wdbot daemon' again two seconds after 'wdbot shutdown', and that supervisor started
    every bot the shutdown held (it took every daemon start for a boot). Now a bot held by
    'wdbot shutdown', or stopped by 'wdbot stop', stays down through any number of restarts
    (an immediate one, a SIGTERM as at a reboot, a kill -9) until 'wdbot start'."""
    wd("start", str(write_bot(bots, "trader.py", TICKER)))
    wd("start", str(write_bot(bots, "other.py", TICKER)))
    wd("stop", "other")  # a person's stop, before the shutdown
    first = wd.bot("trader")["pid"]
    out = wd("shutdown").out
    assert "stopped" in out
    assert not roots(wd.home, "trader")

    second = loop.serving(2)  # the manager's restart, at once
    for how in (signal.SIGTERM, signal.SIGKILL):  # a reboot (systemd's SIGTERM), then a crash
        second = loop.signal_and_restart(second, how)
    assert "exited 1 0" in loop.journal.read_text()  # the shutdown's clean exit was restarted

    states = {b["name"]: (b["state"], b["held"], b["held_by"]) for b in wd.status()["bots"]}
    assert states == {"trader": ("stopped", True, "shutdown"), "other": ("stopped", False, None)}
    assert not roots(wd.home, "trader") and not roots(wd.home, "other")
    assert (starts(wd, "trader"), starts(wd, "other")) == (1, 1), "a held bot ran again"

    wd("start", "trader")  # only a person's start runs it
    bot = wd.wait_state("trader", "running")
    assert bot["pid"] != first and not bot["held"] and starts(wd, "trader") == 2
    assert wd.bot("other")["state"] == "stopped"


@pytest.mark.slow
def test_bots_that_ran_come_back_after_a_kill_or_a_reboot_in_the_loop(
        wd: Wdbot, bots: Path, loop: Loop) -> None:
    """The other side of point 1: a kill -9 of the supervisor leaves the bot running and the
    loop's next supervisor adopts it; a SIGTERM (the machine going down: systemd stops the
    unit) stops it gracefully, and the next 'wdbot daemon' (the boot) starts it again."""
    wd("start", str(write_bot(bots, "steady.py", TICKER)))
    before = wd.wait_state("steady", "running")
    supervisor = loop.signal_and_restart(loop.serving(1), signal.SIGKILL)
    after = wd.bot("steady")
    assert (after["state"], after["pid"]) == ("running", before["pid"])  # adopted, not restarted
    assert [e["bot"] for e in wd.events("adopt")] == ["steady"] and starts(wd, "steady") == 1

    # The machine goes down (systemd's SIGTERM) and boots: the unit starts 'wdbot daemon'.
    loop.signal_and_restart(supervisor, signal.SIGTERM)
    assert not psutil.pid_exists(before["pid"]) or psutil.Process(before["pid"]).status() == \
        psutil.STATUS_ZOMBIE  # stopped before that supervisor exited
    back = wd.wait_state("steady", "running")
    assert back["pid"] != before["pid"] and back["start_reason"] == "supervisor_restart"
    assert not back["held"] and starts(wd, "steady") == 2


SLOW_STOP = """
import os, signal, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))

def on_term(signum, frame):
    with open(os.path.join(HERE, "terms"), "a") as fh:
        fh.write(f"{os.getpid()}\\n")
    time.sleep(3)  # cancelling its orders
    sys.exit(0)

signal.signal(signal.SIGTERM, on_term)
print("up", os.getpid(), flush=True)
while True:
    time.sleep(0.1)
"""


@pytest.mark.slow
def test_a_kill_9_in_the_middle_of_a_shutdown_under_the_loop_still_holds(
        wd: Wdbot, bots: Path, loop: Loop) -> None:
    """The worst instant: the supervisor is killed while 'wdbot shutdown' waits for a bot
    cleaning up after its SIGTERM, and the manager starts 'wdbot daemon' at once. The new
    supervisor finishes that stop (no second SIGTERM) and never starts the bot again."""
    wd("start", str(write_bot(bots, "slow.py", SLOW_STOP)))
    pid = wd.wait_state("slow", "running")["pid"]
    with subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "shutdown"], env=wd.env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as closer:
        wait_until(lambda: (bots / "terms").exists(), "the bot's SIGTERM")
        loop.signal_and_restart(loop.serving(1), signal.SIGKILL)
        closer.wait(120)  # it fails or not: the supervisor it asked died
    wait_until(lambda: not roots(wd.home, "slow"), "the stop to be finished")
    bot = wd.bot("slow")
    assert (bot["state"], bot["held"], bot["held_by"]) == ("stopped", True, "shutdown")
    assert (bots / "terms").read_text().split() == [str(pid)]  # one SIGTERM, one process
    assert starts(wd, "slow") == 1
