"""Stopping a bot's whole process tree: SIGTERM to each member (its process group and the
escaped ones), SIGKILL after the stop timeout, and nothing it started left behind.

Each process gets one SIGTERM, however the stop goes: a second one means "exit now" to
many programs (the SDK's graceful shutdown among them), so the leftover phase of a stop
spares what the stop signalled, and a supervisor finishing a stop begun by one it replaces
spares what that one signalled (``Graces``, kept by the runner in ``graces``).

Members are the bot's cgroup when it has one (exact: ``cgroups``), else the process marker
walk of ``procs``. Every process operation goes through those two; this module only
sequences them.

A process that joins the tree while a stop waits (a helper an ``on_shutdown`` launches to
cancel orders, a child a helper forks) gets its one SIGTERM too (``latecomers``), noted like
the first ones and under the stop's deadline, not a fresh one; the stop still ends the
moment the tree is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from ..common.leandataclass import dataclass
from . import cgroups, procs
from .identity import stat_fields
from .latecomers import Latecomers

log = logging.getLogger(__name__)

KILL_GRACE_S = 5.0
"""After SIGKILL, how long to wait for the kernel to report the exit (normally instant)."""
LATE_LOOK_S = (0.1, 0.1)
"""How often a stop looks for late members in a cgroup (first, at most): one small read."""
LATE_WALK_S = (0.1, 1.0)
"""The same for the marker walk, which reads the process table: every 0.1 s at first, then
less often while nothing joins (back to 0.1 s when something does)."""


async def stop_tree(ident: procs.ProcessIdentity, marker: str, exit_task: asyncio.Future[int | None],
                    stop_timeout: Grace, *, cgroup: Path | None = None,
                    ) -> tuple[int | None, int | None, list[int]]:
    """Stop the bot ``ident`` and everything it started; return its (exit code, signal) and
    the pids that had to be killed after the timeout. With ``cgroup`` (the bot's, holding
    the bot) its members are the cgroup's, and what outlives the timeout gets ``cgroup.kill``;
    a bot that could not join its cgroup is stopped by the marker walk."""
    loop = asyncio.get_running_loop()
    if cgroup is not None and ident.pid in cgroups.pids(cgroup):
        first = cgroups.pids(cgroup)
        term = _term(stop_timeout, first)
        deadline = loop.time() + term.seconds
        sent = _sent(stop_timeout, cgroups.signal_all(cgroup, term.signum, skip=term.spare))
        _said(ident.pid, sent, term)
        late = _in_cgroup(cgroup, stop_timeout, {*first, *sent, *term.spare}, term.signum)
        async with late.watching(LATE_LOOK_S):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(exit_task), term.seconds)
        killed = await _drain(cgroup, max(0.0, deadline - loop.time()), late)
        return _status(await asyncio.wait_for(exit_task, KILL_GRACE_S)) + (killed,)
    # Snapshot the tree before signalling: once a parent dies its children are orphaned
    # and no longer appear as its descendants.
    members = procs.members(ident, marker, since=ident)
    targets = _targets(ident.pid, members)
    term = _term(stop_timeout, sorted({ident.pid, *targets}))
    deadline = loop.time() + term.seconds
    sent = _terminate(targets, term, stop_timeout)
    _said(ident.pid, sent, term)
    late = _walked(ident.pid, marker, ident, stop_timeout, {*targets, *term.spare}, targets, ident,
                   signum=term.signum)
    async with late.watching(LATE_WALK_S):
        try:
            await asyncio.wait_for(asyncio.shield(exit_task), term.seconds)
        except asyncio.TimeoutError:
            log.info("pid %d ignored SIGTERM for %.1f s: SIGKILL", ident.pid, term.seconds)
    killed = _kill_walked(ident.pid, late, await _outlived(late, max(0.0, deadline - loop.time())))
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


async def _drain(cgroup: Path, wait_s: float, late: Latecomers) -> list[int]:
    """Wait up to ``wait_s`` for the signalled cgroup to empty (``late`` members signalled
    meanwhile), then ``cgroup.kill`` what is left and wait (bounded) until the kernel reports
    it empty; return the pids killed."""
    async with late.watching(LATE_LOOK_S):
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

    def before(self, pids: list[int], late: bool = False) -> Term:
        """The wait for ``pids``, about to be signalled (asked only when there is something
        to signal: the deadlines it stores then cost a registry write only when used).
        ``late``: they joined the stop under way, whose deadline they share."""

    def sent(self, pids: list[int]) -> None:
        """``pids`` were just sent SIGTERM."""


Grace = float | Term | Graces
"""A fixed wait (no process spared), or the per-process graces of a runner."""


def _term(grace: Grace, pids: list[int], late: bool = False) -> Term:
    if isinstance(grace, Term):
        return grace
    if isinstance(grace, (int, float)):
        return Term(float(grace))
    return grace.before(pids, late)


def _sent(grace: Grace, pids: list[int]) -> list[int]:
    """Tell ``grace`` that ``pids`` were just signalled (call it right after the signal:
    a supervisor killed in between would have them signalled again); returns ``pids``."""
    if pids and not isinstance(grace, (int, float, Term)):
        grace.sent(pids)
    return pids


def _late(grace: Grace, done: set[int], find: Callable[[], dict[int, Any]],
          send: Callable[[list[Any]], list[int]], seen: dict[int, Any] | None = None,
          signum: signal.Signals = signal.SIGTERM) -> Latecomers:
    """The newcomers of a stop whose SIGTERMs (the bot's stop signal) went out to all but
    ``done``; a newcomer is ready for it once it catches that signal (``latecomers.ready``)."""
    return Latecomers(find, send, lambda pids: _term(grace, pids, late=True).spare,
                      lambda pids: _sent(grace, pids), lambda pid: procs.disposition(pid, signum),
                      asyncio.get_running_loop().time, done, dict(seen or {}), born=_born)


def _born(pid: int) -> int | None:
    """A live pid's start (ticks since boot), which tells a reused pid from its first owner."""
    fields = stat_fields(pid)
    return fields[1] if fields is not None else None


def _in_cgroup(cgroup: Path, grace: Grace, done: set[int],
               signum: signal.Signals = signal.SIGTERM) -> Latecomers:
    return _late(grace, done, lambda: {pid: pid for pid in cgroups.pids(cgroup)},
                 lambda pids: cgroups.signal_pids(pids, signum), signum=signum)


def _walked(pgid: int | None, marker: str, since: procs.ProcessIdentity | None, grace: Grace,
            done: set[int], seen: dict[int, Any], root: procs.ProcessIdentity | None = None,
            signum: signal.Signals = signal.SIGTERM) -> Latecomers:
    """The newcomers the marker walk finds (with the bot's descendants while it lives, and
    its process group)."""
    return _late(grace, done, lambda: _targets(pgid, procs.members(root, marker, since)),
                 lambda found: procs.signal_each(found, signum), seen, signum)


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
        first = cgroups.pids(cgroup)
        term = _term(wait_s, first)
        sent = _sent(wait_s, cgroups.signal_all(cgroup, term.signum, skip=term.spare))
        return await _drain(cgroup, term.seconds,
                            _in_cgroup(cgroup, wait_s, {*first, *sent, *term.spare}, term.signum))
    left = {p.pid: p for p in known}
    left.update((p.pid, p) for p in procs.members(None, marker, since))
    alive = await procs.wait_procs_gone(list(left.values()), 0.0)
    if not alive and not (pgid and procs.group_exists(pgid)):
        return []
    targets = _targets(pgid, alive)
    term = _term(wait_s, sorted(targets))
    _terminate(targets, term, wait_s)
    late = _walked(pgid, marker, since, wait_s, {*targets, *term.spare}, targets, signum=term.signum)
    return _kill_walked(pgid, late, await _outlived(late, term.seconds))


async def _outlived(late: Latecomers, wait_s: float) -> list[Any]:
    """Wait up to ``wait_s`` until nothing of the tree is left, late members signalled as a
    look finds them; return what is alive at the deadline (none: the tree emptied, and the
    stop ends then, not at its deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    first_s, most_s = LATE_WALK_S
    pause = first_s
    while True:
        left = max(0.0, deadline - loop.time())
        late.seen = {p.pid: p for p in await procs.wait_procs_gone(list(late.seen.values()),
                                                                     min(pause, left))}
        joined = late.look()  # also when all seen are gone: one may have forked first
        alive = await procs.wait_procs_gone(list(late.seen.values()), 0.0)
        if not alive or loop.time() >= deadline:
            return alive
        pause = first_s if joined else min(most_s, pause * 2)


KILL_LOOKS = 5
"""How many times the walk looks again after its SIGKILLs (see ``_kill_walked``)."""


def _kill_walked(pgid: int | None, late: Latecomers, alive: list[Any]) -> list[int]:
    """SIGKILL what outlived its deadline, then look again until the walk finds nothing: a
    member forked between the last look and its parent's SIGKILL is not in ``alive`` (it
    gets its SIGKILL too, and no SIGTERM: the stop's deadline has passed). Returns the pids
    killed."""
    killed: list[int] = []
    if not alive:
        return killed  # the tree emptied: the last look of ``_outlived`` found nothing
    for _ in range(KILL_LOOKS):
        if pgid:
            procs.signal_group(pgid, signal.SIGKILL)
        killed += procs.signal_each(alive, signal.SIGKILL)
        alive = [p for pid, p in late.find().items() if pid not in killed and procs.running(p)]
        if not alive:
            break
    return killed


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
