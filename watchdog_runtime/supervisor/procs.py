"""Bot processes: spawning, identity (``identity``: pid + start ticks), waiting for exit as an
event, and stopping a whole tree, escaped members included.

psutil's ``NoSuchProcess``/``AccessDenied`` are caught here and nowhere else in the
lifecycle code: a process that vanished is simply gone.
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
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import psutil

from .identity import CREATE_TIME_SLACK_S, LINUX, ProcessIdentity, identify, matches, stat_fields
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


def members(root: ProcessIdentity | None, marker: str,
            since: ProcessIdentity | None = None) -> list[psutil.Process]:
    """Every live process of a bot: the root, its descendants, and any process carrying the
    bot's marker in its environment (escaped with ``setsid`` and orphaned).

    ``since``: the bot's process. A member cannot be older than it, so only younger processes
    have their environment read (a start read is five times cheaper, and this runs after
    every exit, on the way to the restart). Ages compare start ticks since boot on Linux, so
    a step of the wall clock changes nothing."""
    found: dict[int, psutil.Process] = {}
    if root is not None and is_alive(root):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc = psutil.Process(root.pid)
            found[proc.pid] = proc
            found.update((c.pid, c) for c in proc.children(recursive=True))
    me = os.getpid()
    younger = _younger_than(since)
    for proc in psutil.process_iter():
        if proc.pid == me or proc.pid in found or not younger(proc):
            continue
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            if proc.environ().get(MARKER_ENV) == marker:
                found[proc.pid] = proc
    return list(found.values())


def _younger_than(since: ProcessIdentity | None) -> Callable[[psutil.Process], bool]:
    if since is None:
        return lambda proc: True
    if since.start_ticks is not None and LINUX:
        ticks = since.start_ticks

        def by_ticks(proc: psutil.Process) -> bool:
            fields = stat_fields(proc.pid)
            return fields is not None and fields[1] >= ticks
        return by_ticks
    oldest = since.create_time - CREATE_TIME_SLACK_S

    def by_time(proc: psutil.Process) -> bool:
        try:
            return proc.create_time() >= oldest
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False
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
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            env = proc.environ()
            marker = env.get(MARKER_ENV)
            if marker is None or not marker.startswith(prefix):
                continue
            ident = identify(proc.pid)
            if ident is None or not is_alive(ident):
                continue
            leader = os.getpgid(proc.pid) == proc.pid
            out.setdefault(marker, []).append(Marked(ident, env.get("WDBOT_RUN_ID"), leader))
    return out


def as_processes(found: Iterable[Marked]) -> list[psutil.Process]:
    """psutil handles of swept processes that are still the same processes."""
    return handles(m.ident for m in found)


def handles(idents: Iterable[ProcessIdentity]) -> list[psutil.Process]:
    """psutil handles of the processes that are still the ones ``idents`` name."""
    out = []
    for ident in idents:
        if is_alive(ident):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                out.append(psutil.Process(ident.pid))
    return out


def sample_trees(roots: Mapping[str, ProcessIdentity], now: float) -> dict[str, TreeSample]:
    """One reading of each bot's process tree (the root and all its descendants), summed.

    One pass over the process table builds the parent map for every bot at once; a member
    that vanishes or hides mid-read is simply left out. Bots not alive get no sample.
    """
    children: dict[int, list[psutil.Process]] = {}
    for proc in psutil.process_iter(["ppid"]):
        children.setdefault(proc.info["ppid"], []).append(proc)
    out: dict[str, TreeSample] = {}
    for name, root in roots.items():
        try:
            top = psutil.Process(root.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if not matches(root):
            continue  # a recycled pid (or a zombie) is not the bot
        tree, stack = [top], [root.pid]
        while stack:
            for child in children.get(stack.pop(), ()):
                tree.append(child)
                stack.append(child.pid)
        rss = fds = threads = 0
        cpu = 0.0
        read: list[int] = []
        for proc in tree:
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    fds += proc.num_fds()
                    threads += proc.num_threads()
                    times = proc.cpu_times()
                    cpu += times.user + times.system
                read.append(proc.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        if read:
            out[name] = TreeSample(now, rss, fds, threads, cpu, len(read), tuple(read))
    return out


def fd_soft_limit(ident: ProcessIdentity) -> int | None:
    """The process's soft RLIMIT_NOFILE (Linux reads it per process; elsewhere a bot
    inherits the supervisor's own)."""
    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, AttributeError, OSError):
        soft, _ = psutil.Process(ident.pid).rlimit(psutil.RLIMIT_NOFILE)
        return int(soft) if soft > 0 else None
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return int(soft) if soft > 0 and soft != resource.RLIM_INFINITY else None


def machine_memory() -> int:
    return int(psutil.virtual_memory().total)


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a whole process group; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def lineage(pid: int) -> list[int]:
    """``pid`` and its ancestors, nearest first (empty when it is gone)."""
    try:
        proc = psutil.Process(pid)
        return [proc.pid, *(p.pid for p in proc.parents())]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


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


def group_members(pgid: int) -> list[psutil.Process]:
    """The processes in process group ``pgid`` now (a walk of the process table: a stop
    signals a group's members one by one)."""
    found = []
    for pid in psutil.pids():
        with contextlib.suppress(ProcessLookupError, PermissionError, psutil.NoSuchProcess,
                                 psutil.AccessDenied):
            if os.getpgid(pid) == pgid:
                found.append(psutil.Process(pid))
    return found


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


def signal_each(procs: Iterable[psutil.Process], sig: signal.Signals) -> list[int]:
    """Signal each process that is still the one its handle names (psutil checks the pid
    was not reused); return the pids signalled."""
    sent = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.send_signal(sig)
            sent.append(proc.pid)
    return sent


async def wait_procs_gone(procs: Sequence[psutil.Process], timeout_s: float,
                          interval_s: float = 0.05) -> list[psutil.Process]:
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


def running(proc: psutil.Process) -> bool:
    """True while ``proc`` runs (a zombie counts as gone)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
