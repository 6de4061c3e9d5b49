"""Reading a bot's log files: their last lines, and what is appended to them (across a
rotation or a truncation). Used by ``wdbot logs``, the web dashboard and the event log's
context lines. Stdlib only."""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import BinaryIO

LINE_CAP = 16 * 1024
"""Bytes of one line shown at most: a longer line (a progress bar redrawn with ``\\r`` for
hours) keeps its newest part behind :data:`CUT_MARK`, so reading a tail stays linear and small."""

CUT_MARK = "[wdbot: line cut, its newest 16 KB shown] "
_BLOCK = 65536
READ_CAP = 1 << 20
"""Bytes a :class:`Tail` reads per poll at most: a burst (a tight error loop prints 90 MB in
half a second) is read in steps, or, by a reader that shows only the newest lines, skipped."""


def tail_lines(path: Path, n: int) -> list[str]:
    """The last ``n`` lines of ``path``, reading only its end (at most about ``n + 1`` times
    :data:`LINE_CAP` bytes, however large the file or long its lines); each line longer than
    :data:`LINE_CAP` is cut to its newest part, after :data:`CUT_MARK`."""
    if n <= 0 or not path.exists():
        return []
    budget = (n + 1) * (LINE_CAP + 1)
    chunks: list[bytes] = []
    newlines = 0
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        # Blocks are kept apart and joined once: growing one buffer was quadratic on a long line.
        while end > 0 and newlines <= n and budget > 0:
            start = max(0, end - min(_BLOCK, budget))
            fh.seek(start)
            chunk = fh.read(end - start)
            chunks.append(chunk)
            newlines += chunk.count(b"\n")
            budget -= len(chunk)
            end = start
    lines = b"".join(reversed(chunks)).split(b"\n")
    if not lines[-1]:
        lines.pop()  # the newline that ends the file ends its last line
    if end > 0 and lines and len(lines) <= n:
        lines[0] = _MARK + lines[0]  # the budget ran out inside the oldest line: its start is cut
    text = [part for line in lines[-n:] for part in _parts(line)]
    return list(deque(text, maxlen=n))


_MARK = CUT_MARK.encode()


def _parts(line: bytes) -> list[str]:
    """One line as text, cut to its newest :data:`LINE_CAP` bytes (behind the mark) when longer,
    split where a terminal would start a new line (``\\r`` included, as ``splitlines`` does)."""
    if len(line) > LINE_CAP + len(_MARK):
        line = _MARK + line[-LINE_CAP:]
    return line.decode("utf-8", errors="replace").splitlines() or [""]


class Tail:
    """One followed file. It is kept open, so a rotated file is still read to its end, and
    its inode cannot be reused by a newer file while we compare them."""

    def __init__(self, path: Path, skip: bool = False) -> None:
        self.path = path
        self.pending = b""
        self.skip = skip
        """Jump to the newest :data:`READ_CAP` bytes when further behind (a page showing the
        newest lines); otherwise every line is read, in steps."""
        self.behind = False
        """The last poll stopped at :data:`READ_CAP` with more to read: poll again soon."""
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
        data, self.pending = self.pending + self._read(), b""
        if not self.behind:  # at the end of this file: has it been replaced or truncated?
            data += self._moved_on(data)
        cut = data.rfind(b"\n") + 1
        data, self.pending = data[:cut], data[cut:]  # never split a line
        if len(self.pending) > LINE_CAP + len(_MARK):
            self.pending = _MARK + self.pending[-LINE_CAP:]  # an endless line: only its newest part
        return [part for line in data.split(b"\n")[:-1] for part in _parts(line)]

    def _read(self) -> bytes:
        """At most :data:`READ_CAP` bytes from where we are (past a skip, behind a cut mark)."""
        assert self.fh is not None
        lead = b""
        if self.skip and os.fstat(self.fh.fileno()).st_size - self.fh.tell() > READ_CAP:
            self.fh.seek(-READ_CAP, os.SEEK_END)
            # A pending line's rest is skipped: it ends here; the line we land in is shown cut.
            lead = (b"\n" if self.pending else b"") + _MARK
        data = self.fh.read(READ_CAP)
        self.behind = len(data) == READ_CAP
        return lead + data

    def _moved_on(self, data: bytes) -> bytes:
        """What comes after this file's end: the rest of a replaced file and the start of its
        successor, or a truncated file from its start."""
        assert self.fh is not None
        try:
            replaced = not os.path.samestat(os.stat(self.path), os.fstat(self.fh.fileno()))
        except FileNotFoundError:
            return b""  # between the rename and the new file: look again next time
        if replaced:
            rest = self._read()  # what the writer added before it moved to the new file
            if self.behind:
                return rest  # more of the old file first
            self.fh.close()
            if (data or rest) and not (data + rest).endswith(b"\n"):
                rest += b"\n"  # the old file's last line ends here
            self.fh = self._open(at_end=False)
            return rest + (self._read() if self.fh else b"")
        if os.fstat(self.fh.fileno()).st_size < self.fh.tell():
            self.fh.seek(0)  # truncated in place
            return self._read()
        return b""

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None
