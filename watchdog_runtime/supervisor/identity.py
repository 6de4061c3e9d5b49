"""Who a process is, and how long until a deadline, without trusting the wall clock.

psutil's ``create_time`` is the start in clock ticks since boot *plus* the boot time that
``/proc/stat`` reports, and that boot time is derived from the wall clock: an NTP step moves
every process's ``create_time`` by the size of the step. On Linux a process is therefore
identified by its start in clock ticks since boot (``/proc/PID/stat``, field 22), which
nothing but the process itself can change, together with the boot id
(``/proc/sys/kernel/random/boot_id``), so a pid recycled after a reboot is not taken for it
either. macOS records a process's start time once, at fork (``p_starttime``); a later step
does not move it, so there the start time is the identity, as psutil reads it.

Deadlines that must outlive the supervisor (a pending backoff) are kept on the clock that
counts time since boot, suspend included (``CLOCK_BOOTTIME``); after a reboot only the wall
clock is left, and it is trusted only to shorten nothing: the wait is never longer than the
delay that was asked for.
"""

from __future__ import annotations

import sys
import time

# The values live in ``records`` (the registry keeps them); named here too, as ever.
from ..records import Deadline as Deadline
from ..records import ProcessIdentity as ProcessIdentity
from ..records import boot_clock as boot_clock
from ..records import boot_id as boot_id
from ..records import to_json as to_json
from . import proctable
from .proctable import clock_ticks as clock_ticks

CREATE_TIME_SLACK_S = 0.01
"""psutil's ``create_time`` is rounded to clock ticks: two reads may differ by this much."""

LINUX = sys.platform.startswith("linux")


def stat_fields(pid: int) -> tuple[str, int, int] | None:
    """(state letter, start ticks since boot, process group) from ``/proc/PID/stat``, or None
    when the process is gone (or this is not Linux)."""
    stat = proctable.read_stat(pid)
    return None if stat is None else (stat.state, stat.start_ticks, stat.pgrp)


def identify(pid: int) -> ProcessIdentity | None:
    """The identity of a live pid (a zombie's too), or None. Linux reads ``/proc`` (the
    running supervisor never loads psutil: issue 29); elsewhere psutil does."""
    if LINUX:
        stat = proctable.read_stat(pid) if pid > 0 else None
        if stat is None:
            return None
        return ProcessIdentity(pid, proctable.create_time(stat.start_ticks), stat.start_ticks, boot_id())
    import psutil

    try:
        return ProcessIdentity(pid, psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def matches(ident: ProcessIdentity, pid: int | None = None) -> bool:
    """True when the process now on ``ident.pid`` is the one ``ident`` names and is not a zombie."""
    state = state_of(ident)
    return state is not None and state not in ("Z", "X")


def state_of(ident: ProcessIdentity) -> str | None:
    """The state letter of the process now on ``ident.pid`` (``Z``: a zombie) when it is the
    one ``ident`` names; None when it is gone or the pid holds another process."""
    if LINUX:
        stat = proctable.read_stat(ident.pid) if ident.pid > 0 else None
        if stat is None:
            return None
        if ident.start_ticks is not None:
            same = stat.start_ticks == ident.start_ticks and ident.boot_id in (None, boot_id())
        else:  # a record from before the ticks were kept: its wall clock start, as psutil read it
            same = abs(proctable.create_time(stat.start_ticks) - ident.create_time) < CREATE_TIME_SLACK_S
        return stat.state if same else None
    import psutil

    try:
        proc = psutil.Process(ident.pid)
        if abs(proc.create_time() - ident.create_time) >= CREATE_TIME_SLACK_S:
            return None
        return "Z" if proc.status() == psutil.STATUS_ZOMBIE else "R"
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def age_s(ident: ProcessIdentity) -> float:
    """How long the process has run: from boot-relative ticks on Linux (no wall clock)."""
    if ident.start_ticks is not None and LINUX and hasattr(time, "CLOCK_BOOTTIME"):
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - ident.start_ticks / clock_ticks())
    return max(0.0, time.time() - ident.create_time)

