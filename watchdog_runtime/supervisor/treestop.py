"""Stopping a bot's whole process tree: SIGTERM to each member (its process group and the
escaped ones), SIGKILL after the stop timeout, and nothing it started left behind.

Each process gets one SIGTERM, however the stop goes: a second one means "exit now" to
many programs (the SDK's graceful shutdown among them), so the leftover phase of a stop
spares what the stop signalled, and a supervisor finishing a stop begun by one it replaces
spares what that one signalled (``Graces``, kept by the runner in ``graces``).

Members are the bot's cgroup when it has one (exact: ``cgroups``), else the process marker
walk of ``procs``. Every process operation goes through those two; this module only
sequences them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import cgroups, procs

log = logging.getLogger(__name__)

KILL_GRACE_S = 5.0
"""After SIGKILL, how long to wait for the kernel to report the exit (normally instant)."""


async def stop_tree(ident: procs.ProcessIdentity, marker: str, exit_task: asyncio.Future[int | None],
                    stop_timeout: Grace, *, cgroup: Path | None = None,
                    ) -> tuple[int | None, int | None, list[int]]:
    """Stop the bot ``ident`` and everything it started; return its (exit code, signal) and
    the pids that had to be killed after the timeout. With ``cgroup`` (the bot's, holding
    the bot) its members are the cgroup's, and what outlives the timeout gets ``cgroup.kill``;
    a bot that could not join its cgroup is stopped by the marker walk."""
    loop = asyncio.get_running_loop()
    if cgroup is not None and ident.pid in cgroups.pids(cgroup):
        term = _term(stop_timeout, cgroups.pids(cgroup))
        deadline = loop.time() + term.seconds
        sent = _sent(stop_timeout, cgroups.signal_all(cgroup, term.signum, skip=term.spare))
        _said(ident.pid, sent, term)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(exit_task), term.seconds)
        killed = await _drain(cgroup, max(0.0, deadline - loop.time()))
        return _status(await asyncio.wait_for(exit_task, KILL_GRACE_S)) + (killed,)
    # Snapshot the tree before signalling: once a parent dies its children are orphaned
    # and no longer appear as its descendants.
    members = procs.members(ident, marker, since=ident)
    targets = _targets(ident.pid, members)
    term = _term(stop_timeout, sorted({ident.pid, *targets}))
    deadline = loop.time() + term.seconds
    sent = _terminate(targets, term, stop_timeout)
    _said(ident.pid, sent, term)
    try:
        await asyncio.wait_for(asyncio.shield(exit_task), term.seconds)
    except asyncio.TimeoutError:
        log.info("pid %d ignored SIGTERM for %.1f s: SIGKILL", ident.pid, term.seconds)
    rest = _Rest(stop_timeout, max(0.0, deadline - loop.time()), term.spare | frozenset(sent), term.signum)
    killed = await kill_leftovers(ident.pid, members, marker, rest, since=ident)
    return _status(await asyncio.wait_for(exit_task, KILL_GRACE_S)) + (killed,)


def _said(pid: int, sent: list[int], term: Term) -> None:
    spared = f"; spared {sorted(term.spare)}, signalled before" if term.spare else ""
    log.info("stopping pid %d: %s to %s%s, SIGKILL in %.1f s", pid, signal.Signals(term.signum).name,
             sorted(sent), spared, term.seconds)


def _status(returncode: int | None) -> tuple[int | None, int | None]:
    """(exit code, signal) from a Popen-style return code."""
    code = returncode if returncode is not None and returncode >= 0 else None
    sig = -returncode if returncode is not None and returncode < 0 else None
    return code, sig


async def _drain(cgroup: Path, wait_s: float) -> list[int]:
    """Wait up to ``wait_s`` for the signalled cgroup to empty, then ``cgroup.kill`` what is
    left and wait (bounded) until the kernel reports it empty; return the pids killed."""
    if await cgroups.wait_empty_async(cgroup, wait_s):
        return []
    killed = cgroups.kill(cgroup)
    log.info("cgroup %s: %d processes outlived SIGTERM: cgroup.kill", cgroup.name, len(killed))
    if not await cgroups.wait_empty_async(cgroup, KILL_GRACE_S):
        log.warning("cgroup %s still holds %s after cgroup.kill", cgroup, cgroups.pids(cgroup))
    return killed


@dataclass(frozen=True)
class Term:
    """Seconds from SIGTERM to SIGKILL, and the pids not to send SIGTERM (they had it).
    ``signum``: what is sent instead of SIGTERM (the bot's ``--stop-signal``)."""

    seconds: float
    spare: frozenset[int] = frozenset()
    signum: signal.Signals = signal.SIGTERM


class Graces(Protocol):
    """Per-process graces kept beyond one supervisor (the runner's, see ``graces``)."""

    def before(self, pids: list[int]) -> Term:
        """The wait for ``pids``, about to be signalled (asked only when there is something
        to signal: the deadlines it stores then cost a registry write only when used)."""

    def sent(self, pids: list[int]) -> None:
        """``pids`` were just sent SIGTERM."""


Grace = float | Term | Graces
"""A fixed wait (no process spared), or the per-process graces of a runner."""


def _term(grace: Grace, pids: list[int]) -> Term:
    if isinstance(grace, Term):
        return grace
    if isinstance(grace, (int, float)):
        return Term(float(grace))
    return grace.before(pids)


def _sent(grace: Grace, pids: list[int]) -> list[int]:
    """Tell ``grace`` that ``pids`` were just signalled (call it right after the signal:
    a supervisor killed in between would have them signalled again); returns ``pids``."""
    if pids and not isinstance(grace, (int, float, Term)):
        grace.sent(pids)
    return pids


@dataclass(frozen=True)
class _Rest:
    """The leftover phase of a stop: what is left of its wait, and no second SIGTERM for
    what the stop signalled."""

    grace: Grace
    seconds: float
    spare: frozenset[int]
    signum: signal.Signals = signal.SIGTERM

    def before(self, pids: list[int]) -> Term:
        return Term(self.seconds, self.spare, self.signum)

    def sent(self, pids: list[int]) -> None:
        _sent(self.grace, pids)  # the stop's own graces note them


def _targets(pgid: int | None, found: Iterable[Any]) -> dict[int, Any]:
    """The ``found`` processes and the members of process group ``pgid`` now, by pid: whom
    a stop signals (the group holds members the marker walk cannot see: a helper that
    cleared its environment and was orphaned)."""
    targets = {p.pid: p for p in found}
    if pgid:
        targets.update((p.pid, p) for p in procs.group_members(pgid))
    return targets


def _terminate(targets: dict[int, Any], term: Term, grace: Grace) -> list[int]:
    """SIGTERM to each of ``targets`` but the ``spare`` pids, told to ``grace`` at once;
    return the pids signalled. One by one, never ``killpg``: a process forked between a
    listing of the group and a ``killpg`` would have its SIGTERM unrecorded, and the sweep
    after the stop would send it a second one. One forked after the listing gets its SIGTERM
    from that sweep."""
    todo = [p for pid, p in sorted(targets.items()) if pid not in term.spare]
    return _sent(grace, procs.signal_each(todo, term.signum))


async def kill_leftovers(pgid: int | None, known: list[Any], marker: str, wait_s: Grace,
                         since: procs.ProcessIdentity | None = None, *,
                         cgroup: Path | None = None) -> list[int]:
    """No process the bot started outlives it: SIGTERM what is left, SIGKILL after ``wait_s``;
    return the pids that needed the SIGKILL.

    Left are the ``known`` members, whatever still carries the bot's marker, and the bot's
    process group ``pgid`` (members that cleared their environment are still in it). With
    ``cgroup`` (the bot's, still there), left is exactly what is in it: give it only when the
    bot's process had joined it (all it started is then inside, whatever it did).
    """
    if cgroup is not None and cgroups.exists(cgroup):
        if cgroups.is_empty(cgroup):
            return []
        term = _term(wait_s, cgroups.pids(cgroup))
        _sent(wait_s, cgroups.signal_all(cgroup, term.signum, skip=term.spare))
        return await _drain(cgroup, term.seconds)
    left = {p.pid: p for p in known}
    left.update((p.pid, p) for p in procs.members(None, marker, since))
    alive = await procs.wait_procs_gone(list(left.values()), 0.0)
    if not alive and not (pgid and procs.group_exists(pgid)):
        return []
    targets = _targets(pgid, alive)
    term = _term(wait_s, sorted(targets))
    _terminate(targets, term, wait_s)
    alive = await procs.wait_procs_gone(list(targets.values()), term.seconds)
    if pgid:
        procs.signal_group(pgid, signal.SIGKILL)
    procs.signal_each(alive, signal.SIGKILL)
    return [p.pid for p in alive]


async def stop_processes(found: list[Any], wait_s: Grace) -> list[int]:
    """Stop exactly these processes (copies of a bot found beside the one adopted, or left
    by a dead supervisor): SIGTERM once each, SIGKILL after ``wait_s``; return the pids that
    needed the SIGKILL. Nothing else carrying the bot's marker is touched."""
    alive = await procs.wait_procs_gone(found, 0.0)
    if not alive:
        return []
    term = _term(wait_s, [p.pid for p in alive])
    _terminate({p.pid: p for p in alive}, term, wait_s)
    alive = await procs.wait_procs_gone(alive, term.seconds)
    procs.signal_each(alive, signal.SIGKILL)
    await procs.wait_procs_gone(alive, KILL_GRACE_S)
    return [p.pid for p in alive]
