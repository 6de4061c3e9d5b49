"""Following a bot's log file for ``--tee-logs``, with every cost bounded: at most
``budget`` bytes read per call, a line cut at ``MAX_LINE_BYTES``, and a writer faster than
the reader skipped ahead (the bytes counted), never queued.

The bot writes its files itself (the supervisor never sits between a bot and its logs), so
reading them can neither slow nor block the bot. The file is kept open between calls, so the
rest of a rotated copy is read before moving to the new file; it is closed as soon as that is
done, so a rotated copy deleted later never lingers, held open here.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from ..common.leandataclass import dataclass

MAX_LINE_BYTES = 16 * 1024
CUT_MARK = b" [... line cut by wdbot]"


@dataclass(frozen=True)
class Position:
    """Where a follower stands in a file: the file (device, inode) and the offset just past
    the last whole line it handed out (a line it holds in part is read again)."""

    dev: int
    ino: int
    offset: int


@dataclass(frozen=True)
class Read:
    """What one call found: complete lines (no newline), and bytes skipped unread."""

    lines: list[bytes]
    skipped: int = 0


class Follower:
    """One log file, read from where it ended when following began (``at_end``) or from
    its start (a file that did not exist yet); or from ``resume``, where an earlier follower
    stood (from its start when the file is another one now: replaced, rotated)."""

    def __init__(self, path: Path, at_end: bool = True, resume: Position | None = None) -> None:
        self.path = path
        self._pending = b""
        self._discard = False
        """The rest of a cut line is dropped, up to its end."""
        self._fh = self._open(at_end, resume)

    def position(self) -> Position | None:
        """Where the next whole line starts (None: no file open yet)."""
        if self._fh is None:
            return None
        try:
            st = os.fstat(self._fh.fileno())
        except OSError:
            return None
        held = 0 if self._discard else len(self._pending)
        return Position(st.st_dev, st.st_ino, self._fh.tell() - held)

    def _open(self, at_end: bool, resume: Position | None = None) -> BinaryIO | None:
        """The file, if it is a regular one: never a FIFO (whose open would hang, on the event
        loop when a bot is first followed) nor a symlink (to a file the bot may not read)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        fh = os.fdopen(fd, "rb")
        if resume is not None:
            st = os.fstat(fd)
            fh.seek(resume.offset if (st.st_dev, st.st_ino) == (resume.dev, resume.ino) else 0)
        elif at_end:
            fh.seek(0, os.SEEK_END)
        return fh

    def read(self, budget: int) -> Read:
        """The complete lines written since the last call, reading at most ``budget`` bytes
        of each file it looks at."""
        if self._fh is None:
            self._fh = self._open(at_end=False)
            if self._fh is None:
                return Read([])
        data, skipped = self._chunk(self._fh, budget)
        if self._replaced():
            # What the writer added before it moved to the new file, then the new file.
            rest, more = self._chunk(self._fh, budget)
            data, skipped = data + rest, skipped + more
            self._fh.close()
            lines = self._lines(data, final=True)
            self._fh = self._open(at_end=False)
            if self._fh is None:
                return Read(lines, skipped)
            data, more = self._chunk(self._fh, budget)
            return self._after(Read(lines + self._lines(data), skipped + more))
        return self._after(Read(self._lines(data), skipped))

    def _after(self, found: Read) -> Read:
        if found.skipped:
            self._pending, self._discard = b"", False  # the line it ended in went with the skip
        return found

    def _chunk(self, fh: BinaryIO, budget: int) -> tuple[bytes, int]:
        """Up to ``budget`` bytes from ``fh``; past that, the rest is skipped (and counted)."""
        try:
            size = os.fstat(fh.fileno()).st_size
        except OSError:
            return b"", 0
        if size < fh.tell():
            fh.seek(0)  # truncated in place (or cut to its newest part): read it from the top
            self._pending, self._discard = b"", False
        data = fh.read(budget)
        behind = size - fh.tell()
        if behind > 0:
            fh.seek(0, os.SEEK_END)
            return data, behind
        return data, 0

    def _replaced(self) -> bool:
        assert self._fh is not None
        try:
            return not os.path.samestat(os.stat(self.path), os.fstat(self._fh.fileno()))
        except FileNotFoundError:
            return False  # between the rename and the new file: look again next time

    def _lines(self, data: bytes, final: bool = False) -> list[bytes]:
        if self._discard:
            end = data.find(b"\n")
            if end < 0:
                return []
            data, self._discard = data[end + 1:], False
        data, self._pending = self._pending + data, b""
        lines = data.split(b"\n")
        tail = lines.pop()
        if final and tail:
            lines.append(tail)  # the old file's last line ends where the file does
        elif len(tail) > MAX_LINE_BYTES:
            lines.append(tail)  # a progress bar never ending its line: cut below, rest dropped
            self._discard = True
        else:
            self._pending = tail
        return [line[:MAX_LINE_BYTES] + CUT_MARK if len(line) > MAX_LINE_BYTES else line
                for line in lines]

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
