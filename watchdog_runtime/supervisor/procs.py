"""Bot processes: spawning, identity (``identity``: pid + start ticks), waiting for exit as an
event, and stopping a whole tree, escaped members included.

A process is handled by its identity (``ProcessIdentity``): a signal goes to a pid only while
the process on it is still the one that identity names, never to a recycled pid. On Linux the
process table is read from ``/proc`` (``proctable``): the running supervisor never loads
psutil (issue 29); elsewhere psutil reads it (``procportable``). A process that vanished or
hides mid-read is simply gone, never an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Protocol

from ..common.leandataclass import dataclass
from . import proctable
from .identity import CREATE_TIME_SLACK_S, LINUX, ProcessIdentity, boot_id, identify, matches, state_of
from .resources import TreeSample

__all__ = ["MARKER_ENV", "ProcessIdentity", "identify", "is_alive"]

MARKER_ENV = "WDBOT_BOT_ID"
"""Set in every bot's environment and inherited by all it starts, so members that left the
bot's process group (``setsid``) and were orphaned can still be found and stopped."""

def is_alive(ident: ProcessIdentity) -> bool:
    """True when ``ident`` still runs (not a zombie) and the pid was not recycled."""
    return matches(ident)


def spawn(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], stdout: Path,
          stderr: Path) -> subprocess.Popen[bytes]:
    """Start a bot in its own session, its output appended to its log files by the bot itself
    (the supervisor holds no pipe, so the bot never depends on it staying alive)."""
    with open(stdout, "ab") as out, open(stderr, "ab") as err:
        return subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out,
            stderr=err, start_new_session=True, close_fds=True,
        )


async def wait_exit(ident: ProcessIdentity, popen: subprocess.Popen[bytes] | None) -> int | None:
    """Wait, without polling where the OS allows, until ``ident`` exits.

    Returns the return code (negative for a signal) when ``popen`` is our child, else None.
    """
    if popen is not None and not hasattr(os, "pidfd_open"):
        return await asyncio.to_thread(popen.wait)  # a blocking wait in a thread is an event too
    await _wait_gone(ident)
    return popen.wait() if popen is not None else None


async def _wait_gone(ident: ProcessIdentity) -> None:
    loop = asyncio.get_running_loop()
    fd = _exit_fd(ident)
    if fd is None:
        await _poll_gone(ident)
        return
    done: asyncio.Future[None] = loop.create_future()

    def on_exit() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd.fileno(), on_exit)
    try:
        if is_alive(ident):  # checked after the fd pins the pid: no recycling race
            await done
    finally:
        loop.remove_reader(fd.fileno())
        fd.close()


class _ExitFd:
    def __init__(self, fileno: int, closer: object = None) -> None:
        self._fileno, self._closer = fileno, closer

    def fileno(self) -> int:
        return self._fileno

    def close(self) -> None:
        if self._closer is not None:
            self._closer.close()  # type: ignore[attr-defined]  # a select.kqueue
        else:
            os.close(self._fileno)


def _exit_fd(ident: ProcessIdentity) -> _ExitFd | None:
    """A file descriptor that becomes readable when the process exits (pidfd or kqueue)."""
    if hasattr(os, "pidfd_open"):
        try:
            return _ExitFd(os.pidfd_open(ident.pid))
        except ProcessLookupError:
            return _ExitFd(os.open(os.devnull, os.O_RDONLY))  # already gone: readable at once
        except OSError:
            return None  # a kernel without pidfd: fall back to polling
    if sys.platform == "darwin" or sys.platform.startswith("freebsd"):
        kq = select.kqueue()
        event = select.kevent(ident.pid, filter=select.KQ_FILTER_PROC,
                              flags=select.KQ_EV_ADD | select.KQ_EV_ONESHOT,
                              fflags=select.KQ_NOTE_EXIT)
        try:
            kq.control([event], 0, 0)
        except ProcessLookupError:
            kq.close()
            return _ExitFd(os.open(os.devnull, os.O_RDONLY))
        return _ExitFd(kq.fileno(), kq)
    return None


async def _poll_gone(ident: ProcessIdentity, interval_s: float = 0.5) -> None:
    """Last resort on systems with neither pidfd nor kqueue."""
    while is_alive(ident):  # noqa: ASYNC110 - no exit event exists on such systems
        await asyncio.sleep(interval_s)


class Row(Protocol):
    """A process table entry: ``proctable.Stat`` on Linux, ``procportable.Row`` elsewhere."""

    @property
    def pid(self) -> int: ...
    @property
    def ppid(self) -> int: ...
    @property
    def pgrp(self) -> int: ...


def _table() -> Mapping[int, Row]:
    """Every process now, by pid."""
    if LINUX:
        return proctable.scan()
    from . import procportable  # psutil's readers, loaded only where there is no /proc

    return procportable.table()


def _environ(pid: int, needle: str) -> dict[str, str] | None:
    """``pid``'s environment when it holds ``needle`` (else, or when gone or hidden: None)."""
    if LINUX:
        return proctable.environ(pid, needle.encode())
    from . import procportable

    env = procportable.environ(pid)
    return env if env is not None and needle.partition("=")[0] in env else None


