"""Checks of the bot's file before a start that a person asked for: it exists, and it
compiles under the bot's own Python (which may be another version than the supervisor's, so
the venv's interpreter compiles it, not ours). A syntax error is reported to ``wdbot start``
at once, with file:line, instead of a bot that shows ``running`` and then dies.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ..common.leandataclass import dataclass
from ..installs.samepython import same_as_ours

# Runs in the bot's Python: compile only (no code of the bot runs), the error as JSON.
_COMPILE = r"""
import json, sys
try:
    with open(sys.argv[1], "rb") as f:
        compile(f.read(), sys.argv[1], "exec", dont_inherit=True)
except SyntaxError as exc:
    json.dump({"type": type(exc).__name__, "msg": exc.msg, "line": exc.lineno}, sys.stdout)
    sys.exit(3)
except ValueError as exc:  # "source code string cannot contain null bytes": not Python either
    json.dump({"type": "SyntaxError", "msg": str(exc), "line": None}, sys.stdout)
    sys.exit(3)
"""


@dataclass
class BotFileError(Exception):
    """The bot's file is missing or does not compile; ``message`` is the one line for people."""

    message: str
    syntax: bool = False

    def __str__(self) -> str:
        return self.message


def check_bot_file(path: Path, name: str, python: Path | None, timeout_s: float = 60.0,
                   then: str = "start") -> None:
    """Raise :class:`BotFileError` when ``path`` is gone or (with ``python``) does not compile;
    its message ends with the command to run once it is fixed (``wdbot THEN NAME``)."""
    if not path.is_file():
        raise BotFileError(f"{path}: the bot's file is gone; put it back, or 'wdbot remove {name}' "
                           f"and start the file where it is now")
    if python is None:
        return
    if same_as_ours(python):  # the supervisor's own Python: it compiles it alike, no start needed
        found = _compile_here(path)
        if found is not None:
            raise BotFileError(syntax_message(path, name, found, then), syntax=True)
        return
    try:
        done = subprocess.run([str(python), "-I", "-c", _COMPILE, str(path)], capture_output=True,
                              text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return  # the bootstrap compiles it again and says so; this check only saves a start
    if done.returncode == 3:
        try:
            found = json.loads(done.stdout)
        except ValueError:
            found = {}
        raise BotFileError(syntax_message(path, name, found, then), syntax=True)


def _compile_here(path: Path) -> dict[str, object] | None:
    """What ``_COMPILE`` says, in this process: the error, or None (the file compiles, or
    cannot be read: the bootstrap says so). Only compiled, never run."""
    try:
        with open(path, "rb") as fh:
            compile(fh.read(), str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError too, by their own names
        return {"type": type(exc).__name__, "msg": exc.msg, "line": exc.lineno}
    except ValueError as exc:  # "source code string cannot contain null bytes"
        return {"type": "SyntaxError", "msg": str(exc), "line": None}
    except (OSError, RecursionError, MemoryError):
        pass  # as the child's crash was: the bootstrap compiles it again and says so
    return None


def syntax_message(path: Path, name: str, found: dict[str, object], then: str = "start") -> str:
    """``/bots/grid.py:3: SyntaxError: invalid syntax; fix it, then 'wdbot start grid'``.

    >>> syntax_message(Path("/b/grid.py"), "grid", {"type": "SyntaxError", "msg": "bad", "line": 3})
    "/b/grid.py:3: SyntaxError: bad; fix it, then 'wdbot start grid'"
    """
    where = f"{path}:{found['line']}" if found.get("line") else str(path)
    what = f"{found.get('type', 'SyntaxError')}: {found.get('msg', 'invalid syntax')}"
    return f"{where}: {what}; fix it, then 'wdbot {then} {name}'"
