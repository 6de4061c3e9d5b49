"""Which live process is a bot's own, after a supervisor (re)start: pure, given the sweep.

The registry holds the bot's recorded run (pid + start ticks + run id) and, when a supervisor
died between writing a run ahead and writing its pid, that pending run (id only). The sweep
(``procs.marked_processes``) finds every process carrying the bot's marker, with the run id
each was started under. One of them may be the bot; every process of another run is a stray
(an orphan of an earlier run, or a copy) and is stopped before anything new starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..registry import RunRecord
from .identity import ProcessIdentity
from .procs import Marked


def choose_own(run: RunRecord | None, pending: RunRecord | None, found: list[Marked],
               alive: Callable[[ProcessIdentity], bool],
               spare: Callable[[ProcessIdentity], bool] = lambda ident: False,
               ) -> tuple[ProcessIdentity, RunRecord] | None:
    """The bot's own live process and its run record, or None.

    The recorded run by its identity; a record without start ticks (an older wdbot) also by
    pid plus run id. A run written ahead with a pid (a warm spare's) by that pid, only when the
    process is the bot's: it carries the run's id, or it is the bot's spare still waiting
    (``spare``; a foreign or garbage record names anything else). A run written ahead but never
    given its pid by its run id: the oldest
    process of that run that leads its own session, since the bot's process is spawned so
    and is older than anything it starts.

    >>> ident = ProcessIdentity(42, 1.0, 500, "b")
    >>> pending = RunRecord(0, 0.0, "r2", "t")
    >>> found = [Marked(ProcessIdentity(43, 1.1, 510, "b"), "r2", True), Marked(ident, "r2", True)]
    >>> choose_own(None, pending, found, lambda i: True)[0].pid
    42
    >>> choose_own(None, pending, [Marked(ident, "r1", True)], lambda i: True) is None
    True
    """
    if run is not None and alive(run.ident):
        return run.ident, run
    if run is not None:
        for m in found:
            if m.run_id == run.run_id and m.ident.pid == run.pid:
                return m.ident, with_ident(run, m.ident)
    if pending is None:
        return None
    if pending.pid and alive(pending.ident) and (_carries(found, pending) or spare(pending.ident)):
        return pending.ident, pending  # a warm spare's run: its pid was written ahead (issue 29)
    roots = [m for m in found if m.run_id == pending.run_id and m.leader]
    if not roots:
        return None
    oldest = min(roots, key=lambda m: (m.ident.start_ticks or 0, m.ident.create_time, m.ident.pid))
    return oldest.ident, with_ident(pending, oldest.ident)


def _carries(found: list[Marked], run: RunRecord) -> bool:
    """A process with the bot's marker and ``run``'s id is on ``run``'s pid."""
    return any(m.ident.pid == run.pid and m.run_id == run.run_id for m in found)


def others(found: list[Marked], own: RunRecord | None) -> list[Marked]:
    """The strays: every process not of the bot's own run (all of them when it has none)."""
    return [m for m in found if own is None or m.run_id != own.run_id]


def with_ident(run: RunRecord, ident: ProcessIdentity) -> RunRecord:
    """``run`` on the process ``ident``."""
    return replace(run, pid=ident.pid, create_time=ident.create_time, start_ticks=ident.start_ticks,
                   boot_id=ident.boot_id)