def _identities(rows: Iterable[Row]) -> dict[int, ProcessIdentity]:
    """The identities of the processes ``rows`` were read from (one ``btime`` read for all)."""
    rows = list(rows)
    if LINUX and rows:
        boot, ours = proctable.boot_time(), boot_id()
        return {r.pid: ProcessIdentity(r.pid, proctable.create_time(r.start_ticks, boot), r.start_ticks, ours)
                for r in rows if isinstance(r, proctable.Stat)}
    found = ((r.pid, identify(r.pid)) for r in rows)
    return {pid: ident for pid, ident in found if ident is not None}


def _descendants(table: Mapping[int, Row], root: int) -> list[Row]:
    """Every descendant of ``root`` in ``table`` (a child younger than its parent, as psutil's
    ``children`` takes it: a pid reused meanwhile is not a child)."""
    children: dict[int, list[Row]] = {}
    for row in table.values():
        children.setdefault(row.ppid, []).append(row)
    out: list[Row] = []
    stack, seen = [root], {root}
    while stack:
        parent = table.get(stack.pop())
        for child in children.get(parent.pid if parent is not None else -1, ()):
            if child.pid not in seen and not _older(child, parent):
                seen.add(child.pid)
                out.append(child)
                stack.append(child.pid)
    return out


def _older(child: Row, parent: Row | None) -> bool:
    return (isinstance(child, proctable.Stat) and isinstance(parent, proctable.Stat)
            and child.start_ticks < parent.start_ticks)


def members(root: ProcessIdentity | None, marker: str,
            since: ProcessIdentity | None = None) -> list[ProcessIdentity]:
    """Every live process of a bot: the root, its descendants, and any process carrying the
    bot's marker in its environment (escaped with ``setsid`` and orphaned).

    ``since``: the bot's process. A member cannot be older than it, so only younger processes
    have their environment read (a start read is five times cheaper, and this runs after
    every exit, on the way to the restart). Ages compare start ticks since boot on Linux, so
    a step of the wall clock changes nothing."""
    table = _table()
    rows: dict[int, Row] = {}
    if root is not None and is_alive(root) and root.pid in table:
        rows[root.pid] = table[root.pid]
        rows.update((r.pid, r) for r in _descendants(table, root.pid))
    me, younger, needle = os.getpid(), _younger_than(since), f"{MARKER_ENV}={marker}"
    for pid, row in table.items():
        if pid == me or pid in rows or not younger(row):
            continue
        env = _environ(pid, needle)
        if env is not None and env.get(MARKER_ENV) == marker:
            rows[pid] = row
    return list(_identities(rows.values()).values())


def _younger_than(since: ProcessIdentity | None) -> Callable[[Row], bool]:
    if since is None:
        return lambda row: True
    if since.start_ticks is not None and LINUX:
        ticks = since.start_ticks
        return lambda row: isinstance(row, proctable.Stat) and row.start_ticks >= ticks
    oldest = since.create_time - CREATE_TIME_SLACK_S

    def by_time(row: Row) -> bool:
        from . import procportable

        created = procportable.create_time(row.pid)
        return created is not None and created >= oldest
    return by_time


@dataclass(frozen=True)
class Marked:
    """A process that carries a bot's marker: which run of the bot started it, and whether it
    leads its own process group (a bot's own process does: it is spawned in a new session)."""

    ident: ProcessIdentity
    run_id: str | None
    leader: bool


def marked_processes(prefix: str) -> dict[str, list[Marked]]:
    """Every live process whose marker starts with ``prefix`` (a home's), whatever its age,
    by marker: the sweep a supervisor makes when it starts, so no copy of a bot escapes it."""
    out: dict[str, list[Marked]] = {}
    me = os.getpid()
    for pid, row in _table().items():
        env = _environ(pid, f"{MARKER_ENV}={prefix}") if pid != me else None
        marker = env.get(MARKER_ENV) if env is not None else None
        if env is None or marker is None or not marker.startswith(prefix):
            continue
        ident = identify(pid)
        if ident is None or not is_alive(ident):
            continue
        # The group as the table read it: the stat read just now says the same process.
        leader = row.pgrp == pid
        out.setdefault(marker, []).append(Marked(ident, env.get("WDBOT_RUN_ID"), leader))
    return out


def as_processes(found: Iterable[Marked]) -> list[ProcessIdentity]:
    """Handles (identities) of swept processes that are still the same processes."""
    return handles(m.ident for m in found)


def handles(idents: Iterable[ProcessIdentity]) -> list[ProcessIdentity]:
    """The ``idents`` whose processes still run (the handles the stop functions take)."""
    return [ident for ident in idents if is_alive(ident)]


