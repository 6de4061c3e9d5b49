"""The supervisor's event log: one JSON object per line, rotated by size; reading it back,
and one line per event for people (``wdbot events``, the dashboard)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .common.units import duration

MAX_BYTES = 1024 * 1024
TORN_TAIL_BYTES = 64 * 1024
"""How far back a torn last line is looked for (an event is a few hundred bytes)."""


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
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        """Called with every event written (alerts listen here)."""
        self.redact: Callable[[dict[str, Any]], dict[str, Any]] = lambda event: event
        """Applied to every event before it is written or heard (``redaction``)."""

    def write(self, kind: str, bot: str | None = None, **detail: Any) -> None:
        event = self.redact({"at": wall_iso(), "kind": kind, "bot": bot, **detail})
        line = json.dumps(event, default=str)
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a listener's bug must not lose the event
                import logging

                logging.getLogger(__name__).exception("event listener failed")
        try:
            if self.path.exists() and self.path.stat().st_size > self.max_bytes:
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            _append_line(self.path, line)
        except OSError as exc:
            # The event log is a convenience; a full disk must not take the supervisor down.
            import logging

            logging.getLogger(__name__).warning("cannot write event log: %s", exc)


def _append_line(path: Path, line: str) -> None:
    """Append one whole line or nothing. On a full disk a write can be cut short; the torn
    piece is cut off again, else it would glue itself to the next event and both would be
    unreadable. A file that ends mid-line (a supervisor killed between the short write and
    the cut) is cut back to its last whole line first. The supervisor is the only writer,
    so the size before the write is the place to cut."""
    # Created private (0600): events quote what bots said.
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        data = (line + "\n").encode("utf-8")
        if size and os.pread(fd, 1, size - 1) != b"\n":
            tail = os.pread(fd, TORN_TAIL_BYTES, max(0, size - TORN_TAIL_BYTES))
            if b"\n" in tail or size <= TORN_TAIL_BYTES:
                size -= len(tail) - (tail.rfind(b"\n") + 1)
                os.ftruncate(fd, size)
            else:
                data = b"\n" + data  # no line end in sight: keep it, on a line of its own
        try:
            written = os.write(fd, data)
        except OSError:
            os.ftruncate(fd, size)
            raise
        if written < len(data):
            os.ftruncate(fd, size)
            raise OSError(f"{path}: only {written} of {len(data)} bytes written (disk full?)")
    finally:
        os.close(fd)


def last_exit_text(last: Mapping[str, Any] | None) -> str:
    """``crash (exit 1) [payload] KeyError: 'bids'``; ``-`` when it never exited."""
    if not last:
        return "-"
    if last.get("signal") is not None:
        how = f"signal {last['signal']}"
    elif last.get("code") is not None:
        how = f"exit {last['code']}"
    elif last.get("reason") in ("syntax_error", "missing_module"):
        how = "not started"  # found before a process ran: a syntax check, an install
    else:
        how = "?"
    text = f"{last['reason']} ({how})"
    diagnosis = last.get("diagnosis")
    if diagnosis and diagnosis.get("pattern") != "unknown":
        text += f" [{diagnosis['pattern']}]"
    return f"{text} {last['error']}" if last.get("error") else text


_BARE = frozenset({"reason", "detail", "error", "message", "mode", "text"})  # mode: issue 27
"""Event fields shown as their value alone; the others as ``name value``."""


def event_line(event: Mapping[str, Any]) -> str:
    """One event for people: ``16:40:01 beta exit crash (exit 1) [payload] ..., backoff 7s``.

    >>> event_line({"at": "2026-11-23T16:40:01+0000", "kind": "start", "bot": "beta",
    ...             "pid": 7, "reason": "crash"})
    '16:40:01 beta     start pid 7, crash'
    """
    at = str(event.get("at", ""))[11:19] or "--:--:--"
    bot = event.get("bot") or "-"
    kind = str(event.get("kind", "?"))
    if kind == "exit":
        detail = last_exit_text(event)
        if event.get("delay_s") is not None:
            detail += f", {event.get('next_state', 'backoff')} {duration(event['delay_s'])}"
        elif event.get("reason") == "missing_module" and event.get("next_state") == "starting":
            detail += ", installing what it lacks"
        elif event.get("next_state"):
            detail += f", {event['next_state']}"
    else:
        detail = ", ".join(str(v) if k in _BARE else f"{k} {v}" for k, v in event.items()
                           if k not in ("at", "kind", "bot") and v not in (None, "", [], {}))
    # one event, one line: a bot's note (or error) with line breaks must not print what
    # looks like another event (issue 27)
    detail = " ⏎ ".join(detail.splitlines())
    return f"{at} {bot:<8} {kind} {detail}".rstrip()


def read_events(path: Path, n: int, bot: str | None = None, kinds: frozenset[str] | None = None,
                scan_lines: int = 5000) -> list[dict[str, Any]]:
    """The last ``n`` events (of ``bot``, of ``kinds``), oldest first, from the log and its
    rotated copy; lines that are not events are skipped."""
    from .common.logfiles import tail_lines

    lines = tail_lines(path, scan_lines)
    if len(lines) < scan_lines:
        lines = tail_lines(path.with_name(path.name + ".1"), scan_lines - len(lines)) + lines
    found = []
    for line in lines:
        event = parse_event(line)
        if not event or (bot is not None and event.get("bot") != bot):
            continue
        if kinds is None or event.get("kind") in kinds:
            found.append(event)
    return found[-n:] if n > 0 else []


def parse_event(line: str) -> dict[str, Any] | None:
    """One line of the log as an event, or None (a torn last line, say)."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "kind" in event else None
