"""The process table read straight from ``/proc`` (Linux): what the supervisor needs of a
process (parent, group, state, start, threads, CPU, RSS, descriptors, environment) without
psutil, whose five modules and C extension cost the running daemon about 1.3 MiB (issue 29).

Each reader reads one small file raw (``cgroups._read_bytes``); a process that vanishes or
hides mid-read (ENOENT, ESRCH, EACCES) gives None, never an error: it is simply gone, as
psutil's ``NoSuchProcess``/``AccessDenied`` were. The values are psutil's, read the same way
(``create_time`` is the start in ticks since boot plus ``btime`` of ``/proc/stat``; RSS the
resident pages of ``statm``; CPU user plus system ticks).
"""

from __future__ import annotations

import os
from functools import lru_cache

from ..common.leandataclass import dataclass
from .cgroups import _read_bytes, fd_count

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@lru_cache(maxsize=1)
def clock_ticks() -> int:
    """Ticks per second of ``/proc``'s times (``SC_CLK_TCK``)."""
    return int(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class Stat:
    """The fields of ``/proc/PID/stat`` the supervisor uses."""

    pid: int
    state: str
    """One letter: ``R``, ``S``, ``D``, ``T``, ``Z`` (zombie), ``X`` (dead), ..."""
    ppid: int
    pgrp: int
    start_ticks: int
    """When it started, in clock ticks since boot: with the pid, who it is."""
    threads: int
    cpu_ticks: int
    """User plus system time, in clock ticks."""

    @property
    def gone(self) -> bool:
        """A zombie (exited, waiting for its parent) or dead: no longer running."""
        return self.state in ("Z", "X")


def parse_stat(pid: int, raw: bytes) -> Stat | None:
    """``raw`` (a ``/proc/PID/stat`` line) parsed; None when it is cut short or garbled.
    The command name may hold spaces and parentheses: the fields start after the last ')'."""
    fields = raw[raw.rfind(b")") + 2:].split()
    try:
        return Stat(pid, fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[19]),
                    int(fields[17]), int(fields[11]) + int(fields[12]))
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


def read_stat(pid: int) -> Stat | None:
    """``pid``'s stat, or None when it is gone (or hidden from us)."""
    try:
        return parse_stat(pid, _read_bytes(f"/proc/{pid}/stat"))
    except OSError:
        return None


def pids() -> list[int]:
    """Every process's pid now (threads are not listed in ``/proc``)."""
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def scan() -> dict[int, Stat]:
    """Every process's stat now, by pid; those that vanish mid-scan are left out."""
    table = {}
    for pid in pids():
        stat = read_stat(pid)
        if stat is not None:
            table[pid] = stat
    return table


def environ(pid: int, needle: bytes = b"") -> dict[str, str] | None:
    """``pid``'s environment as it was started (``/proc/PID/environ``), or None when it is
    gone, not ours to read, or (with ``needle``) does not contain ``needle``: a scan of every
    process decodes only the few that may match."""
    try:
        raw = _read_bytes(f"/proc/{pid}/environ")
    except OSError:
        return None
    if needle and needle not in raw:
        return None
    out = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key:
            out[os.fsdecode(key)] = os.fsdecode(value)
    return out


def reading(stat: Stat) -> tuple[int, int, int, float] | None:
    """(RSS bytes, open descriptors, threads, CPU seconds) of the process ``stat`` was read
    from; None when it is gone or its descriptors are not ours to count. The RSS is
    ``statm``'s, exact: ``stat``'s is the kernel's per-CPU estimate (tens of pages off on
    Linux 6.x), and a memory limit is judged on this figure."""
    try:
        rss = int(_read_bytes(f"/proc/{stat.pid}/statm").split()[1]) * PAGE
        fds = fd_count(stat.pid)
    except (OSError, IndexError, ValueError):
        return None
    return rss, fds, stat.threads, stat.cpu_ticks / clock_ticks()


def boot_time() -> float:
    """The boot as a wall clock time (``btime`` of ``/proc/stat``, as psutil reads it: it
    moves with a step of the wall clock, so it only ever names a start for people)."""
    try:
        text = _read_bytes("/proc/stat")
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith(b"btime"):
            return float(line.split()[1])
    return 0.0


def create_time(start_ticks: int, boot: float | None = None) -> float:
    """A start in ticks since boot as a wall clock time (psutil's ``create_time``); ``boot``:
    ``boot_time()`` read once for many."""
    return start_ticks / clock_ticks() + (boot_time() if boot is None else boot)


def machine_memory() -> int:
    """The machine's memory in bytes (``MemTotal`` of ``/proc/meminfo``, as psutil reads it)."""
    try:
        text = _read_bytes("/proc/meminfo")
    except OSError:
        text = b""
    for line in text.splitlines():
        if line.startswith(b"MemTotal:"):
            return int(line.split()[1]) * 1024
    return int(os.sysconf("SC_PHYS_PAGES")) * PAGE
