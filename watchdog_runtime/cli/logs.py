"""``wdbot logs``: the last lines of a bot's output files, and following them."""

from __future__ import annotations

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
           since: dict[Path, Tail] | None = None) -> None:
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
    try:
        while not stop.is_set():
            for label, path in files:
                prefix = f"{label} | " if len(files) > 1 else ""
                lines = [transform(line) if transform else line for line in tails[path].poll()]
                for line in lines:
                    if line is not None:
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

