"""The supervisor's event log: one JSON object per line, rotated by size."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

MAX_BYTES = 1024 * 1024


def wall_iso(epoch: float | None = None) -> str:
    """ISO-8601 local time with offset, for people and for ``last_exit.at``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(epoch))


def parse_wall_iso(text: str) -> float | None:
    """The epoch seconds of a :func:`wall_iso` string; None when it is not one.

    >>> parse_wall_iso(wall_iso(1700000000.0))
    1700000000.0
    """
    import datetime

    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return None


class EventLog:
    """Appends events to ``path``; keeps one rotated copy (``path.1``), so at most ~2 MB."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes

    def write(self, kind: str, bot: str | None = None, **detail: Any) -> None:
        line = json.dumps({"at": wall_iso(), "kind": kind, "bot": bot, **detail}, default=str)
        try:
            if self.path.exists() and self.path.stat().st_size > self.max_bytes:
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        except OSError as exc:
            # The event log is a convenience; a full disk must not take the supervisor down.
            import logging

            logging.getLogger(__name__).warning("cannot write event log: %s", exc)
