"""Where ``--tee-logs`` stands in each bot's files, kept in the home, so the next supervisor
(PID 1 starts one after a crash, systemd after a ``kill -9``) tees the lines the bots wrote
while none ran, instead of starting at the files' ends and losing them.

A place is saved only once the outbox has written every line before it (``Outbox.written``),
so a supervisor killed with lines still queued has them teed again by the next one: a line
may come twice, none is lost. Places older than ``FRESH_S`` are not used: a supervisor that
ran without ``--tee-logs`` in between (or a home idle for long) would otherwise pour old
lines out. The file is small, written whole (a temporary file renamed over it), and any
trouble with it (a full disk, garbage) costs only this: following from the files' ends, as
before.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..common.durable import read_bounded
from .logfollow import Position

FILE_NAME = "tee-places.json"
MAX_BYTES = 1024 * 1024
FRESH_S = 600.0
"""Longer than PID 1's longest restart backoff (30 s) and a service's restart, by far."""
SAVE_EVERY_S = 1.0
"""At most one write a second (an SD card's wear), a stop's last one whenever it comes: a
line written within the second before a ``kill -9`` may come twice."""
MAX_PENDING = 64
"""Places waiting for their lines to be written (a stuck stdout writes none): the oldest go
first, which only delays a save (a line may then come twice), never loses one."""

Places = dict[str, tuple[Position | None, Position | None]]
"""Per bot: its stdout's place and its stderr's (None: its file was not open yet)."""


def load(path: Path, now: Callable[[], float] = time.time) -> Places:
    """The places a recent supervisor saved; empty when there are none fit to use."""
    try:
        with open(path, "rb") as fh:
            if abs(now() - os.fstat(fh.fileno()).st_mtime) > FRESH_S:
                return {}
            doc = json.loads(read_bounded(fh, MAX_BYTES + 1)[:MAX_BYTES])
        bots = doc["bots"]
        return {str(name): (_position(pair[0]), _position(pair[1])) for name, pair in bots.items()}
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return {}


def _position(raw: Any) -> Position | None:
    if raw is None:
        return None
    dev, ino, offset = (int(x) for x in raw)
    if min(dev, ino, offset) < 0 or max(dev, ino, offset) >= 1 << 63:
        raise ValueError("no place in a file")  # a seek there would raise OverflowError
    return Position(dev, ino, offset)


def save(path: Path, places: Mapping[str, tuple[Position | None, Position | None]]) -> bool:
    """Write the places whole; False when they could not be (the old file stays)."""
    doc = {"bots": {name: [None if p is None else [p.dev, p.ino, p.offset] for p in pair]
                    for name, pair in places.items()}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return False
    return True


class Checkpoints:
    """Places noted as the lines before them are queued, saved once those are written."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.clock = clock
        self._last_save: float | None = None
        self._noted: Places | None = None
        self._saved: Places | None = None
        self._pending: list[tuple[int, Places]] = []

    def note(self, queued: int, places: Places) -> None:
        """The places after the lines up to chunk ``queued`` (the outbox's sequence)."""
        if places != self._noted:
            self._noted = places
            self._pending.append((queued, places))
            del self._pending[:-MAX_PENDING]

    def save_written(self, written: int, last: bool = False) -> None:
        """Save the newest places whose lines are all written (``Outbox.written``); at most
        once every ``SAVE_EVERY_S``, unless it is the ``last`` time."""
        now = self.clock()
        due = [places for queued, places in self._pending if queued <= written]
        # A bot not in the file yet is saved at once: until it is, the next supervisor would
        # follow it from its files' ends (a kill within the second of its start lost lines).
        newcomer = bool(due) and not set(due[-1]) <= set(self._saved or {})
        if not last and not newcomer and self._last_save is not None and now - self._last_save < SAVE_EVERY_S:
            return
        self._pending = [(q, p) for q, p in self._pending if q > written]
        if due and due[-1] != self._saved and save(self.path, due[-1]):
            self._saved, self._last_save = due[-1], now
