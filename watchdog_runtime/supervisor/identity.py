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

import os
import sys
import time
from functools import lru_cache

import psutil

# The values live in ``records`` (the registry keeps them); named here too, as ever.
from ..records import Deadline as Deadline
from ..records import ProcessIdentity as ProcessIdentity
from ..records import boot_clock as boot_clock
from ..records import boot_id as boot_id
from ..records import to_json as to_json

CREATE_TIME_SLACK_S = 0.01
"""psutil's ``create_time`` is rounded to clock ticks: two reads may differ by this much."""

LINUX = sys.platform.startswith("linux")


@lru_cache(maxsize=1)
def clock_ticks() -> int:
    return int(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100


def stat_fields(pid: int) -> tuple[str, int, int] | None:
    """(state letter, start ticks since boot, process group) from ``/proc/PID/stat``, or None
    when the process is gone (or this is not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    rest = raw[raw.rfind(b")") + 2:].split()
    try:
        return rest[0].decode(), int(rest[19]), int(rest[2])
    except (IndexError, ValueError):
        return None


def identify(pid: int) -> ProcessIdentity | None:
    """The identity of a live pid, or None."""
    try:
        created = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None
    if LINUX:
        fields = stat_fields(pid)
        if fields is None:
            return None
        return ProcessIdentity(pid, created, fields[1], boot_id())
    return ProcessIdentity(pid, created)


def matches(ident: ProcessIdentity, pid: int | None = None) -> bool:
    """True when the process now on ``ident.pid`` is the one ``ident`` names and is not a zombie."""
    if ident.start_ticks is not None and LINUX:
        if ident.boot_id is not None and ident.boot_id != boot_id():
            return False
        fields = stat_fields(ident.pid)
        return fields is not None and fields[1] == ident.start_ticks and fields[0] not in "ZX"
    try:
        proc = psutil.Process(ident.pid)
        same = abs(proc.create_time() - ident.create_time) < CREATE_TIME_SLACK_S
        return same and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def age_s(ident: ProcessIdentity) -> float:
    """How long the process has run: from boot-relative ticks on Linux (no wall clock)."""
    if ident.start_ticks is not None and LINUX and hasattr(time, "CLOCK_BOOTTIME"):
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - ident.start_ticks / clock_ticks())
    return max(0.0, time.time() - ident.create_time)

