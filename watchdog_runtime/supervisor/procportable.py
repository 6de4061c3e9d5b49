"""The process table through psutil, where there is no ``/proc`` (macOS, BSD): the same
readers as ``proctable``, psutil imported inside each one so that Linux never loads it.

A process that vanishes or hides mid-read gives None, as in ``proctable``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    """A process's parent and group (``proctable.Stat``'s shape, as far as the walks go)."""

    pid: int
    ppid: int
    pgrp: int


def table() -> dict[int, Row]:
    """Every process now, by pid; those that vanish mid-scan are left out."""
    import psutil

    out = {}
    for proc in psutil.process_iter(["ppid"]):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            out[proc.pid] = Row(proc.pid, int(proc.info["ppid"] or 0), os.getpgid(proc.pid))
    return out


def environ(pid: int) -> dict[str, str] | None:
    """``pid``'s environment, or None when it is gone or not ours to read."""
    import psutil

    try:
        return dict(psutil.Process(pid).environ())
    except (psutil.Error, ValueError):
        return None


def create_time(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, ValueError):
        return None


def reading(pid: int) -> tuple[int, int, int, float] | None:
    """(RSS bytes, open descriptors, threads, CPU seconds), or None (gone, or not ours)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            times = proc.cpu_times()
            return (int(proc.memory_info().rss), int(proc.num_fds()), int(proc.num_threads()),
                    float(times.user + times.system))
    except (psutil.Error, ValueError):
        return None


def lineage(pid: int) -> list[int]:
    import psutil

    try:
        proc = psutil.Process(pid)
        return [proc.pid, *(p.pid for p in proc.parents())]
    except (psutil.Error, ValueError):
        return []


def machine_memory() -> int:
    import psutil

    return int(psutil.virtual_memory().total)
