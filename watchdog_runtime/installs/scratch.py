"""Scratch folders of the install machinery (drift probes, the newest-release check, the
pins' constraint file) that a kill -9 cannot leave behind for good.

Each folder is named after the process that made it (``wdbot-scratch-PID-KIND-…`` in the
temporary directory); ``TemporaryDirectory`` removes it when the work ends, and the next
supervisor removes, once at its start, those of this account whose process is gone (a
drift probe unpacks whole wheels and sdists: tens of MB a leftover).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..common.tempdir import temp_dir

PREFIX = "wdbot-scratch-"


@contextmanager
def scratch(kind: str) -> Iterator[Path]:
    """A new empty folder for ``kind`` of work, removed when the block ends."""
    import tempfile

    # In temp_dir(), where the sweep looks, which reads it without tempfile (issue 29).
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-{kind}-", dir=temp_dir()) as folder:
        yield Path(folder)


def sweep(where: Path | None = None) -> list[Path]:
    """Remove the scratch folders in ``where`` (the temporary directory) left by processes of
    this account that no longer run; returns those removed."""
    root = where or temp_dir()
    removed: list[Path] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(PREFIX) and _left_behind(entry):
            import shutil

            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _left_behind(entry: os.DirEntry[str]) -> bool:
    pid = entry.name[len(PREFIX):].split("-", 1)[0]
    try:
        if not pid.isdigit() or not entry.is_dir(follow_symlinks=False):
            return False
        if entry.stat(follow_symlinks=False).st_uid != os.getuid():
            return False  # another account's: not ours to judge
    except OSError:
        return False
    return not _alive(int(pid))


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a process of another account counts: it may be a supervisor of it)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
