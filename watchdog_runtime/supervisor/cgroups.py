"""Kernel containment: one cgroup v2 per bot, where the platform lets the supervisor make one
(``cgroupplan`` decides where).

Membership of a cgroup is exact: a process a bot starts is in the bot's cgroup whatever it
does with sessions, process groups or its environment, and it stays there until it exits
(only a writer allowed at a common ancestor could move it out). So stopping uses
``cgroup.kill``, and the tree's resources come from the cgroup's own files instead of a walk
of the process table.

Linux only, stdlib only; every read or write of a cgroup file is here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from .cgroupplan import (
    SUPERVISOR_LEAF,
    Containment,
    Facts,
    Layout,
    base_parts,
    cgroup2_mount,
    own_cgroup,
    plan,
)
from .resources import TreeSample

CGROUP_ENV = "WDBOT_CGROUP"
"""The bot's cgroup folder, set in its environment: the bootstrap joins it first thing."""
WANTED_CONTROLLERS = ("memory", "pids")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def detect(home_id: str) -> Containment | None:
    """The containment available to this process (reads only; ``prepare`` makes it)."""
    try:
        found = cgroup2_mount(Path("/proc/self/mountinfo").read_text())
        own = own_cgroup(Path("/proc/self/cgroup").read_text())
    except OSError:
        return None  # not Linux
    if found is None or own is None:
        return None
    mount, mount_root = found
    parts = base_parts(own, mount_root)
    if parts is None:
        return None
    folder = mount.joinpath(*parts)
    try:
        owner: int | None = folder.stat().st_uid
    except OSError:
        owner = None
    writable = all(os.access(p, os.W_OK) for p in
                   (folder, folder / "cgroup.procs", folder / "cgroup.subtree_control"))
    controllers = frozenset(_read(folder / "cgroup.controllers").split())
    return plan(Facts(mount, mount_root, own, os.geteuid(), owner, writable, controllers), home_id)


def prepare(containment: Containment) -> Containment:
    """Make the base and enable the wanted controllers for the bots' cgroups; return the
    containment as it turned out (``memory`` says whether memory.current will be there).

    Delegated: every process of our cgroup moves into the ``supervisor`` leaf first (a
    cgroup that enables controllers for its children may hold no process); where we may
    not enable controllers (see ``Containment.controllers``) nothing is made or moved. Raises
    OSError when the base cannot be made.
    """
    if not containment.controllers:
        # The bots' cgroups go beside us, bare; a bot's memory limit from a systemd scope.
        return replace(containment, memory=False, scopes=_scopes_for(containment))
    if containment.layout is Layout.DELEGATED:
        leaf = containment.base / SUPERVISOR_LEAF
        leaf.mkdir(exist_ok=True)
        for pid in _procs(containment.base):
            with contextlib.suppress(ProcessLookupError):
                join(leaf, pid)
        chain = [containment.base]
    else:
        containment.base.mkdir(parents=True, exist_ok=True)
        rel = containment.base.relative_to(containment.mount).parts
        chain = [containment.mount.joinpath(*rel[:i]) for i in range(len(rel))]
    for folder in chain:  # each level passes the controllers down to the next
        _enable(folder, WANTED_CONTROLLERS)
    enabled = _read(containment.base / "cgroup.subtree_control").split()
    memory = "memory" in enabled
    return replace(containment, memory=memory, scopes=not memory and _scopes_for(containment))


def _scopes_for(containment: Containment) -> bool:
    """A systemd scope per bot where the memory controller is not ours (``scopes``): only in
    a delegated cgroup, that is under a systemd unit."""
    from . import scopes

    return containment.layout is Layout.DELEGATED and scopes.available()


def _enable(folder: Path, wanted: Iterable[str]) -> None:
    available = set(_read(folder / "cgroup.controllers").split())
    for name in wanted:
        if name in available:
            # One at a time: a controller that cannot be enabled (EBUSY, ENOTSUP) costs only
            # itself, and the containment says what it got.
            with contextlib.suppress(OSError):
                _write(folder / "cgroup.subtree_control", f"+{name}")


