"""``--watch``: what a change to a bot's files is, and whether the new code may replace the
running one. The decisions are pure; watching (watchfiles) and installing are the runner's.

Watched: the bot's folder, recursively, for source and settings files (``.py``, ``.toml``,
``.cfg``, ``.ini``, ``.yaml``, ``.yml``, ``requirements*.txt``), so the files a bot writes
itself (CSV, JSON state, logs) never trigger a reload. Ignored: ``venv``, ``logs``,
``__pycache__``, ``.git`` and the other folders of watchfiles' default filter, and the
wdbot home when it lies inside the folder.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEBOUNCE_MS = 500
"""Changes closer together than this are one reload (an editor's save is several writes)."""
IGNORED_DIRS = ("venv", "logs", ".wdbot-state", "__pycache__", ".git", ".venv", ".hg", ".svn",
                ".tox", ".idea", "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache")
_WATCHED = re.compile(r"(\.py|\.toml|\.cfg|\.ini|\.ya?ml|^requirements.*\.txt)$")


def is_source(path: Path, ignored_roots: Iterable[Path] = ()) -> bool:
    """Whether a change to ``path`` may change what the bot runs.

    >>> is_source(Path("/bots/grid/strategy.py")), is_source(Path("/bots/grid/requirements.txt"))
    (True, True)
    >>> is_source(Path("/bots/grid/trades.csv")), is_source(Path("/bots/grid/venv/lib/x.py"))
    (False, False)
    """
    if any(part in IGNORED_DIRS for part in path.parts[:-1]):
        return False
    if any(path.is_relative_to(root) for root in ignored_roots):
        return False
    return bool(_WATCHED.search(path.name)) and not path.name.startswith((".#", "~"))


def source_filter(ignored_roots: Iterable[Path] = ()) -> Any:
    """A watchfiles filter applying :func:`is_source` (watchfiles is imported here only)."""
    from watchfiles import DefaultFilter

    roots = tuple(ignored_roots)

    class SourceFilter(DefaultFilter):
        def __call__(self, change: Any, path: str) -> bool:
            return super().__call__(change, path) and is_source(Path(path), roots)

    return SourceFilter(ignore_dirs=IGNORED_DIRS)


def compile_error(files: Iterable[Path]) -> str | None:
    """The first syntax error among ``files`` (Python sources), as one line; None if all compile.

    >>> import tempfile
    >>> bad = Path(tempfile.mkdtemp()) / "bot.py"
    >>> _ = bad.write_text("def main(:\\n    pass\\n")
    >>> compile_error([bad]).split(": ", 1)[1]
    'line 1: SyntaxError: invalid syntax'
    """
    for path in files:
        if path.suffix != ".py" or not path.exists():
            continue
        try:
            compile(path.read_bytes(), str(path), "exec")
        except SyntaxError as exc:
            return f"{path}: line {exc.lineno}: {type(exc).__name__}: {exc.msg}"
        except (OSError, ValueError) as exc:
            return f"{path}: cannot read it: {exc}"
    return None


async def watch_folder(folder: Path, ignored_roots: Iterable[Path],
                       on_change: Callable[[list[Path]], Awaitable[None]], stop: asyncio.Event) -> None:
    """Call ``on_change(paths)`` for each debounced batch of source changes under ``folder``,
    until ``stop`` is set. One batch is handled before the next is looked at."""
    from watchfiles import awatch

    async for changes in awatch(folder, watch_filter=source_filter(ignored_roots), debounce=DEBOUNCE_MS,
                                stop_event=stop, recursive=True):
        await on_change(sorted({Path(p) for _, p in changes}))


def check_and_install(bot: Path, changed: Iterable[Path], install: Callable[[], bool]) -> str | None:
    """Blocking: may the new code replace the running one? Compile-check the bot file and the
    changed sources, then ``install()`` new declared dependencies into the live venv. None
    when it may; else one line saying why not (the running bot is left alone)."""
    error = compile_error([bot, *changed])
    if error:
        return f"not reloaded, the running code stays: {error}"
    try:
        install()
    except Exception as exc:  # noqa: BLE001 - a dependency, venv or config problem, said in one line
        return f"not reloaded, the running code stays: {exc}"
    return None


async def check_edit(bot: str, changed: list[Path],
                       install: Callable[[], bool]) -> tuple[list[str], str | None]:
    """The changed files as the bot's events name them (relative to its folder), and what
    :func:`check_and_install` (in a thread) found wrong, or None."""
    folder = Path(bot).parent
    names = [str(p.relative_to(folder)) if p.is_relative_to(folder) else str(p) for p in changed]
    return names, await asyncio.to_thread(check_and_install, Path(bot), changed, install)


class SourceWatcher:
    """One bot's ``--watch`` task: at most one at a time, stopped on request, and never able
    to take the bot down with it."""

    def __init__(self, bot: str) -> None:
        self.bot = bot
        self._running: tuple[asyncio.Task[None], asyncio.Event] | None = None

    def start(self, folder: Path, ignored_roots: Iterable[Path],
              on_change: Callable[[list[Path]], Awaitable[None]]) -> None:
        if self._running is not None and not self._running[0].done():
            return
        stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(
            self._watch(folder, list(ignored_roots), on_change, stop), name=f"watch:{self.bot}")
        self._running = (task, stop)

    async def stop(self) -> None:
        if self._running is None:
            return
        task, stop = self._running
        self._running = None
        stop.set()
        try:
            await asyncio.wait_for(task, 5.0)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            pass  # it ends with the cancellation wait_for sent it

    async def _watch(self, folder: Path, ignored_roots: list[Path],
                     on_change: Callable[[list[Path]], Awaitable[None]], stop: asyncio.Event) -> None:
        try:
            await watch_folder(folder, ignored_roots, on_change, stop)
        except Exception:  # noqa: BLE001 - a broken watcher must not take the bot with it
            log.exception("watching the files of %s failed", self.bot)
