"""``wdbot logs``: the last lines of a bot's output files, and following them."""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

FOLLOW_INTERVAL_S = 0.2


def tail_lines(path: Path, n: int) -> list[str]:
    """The last ``n`` lines of ``path`` (reading only its end, however large the file)."""
    if n <= 0 or not path.exists():
        return []
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        block, data = 65536, b""
        while end > 0 and data.count(b"\n") <= n:
            start = max(0, end - block)
            fh.seek(start)
            data = fh.read(end - start) + data
            end = start
    lines = data.decode("utf-8", errors="replace").splitlines()
    return list(deque(lines, maxlen=n))


def show(files: list[tuple[str, Path]], n: int, out: TextIO = sys.stdout) -> None:
    """Print the last ``n`` lines of each file, under a header when there are several."""
    for label, path in files:
        if len(files) > 1:
            out.write(f"==> {label} ({path}) <==\n")
        for line in tail_lines(path, n):
            out.write(line + "\n")
    out.flush()


def follow(files: list[tuple[str, Path]], out: TextIO = sys.stdout,
           stop: threading.Event | None = None, ready: threading.Event | None = None,
           transform: Callable[[str], str | None] | None = None,
           since: dict[Path, tuple[int, int]] | None = None) -> None:
    """Print what is appended to ``files`` until ``stop`` is set (or Ctrl-C).

    Files the bot appends to are read from their current end, or from ``since`` (taken with
    :func:`ends` before printing their last lines, so nothing written meanwhile is missed);
    a truncated or replaced file (rotation) is read again from its start. ``ready`` is set
    once the starting point is taken. ``transform`` turns each line into what is printed
    (None: skip it).
    """
    stop = stop or threading.Event()
    positions = dict(since) if since is not None else ends(files)
    if ready is not None:
        ready.set()
    while not stop.is_set():
        for label, path in files:
            positions[path] = _emit_new(label if len(files) > 1 else "", path, positions[path], out,
                                        transform)
        stop.wait(FOLLOW_INTERVAL_S)


def ends(files: list[tuple[str, Path]]) -> dict[Path, tuple[int, int]]:
    """Where each file ends now: the starting point of :func:`follow`."""
    return {path: _position(path, at_end=True) for _, path in files}


def _position(path: Path, at_end: bool) -> tuple[int, int]:
    """(inode, offset) of ``path``: its end, or its start."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return (0, 0)
    return (st.st_ino, st.st_size if at_end else 0)


def _emit_new(label: str, path: Path, position: tuple[int, int], out: TextIO,
              transform: Callable[[str], str | None] | None = None) -> tuple[int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return (0, 0)
    inode, offset = position
    if st.st_ino != inode or st.st_size < offset:  # rotated away, or truncated
        offset = 0
    size = st.st_size
    if size == offset:
        return (st.st_ino, offset)
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read(size - offset)
    # Keep a partial last line for the next round, so lines are never split.
    cut = data.rfind(b"\n") + 1
    prefix = f"{label} | " if label else ""
    for line in data[:cut].decode("utf-8", errors="replace").splitlines():
        shown = transform(line) if transform else line
        if shown is not None:
            out.write(prefix + shown + "\n")
    out.flush()
    return (st.st_ino, offset + cut)
