"""Whether a venv's interpreter is the supervisor's own Python (issue 26).

Most bots run on the default interpreter, the supervisor's own. Then what the bot's Python
would answer about the standard library, about a file's syntax or about a module file in
its venv, the supervisor can answer itself, without starting that Python first (a tenth of
a second and more on a busy machine, before the bot's first line). Read from the venv's
``pyvenv.cfg`` (uv writes ``home`` and ``version_info``); anything unclear is "no", and the
caller asks the venv's own Python as before.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path


def same_as_ours(python: Path) -> bool:
    """``python`` (a venv's ``bin/python``) is a venv of the very interpreter running this."""
    try:
        text = (python.parent.parent / "pyvenv.cfg").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    cfg = {k.strip(): v.strip() for k, _, v in (line.partition("=") for line in text.splitlines())}
    return (cfg.get("version_info") == _our_version()
            and cfg.get("implementation", "").lower() == sys.implementation.name
            and _real(cfg.get("home", "")) == _our_home())


def _our_version() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])


@functools.lru_cache(maxsize=1)
def _our_home() -> str:
    base = getattr(sys, "_base_executable", None) or sys.executable
    return _real(os.path.dirname(base))


def _real(folder: str) -> str:
    return os.path.realpath(folder) if folder else ""
