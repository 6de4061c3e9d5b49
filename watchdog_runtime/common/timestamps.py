"""``--timestamps``: every line the bot's Python writes to stdout and stderr starts with the
time it was written (as PM2's ``--time`` does). Runs inside the bot: stdlib only, loaded by
the bootstrap only for a bot started with the option (many bots log their own times).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

ENV = "WDBOT_TIMESTAMPS"


def stamp(now: float) -> str:
    """``2026-12-01 02:34:05.123 `` in local time.

    >>> len(stamp(0.5)), stamp(0.5)[-5:]
    (24, '.500 ')
    """
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d} "


class Stamped:
    """A text stream whose every line starts with :func:`stamp`; everything else is the
    wrapped stream's (``flush``, ``fileno``, ``encoding``, ...)."""

    def __init__(self, stream: TextIO, clock: Any = time.time) -> None:
        self._stream = stream
        self._clock = clock
        self._at_line_start = True
        self._lock = threading.Lock()  # threads print too: a line's stamp stays with it

    def write(self, text: str) -> int:
        if not text:
            return 0
        with self._lock:
            out = []
            start = 0
            while start < len(text):
                end = text.find("\n", start)
                end = len(text) if end < 0 else end + 1
                if self._at_line_start:
                    out.append(stamp(self._clock()))
                out.append(text[start:end])
                self._at_line_start = text[end - 1] == "\n"
                start = end
            self._stream.write("".join(out))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def install() -> None:
    """Stamp the bot's ``sys.stdout`` and ``sys.stderr`` (tracebacks included)."""
    sys.stdout = Stamped(sys.stdout)  # a TextIO in all but name (mypy: __getattr__ covers it)
    sys.stderr = Stamped(sys.stderr)
