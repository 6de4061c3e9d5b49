"""The side effects of a chaos run: reading processes and the registry, killing a supervisor
(in its spawn window when asked), a private mount namespace, clock steps and a full disk.

Processes are named by pid plus start ticks (:class:`chaos_invariants.Ident`) and killed by
pid, never by name.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil
from chaos_invariants import BotEntry, Helper, Ident, Proc

from watchdog_runtime.supervisor.procs import MARKER_ENV

HELPER_ENV = "CHAOS_HELPER"
"""Set by the escaping bot in its helpers' environment (when they keep one): a helper that
double-forks is a tree root, but no copy of the bot."""
_CLONE_NEWNS = 0x00020000


def read_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, start ticks, session id) of a pid from ``/proc/PID/stat``, or None."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    rest = data.rsplit(")", 1)[1].split()
    return rest[0], int(rest[1]), int(rest[19]), int(rest[3])


def ident_of(pid: int) -> Ident | None:
    """The identity of a live (not zombie) pid."""
    stat = read_stat(pid)
    return Ident(pid, stat[2]) if stat and stat[0] != "Z" else None


def alive(ident: Ident) -> bool:
    return ident_of(ident.pid) == ident


def scan_marked(home_id: str) -> list[Proc]:
    """Every live process carrying a bot marker of this home."""
    prefix = f"{home_id}:"
    out = []
    for proc in psutil.process_iter(["environ", "cmdline"]):
        env = proc.info.get("environ") or {}
        marker = env.get(MARKER_ENV, "")
        if not marker.startswith(prefix):
            continue
        stat = read_stat(proc.pid)
        if stat is None or stat[0] == "Z":
            continue
        cmdline = proc.info.get("cmdline") or []
        # A bot's own process leads its session (wdbot starts each bot in one); a helper that
        # double-forked runs the bot's command line for an instant before its exec, but in
        # a session it does not lead.
        main = HELPER_ENV not in env and cmdline[1:2] == ["-c"] and stat[3] == proc.pid
        out.append(Proc(Ident(proc.pid, stat[2]), stat[1], marker[len(prefix):], main))
    return out


def scan_helpers(folder: Path) -> list[Helper]:
    """The live helpers that wrote pid files; files of dead ones are removed (a pid with
    other start ticks is another process: the helper is gone for good)."""
    out = []
    for path in folder.glob("*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            data = json.loads(path.read_text())
            helper = Helper(Ident(data["pid"], data["ticks"]),
                            Ident(data["owner_pid"], data["owner_ticks"]), data["kind"])
            if alive(helper.ident):
                out.append(helper)
            else:
                path.unlink()
    return out


def by_cmdline(word: str) -> list[Ident]:
    """Live processes with ``word`` (a path unique to this run) in their command line: the
    helpers that died before writing their pid file would otherwise hide."""
    out = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(word in part for part in proc.info.get("cmdline") or []):
            ident = ident_of(proc.pid)
            if ident is not None:
                out.append(ident)
    return out


def leftovers(home_id: str, tmp: Path, spare: set[int]) -> list[Ident]:
    """Every live process of the run: the home's marked ones, the helpers (pid files), and
    whatever has the run's temp folder in its command line (bots, helpers that wrote no pid
    file yet); ``spare`` are pids to leave alone (the run itself)."""
    found = {p.ident for p in scan_marked(home_id)}
    found |= {h.ident for h in scan_helpers(tmp / "helpers")}
    found |= set(by_cmdline(str(tmp)))
    return sorted(i for i in found if i.pid not in spare)


def sweep(home: Path, home_id: str, tmp: Path, spare: set[int]) -> list[Ident]:
    """Kill by pid what the run left: the supervisor's whole group first (it was launched
    in a session of its own, and must not restart what is killed next), then the rest."""
    sup = supervisor(home)
    if sup is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(sup.pid, signal.SIGKILL)
    left = leftovers(home_id, tmp, spare)
    for ident in left:
        kill_and_wait(ident, timeout_s=2.0)
    return left


def read_registry(path: Path) -> dict[str, BotEntry]:
    """The registry's bots; a missing registry holds none. While the file cannot be parsed
    (the run broke it on purpose) its last good copy is what the supervisor keeps and what a
    restore brings back, so that copy is read."""
    try:
        return _entries(json.loads(path.read_bytes()))
    except ValueError:
        good = path.with_name(path.name + ".last-good")
        return _entries_of(good) if good.is_file() else {}
    except (OSError, KeyError, TypeError):
        return {}


def _entries_of(path: Path) -> dict[str, BotEntry]:
    try:
        return _entries(json.loads(path.read_bytes()))
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _entries(doc: Any) -> dict[str, BotEntry]:
    try:
        out = {}
        for bot in doc["bots"]:
            run = bot.get("run") or {}
            out[bot["spec"]["name"]] = BotEntry(bool(bot.get("should_run")), str(bot.get("state")),
                                                run.get("pid"))
        return out
    except (KeyError, TypeError, AttributeError):
        return {}


def run_pids(path: Path) -> set[int]:
    return {e.run_pid for e in read_registry(path).values() if e.run_pid is not None}


def supervisor(home: Path) -> Ident | None:
    """The home's live supervisor (the pid its lock file names, if that still runs it)."""
    try:
        pid = int((home / "supervisor.lock").read_text().strip())
        cmdline = psutil.Process(pid).cmdline()
    except (OSError, ValueError, psutil.Error):
        return None
    return ident_of(pid) if "daemon" in cmdline else None


