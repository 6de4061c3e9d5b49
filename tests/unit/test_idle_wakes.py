"""How often an idle supervisor's periodic work wakes it (issue 29: each wake costs CPU): the
registry watch looks every few seconds while the file reads well, every second while it
cannot be read; the supervisor's own log is checked further apart while it does not grow.
The watch's loop runs on a stand-in supervisor whose sleeps are recorded, not slept."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from watchdog_runtime.common import logrotate
from watchdog_runtime.supervisor import housekeeping


class StandIn:
    """What ``watch_registry`` uses of a supervisor: its registry look and its writer."""

    def __init__(self, broken_at: set[int]) -> None:
        self.unreadable: object | None = None
        self.looks = 0
        self._broken_at = broken_at
        self.writer = self

    def check_registry(self) -> None:
        self.looks += 1
        self.unreadable = "broken" if self.looks in self._broken_at else None

    def flush_quietly(self) -> None:
        pass


def test_the_registry_is_looked_at_every_few_seconds_and_every_second_while_broken(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []

    async def recorded(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) >= 5:
            raise asyncio.CancelledError

    monkeypatch.setattr(housekeeping.asyncio, "sleep", recorded)
    sup: Any = StandIn(broken_at={2, 3})
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(housekeeping.watch_registry(sup))
    quiet, broken = housekeeping.REGISTRY_LOOK_S, housekeeping.REGISTRY_BROKEN_LOOK_S
    assert sleeps == [quiet, quiet, broken, broken, quiet]
    assert quiet >= 5 * broken


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
