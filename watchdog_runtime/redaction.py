"""Redaction: every secret value of the home, replaced by ``***`` in what the supervisor
writes or shows (events and so alerts, the registry, control replies and so status and the
metrics, its own log, the exit records it keeps).

What came from a bot (an exception's text, a traceback, a diagnosis's ``seen``) may quote a
secret: a bot that dies of ``RuntimeError("exchange rejected key SK-...")``. Redaction is
applied where text leaves the supervisor (its *sinks*), so a new field or a new event
cannot forget it. Values shorter than :data:`MIN_CHARS` are not redacted: hiding every
``1234`` or ``true`` would mangle every text and hide nothing worth hiding.

The values are decrypted from the store when it changed (its files' stat, checked on every
use), not on every call. What redaction cannot cover: the bot's own output (its log files,
``wdbot logs``) is the bot's; a value encoded, split or transformed by the bot is not found
(one cut short at the end of a text, as a truncated message does, is).
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from .common.home import BotPaths, Home
from .common.leandataclass import dataclass
from .common.logfiles import CUT_MARK
from .secretstore import SecretStore

if TYPE_CHECKING:
    from .registry import BotRecord

MIN_CHARS = 6
"""Values shorter than this are not redacted (README: Secrets)."""
MASK = "***"

T = TypeVar("T")


def forms(value: str) -> set[str]:
    """The ways ``value`` appears in text: as it is, escaped as ``repr`` and JSON escape it,
    and each long enough line of a multi-line value (a PEM key, quoted line by line).

    >>> sorted(forms('ab"cd\\nefghij'))
    ['ab"cd\\nefghij', 'ab"cd\\\\nefghij', 'ab\\\\"cd\\\\nefghij', 'efghij']
    >>> forms("12345")
    set()
    """
    found = {value, value.encode("unicode_escape").decode("ascii"), json.dumps(value)[1:-1]}
    found |= {line.strip() for line in value.splitlines()}
    return {f for f in found if len(f) >= MIN_CHARS}


@dataclass(frozen=True)
class Mask:
    """What hides the values: one expression for every form of every value (longest first,
    so a value that contains another is hidden whole), and the beginnings of each form, for
    a text that ends in a value cut short (a message truncated at 200 characters)."""

    pattern: re.Pattern[str]
    beginnings: frozenset[str]
    longest: int
    endings: frozenset[str] = frozenset()
    """The ends of each form, for a text that starts inside a value: a long log line cut to
    its newest part, shown behind ``CUT_MARK``."""

    def text(self, text: str) -> str:
        """``text`` with every value, a value's beginning at its very end, and a value's end
        just after a cut mark (a long line shown from its middle), as ``***``.

        >>> of(["SK-123456789"]).text("key SK-123456789, then SK-1234567")
        'key ***, then ***'
        >>> of(["SK-123456789"]).text(CUT_MARK + "3456789 and more")
        '[wdbot: line cut, its newest 16 KB shown] *** and more'
        """
        text = self.pattern.sub(MASK, text)
        for size in range(min(len(text), self.longest), MIN_CHARS - 1, -1):
            if text[-size:] in self.beginnings:
                text = text[:-size] + MASK
                break
        starts = [m.end() for m in re.finditer(re.escape(CUT_MARK), text)]
        for start in reversed(starts):
            text = self._end_at(text, start)
        return text

    def _end_at(self, text: str, start: int) -> str:
        for size in range(min(len(text) - start, self.longest), MIN_CHARS - 1, -1):
            if text[start:start + size] in self.endings:
                return text[:start] + MASK + text[start + size:]
        return text


def of(values: list[str]) -> Mask | None:
    """The mask of ``values``; None when there is nothing to hide."""
    every = sorted({f for v in values for f in forms(v)}, key=lambda f: (-len(f), f))
    if not every:
        return None
    beginnings = frozenset(f[:size] for f in every for size in range(MIN_CHARS, len(f)))
    endings = frozenset(f[-size:] for f in every for size in range(MIN_CHARS, len(f)))
    return Mask(re.compile("|".join(map(re.escape, every))), beginnings, len(every[0]), endings)


def scrub(obj: T, mask: Mask | None) -> T:
    """``obj`` (a string, or JSON-like lists, tuples and dicts of them) with every value
    hidden by ``mask``.

    >>> scrub({"error": "bad key SK-123456", "n": [1, "SK-123456!"]}, of(["SK-123456"]))
    {'error': 'bad key ***', 'n': [1, '***!']}
    """
    if mask is None:
        return obj
    if isinstance(obj, str):
        return mask.text(obj)  # type: ignore[return-value]  # a str in, a str out
    if isinstance(obj, dict):
        return {k: scrub(v, mask) for k, v in obj.items()}  # type: ignore[return-value]  # same
    if isinstance(obj, (list, tuple)):
        return type(obj)(scrub(v, mask) for v in obj)
    return obj


class Redactor:
    """The secret values of one home's store, kept in step with it, and every value it held
    since this object was made: a value replaced or removed is still hidden (a running bot
    read the old key at its start and may still quote it, dying of its revocation)."""

    def __init__(self, folder: Path, load: Callable[[], list[str]] | None = None) -> None:
        self.folder = folder
        self._load = load or SecretStore(folder).all_values
        self._seen: tuple[tuple[str, int, int, int], ...] | None = None
        self._values: set[str] = set()
        self._mask: Mask | None = None

    def mask(self) -> Mask | None:
        """The mask of the values now and before (decrypted again only when the store changed)."""
        seen = self._signature()
        if seen != self._seen:
            self._values.update(self._load() if seen else ())
            self._mask = of(sorted(self._values))
            self._seen = seen
        return self._mask

    def __call__(self, obj: T) -> T:
        """``obj`` redacted (see :func:`scrub`)."""
        return scrub(obj, self.mask())

    def _signature(self) -> tuple[tuple[str, int, int, int], ...]:
        try:
            files = sorted(p for p in self.folder.iterdir() if p.name == "key" or p.suffix == ".json")
        except OSError:
            return ()
        found = []
        for path in files:
            try:
                st = path.stat()
            except OSError:
                continue  # replaced under us: the next call sees the new one
            found.append((path.name, st.st_ino, st.st_mtime_ns, st.st_size))
        return tuple(found)


def rewrite_json(path: Path, redact: Redactor) -> None:
    """Redact a JSON file the supervisor keeps (a bot's exit record) in place, atomically;
    untouched when it holds no value."""
    from .common.durable import atomic_write_json

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    clean = redact(data)
    if clean != data:
        atomic_write_json(path, clean)


class LogFilter(logging.Filter):
    """Redacts every record a handler emits (message, arguments, exception text)."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        if self.redact.mask() is None:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # a malformed call: the handler reports it as it always does
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class RedactedStream(io.TextIOBase):
    """A text stream that redacts what is written through it (the supervisor's ``stderr``,
    which is its log: a traceback Python prints there itself never passes a log filter)."""

    def __init__(self, stream: TextIO, redact: Redactor) -> None:
        super().__init__()
        self._stream = stream
        self._redact = redact

    def write(self, text: str) -> int:
        self._stream.write(self._redact(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]  # read-only here, as a real stream's
        return self._stream.encoding

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)  # the rest of a real stream's face (errors, buffer)


def guard_logging(redact: Redactor) -> None:
    """Redact everything the process logs through its root handlers (the supervisor log),
    and what Python writes to its ``stderr`` outside logging (an uncaught exception in a
    thread, a warning)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(LogFilter(redact))
    if not isinstance(sys.stderr, RedactedStream):
        sys.stderr = RedactedStream(sys.stderr, redact)


def clean_record(record: BotRecord, redact: Redactor) -> BotRecord:
    """A registry record with its last exit redacted (the spec is the user's, kept as is)."""
    if record.last_exit is None:
        return record
    from .records import ExitInfo

    found = record.last_exit.to_json()
    clean = redact(found)
    return record if clean == found else replace(record, last_exit=ExitInfo.from_json(clean))


RUN_ENDS = frozenset({"exit", "stopped"})
"""Events after which a bot's exit record has been read and may be redacted on disk."""


def clean_run_files(event: Mapping[str, Any], home: Home, redact: Redactor) -> None:
    """An events listener: once a run's end is recorded, its exit record (the bootstrap's,
    which quotes the exception) is redacted on disk too."""
    bot = event.get("bot")
    if event.get("kind") in RUN_ENDS and isinstance(bot, str) and redact.mask() is not None:
        rewrite_json(BotPaths(home.bot_dir(bot)).exit_record, redact)
