"""Stopping a bot's whole process tree: SIGTERM to its group and to every member (escaped
ones included), SIGKILL after the stop timeout, and nothing it started left behind.

Members are the bot's cgroup when it has one (exact: ``cgroups``), else the process marker
walk of ``procs``. Every process operation goes through those two; this module only
sequences them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
        stop_timeout_s = _seconds(stop_timeout, cgroups.pids(cgroup))
        deadline = loop.time() + stop_timeout_s
        procs.signal_group(ident.pid, signal.SIGTERM)
        cgroups.signal_all(cgroup, signal.SIGTERM, skip_group=ident.pid)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(exit_task), stop_timeout_s)
        killed = await _drain(cgroup, max(0.0, deadline - loop.time()))
        return _status(await asyncio.wait_for(exit_task, KILL_GRACE_S)) + (killed,)
    # Snapshot the tree before signalling: once a parent dies its children are orphaned
    # and no longer appear as its descendants.
    members = procs.members(ident, marker, since=ident)
    stop_timeout_s = _seconds(stop_timeout, sorted({ident.pid, *(p.pid for p in members)}))
    deadline = loop.time() + stop_timeout_s
    procs.signal_group(ident.pid, signal.SIGTERM)
    procs.signal_each(procs.outside_group(members, ident.pid), signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(exit_task), stop_timeout_s)
    except asyncio.TimeoutError:
        log.info("pid %d ignored SIGTERM for %.1f s: SIGKILL", ident.pid, stop_timeout_s)
    killed = await kill_leftovers(ident.pid, members, marker, max(0.0, deadline - loop.time()),
                                  since=ident)
    return _status(await asyncio.wait_for(exit_task, KILL_GRACE_S)) + (killed,)


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


Grace = float | Callable[[list[int]], float]
"""Seconds from SIGTERM to SIGKILL, or a function of the pids about to be signalled that
gives them, asked only when there is something to signal (the runner's per-process
deadlines, ``graces``, then cost a registry write only when used)."""


def _seconds(grace: Grace, pids: list[int]) -> float:
    return grace(pids) if callable(grace) else grace


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
        seconds = _seconds(wait_s, cgroups.pids(cgroup))
        cgroups.signal_all(cgroup, signal.SIGTERM)
        return await _drain(cgroup, seconds)
    left = {p.pid: p for p in known}
    left.update((p.pid, p) for p in procs.members(None, marker, since))
    alive = await procs.wait_procs_gone(list(left.values()), 0.0)
    if not alive and not (pgid and procs.group_exists(pgid)):
        return []
    seconds = _seconds(wait_s, [p.pid for p in alive] + ([pgid] if pgid else []))
    if pgid:
        procs.signal_group(pgid, signal.SIGTERM)
    procs.signal_each(procs.outside_group(alive, pgid) if pgid else alive, signal.SIGTERM)
    alive = await procs.wait_procs_gone(alive, seconds)
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
    seconds = _seconds(wait_s, [p.pid for p in alive])
    procs.signal_each(alive, signal.SIGTERM)
    alive = await procs.wait_procs_gone(alive, seconds)
    procs.signal_each(alive, signal.SIGKILL)
    await procs.wait_procs_gone(alive, KILL_GRACE_S)
    return [p.pid for p in alive]
