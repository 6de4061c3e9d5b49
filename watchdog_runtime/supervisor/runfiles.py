"""What a run leaves on disk for the supervisor: the bootstrap's exit record, and the part of
the stderr log this run wrote (even across a rotation during the run)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..common.durable import open_regular, read_regular
from ..registry import RunRecord
from .degraded import Degraded, RepeatWatch

EXIT_RECORD_MAX_BYTES = 1 << 20
"""An exit record is a few kilobytes (a traceback's last frames); more is not one."""
STDERR_TAIL_BYTES = 64 * 1024
"""How much of a run's stderr is read for its final traceback."""


def stderr_position(path: Path) -> tuple[int, int]:
    """(size, inode) of the stderr log now: where a new run's output will start."""
    try:
        st = path.stat()
    except OSError:
        return 0, 0
    return st.st_size, st.st_ino


def exit_record(path: Path, run: RunRecord) -> dict[str, Any] | None:
    """The bootstrap's record of how ``run`` ended; None when there is none for this run."""
    try:  # the bot writes it: never a FIFO to block on, nor a symlink to follow
        data = json.loads(read_regular(path, EXIT_RECORD_MAX_BYTES))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("run_id") == run.run_id else None


def stderr_tail(path: Path, run: RunRecord) -> str:
    """What ``run`` wrote to stderr, its last ``STDERR_TAIL_BYTES`` at most."""
    try:
        with os.fdopen(open_regular(path), "rb") as fh:
            st = os.fstat(fh.fileno())
            # A log the bot rotated since the run began is all this run's: from its start.
            same = st.st_ino == run.stderr_inode or not run.stderr_inode
            start = run.stderr_offset if same and run.stderr_offset <= st.st_size else 0
            fh.seek(max(start, st.st_size - STDERR_TAIL_BYTES))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


REPEATS_READ_BYTES = 256 * 1024
"""At most this much new stderr is read per check: a flood is judged by its newest part."""


class StderrRepeats:
    """Reads what the live process appended to its stderr log since the last check and feeds
    it to a ``degraded.RepeatWatch``; ``degraded`` is the current verdict."""

    __slots__ = ("path", "watch", "degraded", "grew", "_offset", "_inode")  # one per running bot (issue 29)

    def __init__(self, path: Path, watch: RepeatWatch | None = None) -> None:
        self.path = path
        self.watch = watch or RepeatWatch()
        self.degraded: Degraded | None = None
        self.grew = False
        """The last check found new output (the bot is not quiet: read it at the interval)."""
        self._offset, self._inode = 0, 0

    def restart(self) -> None:
        """A new process: forget the old one's errors and start at the log's end."""
        self.watch.reset()
        self.degraded = None
        self._offset, self._inode = stderr_position(self.path)

    def check(self, now: float) -> bool | None:
        """Read and judge; True when the bot just became degraded, False when it just
        stopped being so, None when nothing changed."""
        self.watch.feed(self._read_new(), now)
        before = self.degraded is not None
        self.degraded = self.watch.verdict(now)
        after = self.degraded is not None
        return None if before == after else after

    def _read_new(self) -> str:
        # One stat for a quiet bot (the same file, the same size), not an open and a read.
        try:
            st = os.lstat(self.path)
        except OSError:
            self.grew = False
            return ""
        self.grew = st.st_ino != self._inode or st.st_size != self._offset
        if not self.grew:
            return ""
        try:
            with os.fdopen(open_regular(self.path), "rb") as fh:
                st = os.fstat(fh.fileno())
                if st.st_ino != self._inode or st.st_size < self._offset:
                    self._offset, self._inode = 0, st.st_ino  # rotated or truncated
                start = max(self._offset, st.st_size - REPEATS_READ_BYTES)
                fh.seek(start)
                data = fh.read(st.st_size - start)
                self._offset = start + len(data)
        except OSError:
            return ""
        return data.decode("utf-8", errors="replace")
