"""``wdbot logs``: the last lines of a bot's output files, and following them."""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TextIO

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
            stop.wait(FOLLOW_INTERVAL_S)
    finally:
        for tail in tails.values():
            tail.close()


def ends(files: list[tuple[str, Path]]) -> dict[Path, Tail]:
    """Each file opened at its current end: the starting point of :func:`follow`."""
    return {path: Tail(path) for _, path in files}


class Tail:
    """One followed file. It is kept open, so a rotated file is still read to its end, and
    its inode cannot be reused by a newer file while we compare them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending = b""
        self.fh = self._open(at_end=True)

    def _open(self, at_end: bool) -> BinaryIO | None:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - held across polls, closed by close()
        except OSError:
            return None
        if at_end:
            fh.seek(0, os.SEEK_END)
        return fh

    def poll(self) -> list[str]:
        """The complete lines written since the last poll."""
        if self.fh is None:
            self.fh = self._open(at_end=False)
            if self.fh is None:
                return []
        data, self.pending = self.pending + self.fh.read(), b""
        try:
            replaced = not os.path.samestat(os.stat(self.path), os.fstat(self.fh.fileno()))
        except FileNotFoundError:
            replaced = False  # between the rename and the new file: look again next time
        if replaced:
            data += self.fh.read()  # what the writer added before it moved to the new file
            self.fh.close()
            if data and not data.endswith(b"\n"):
                data += b"\n"  # the old file's last line ends here
            self.fh = self._open(at_end=False)
            data += self.fh.read() if self.fh else b""
        elif os.fstat(self.fh.fileno()).st_size < self.fh.tell():
            self.fh.seek(0)  # truncated in place
            data += self.fh.read()
        cut = data.rfind(b"\n") + 1
        data, self.pending = data[:cut], data[cut:]  # never split a line
        return data.decode("utf-8", errors="replace").splitlines()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None
