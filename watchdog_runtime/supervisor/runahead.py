"""A bot's spawn written ahead alone (issue 29): the run id of the process about to be forked,
in a small file of the bot's own (``run/ahead.json``), atomically and durably, before the fork.

The registry used to be rewritten whole and fsynced (with its last good copy) before every
spawn, and again for the pid after it: with fifty bots, every crash of one paid for the
records of all. What a supervisor killed -9 between the fork and the pid's write needs is
only the run id the new process carries (``adoption.choose_own``): that is what is written
here, before the fork, as the registry's ``pending_run`` was. The registry follows at the end
of the event loop's turn (``RegistryWriter.soon``). The registry is still written at once
(``persist_now``) for a bot's first spawn by this supervisor and for every start a person asked
for, so the bot itself, its spec and that it should run are on disk before any process of it
exists; only the restarts of a bot already on disk take the short way.

The file is written atomically (a temporary file renamed over it) but not fsynced, as the
notes of the SIGTERMs sent are (``sentmarks``): it guards against a supervisor killed at any
instant, and the next supervisor reads it from the page cache; a power cut, the only loss an
fsync prevents, leaves no process of the bot for it to name (a process's identity holds the
boot id). The registry itself stays fsynced: specs, holds and what should run outlive a power
cut. (An fsync before the fork took 1 ms on a quiet disk, 20 ms on a busy one.)

On load (:func:`merge`) a record whose run and pending run both differ from the bot's file
takes the file's run as its pending run: the file names the latest spawn, always. A file
naming the registry's own run adds nothing, so a helper of that run that outlived it is still
a stray, stopped, never adopted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from ..bot import exitrecord
from ..common.durable import read_regular
from ..common.home import BotPaths, Home
from ..registry import Registry, RunRecord
from ..states import StartReason

log = logging.getLogger(__name__)

ASKED_FOR = (StartReason.FIRST_START, StartReason.RESTART)
"""Starts a person asked for: the file is compiled first, so 'wdbot start' reports a syntax
error at once (a crash restart leaves that to the bootstrap, as before); and the registry is
written at once before their spawn (never the short way)."""

MAX_BYTES = 64 * 1024
"""A write-ahead record is a few hundred bytes; more is not one."""


def path_of(paths: BotPaths) -> Path:
    """Where bot ``paths``' write-ahead record is kept."""
    return paths.run / "ahead.json"


PID_LIMIT = 1 << 22
"""Above Linux's largest ``pid_max``: no process has such a pid."""


def read(path: Path) -> RunRecord | None:
    """The run written ahead at ``path``, or None (none, or not readable, or naming no possible
    process: the registry alone)."""
    try:
        record = RunRecord.from_json(json.loads(read_regular(path, MAX_BYTES)))
    except (OSError, ValueError, KeyError, TypeError, OverflowError):
        return None
    return record if _possible(record) else None


def _possible(record: RunRecord) -> bool:
    """A garbage record (a negative or huge pid, a time that is no number) made the sweep's
    process look-ups raise and the supervisor die at its start (red team rt29)."""
    return (0 <= record.pid < PID_LIMIT and math.isfinite(record.create_time)
            and (record.start_ticks is None or record.start_ticks >= 0) and bool(record.run_id))


def merge(found: Registry, home: Home) -> Registry:
    """``found`` with each bot's write-ahead record as its pending run, where the record names
    a run the registry does not know (a supervisor killed before the registry caught up)."""
    bots = dict(found.bots)
    for name, record in found.bots.items():
        ahead = read(path_of(BotPaths(home.bot_dir(name))))
        known = {r.run_id for r in (record.run, record.pending_run) if r is not None}
        if ahead is not None and ahead.run_id not in known:
            bots[name] = replace(record, pending_run=ahead)
    return replace(found, bots=bots)


class Writes(Protocol):
    """The registry's writes (the supervisor's)."""

    def persist(self) -> None: ...
    def persist_now(self) -> None: ...
    def hold_soon(self) -> Callable[[], None]: ...


class RunAhead:
    """One bot's write-ahead step before each spawn."""

    def __init__(self, paths: BotPaths, registry: Writes) -> None:
        self.path = path_of(paths)
        self._registry = registry
        self.on_disk = False
        """The registry holds this bot as this supervisor runs it (written at once at a spawn)."""
        self._short = False

    async def quietly(self, preparing: Awaitable[None], reason: StartReason) -> None:
        """Await ``preparing`` (the start's preparation, in a thread); for a restart on the short
        way, the registry's writes asked for meanwhile wait for the one after the spawn, so the
        preparation is not kept waiting for the loop (``RegistryWriter.hold``)."""
        release = self._registry.hold_soon() if self._short_way(reason) else None
        try:
            await preparing
        finally:
            if release is not None:
                release()

    def before_spawn(self, pending: RunRecord, reason: StartReason) -> None:
        """Make ``pending`` durable before its process exists: this file alone (the registry
        soon) for a restart nobody asked for of a bot the registry already holds, else this
        file and the registry at once. Raises ``RegistryWriteError`` when the registry cannot
        be written: nothing may be spawned then."""
        wrote = self._write(pending)
        self._short = wrote and self._short_way(reason)
        if self._short:
            self._registry.persist()
            return
        self._registry.persist_now()  # raises: nothing is spawned, the file still names the latest
        self.on_disk = True
        if not wrote:  # a spawn this file does not name: an older run must not stay there
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)

    def _short_way(self, reason: StartReason) -> bool:
        return self.on_disk and reason not in ASKED_FOR

    def _write(self, pending: RunRecord) -> bool:
        try:  # atomic, not fsynced: a power cut leaves no process for it to name (module doc)
            exitrecord.write(str(self.path), pending.to_json(), sync=False)
        except OSError as exc:  # a full disk: the registry is tried at once, as before issue 29
            log.warning("cannot write %s (%s): the registry is written at once instead", self.path, exc)
            return False
        return True

    def after_spawn(self) -> None:
        """The spawned process's pid to the registry: with the next write on the short way, at
        once otherwise (raising ``RegistryWriteError``: the run id written ahead finds it)."""
        if self._short:
            self._registry.persist()
        else:
            self._registry.persist_now()
