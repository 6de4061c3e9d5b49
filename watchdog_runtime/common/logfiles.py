"""Reading a bot's log files: their last lines, and what is appended to them (across a
rotation or a truncation). Used by ``wdbot logs``, the web dashboard and the event log's
context lines. Stdlib only."""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import BinaryIO


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
