"""Stopping a bot's whole process tree: SIGTERM to its group and to every member (escaped
ones included), SIGKILL after the stop timeout, and nothing it started left behind.

Every process operation goes through ``procs``; this module only sequences them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from . import procs

log = logging.getLogger(__name__)

KILL_GRACE_S = 5.0
"""After SIGKILL, how long to wait for the kernel to report the exit (normally instant)."""


async def stop_tree(ident: procs.ProcessIdentity, marker: str, exit_task: asyncio.Future[int | None],
                    stop_timeout_s: float) -> tuple[int | None, int | None, list[int]]:
    """Stop the bot ``ident`` and everything it started; return its (exit code, signal) and
    the pids that had to be killed after the timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + stop_timeout_s
    # Snapshot the tree before signalling: once a parent dies its children are orphaned
    # and no longer appear as its descendants.
    members = procs.members(ident, marker, since=ident)
    procs.signal_group(ident.pid, signal.SIGTERM)
    procs.signal_each(procs.outside_group(members, ident.pid), signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(exit_task), stop_timeout_s)
    except asyncio.TimeoutError:
        log.info("pid %d ignored SIGTERM for %.1f s: SIGKILL", ident.pid, stop_timeout_s)
    killed = await kill_leftovers(ident.pid, members, marker, max(0.0, deadline - loop.time()),
                                  since=ident)
    returncode = await asyncio.wait_for(exit_task, KILL_GRACE_S)
    code = returncode if returncode is not None and returncode >= 0 else None
    sig = -returncode if returncode is not None and returncode < 0 else None
    return code, sig, killed


async def kill_leftovers(pgid: int | None, known: list[Any], marker: str, wait_s: float,
                         since: procs.ProcessIdentity | None = None) -> list[int]:
    """No process the bot started outlives it: SIGTERM what is left, SIGKILL after ``wait_s``;
    return the pids that needed the SIGKILL.

    Left are the ``known`` members, whatever still carries the bot's marker, and the bot's
    process group ``pgid`` (members that cleared their environment are still in it).
    """
    left = {p.pid: p for p in known}
    left.update((p.pid, p) for p in procs.members(None, marker, since))
    alive = await procs.wait_procs_gone(list(left.values()), 0.0)
    if not alive and not (pgid and procs.group_exists(pgid)):
        return []
    if pgid:
        procs.signal_group(pgid, signal.SIGTERM)
    procs.signal_each(procs.outside_group(alive, pgid) if pgid else alive, signal.SIGTERM)
    alive = await procs.wait_procs_gone(alive, wait_s)
    if pgid:
        procs.signal_group(pgid, signal.SIGKILL)
    procs.signal_each(alive, signal.SIGKILL)
    return [p.pid for p in alive]


async def stop_processes(found: list[Any], wait_s: float) -> list[int]:
    """Stop exactly these processes (copies of a bot found beside the one adopted, or left
    by a dead supervisor): SIGTERM once each, SIGKILL after ``wait_s``; return the pids that
    needed the SIGKILL. Nothing else carrying the bot's marker is touched."""
    alive = await procs.wait_procs_gone(found, 0.0)
    if not alive:
        return []
    procs.signal_each(alive, signal.SIGTERM)
    alive = await procs.wait_procs_gone(alive, wait_s)
    procs.signal_each(alive, signal.SIGKILL)
    await procs.wait_procs_gone(alive, KILL_GRACE_S)
    return [p.pid for p in alive]
