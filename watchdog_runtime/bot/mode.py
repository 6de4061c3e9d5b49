"""The bot's trading mode: ``wd.mode()``, ``wd.may_open()``, ``wd.on_mode(fn)``. Stdlib only.

The supervisor writes the mode to a small file atomically (``common.tradingmode``); this
module stats it on every call and reads it again only when the file changed (another inode,
size or time), so asking before every order costs a ``stat`` or two, a few microseconds. A
change is seen by the next call (about 12 µs a call on a busy 2-core machine, most of it the
``stat``). Reading a new mode writes an acknowledgement the supervisor
shows (``mode_acknowledged``): a bot that never asks is shown as not listening.

Outside wdbot every bot is ``active``::

    >>> import os
    >>> os.environ.pop("WDBOT_BOT_NAME", None) and None
    >>> mode(), may_open()
    ('active', True)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..common.tradingmode import DEFAULT, ModeFiles, ModeRecord, effective, write_ack

log = logging.getLogger("watchdog_runtime")

POLL_S = 0.2
"""How often the ``on_mode`` watcher looks (well inside the promised second)."""
RETRY_S = 0.5
"""How soon a failed acknowledgement is written again (not on every call of a hot loop)."""

_Key = tuple[tuple[int, ...] | None, ...]


class _Reader:
    """The cached mode of this process's bot."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: _Key | None = None
        self._record = DEFAULT
        self._acked: str | None = None
        self._failed_at: float | None = None
        """When writing the acknowledgement last failed (monotonic)."""
        self._callbacks: list[Callable[[str], object]] = []
        self._watcher: threading.Thread | None = None
        self._files: tuple[ModeFiles, tuple[str, ...]] | None = None
        """The bot's mode files, also as strings: no Path work per call."""

    def files(self) -> tuple[ModeFiles, tuple[str, ...]] | None:
        if self._files is None:  # a bot's WDBOT_* never change: read once, not per order
            home, name = os.environ.get("WDBOT_HOME"), os.environ.get("WDBOT_BOT_NAME")
            if not home or not name:
                return None
            found = ModeFiles(Path(home), name)
            self._files = found, tuple(str(p) for p in found.candidates())
        return self._files

    def current(self) -> ModeRecord:
        where = self.files()
        if where is None:
            return DEFAULT
        files, paths = where
        key = _stat_key(paths)
        with self._lock:
            if key != self._key:
                self._record = effective(files)
                self._key = key
            record = self._record
            if self._acked != record.id and self._may_retry():
                # marked only once written: a failed write (a full disk for a moment) is tried
                # again, at most once a RETRY_S, or a listening bot would look deaf for good
                if _acknowledge(files, record.id, os.environ.get("WDBOT_RUN_ID", "")):
                    self._acked = record.id
                else:
                    self._failed_at = time.monotonic()
        return record

    def _may_retry(self) -> bool:
        return self._failed_at is None or time.monotonic() - self._failed_at >= RETRY_S

    def on_mode(self, fn: Callable[[str], object]) -> None:
        with self._lock:
            self._callbacks.append(fn)
            start = self._watcher is None and self.files() is not None
            if start:
                self._watcher = threading.Thread(target=self._watch, name="wdbot-mode", daemon=True)
        if start and self._watcher is not None:
            self._watcher.start()

    def _watch(self) -> None:
        last = self.current().mode.value
        stop = threading.Event()
        while not stop.wait(POLL_S):
            now = self.current().mode.value
            if now == last:
                continue
            last = now
            with self._lock:
                callbacks = list(self._callbacks)
            for fn in callbacks:
                try:
                    fn(now)
                except Exception:  # noqa: BLE001 - a bot's callback must not end the watcher
                    log.exception("wd.on_mode callback %r failed", fn)


def _stat_key(paths: tuple[str, ...]) -> _Key:
    """What tells a file changed: another inode, time or size (an atomic replace is a new inode)."""
    key: list[tuple[int, ...] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            key.append(None)
            continue
        except OSError:
            key.append((-1,))  # read, and found unreadable: halted (``tradingmode.read_record``)
            continue
        key.append((st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size))
    return tuple(key)


def _acknowledge(files: ModeFiles, record_id: str, run_id: str) -> bool:
    try:
        write_ack(files, record_id, run_id)
    except OSError:
        return False  # a full disk: the supervisor shows this bot as not acknowledged, the safe side
    return True


_reader = _Reader()


def mode() -> str:
    """The bot's trading mode: ``"active"``, ``"reducing"`` (close, open nothing new) or
    ``"halted"`` (send no orders). Cheap: call it before every order.

    >>> mode() in ("active", "reducing", "halted")
    True
    """
    return _reader.current().mode.value


def may_open() -> bool:
    """True when the bot may open new positions: ``mode() == "active"``.

    >>> isinstance(may_open(), bool)
    True
    """
    return mode() == "active"


def mode_reason() -> str | None:
    """Why the mode was set (``wdbot halt --reason``), or None.

    >>> mode_reason() is None or isinstance(mode_reason(), str)
    True
    """
    return _reader.current().reason


def on_mode(fn: Callable[[str], object]) -> None:
    """Call ``fn(new_mode)`` from a watcher thread whenever the mode changes (within a
    second); an exception in ``fn`` is logged, never raised into the bot.

    >>> on_mode(lambda new: print("mode is now", new))
    """
    _reader.on_mode(fn)
