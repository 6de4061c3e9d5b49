"""Processes held still (SIGSTOP) while a stop signals them and notes it, so that none can
act on its SIGTERM before the note is on disk.

The note (``sentmarks``) is written right after the ``kill``, but the ``kill`` wakes the
process, and on a busy machine the kernel runs it at once in the supervisor's place: its
handler starts cleaning up while the supervisor waits for the CPU, the note unwritten. A
supervisor killed then (``make chaos`` aims there: it kills when the bot's handler has run;
three runs of some twenty-five, on a busy machine) left that process unmarked, and the
supervisor finishing the stop sent it a second SIGTERM.

Held, a process cannot run its handler: the signal stays pending until the SIGCONT, which
comes after the note. A supervisor killed in between leaves it stopped with the signal
pending, and the next one, finishing the stop, sends it again: a standard signal that is
pending already is not queued twice, so the process still handles one. Every stop
continues every process it holds or spares (one the killed supervisor left stopped), as
systemd follows each SIGTERM with a SIGCONT.

A SIGSTOP takes effect only when its process next runs, and a SIGTERM pending by then is
taken first (the lower number): its handler would run before the stop. So the hold waits,
a bounded while, until each process shows it is stopped (``/proc/PID/stat``); one that does
not in time (in uninterruptible I/O, say) is signalled anyway, as before the hold.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable, Iterator

from .identity import LINUX, stat_fields

STOPPED_WAIT_S = 0.25
"""At most this long for all of a hold's processes to stop (a woken process stops within
microseconds on an idle machine, milliseconds on a busy one)."""

_STOPPED = frozenset("TtZX")
"""States in which a process runs no handler: stopped, traced, a zombie, dead."""


@contextlib.contextmanager
def held(pids: Iterable[int], wait_s: float = STOPPED_WAIT_S) -> Iterator[list[int]]:
    """SIGSTOP each of ``pids`` now and wait (up to ``wait_s``) until they are stopped;
    SIGCONT each when the block ends (also on an error). Yields the pids sent the SIGSTOP; a
    pid that is gone or not ours is skipped. Keep the block short and without ``await``:
    held processes do nothing, their heartbeats included."""
    stopped: list[int] = []
    try:
        for pid in dict.fromkeys(pids):
            if pid <= 0 or pid == os.getpid():  # 0 and -1 mean groups to os.kill; never itself
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
        _until_stopped(stopped, time.monotonic() + wait_s)
        yield stopped
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGCONT)


def _until_stopped(pids: list[int], deadline: float) -> None:
    """Return when each of ``pids`` is stopped or gone, or at ``deadline`` (monotonic)."""
    if not LINUX:
        return  # no /proc to read: the hold is best effort
    left = pids
    while left and time.monotonic() < deadline:
        left = [pid for pid in left if (fields := stat_fields(pid)) is not None and fields[0] not in _STOPPED]
        if left:
            time.sleep(STOP_POLL_S)  # leaves the CPU to them: they stop when they run


STOP_POLL_S = 0.0002
