"""PID 1's restart backoff: pure, a scripted history against a fake clock."""

from __future__ import annotations

import signal

from watchdog_runtime.supervisor import pid1


def test_the_backoff_doubles_to_its_cap_and_starts_over_after_a_healthy_run() -> None:
    # (seconds the supervisor stayed up) for a history of deaths, replayed on a fake clock
    history = [0.5, 2.0, 3.0, 1.0, 4.0, 0.2, 0.2, 59.9, 60.0, 5.0]
    clock, delay, delays = 0.0, None, []
    for up_s in history:
        clock += up_s
        delay = pid1.next_delay(delay, up_s)
        delays.append(delay)
        clock += delay
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 1.0, 2.0]


def test_exit_code_reads_like_a_shell() -> None:
    assert pid1.exit_code(3 << 8) == 3 and pid1.exit_code(signal.SIGKILL) == 128 + 9