def create(containment: Containment, name: str) -> Path:
    """Bot ``name``'s cgroup, made if missing (idempotent)."""
    folder = containment.bot(name)
    folder.mkdir(exist_ok=True)
    return folder


def exists(cgroup: Path) -> bool:
    """True while ``cgroup`` is there (a bot whose cgroup could not be made has none)."""
    return os.path.exists(cgroup / "cgroup.procs")


def join(cgroup: Path, pid: int) -> None:
    """Move process ``pid`` (all its threads) into ``cgroup``; OSError when it cannot be."""
    _write(cgroup / "cgroup.procs", str(pid))


def pids(cgroup: Path) -> list[int]:
    """Every process in ``cgroup`` and in the cgroups a bot made below it."""
    found = _procs(cgroup)
    with contextlib.suppress(OSError):  # gone, or removed while we read
        with os.scandir(cgroup) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):  # a cgroup the bot made
                    found.extend(pids(Path(entry.path)))
    return found


def _procs(folder: Path) -> list[int]:
    return [int(word) for word in _read(f"{folder}/cgroup.procs").split()]


def signal_all(cgroup: Path, sig: signal.Signals, skip: Collection[int] = ()) -> list[int]:
    """Send ``sig`` once to every member but the pids in ``skip`` (signalled already: a second
    SIGTERM means "now" to many programs). Returns the pids signalled."""
    return signal_pids([pid for pid in pids(cgroup) if pid not in skip], sig)


def signal_pids(members: Iterable[int], sig: signal.Signals) -> list[int]:
    """Send ``sig`` to each of ``members`` (pids just read from a cgroup); returns the pids
    signalled (one gone meanwhile is skipped)."""
    sent = []
    for pid in members:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            sent.append(pid)
    return sent


def kill(cgroup: Path) -> list[int]:
    """SIGKILL every member at once, through ``cgroup.kill`` (Linux 5.14; ``kill_each`` on
    older kernels). Returns the pids that were members."""
    members = pids(cgroup)
    if not members:
        return []
    if (cgroup / "cgroup.kill").exists():
        with contextlib.suppress(FileNotFoundError):
            _write(cgroup / "cgroup.kill", "1")
        return members
    return kill_each(cgroup, members)


def kill_each(cgroup: Path, members: list[int]) -> list[int]:
    """``kill`` without ``cgroup.kill``: freeze the cgroup so nothing forks meanwhile, SIGKILL
    each member (a fatal signal gets through the freezer), thaw."""
    frozen = _set_frozen(cgroup, True)
    try:
        for pid in members + [p for p in pids(cgroup) if p not in members]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    finally:
        if frozen:
            _set_frozen(cgroup, False)
    return members


def _set_frozen(cgroup: Path, frozen: bool) -> bool:
    try:
        _write(cgroup / "cgroup.freeze", "1" if frozen else "0")
    except OSError:
        return False  # no freezer (older than 5.2): kill unfrozen
    return True


def is_empty(cgroup: Path) -> bool:
    """True when no process is left in ``cgroup`` or below (zombies count as gone); a
    cgroup that no longer exists is empty."""
    return _populated(_read(cgroup / "cgroup.events")) is not True


def _populated(events: str) -> bool | None:
    for line in events.splitlines():
        key, _, value = line.partition(" ")
        if key == "populated":
            return value.strip() == "1"
    return None


def wait_empty(cgroup: Path, timeout_s: float) -> bool:
    """Block until ``cgroup`` is empty or ``timeout_s`` passed; True when empty.

    ``cgroup.events`` reports each change to ``poll`` as POLLPRI, so this sleeps until the
    kernel says something changed instead of polling (``wait_empty_async`` in the loop)."""
    deadline = time.monotonic() + timeout_s
    try:
        fd = os.open(cgroup / "cgroup.events", os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLPRI)
        while True:
            populated = _populated_at(fd)
            left = deadline - time.monotonic()
            if not populated or left <= 0:
                return not populated
            poller.poll(left * 1000)
    finally:
        os.close(fd)


