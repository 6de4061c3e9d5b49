"""Following the supervisor's event log for alerts, with the position kept on disk: a
restart of ``wdbot telegram`` neither repeats what it sent nor loses what happened while it
was down. The log is rotated to ``events.jsonl.1`` by size; the position names the file by
inode, so the rest of a rotated file is read before the new one. The first run starts at the
end (no flood of old news)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..common.durable import atomic_write_json
from ..events import parse_event

MAX_READ_BYTES = 1024 * 1024
QUIET_CRASHES_S = 300.0
"""After a crash alert, the same bot's next crashes within this are counted, not sent."""


@dataclass(frozen=True)
class Position:
    """Where the next unread event begins: the file (by inode) and the byte offset."""

    inode: int
    offset: int


class EventFollower:
    """Reads the events written since the saved position."""

    def __init__(self, events: Path, position_file: Path) -> None:
        self.events = events
        self.position_file = position_file

    def load(self) -> Position:
        """The saved position; at the first run, the log's end (saved at once)."""
        try:
            raw = json.loads(self.position_file.read_text())
            return Position(int(raw["inode"]), int(raw["offset"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass
        try:
            st = os.stat(self.events)
            start = Position(st.st_ino, st.st_size)
        except FileNotFoundError:
            start = Position(0, 0)
        self.commit(start)
        return start

    def commit(self, position: Position) -> None:
        """Remember ``position`` durably (an atomic, fsynced write)."""
        self.position_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write_json(self.position_file, {"inode": position.inode, "offset": position.offset})

    def read(self, position: Position) -> Iterator[tuple[dict[str, Any], Position]]:
        """Each new event with the position just after it, oldest first."""
        rotated = self.events.with_name(self.events.name + ".1")
        current = _inode(self.events)
        if current is not None and current != position.inode and _inode(rotated) == position.inode:
            yield from _lines(rotated, position)  # the rest of the file rotated away meanwhile
            position = Position(current, 0)
        elif current != position.inode:
            position = Position(current or 0, 0)  # a new log (the old one is gone): from its start
        if current is not None:
            yield from _lines(self.events, position)


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _lines(path: Path, start: Position) -> Iterator[tuple[dict[str, Any], Position]]:
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_ino != start.inode:
                return  # replaced between the stat and the open: the next round reads it
            size = os.fstat(f.fileno()).st_size
            offset = start.offset if start.offset <= size else 0  # cut shorter: read it again
            f.seek(offset)
            data = f.read(MAX_READ_BYTES)
    except FileNotFoundError:
        return
    end = data.rfind(b"\n") + 1  # whole lines only: the last may be half written
    for line in data[:end].splitlines(keepends=True):
        offset += len(line)
        event = parse_event(line.decode("utf-8", "replace"))
        if event is not None:
            yield event, Position(start.inode, offset)
    if end == 0 and len(data) == MAX_READ_BYTES:
        yield {"kind": "_skipped"}, Position(start.inode, offset + len(data))  # one huge line


@dataclass
class CrashQuiet:
    """A crash loop sends one alert per ``quiet_s``, then the count (pure, caller's clock)."""

    quiet_s: float = QUIET_CRASHES_S
    _last: dict[str, tuple[float, int]] | None = None

    def admit(self, bot: str, now: float) -> int | None:
        """None: keep quiet; else how many crashes were kept quiet before this one.

        >>> q = CrashQuiet(60)
        >>> q.admit("grid", 0), q.admit("grid", 5), q.admit("grid", 70)
        (0, None, 1)
        """
        last = (self._last or {}).get(bot)
        self._last = self._last or {}
        if last is not None and now - last[0] < self.quiet_s:
            self._last[bot] = (last[0], last[1] + 1)
            return None
        self._last[bot] = (now, 0)
        return last[1] if last else 0
