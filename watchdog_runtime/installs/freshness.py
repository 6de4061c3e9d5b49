"""A bot's venv built from uv's cache first, checked against the index once the bot is up
(issue 26: a first start no slower than ``uv run``).

Resolving a bot's declared dependencies against the index revalidates every project's
page: 0.5 s on a quiet machine for ccxt and pandas, 2 s and more on a busy one, before the
bot's first line, while uv's cache (warm after any earlier install) already knows them. So a
venv is built with ``--offline`` first (the online install as before when the cache lacks
anything) and marked ``FROM_CACHE``. Once the bot is up, the supervisor asks the index what
a fresh resolution would install (``uv pip install --dry-run --upgrade``): nothing else, and
the mark goes; a newer release, and an event says which, and the venv is marked
``NEWER``: the next start rebuilds it, with the newest releases, as ``uv run`` would have
installed them. Never silent, never an upgrade under a running bot.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

from ..common.leandataclass import dataclass

FROM_CACHE = ".wdbot-from-cache"
"""In the venv: its packages were resolved from uv's cache alone; the index not asked yet."""
NEWER = ".wdbot-newer-releases"
"""In the venv: the index has newer releases than it holds; the next start rebuilds it."""

OFFLINE = ("--offline",)

_CHANGE_RE = re.compile(r"^ ([+-]) ([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


@dataclass(frozen=True)
class Change:
    """One distribution a fresh resolution would install otherwise."""

    name: str
    installed: str | None
    """The version in the venv (None: a distribution it does not hold)."""
    newer: str | None
    """The version the index gives now (None: one it would no longer install)."""

    def __str__(self) -> str:
        return f"{self.name} {self.installed or '(none)'} -> {self.newer or '(none)'}"


def cache_first(index_args: Sequence[str]) -> bool:
    """Whether an offline try is worth it: not when every install is offline anyway."""
    offline = os.environ.get("UV_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    return not offline and "--offline" not in index_args


def mark(venv: Path, name: str) -> None:
    with contextlib.suppress(OSError):  # without it: no check (FROM_CACHE), no rebuild (NEWER)
        (venv / name).touch()


def clear(venv: Path, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (venv / name).unlink()


def marked(venv: Path, name: str) -> bool:
    return (venv / name).exists()


def check_args(python: Path, requirement_files: Sequence[str], index_args: Sequence[str]) -> list[str]:
    """uv's arguments for the check: what a fresh, online resolution would change."""
    args = ["pip", "install", "--dry-run", "--upgrade", "--python", str(python), *index_args]
    for name in requirement_files:
        args += ["-r", name]
    return args


def changes(uv_output: str) -> list[Change]:
    """The ``- name==old`` / ``+ name==new`` lines of a dry run, by distribution.

    >>> [str(c) for c in changes("Would install 1 package\\n - ccxt==4.5.89\\n + ccxt==4.5.90\\n + x==1\\n")]
    ['ccxt 4.5.89 -> 4.5.90', 'x (none) -> 1']
    """
    found: dict[str, dict[str, str]] = {}
    for line in uv_output.splitlines():
        match = _CHANGE_RE.match(line)
        if match:
            found.setdefault(match[2].lower(), {})[match[1]] = match[3]
    return [Change(name, sides.get("-"), sides.get("+")) for name, sides in found.items()]


def message(name: str, found: Sequence[Change]) -> str:
    """The one line of the event."""
    listed = ", ".join(str(c) for c in found)
    return (f"installed from uv's cache; the index has newer releases now: {listed}; the next "
            f"start installs them ('wdbot restart {name}')")
