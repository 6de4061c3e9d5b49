"""Reading a bot's stderr for the traceback it died of. Pure: text in, findings out.

Error text is untrusted input: a bot may log an exchange's payload, echo a traceback it
caught, or print anything at all. Only the *final* traceback counts: the last thing written
to stderr, a ``Traceback (most recent call last):`` header followed by nothing but its
indented frames and the exception line. And the supervisor acts on a missing module only
when the bootstrap's structured exit record (written by the runtime from the exception
object itself) names the same module.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..common.leandataclass import dataclass

# What auto-install repairs; it lives in installs, which never imports the supervisor.
from ..installs.missing import MissingModule as MissingModule

HEADER = "Traceback (most recent call last):"
_FRAME_RE = re.compile(r'^  File "(?P<file>.*)", line (?P<line>\d+)(?:, in (?P<func>.*))?$')
_MNFE_RE = re.compile(r"^ModuleNotFoundError: No module named '(?P<name>[^']{1,200})'$")
_CANNOT_IMPORT_RE = re.compile(
    r"^cannot import name '(?P<name>[^']+)' from '(?P<module>[^']+)'(?: \((?P<where>.*)\))?$"
)


@dataclass(frozen=True)
class Traceback:
    """The final uncaught traceback of a stderr text."""

    exc_line: str
    """The last line: ``ModuleNotFoundError: No module named 'x'``."""
    last_file: str | None
    """File of the innermost frame."""
    last_source: str | None
    """Source line of the innermost frame (the failing statement), stripped."""


def final_traceback(text: str) -> Traceback | None:
    """The traceback ``text`` ends with, or None when it ends with anything else.

    >>> tb = final_traceback('Traceback (most recent call last):\\n  File "b.py", line 1, '
    ...                      'in <module>\\n    import x\\nModuleNotFoundError: No module named \\'x\\'\\n')
    >>> tb.exc_line, tb.last_source
    ("ModuleNotFoundError: No module named 'x'", 'import x')
    """
    lines = text.rstrip().splitlines()
    if not lines:
        return None
    exc_line = lines[-1]
    if not exc_line or exc_line[0].isspace():
        return None
    try:
        start = len(lines) - 1 - lines[::-1].index(HEADER)
    except ValueError:
        return None
    body = lines[start + 1:-1]
    # Between the header and the exception line there are only indented frame lines; an
    # unindented line means the "traceback" was text printed before something else.
    if not body or any(line and not line[0].isspace() for line in body):
        return None
    last_file = last_source = None
    for i, line in enumerate(body):
        match = _FRAME_RE.match(line)
        if match:
            last_file = match.group("file")
            nxt = body[i + 1] if i + 1 < len(body) else ""
            last_source = nxt.strip() if nxt.startswith("    ") and not _FRAME_RE.match(nxt) else None
    if last_file is None:
        return None
    return Traceback(exc_line=exc_line, last_file=last_file, last_source=last_source)


def missing_module(read_tail: Callable[[], str], record: Mapping[str, Any] | None,
                   ) -> MissingModule | None:
    """The module a bot died for, or None. ``read_tail`` gives the end of the run's stderr;
    it is read only when the record already says ``ModuleNotFoundError``.

    Both must agree: the final traceback on stderr ends with ``ModuleNotFoundError: No module
    named 'X'``, and the bootstrap's exit record for this run says the uncaught exception was
    a ``ModuleNotFoundError`` whose ``name`` is X. Echoed or caught tracebacks, text on
    stdout, and a bot that prints a fake line and exits otherwise all give None.
    """
    if record and record.get("type") == "ImportError":
        return _import_failure(read_tail(), record)
    if not record or record.get("type") != "ModuleNotFoundError":
        return None
    tb = final_traceback(read_tail())
    if tb is None:
        return None
    match = _MNFE_RE.match(tb.exc_line)
    if not match or match.group("name") != record.get("name"):
        return None
    line = record.get("line") if isinstance(record.get("line"), str) else tb.last_source
    filename = record.get("filename") if isinstance(record.get("filename"), str) else tb.last_file
    return MissingModule(name=match.group("name"), import_line=line, filename=filename)


_SITE_RE = re.compile(r"[/\\](?:site|dist)-packages[/\\](?P<top>[A-Za-z_][A-Za-z0-9_]*)")


def _import_failure(text: str, record: Mapping[str, Any]) -> MissingModule | None:
    """An ``ImportError`` of an installed package at import time (every frame of the final
    traceback at module level), confirmed by the record and the traceback's last line."""
    message = str(record.get("message") or "")
    text = _one_line_message(text, message)
    tb = final_traceback(text)
    if tb is None or not message or tb.exc_line != f"ImportError: {message.splitlines()[0]}":
        return None
    block = text[text.rfind(HEADER):]
    if any(m.group("func") != "<module>" for m in map(_FRAME_RE.match, block.splitlines()) if m):
        return None  # raised while running (a lazy import in a function): a crash like others
    line = record.get("line") if isinstance(record.get("line"), str) else tb.last_source
    filename = record.get("filename") if isinstance(record.get("filename"), str) else tb.last_file
    drift = _CANNOT_IMPORT_RE.match(message)
    if drift and _SITE_RE.search(drift.group("where") or ""):
        return MissingModule(drift.group("module"), line, filename, imported=drift.group("name"))
    site = _SITE_RE.search(tb.last_file or "")
    if site is None:
        return None  # the bot's own module: its own bug, not a dependency's
    return MissingModule(site.group("top"), line, filename, error=" ".join(message.split())[:500])


def _one_line_message(text: str, message: str) -> str:
    """``text`` cut after the first line of ``message`` when the traceback ends with the
    whole message in several lines (pandas' "Unable to import required dependencies:" then
    one line per dependency): the exception line is its first line, as for any other.

    >>> _one_line_message("Traceback...\\nImportError: a\\nb\\n", "a\\nb")
    'Traceback...\\nImportError: a'
    """
    lines = message.rstrip().splitlines()
    whole = f"ImportError: {message.rstrip()}"
    if len(lines) < 2 or not text.rstrip().endswith(whole):
        return text
    return text.rstrip()[:-len(whole)] + f"ImportError: {lines[0]}"


def mismatch_hint(record: Mapping[str, Any] | None) -> str | None:
    """For ``ImportError: cannot import name 'X' from 'Y'``: a hint, since no install fixes it.

    >>> mismatch_hint({"type": "ImportError", "message": "cannot import name 'Spot' from 'binance'"})[:34]
    "the installed 'binance' has no 'Sp"
    """
    if not record or record.get("type") != "ImportError":
        return None
    match = _CANNOT_IMPORT_RE.match(str(record.get("message") or ""))
    if not match:
        return None
    return (f"the installed {match.group('module')!r} has no {match.group('name')!r}: a version "
            f"(or package) other than the bot was written for; pin the right one in the bot's "
            f"dependencies")
