"""What a run leaves on disk for the supervisor: the bootstrap's exit record, and the part of
the stderr log this run wrote (even across a rotation during the run)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .registry import RunRecord

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
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("run_id") == run.run_id else None


def stderr_tail(path: Path, run: RunRecord) -> str:
    """What ``run`` wrote to stderr, its last ``STDERR_TAIL_BYTES`` at most."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            # A log the bot rotated since the run began is all this run's: from its start.
            same = st.st_ino == run.stderr_inode or not run.stderr_inode
            start = run.stderr_offset if same and run.stderr_offset <= st.st_size else 0
            fh.seek(max(start, st.st_size - STDERR_TAIL_BYTES))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
