"""``wdbot logs``: the last lines of a bot's output files, and following them."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ..common.logfiles import Tail, tail_lines

FOLLOW_INTERVAL_S = 0.2


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
           since: dict[Path, Tail] | None = None, prefixed: bool = False) -> None:
    """Print what is appended to ``files`` until ``stop`` is set (or Ctrl-C).

    Files are read from their current end, or from ``since`` (taken with :func:`ends` before
    printing their last lines, so nothing written meanwhile is missed). A rotated file is
    read to its end before the new one is followed from its start, and a truncated one from
    its start again. ``ready`` is set once the starting point is taken. ``transform`` turns
    each line into what is printed (None: skip it).
    """
    stop = stop or threading.Event()
    tails = since if since is not None else ends(files)
    if ready is not None:
        ready.set()
    # Several files: each followed line under its own file's header, as 'tail -f' does (the
    # last header shown is the last file's); 'prefixed': each line starts 'LABEL | ' instead.
    shown = files[-1][0] if files else ""
    try:
        while not stop.is_set():
            for label, path in files:
                lines = [x for x in (transform(y) if transform else y for y in tails[path].poll())
                         if x is not None]
                if lines and len(files) > 1 and not prefixed and label != shown:
                    out.write(f"\n==> {label} ({path}) <==\n")
                    shown = label
                prefix = f"{label} | " if prefixed else ""
                for line in lines:
                    out.write(prefix + line + "\n")
                if lines:
                    out.flush()
            # A burst is read a step at a time: the next step at once, not after a pause.
            stop.wait(0 if any(tail.behind for tail in tails.values()) else FOLLOW_INTERVAL_S)
    finally:
        for tail in tails.values():
            tail.close()


def ends(files: list[tuple[str, Path]]) -> dict[Path, Tail]:
    """Each file opened at its current end: the starting point of :func:`follow`."""
    return {path: Tail(path) for _, path in files}



_STAMP = re.compile(r"^(?:--- wdbot )?(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)")


def interleaved(files: list[tuple[str, Path]], n: int, out: TextIO = sys.stdout) -> None:
    """The last ``n`` lines of each file, merged by time as best the files allow, each line
    prefixed ``LABEL | ``. A line's time is its own (``--timestamps``, a wdbot mark) or the
    last one seen above it in its file; lines before any time keep their file's order, first."""
    keyed: list[tuple[str, int, str]] = []
    for label, path in files:
        when = ""
        for line in tail_lines(path, n):
            found = _STAMP.match(line)
            when = f"{found.group(1)} {found.group(2)}" if found else when
            keyed.append((when, len(keyed), f"{label} | {line}"))
    for _, _, line in sorted(keyed):
        out.write(line + "\n")
    out.flush()
