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

import math
import os
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psutil

CREATE_TIME_SLACK_S = 0.01
"""psutil's ``create_time`` is rounded to clock ticks: two reads may differ by this much."""

LINUX = sys.platform.startswith("linux")


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as pid plus start, so a recycled pid is never mistaken for a bot.

    ``start_ticks`` and ``boot_id`` (Linux) decide; ``create_time`` is the start as a wall
    clock time, for people and for platforms without ticks."""

    pid: int
    create_time: float
    start_ticks: int | None = None
    boot_id: str | None = None


@lru_cache(maxsize=1)
def boot_id() -> str | None:
    """This boot's id (Linux), or None."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


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


def to_json(ident: ProcessIdentity) -> dict[str, Any]:
    out: dict[str, Any] = {"pid": ident.pid, "create_time": ident.create_time}
    if ident.start_ticks is not None:
        out["start_ticks"] = ident.start_ticks
    if ident.boot_id is not None:
        out["boot_id"] = ident.boot_id
    return out


# ------------------------------------------------------------------ deadlines
def boot_clock() -> float:
    """Seconds since boot, counting suspend where the platform can (never stepped)."""
    if LINUX and hasattr(time, "CLOCK_BOOTTIME"):
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    return time.monotonic()


@dataclass(frozen=True)
class Deadline:
    """A point in time that a restart of the supervisor, or a step of the wall clock, must
    not bring forward.

    >>> d = Deadline(delay_s=60.0, boot_id="b1", boot_at=1000.0, wall_at=5000.0)
    >>> d.remaining_s(boot_id="b1", boot_now=950.0, wall_now=9999.0)    # same boot: boot clock
    50.0
    >>> d.remaining_s(boot_id="b2", boot_now=3.0, wall_now=4970.0)      # rebooted: wall clock
    30.0
    >>> d.remaining_s(boot_id="b2", boot_now=3.0, wall_now=1000.0)      # ... stepped far back
    60.0
    """

    delay_s: float
    boot_id: str | None
    boot_at: float
    """On :func:`boot_clock`."""
    wall_at: float
    """On the wall clock, used only after a reboot."""

    @classmethod
    def after(cls, delay_s: float) -> Deadline:
        return cls(delay_s, boot_id(), boot_clock() + delay_s, time.time() + delay_s)

    def remaining_s(self, *, boot_id: str | None, boot_now: float, wall_now: float) -> float:
        if boot_id is not None and boot_id == self.boot_id:
            return min(self.delay_s, max(0.0, self.boot_at - boot_now))
        # Another boot: the wall clock is all that is left; never wait longer than asked.
        return min(self.delay_s, max(0.0, self.wall_at - wall_now))

    def remaining_now(self) -> float:
        return self.remaining_s(boot_id=boot_id(), boot_now=boot_clock(), wall_now=time.time())

    def to_json(self) -> dict[str, Any]:
        return {"delay_s": self.delay_s, "boot_id": self.boot_id, "boot_at": self.boot_at,
                "wall_at": self.wall_at}

    @classmethod
    def from_json(cls, data: Any) -> Deadline:
        numbers = [float(data[key]) for key in ("delay_s", "boot_at", "wall_at")]
        if not all(math.isfinite(n) for n in numbers) or numbers[0] < 0:
            raise ValueError(f"not a deadline: {data!r}")
        boot = data.get("boot_id")
        return cls(numbers[0], boot if isinstance(boot, str) else None, numbers[1], numbers[2])
