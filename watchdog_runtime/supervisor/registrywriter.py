"""The registry's one writer: every change the supervisor makes reaches the file here.

Changes made in one turn of the event loop (an exit, its backoff and the next spawn) share one
atomic, fsynced write (:meth:`RegistryWriter.soon`); a spawn writes at once (:meth:`now`), so
the run is on disk before the process; a reply to a command waits for the write its change
called for (:meth:`flush`). A write that fails (a full disk) raises :class:`RegistryWriteError`,
is said once (log, event, status) and is retried every second until one succeeds. After each
good write the same content goes to the last good copy; while the file cannot be read (a
person broke it) only the copy is written, and a supervisor that never read the file writes
nothing at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from .. import registry
from ..events import EventLog
from ..registry import BotRecord, Quarantined
from .registryguard import RegistryGuard
from .request_error import RequestError

log = logging.getLogger(__name__)

RETRY_S = 1.0
"""How soon a failed write is tried again."""
HOLD_MAX_S = 0.5
"""The longest a held write waits (:meth:`RegistryWriter.hold`), whoever holds it."""


class RegistryWriteError(RequestError):
    """The registry could not be written (a full disk, say): the change it records is not
    made, or, when it already happened, the command that made it fails."""


class Source(Protocol):
    """What the writer writes, and whether it may: the supervisor."""

    loaded: bool
    """The registry was read once; False while a file never read cannot be: nothing is written."""
    unreadable: registry.Unreadable | None
    quarantined: tuple[Quarantined, ...]

    def check_registry(self) -> None:
        """Notice a file someone broke (or fixed) since the last look."""
        ...

    def records(self) -> dict[str, BotRecord]:
        """Every bot's record as it is to be written (secret values hidden)."""
        ...


class RegistryWriter:
    """Writes ``path`` (and its last good copy) for ``source``; the only code that does."""

    def __init__(self, path: Path, root: Path, events: EventLog, guard: RegistryGuard,
                 source: Source) -> None:
        self.path = path
        self._root = root
        self._events = events
        self._guard = guard
        self._source = source
        self._pending = False
        self._retry: asyncio.TimerHandle | None = None
        self._copy_failed = False
        self._scheduled = False
        """A write is scheduled for the end of this turn (:meth:`soon`)."""
        self._holds = 0
        self._held_since: float | None = None
        """When a write asked for with :meth:`soon` was first held back (None: none is)."""
        self.error: str | None = None
        """Why the last write failed, until one succeeds (shown in the status)."""

    @property
    def pending(self) -> bool:
        """A change waits to be written."""
        return self._pending

    def mark(self) -> None:
        """A change to write with the next flush (the watch's, or a command's)."""
        self._pending = True

    def soon(self) -> None:
        """Write at the end of this turn of the event loop (at once when there is no loop).
        A change only marked (:meth:`mark`) schedules nothing: this one does (issue 29: a
        restart written ahead alone relies on it for its pid)."""
        self._pending = True
        if self._scheduled:
            return
        try:
            asyncio.get_running_loop().call_soon(self._scheduled_flush)
        except RuntimeError:
            self.flush()  # no loop (tests, start-up): at once
            return
        self._scheduled = True

    def _scheduled_flush(self) -> None:
        self._scheduled = False
        if not self._held_back():
            self.flush_quietly()

    def now(self) -> None:
        """Write now; raise :class:`RegistryWriteError` when it cannot be."""
        self._pending = True
        self.flush()

    def hold(self) -> Callable[[], None]:
        """Hold back the writes :meth:`soon` asks for until the returned release is called (at
        most ``HOLD_MAX_S``): a crash restart written ahead alone (``runahead``) writes the
        registry once, after its spawn, not also while it prepares, on the way to its fork
        (issue 29). :meth:`now`, :meth:`flush` and :meth:`flush_quietly` never wait."""
        self._holds += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self._holds -= 1
            if self._holds == 0 and self._held_since is not None:
                self._held_since = None
                self._later(0.0)
        return release

    def _later(self, delay_s: float) -> None:
        try:
            asyncio.get_running_loop().call_later(delay_s, self.flush_quietly)
        except RuntimeError:
            self.flush_quietly()  # no loop (tests, start-up): at once

    def _held_back(self) -> bool:
        """A held write waits (True), or its time is up; a wait is made of one timer."""
        if not self._holds or not self._pending:
            self._held_since = None
            return False
        now = asyncio.get_running_loop().time()
        if self._held_since is None:
            self._held_since = now
            self._later(HOLD_MAX_S)
        return now - self._held_since < HOLD_MAX_S

    def flush_quietly(self) -> None:
        """:meth:`flush` for callers nobody answers: a failure is already said and retried."""
        self._held_since = None
        try:
            self.flush()
        except RegistryWriteError:
            pass

    def flush(self) -> None:
        """Write if a change is pending; raise :class:`RegistryWriteError` when the write fails
        (the change stays pending and is retried every second)."""
        if not self._pending:
            return
        if not self._source.loaded:
            self._pending = False  # nothing read, so nothing to write: the file stays as it is
            return
        self._source.check_registry()  # a file broken since the last write is not overwritten
        records = self._source.records()
        try:
            self._write(records)
        except OSError as exc:
            raise self._failed(exc) from None
        self._pending = False
        if self.error is not None:
            log.info("the registry is written again")
            self.error = None
        if self._source.unreadable is None:
            self.copy_last_good(records)

    def _write(self, records: Mapping[str, BotRecord]) -> None:
        quarantined = self._source.quarantined
        if self._source.unreadable is None:
            registry.save(self.path, dict(records), quarantined)
            self._guard.written()
        else:  # the broken file is left to the person; the copy keeps what a restore needs
            registry.save_last_good(self.path, dict(records), quarantined, ahead=True)

    def _failed(self, exc: OSError) -> RegistryWriteError:
        first = self.error is None
        self.error = (f"cannot write the registry {self.path}: {exc.strerror or exc}; "
                      f"free space (or fix the permissions) in {self._root}")
        if first:
            log.error("%s", self.error)
            self._events.write("registry_write_failed", error=str(exc))
        self._schedule_retry()
        return RegistryWriteError(self.error)

    def copy_last_good(self, records: Mapping[str, BotRecord]) -> None:
        """The registry's last good copy, after the registry itself: a failure does not fail
        the change (the registry holds it); it is said once and retried with the next write."""
        try:
            registry.save_last_good(self.path, dict(records), self._source.quarantined)
        except OSError as exc:
            if not self._copy_failed:
                log.warning("cannot write %s: %s; retried every second",
                            registry.last_good(self.path), exc.strerror or exc)
            self._copy_failed = True
            self._pending = True
            self._schedule_retry()
            return
        self._copy_failed = False

    def _schedule_retry(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        retry = self._retry
        if retry is None or retry.cancelled() or retry.when() <= loop.time():
            self._retry = loop.call_later(RETRY_S, self.flush_quietly)