def kill_and_wait(ident: Ident, timeout_s: float = 10.0) -> bool:
    """SIGKILL one process (if it is still ``ident``) and wait, bounded, until it is gone."""
    if not alive(ident):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(ident.pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while alive(ident) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not alive(ident)


def fresh_child(sup: Ident, registry: Path) -> int | None:
    """A live child of the supervisor whose pid the registry does not hold (uv excepted)."""
    try:
        kids = psutil.Process(sup.pid).children()
    except psutil.Error:
        return None
    held: set[int] | None = None
    for kid in kids:
        stat = read_stat(kid.pid)
        if stat is None or stat[0] == "Z":
            continue
        with contextlib.suppress(psutil.Error, IndexError):
            if os.path.basename(kid.cmdline()[0]) == "uv":
                continue
        held = run_pids(registry) if held is None else held
        if kid.pid not in held:
            return kid.pid
    return None


def kill_in_spawn_window(sup: Ident, registry: Path, child: int) -> bool:
    """Freeze the supervisor, confirm the registry still misses ``child``, kill it.
    Returns whether the kill landed in the window."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(sup.pid, signal.SIGSTOP)
    stat = read_stat(child)
    landed = stat is not None and stat[0] != "Z" and child not in run_pids(registry)
    kill_and_wait(sup)
    return landed


def enter_private_mounts() -> str | None:
    """Move this process (and all it starts from now on) into a mount namespace of its own,
    so bind mounts and the tmpfs are never seen outside. None, or why it cannot."""
    if os.geteuid() != 0:
        return "needs root (a private mount namespace)"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS) != 0:
        return f"unshare(CLONE_NEWNS) failed: {os.strerror(ctypes.get_errno())}"
    done = subprocess.run(["mount", "--make-rprivate", "/"], capture_output=True, text=True)
    if done.returncode != 0:
        return f"mount --make-rprivate / failed: {done.stderr.strip()}"
    return None


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, timeout=30)


def umount(target: Path, lazy: bool = False) -> bool:
    argv = ["umount", *(["-l"] if lazy else []), str(target)]
    return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0


class Clock:
    """Steps the boot time that ``/proc/stat`` shows (what an NTP step does to every
    process's start time in psutil) by bind-mounting a copy with a shifted ``btime``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.text = Path("/proc/stat").read_text()  # before any mount: the real one
        self.btime = int(next(line.split()[1] for line in self.text.splitlines()
                              if line.startswith("btime")))
        self.mounts = 0
        self.offset_s = 0

    def step_to(self, offset_s: int) -> None:
        """Show ``btime`` shifted by ``offset_s`` (0: the real one again). Each copy is
        mounted over the last, never after an unmount: no instant shows the real time."""
        copy = self.folder / f"stat-{self.mounts}"
        copy.write_text(self.text.replace(f"btime {self.btime}\n",
                                          f"btime {self.btime + offset_s}\n"))
        mount("--bind", str(copy), "/proc/stat")
        self.mounts += 1
        self.offset_s = offset_s

    def restore(self) -> None:
        while self.mounts and umount(Path("/proc/stat")):
            self.mounts -= 1


class Disk:
    """A small tmpfs for the home, and a ballast file that fills it."""

    def __init__(self, mountpoint: Path, size_mb: int) -> None:
        self.mountpoint = mountpoint
        mountpoint.mkdir(mode=0o700)
        mount("-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(mountpoint))
        self.ballast = mountpoint / "ballast"

    def fill(self) -> int:
        """Write the ballast until the disk is full; the bytes written."""
        chunk, written = b"\0" * (1 << 20), 0
        with open(self.ballast, "wb", buffering=0) as fh:
            for size in (1 << 20, 4096, 1):
                with contextlib.suppress(OSError):
                    while True:
                        written += fh.write(chunk[:size])
        return written

    def free(self) -> None:
        self.ballast.unlink(missing_ok=True)

    def unmount(self) -> None:
        self.free()
        if not umount(self.mountpoint):
            umount(self.mountpoint, lazy=True)