def _populated_at(fd: int) -> bool:
    """Re-read an open ``cgroup.events`` (the read also re-arms its change report); a cgroup
    removed meanwhile is empty."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return _populated(os.read(fd, 4096).decode()) is True
    except OSError:
        return False


async def wait_empty_async(cgroup: Path, timeout_s: float) -> bool:
    """``wait_empty`` for the event loop, without a thread: an epoll set watching the file for
    POLLPRI becomes readable for asyncio when the kernel reports a change."""
    loop = asyncio.get_running_loop()
    try:
        fd = os.open(cgroup / "cgroup.events", os.O_RDONLY)
    except FileNotFoundError:
        return True
    watch = select.epoll()
    changed = asyncio.Event()
    try:
        watch.register(fd, select.EPOLLPRI | select.EPOLLET)
        loop.add_reader(watch.fileno(), changed.set)
        deadline = loop.time() + timeout_s
        while True:
            watch.poll(0)  # take the reported change: the set is readable again only on the next
            changed.clear()
            populated = _populated_at(fd)
            left = deadline - loop.time()
            if not populated or left <= 0:
                return not populated
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
    finally:
        loop.remove_reader(watch.fileno())
        watch.close()
        os.close(fd)


def remove(cgroup: Path) -> bool:
    """Remove ``cgroup`` and any cgroups below it, deepest first; False while a process is
    still inside (nothing is removed then that holds one)."""
    if not cgroup.exists():
        return True
    for folder, _dirs, _files in os.walk(cgroup, topdown=False):
        try:
            os.rmdir(folder)
        except FileNotFoundError:
            continue
        except OSError:
            return False  # EBUSY: still populated
    return True


def sample(cgroup: Path, now: float, members: list[int] | None = None,
           root: tuple[int, int] | None = None) -> TreeSample | None:
    """One reading of the bot's whole tree, the same shape ``procs.sample_trees`` gives:
    memory from ``memory.current`` when the memory controller is on (RSS summed over the
    members otherwise), CPU from ``cpu.stat`` (every member's, the dead ones' included),
    descriptors and threads summed over the members (``members``, else every process of the
    cgroup and those below). None when the cgroup is empty, or when ``root`` (pid, start
    ticks) is among the members read but is no longer that process (``started_at``)."""
    rss = fds = threads = 0
    read: list[int] = []
    for pid in pids(cgroup) if members is None else members:
        reading = _proc_reading(pid, root[1] if root is not None and root[0] == pid else None)
        if reading is False:
            return None
        if reading is not None:
            rss, fds, threads = rss + reading[0], fds + reading[1], threads + reading[2]
            read.append(pid)
    if not read:
        return None
    current = _read(f"{cgroup}/memory.current").strip()
    memory = int(current) if current.isdigit() else rss
    cpu_s = _stat_value(_read(f"{cgroup}/cpu.stat"), "usage_usec") / 1e6
    return TreeSample(now, memory, fds, threads, cpu_s, len(read), tuple(read))


def glance(cgroup: Path, last: TreeSample, now: float,
           root: tuple[int, int] | None = None) -> TreeSample | None:
    """``sample`` of a bot whose processes are those of ``last``, without looking into the
    cgroups below its own (a bot seldom makes any). None when its own process list is not
    ``last``'s, or ``root`` is not the process it was: read the tree whole then (or not)."""
    members = _procs(cgroup)
    if not members or sorted(members) != sorted(last.pids):
        return None
    reading = sample(cgroup, now, members, root)
    return reading if reading is not None and reading.procs == len(members) else None


def has_memory_current(cgroup: Path) -> bool:
    """The cgroup has ``memory.current`` (its memory controller is on): ``memory_now`` reads it."""
    return (cgroup / "memory.current").exists()


