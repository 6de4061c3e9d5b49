"""The supervisor's marks in a bot's output: when it started it and when (and how) the bot
ended, written into the bot's ``stdout.log`` at the place in its output where that happened,
so ``wdbot logs`` answers "when did it die, and was that the last line?".

The lines are pure functions of what the runner knows; ``append`` is the one side effect
(an ``O_APPEND`` write of one line, atomic beside the bot's own appends).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..common.units import duration

PREFIX = "--- wdbot"
START_MARK_ENV = "WDBOT_START_MARK"
"""The start mark a spawned bot's bootstrap writes first thing, ``PID_SLOT`` in it for its pid:
written by the supervisor after the spawn, it came after the bot's first line on a loaded
machine (the bootstrap is the one writer sure to be first)."""
PID_SLOT = "{pid}"


def start_mark(at: str, pid: int | str, reason: str) -> str:
    """``--- wdbot 2026-12-01T02:34:05+0000 started pid 41 (crash) ---`` (``pid`` may be
    ``PID_SLOT``, for the bootstrap to fill in)."""
    return f"{PREFIX} {at} started pid {pid} ({reason}) ---"


def exit_mark(at: str, how: str, next_state: str, delay_s: float | None = None) -> str:
    """``--- wdbot 2026-12-01T02:34:09+0000 exited: crash (exit 1): KeyError: 'bids'; backoff 2s ---``

    The delay is rounded as the event log rounds it (``duration``): one backoff, one figure.

    >>> exit_mark("T", "crash (exit 1): boom", "backoff", 2.0)
    '--- wdbot T exited: crash (exit 1): boom; backoff 2s ---'
    >>> exit_mark("T", "crash (exit 1): boom", "backoff", 0.8)
    '--- wdbot T exited: crash (exit 1): boom; backoff 0.8s ---'
    """
    then = f"{next_state} {duration(delay_s)}" if delay_s else next_state
    first = how.splitlines()[0] if how else how
    return f"{PREFIX} {at} exited: {first}; {then} ---"


def append(path: Path, line: str) -> None:
    """Append ``line`` to the log at ``path``; a log that cannot be written is not an error
    of the bot's (a full disk must not stop the supervisor)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError:
        return
    try:
        os.write(fd, (line + "\n").encode("utf-8", errors="replace"))
    except OSError:
        pass  # as above: the mark is a courtesy, the bot's own lines matter more
    finally:
        os.close(fd)
