"""Degraded bots: running, but repeating the same error on stderr again and again (the
"never let the loop die" pattern: a bot that catches everything, logs it, and does nothing).

Pure, driven by an injected clock: the runner hands it what the bot appended to its stderr
since the last look; it keeps, per error signature, the times it was seen in the last
``window_s``, and flags the bot while one signature repeats ``min_repeats`` times or more.
"""

from __future__ import annotations

import re
from collections import deque

from ..common.leandataclass import dataclass

# An error line: ``ValueError: x``, ``ccxt.base.errors.NetworkError: x``, or a logged one
# (``... ERROR ... something failed``); the text after the type is the message.
_EXC_RE = re.compile(r"\b(?P<type>(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Timeout|"
                     r"Disconnected|Refused))\b:?\s*(?P<message>.*)$")
_LOGGED_RE = re.compile(r"\b(?:ERROR|CRITICAL|FATAL)\b[:\s-]*(?P<message>.+)$")
_VOLATILE_RE = re.compile(r"0x[0-9a-fA-F]+|\d+(?:\.\d+)?")
_TB_HEADER = "Traceback (most recent call last):"
# The line that ends a traceback block names the exception, whatever its name (``socket.gaierror``,
# ``TimeoutError``, ``KeyError``): a dotted name, then ``: message`` or nothing.
_TB_END_RE = re.compile(r"^(?P<type>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)(?::\s*(?P<message>.*))?$")
MAX_LINE = 300
MAX_SIGNATURES = 200
"""Bound on what is remembered: a bot printing endless distinct errors costs no more."""


@dataclass(frozen=True)
class Degraded:
    """The error a running bot repeats: its last line as printed, how often in the window."""

    error: str
    count: int
    window_s: float
    exc_line: str
    """The part of ``error`` from the exception's type on (what diagnosis reads)."""

    def to_json(self) -> dict[str, object]:
        return {"error": self.error, "count": self.count, "window_s": self.window_s}


def traceback_end(line: str) -> tuple[str, str, str] | None:
    """(signature, the line, its exception part) for the line that ends a printed traceback,
    read by its place, not its name; None when the line cannot be one (prose, a blank line).

    >>> traceback_end("socket.gaierror: [Errno -2] Name or service not known")[0]
    'socket.gaierror: [Errno -#] Name or service not known'
    >>> traceback_end("KeyError")[0], traceback_end("During handling of the above exception") is None
    ('KeyError', True)
    """
    text = line.strip()[:MAX_LINE]
    found = _TB_END_RE.match(text)
    if not found:
        return None
    message = found.group("message")
    exc = text if message is None else f"{found.group('type')}: {message}"
    return _VOLATILE_RE.sub("#", exc), text, exc


def signature(line: str) -> tuple[str, str, str] | None:
    """(signature, the line, its exception part) for an error line, None for anything else. Numbers and
    addresses are masked, so ``timeout after 3.2 s`` and ``after 4.1 s`` are one error.

    >>> signature("2026-12-01 02:34:05 ERROR fetch failed: [Errno -2] Name or service not known")[0]
    'ERROR fetch failed: [Errno -#] Name or service not known'
    >>> signature("all good") is None
    True
    """
    text = line.strip()[:MAX_LINE]
    found = _EXC_RE.search(text)
    if found:
        key = exc = f"{found.group('type')}: {found.group('message')}"
    else:
        logged = _LOGGED_RE.search(text)
        if not logged:
            return None
        key, exc = f"ERROR {logged.group('message')}", logged.group("message")
    return _VOLATILE_RE.sub("#", key), text, exc


class RepeatWatch:
    """Counts each error signature over a sliding window."""

    # one per running bot (issue 29)
    __slots__ = ("window_s", "min_repeats", "_seen", "_last_line", "_partial", "_in_traceback")

    def __init__(self, window_s: float = 60.0, min_repeats: int = 5) -> None:
        self.window_s = window_s
        self.min_repeats = min_repeats
        self._seen: dict[str, deque[float]] = {}
        self._last_line: dict[str, tuple[str, str]] = {}
        self._partial = ""
        self._in_traceback = False

    def feed(self, text: str, now: float) -> None:
        """What the bot appended to stderr since the last call (lines may be cut mid-way)."""
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()[-MAX_LINE:]
        for line in lines:
            found = self._read(line)
            if found is None:
                continue
            key, shown, exc = found
            if key not in self._seen and len(self._seen) >= MAX_SIGNATURES:
                continue
            self._seen.setdefault(key, deque()).append(now)
            self._last_line[key] = (shown, exc)

    def _read(self, line: str) -> tuple[str, str, str] | None:
        """One line, read in its place: inside a printed traceback only the line that ends the
        block counts (its frames' source lines, ``raise ValueError(...)``, are not errors)."""
        if line.strip() == _TB_HEADER:
            self._in_traceback = True
            return None
        if self._in_traceback:
            if not line.strip() or line[:1].isspace():
                return None  # a frame, its source line, or a caret line
            self._in_traceback = False
            return traceback_end(line) or signature(line)
        return signature(line)

    def verdict(self, now: float) -> Degraded | None:
        """The most repeated error of the window, when it repeats often enough."""
        best: tuple[int, str] | None = None
        for key in list(self._seen):
            times = self._seen[key]
            while times and now - times[0] > self.window_s:
                times.popleft()
            if not times:
                del self._seen[key]
                del self._last_line[key]
            elif best is None or len(times) > best[0]:
                best = (len(times), key)
        if best is None or best[0] < self.min_repeats:
            return None
        shown, exc = self._last_line[best[1]]
        return Degraded(shown, best[0], self.window_s, exc)

    def reset(self) -> None:
        self._seen.clear()
        self._last_line.clear()
        self._partial = ""
        self._in_traceback = False
