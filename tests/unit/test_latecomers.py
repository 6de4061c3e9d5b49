"""Late members of a stop (issue 23, point 8): when a newcomer is ready for its SIGTERM, that
it gets one and only one, and that it shares the stop's deadline (``graces``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from watchdog_runtime.supervisor import graces, procs
from watchdog_runtime.supervisor.identity import Deadline, ProcessIdentity
from watchdog_runtime.supervisor.latecomers import Latecomers, ready
from watchdog_runtime.supervisor.procs import Disposition


def test_a_newcomer_is_signalled_once_it_can_take_it() -> None:
    assert not ready(Disposition.CAUGHT, 0.0), "first look: maybe between fork and exec"
    assert ready(Disposition.CAUGHT, 0.1) and ready(Disposition.IGNORED, 0.1)
    assert not ready(Disposition.DEFAULT, 0.1), "may still be setting its handler"
    assert not ready(Disposition.DEFAULT, 3600.0), "it would only die of it: SIGKILL at the deadline"


def test_each_newcomer_gets_one_sigterm_noted_and_the_spared_none() -> None:
    now = [0.0]
    members = {1: "bot", 7: "caught", 8: "default", 9: "noted before"}
    sent: list[list[str]] = []
    noted: list[list[int]] = []
    asked: list[list[int]] = []

    def term(pids: list[int]) -> frozenset[int]:
        asked.append(pids)
        return frozenset({9})

    def send(found: list[str]) -> list[int]:
        sent.append(found)
        return [pid for pid, name in members.items() if name in found]

    kinds = {7: Disposition.CAUGHT, 8: Disposition.DEFAULT, 9: Disposition.CAUGHT}
    late = Latecomers(lambda: dict(members), send, term, noted.append, kinds.get, lambda: now[0], {1})
    assert late.look() and sent == []  # found, none ready at the first look
    now[0] = 0.1
    assert late.look() and sent == [["caught"]] and noted == [[7]] and asked == [[7, 9]]
    now[0] = 5.0
    assert late.look() and len(sent) == 1, "the default one waits: it would only die of it"
    kinds[8] = Disposition.CAUGHT  # it set its handler at last
    assert late.look() and sent[-1] == ["default"] and noted[-1] == [8]
    now[0] = 10.0
    assert not late.look() and len(sent) == 2, "nobody twice, the spared never"


def test_a_late_batch_shares_the_deadline_of_the_stop_under_way() -> None:
    bot, helper = ProcessIdentity(10, 1.0, 500, "b"), ProcessIdentity(11, 2.0, 600, "b")
    stop = graces.Signalled(bot, Deadline(60.0, "b", boot_at=160.0, wall_at=0.0))

    def fresh(s: float) -> Deadline:
        return Deadline(s, "b", boot_at=130.0 + s, wall_at=0.0)

    def remaining(d: Deadline) -> float:
        return max(0.0, d.boot_at - 130.0)  # 30 s into the stop

    # The bot is gone by now, so the batch holds the helper alone: still the stop's deadline.
    late = graces.grace([stop], [helper], 60.0, fresh, remaining, late=True)
    assert late.seconds == 30.0 and late.added == (graces.Signalled(helper, stop.kill_at),)
    assert graces.grace([stop], [helper], 60.0, fresh, remaining).seconds == 60.0  # a new stop


def test_the_disposition_is_read_from_the_process() -> None:
    code = ("import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: None); "
            "print(flush=True); sys.stdin.read()")
    with subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE) as child:
        try:
            assert child.stdout is not None and child.stdout.readline() == b"\n"
            assert procs.disposition(child.pid) is Disposition.CAUGHT
            assert procs.disposition(child.pid, signal.SIGUSR2) is Disposition.DEFAULT
        finally:
            child.kill()
            child.wait(10)
    assert procs.disposition(child.pid) is None
    assert procs.disposition(os.getpid()) is not None


def test_a_pid_reused_by_a_newcomer_gets_its_own_sigterm() -> None:
    """Regression: the signalled were known by pid alone, so a newcomer on a reused pid got none."""
    now = [0.0]
    members = {1: "bot", 7: "first"}
    starts = {1: 100, 7: 200}
    sent: list[list[str]] = []

    def send(found: list[str]) -> list[int]:
        sent.append(found)
        return [pid for pid, name in members.items() if name in found]

    late = Latecomers(lambda: dict(members), send, lambda pids: frozenset(), lambda pids: None,
                      lambda pid: Disposition.CAUGHT, lambda: now[0], {1}, born=starts.get)
    late.look()
    now[0] = 0.1
    late.look()
    assert sent == [["first"]]
    members[7], starts[7] = "second", 300  # the first exited, its pid went to a newcomer
    now[0] = 0.2
    late.look()
    now[0] = 0.3
    late.look()
    assert sent == [["first"], ["second"]]
    now[0] = 1.0
    late.look()
    assert sent == [["first"], ["second"]], "nobody twice"