def sample_trees(roots: Mapping[str, ProcessIdentity], now: float) -> dict[str, TreeSample]:
    """One reading of each bot's process tree (the root and all its descendants), summed.

    One pass over the process table (one ``stat`` read a process on Linux, which holds the
    RSS, threads and CPU too) serves every bot at once; a member that vanishes or hides
    mid-read is simply left out. Bots not alive get no sample.
    """
    table = _table()
    out: dict[str, TreeSample] = {}
    for name, root in roots.items():
        top = table.get(root.pid)
        if top is None or not matches(root):
            continue  # gone, a recycled pid, or a zombie: not the bot
        rss = fds = threads = 0
        cpu = 0.0
        read: list[int] = []
        for row in [top, *_descendants(table, root.pid)]:
            got = proctable.reading(row) if isinstance(row, proctable.Stat) else _portable_reading(row.pid)
            if got is not None:
                rss, fds, threads, cpu = rss + got[0], fds + got[1], threads + got[2], cpu + got[3]
                read.append(row.pid)
        if read:
            out[name] = TreeSample(now, rss, fds, threads, cpu, len(read), tuple(read))
    return out


def _portable_reading(pid: int) -> tuple[int, int, int, float] | None:
    from . import procportable

    return procportable.reading(pid)


def fd_soft_limit(ident: ProcessIdentity) -> int | None:
    """The process's soft RLIMIT_NOFILE (Linux reads it per process; elsewhere a bot
    inherits the supervisor's own)."""
    import resource

    if LINUX:
        with contextlib.suppress(OSError, ValueError):
            soft = resource.prlimit(ident.pid, resource.RLIMIT_NOFILE)[0]
            return int(soft) if soft > 0 else None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return int(soft) if soft > 0 and soft != resource.RLIM_INFINITY else None


def machine_memory() -> int:
    if LINUX:
        return proctable.machine_memory()
    from . import procportable

    return procportable.machine_memory()


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a whole process group; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def lineage(pid: int) -> list[int]:
    """``pid`` and its ancestors, nearest first (empty when it is gone); a parent younger than
    its child (its pid reused) ends the line, as psutil's ``parents`` does."""
    if not LINUX:
        from . import procportable

        return procportable.lineage(pid)
    stat = proctable.read_stat(pid) if pid > 0 else None
    line: list[int] = []
    while stat is not None and stat.pid not in line:
        line.append(stat.pid)
        parent = proctable.read_stat(stat.ppid) if stat.ppid > 0 else None
        stat = parent if parent is not None and parent.start_ticks <= stat.start_ticks else None
    return line


def signal_pid(ident: ProcessIdentity, sig: signal.Signals) -> None:
    """Signal one process, only if it is still the one ``ident`` names (no recycled pid)."""
    if is_alive(ident):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(ident.pid, sig)


def group_exists(pgid: int) -> bool:
    """True while any process is left in group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process holds the group id: it exists, but is not ours
    return True


def group_members(pgid: int) -> list[ProcessIdentity]:
    """The processes in process group ``pgid`` now (a walk of the process table: a stop
    signals a group's members one by one)."""
    return list(_identities(row for row in _table().values() if row.pgrp == pgid).values())


class Disposition(Enum):
    """What a process does with a signal: its own handler, the default action, or nothing."""

    CAUGHT = "caught"
    DEFAULT = "default"
    IGNORED = "ignored"


def disposition(pid: int, sig: signal.Signals = signal.SIGTERM) -> Disposition | None:
    """Whether ``pid`` catches, ignores or takes the default action of ``sig`` now (the
    ``SigCgt``/``SigIgn`` masks of ``/proc/PID/status``); None when it is gone or this is
    not Linux."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            text = fh.read().decode(errors="replace")
    except OSError:
        return None
    masks = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    bit = 1 << (int(sig) - 1)
    try:
        if int(masks["SigCgt"].strip(), 16) & bit:
            return Disposition.CAUGHT
        return Disposition.IGNORED if int(masks["SigIgn"].strip(), 16) & bit else Disposition.DEFAULT
    except (KeyError, ValueError):
        return None


def signal_each(procs: Iterable[ProcessIdentity], sig: signal.Signals) -> list[int]:
    """Signal each process that is still the one its identity names (never a recycled pid;
    a zombie is signalled, harmlessly, as psutil did: a SIGKILL the group had first still
    counts); return the pids signalled."""
    sent = []
    for ident in procs:
        if state_of(ident) is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(ident.pid, sig)
                sent.append(ident.pid)
    return sent


async def wait_procs_gone(procs: Sequence[ProcessIdentity], timeout_s: float,
                          interval_s: float = 0.05) -> list[ProcessIdentity]:
    """Wait up to ``timeout_s`` for ``procs`` to end; return those still alive.

    These are a bot's leftover members, not our children, so no exit event exists for them;
    a zombie (waiting for a stuck parent to reap it) counts as gone.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    alive = [p for p in procs if running(p)]
    while alive and loop.time() < deadline:
        await asyncio.sleep(min(interval_s, max(0.0, deadline - loop.time())))
        alive = [p for p in alive if running(p)]
    return alive


def running(proc: ProcessIdentity) -> bool:
    """True while ``proc`` runs (a zombie counts as gone, a recycled pid too)."""
    return is_alive(proc)
