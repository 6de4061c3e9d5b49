"""Processes of a bot that write their stdout or stderr to a log file the rotation left
behind: a rotated copy, or a deleted one. A helper the bot started before a rotation (a
``subprocess`` or ``multiprocessing`` child that inherited stdout) keeps its descriptor,
so its output goes where ``wdbot logs`` does not look, and, once the copy is pruned, into a
file that neither ``ls`` nor ``du`` shows (the bot's rotation empties such files; this says
who writes them).

Looked for only when something changed (the logs were rotated, the bot's processes are
not the same, or strays were seen last time): two ``stat`` calls a sample for a quiet bot,
two ``readlink`` calls per process when a look is due.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..common.leandataclass import dataclass

CURRENT = ("stdout.log", "stderr.log")
_DELETED = " (deleted)"


@dataclass(frozen=True)
class StrayWriter:
    """One process's stdout or stderr pointing at a log file other than the current one."""

    pid: int
    stream: str
    """``stdout`` or ``stderr``."""
    file: str
    """The file's name in the bot's logs folder (``stdout.log.2``)."""
    deleted: bool

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "stream": self.stream, "file": self.file, "deleted": self.deleted}


def stray_writers(pids: Iterable[int], logs: Path) -> tuple[StrayWriter, ...]:
    """Those of ``pids`` whose descriptor 1 or 2 is a file of ``logs`` other than the current
    logs (as ``/proc/PID/fd`` shows it: a deleted file's link ends in `` (deleted)``)."""
    # /proc shows the resolved path: the folder may be a link (logs moved to a bigger disk).
    prefixes = tuple({f"{logs}{os.sep}", f"{os.path.realpath(logs)}{os.sep}"})
    found = []
    for pid in pids:
        for fd, stream in ((1, "stdout"), (2, "stderr")):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue  # gone, closed, or not ours to read
            prefix = next((p for p in prefixes if target.startswith(p)), None)
            if prefix is None:
                continue
            name = target[len(prefix):]
            deleted = name.endswith(_DELETED)
            name = name[:-len(_DELETED)] if deleted else name
            if deleted or name not in CURRENT:
                found.append(StrayWriter(pid, stream, name, deleted))
    return tuple(found)


class LogWriterWatch:
    """One bot process's stray log writers, looked for when something changed."""

    __slots__ = ("logs", "found", "_seen")  # one per running bot (issue 29)

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.found: tuple[StrayWriter, ...] = ()
        self._seen: tuple[tuple[int, ...], frozenset[int]] | None = None

    def check(self, pids: Iterable[int], root: int) -> tuple[StrayWriter, ...]:
        """Look again if due; return the strays not seen at the last look (to report).
        ``root``, the bot itself, is left out: its own rotation moves it in the same step."""
        members = frozenset(pids) - {root}
        if not members and not self.found:
            return ()  # the bot alone: nobody to look at (its own rotation moves it along)
        seen = (self._inodes(), members)
        if seen == self._seen and not self.found:
            return ()
        self._seen = seen
        # Said once as a rotated copy and once when deleted, not at every shift of its name.
        before = {(w.pid, w.stream, w.deleted) for w in self.found}
        self.found = stray_writers(sorted(members), self.logs)
        return tuple(w for w in self.found if (w.pid, w.stream, w.deleted) not in before)

    def _inodes(self) -> tuple[int, ...]:
        out = []
        for name in CURRENT:
            try:
                out.append(os.stat(self.logs / name).st_ino)
            except OSError:
                out.append(0)
        return tuple(out)