def memory_now(cgroup: Path | None, pids: Sequence[int]) -> int | None:
    """A bot's memory as ``sample`` reads it, at the least cost (the watch's peek at a flat
    bot between its readings): the cgroup's ``memory.current`` where the memory controller is
    on, else the RSS of ``pids`` (its members at the last reading), one ``statm`` each. None
    when one of them is gone: read the tree then."""
    if cgroup is not None:
        current = _read(f"{cgroup}/memory.current").strip()
        if current.isdigit():
            return int(current)
    total = 0
    try:
        for pid in pids:
            total += int(_read_bytes(f"/proc/{pid}/statm").split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None
    return total if pids else None


def sample_all(bots: Mapping[str, Path], now: float) -> dict[str, TreeSample]:
    """``sample`` for each bot's cgroup, in the shape of ``procs.sample_trees``: bots whose
    cgroup is empty get no sample."""
    found = {name: sample(cgroup, now) for name, cgroup in bots.items()}
    return {name: reading for name, reading in found.items() if reading is not None}


def _proc_reading(pid: int, start_ticks: int | None = None) -> tuple[int, int, int] | Literal[False] | None:
    """(RSS bytes, open descriptors, threads) of one process from /proc: its ``stat`` file
    and a ``stat`` call on its descriptors; None when it is gone or hidden (the same boundary
    as ``procs``); False when ``start_ticks`` is given and the process on ``pid`` is not the
    one started then, or a zombie (``started_at``, in the same read)."""
    try:
        fields = _stat_fields(pid)
        if start_ticks is not None and (int(fields[19]) != start_ticks or fields[0] in (b"Z", b"X")):
            return False
        threads, rss = int(fields[17]), int(fields[21]) * _PAGE
        fds = fd_count(pid)
    except (OSError, ValueError, IndexError):
        return None
    return rss, fds, threads


def _stat_fields(pid: int) -> list[bytes]:
    """The fields of ``/proc/PID/stat`` after the command name (which may hold spaces and
    parentheses): the line's 3rd field (the state) is the 1st here, its 20th (num_threads)
    the 18th, its 22nd (start ticks) the 20th, its 24th (rss, in pages) the 22nd."""
    stat = _read_bytes(f"/proc/{pid}/stat")
    return stat[stat.rindex(b")") + 2:].split()


def started_at(pid: int, start_ticks: int) -> bool:
    """The process on ``pid`` is the one started at ``start_ticks`` (ticks since boot) and is
    not a zombie: ``identity.matches`` in one raw read, for the watch's readings."""
    try:
        fields = _stat_fields(pid)
        return int(fields[19]) == start_ticks and fields[0] not in (b"Z", b"X")
    except (OSError, ValueError, IndexError):
        return False


def fd_count(pid: int) -> int:
    """How many descriptors ``pid`` has open: one ``stat`` where the kernel gives the count
    as the size of ``/proc/PID/fd`` (Linux 6.2 on), else a listing of the folder."""
    count = os.stat(f"/proc/{pid}/fd").st_size
    return count if count > 0 else len(os.listdir(f"/proc/{pid}/fd"))


def oom_kills(cgroup: Path) -> int | None:
    """How many of the cgroup's processes the kernel's OOM killer ended (``memory.events``,
    this cgroup and below); None without the memory controller."""
    text = _read(cgroup / "memory.events")
    return _stat_value(text, "oom_kill") if text else None


def _stat_value(text: str, key: str) -> int:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def _read(path: Path | str) -> str:
    """A cgroup file's text; empty when it (or its cgroup) does not exist. Raw reads: this
    runs for every bot at every sample, where a text-mode ``open`` costs twice as much."""
    try:
        return _read_bytes(path).decode()
    except OSError:  # gone (ENOENT, ENODEV after a removal) or not ours
        return ""


def _read_bytes(path: Path | str) -> bytes:
    """A small file's bytes, read raw (no buffered file object: a third of the calls)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _write(path: Path, text: str) -> None:
    # One write call: the kernel takes a cgroup file's value from a single write.
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
