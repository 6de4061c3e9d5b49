"""A bot's warm spare (``--warm-spare``), the supervisor's side: the next process of the bot,
started ahead (``bot.spare``), released by the next start instead of a fork.

Where it lives: outside the bot's tree until its release, in a cgroup leaf of its own
(``spare-NAME`` beside ``bot-NAME``) where there is containment, so the bot's readings, its
limits, a stop and the leftover scan never see it; at the release it is moved into the bot's
cgroup before it runs any of the bot's code. cgroup v2 neither moves a process's memory
charges with it nor renames a cgroup, so where the memory controller reads the bot's memory
(``memory.current``) a bot with ``--max-memory`` gets no spare: its limit would miss what the
spare loaded.

A spare is used only for the start it was made for (:class:`SpareKey`: the same interpreter,
file, arguments, folder, startup variables and venv); the run's environment is sent at the
release, so a changed ``--env`` reaches the bot. It carries no marker until then, is no child
of any bot (it cannot read secrets), and reads an end of file when its supervisor dies.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path

from ..bot import spare as protocol
from ..common.leandataclass import dataclass
from ..installs.discovery import imports_in_source
from . import cgroups
from .identity import ProcessIdentity, identify
from .spareident import LEAF_PREFIX, PLACEHOLDER, RUN_ID_LENGTH, SPARE

log = logging.getLogger(__name__)

STARTUP_PREFIXES = ("PYTHON", "LC_", "LANG")
STARTUP_NAMES = ("LANGUAGE", "TZ")
"""Variables the interpreter reads as it starts: a spare started under others is not used."""
SEND_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class SpareKey:
    """What must be the same at the release as at the spare's start."""

    argv: tuple[str, ...]
    cwd: str
    startup: tuple[tuple[str, str], ...]
    """The interpreter's startup variables and the bot's own ``--env`` pairs: a library may read
    them as it is imported."""
    venv_stamp: int


@dataclass
class Spare:
    """One waiting spare process."""

    popen: subprocess.Popen[bytes]
    sock: socket.socket
    ident: ProcessIdentity
    key: SpareKey
    leaf: Path | None
    ready: bool = False


def startup_vars(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The environment the interpreter reads as it starts (``PYTHON*``, locale, ``TZ``).

    >>> startup_vars({"PATH": "/bin", "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"})
    (('LANG', 'C.UTF-8'), ('PYTHONUNBUFFERED', '1'))
    """
    return tuple(sorted((k, v) for k, v in env.items()
                        if k.startswith(STARTUP_PREFIXES) or k in STARTUP_NAMES))


def venv_stamp(venv: Path) -> int:
    """Changes when a package is added to or removed from the venv (its folder's time)."""
    for folder in sorted((venv / "lib").glob("python*/site-packages")):
        with contextlib.suppress(OSError):
            return folder.stat().st_mtime_ns
    return 0


def preload_names(bot_file: str) -> list[str]:
    """The modules the bot's file imports at its top level (the scan of ``installs``), its own
    folder's excluded: what a spare imports before it waits."""
    path = Path(bot_file)
    try:
        found = imports_in_source(path.read_text(encoding="utf-8", errors="replace"), str(path))
    except OSError:
        return []
    folder = path.parent
    names = []
    for item in found:
        top = item.module.split(".")[0]
        local = (folder / f"{top}.py").exists() or (folder / top).is_dir()
        if item.certain and not local and item.module not in names:
            names.append(item.module)
    return names


def key_for(python: Path, bot_file: str, args: tuple[str, ...], env: Mapping[str, str],
            own_env: tuple[tuple[str, str], ...], venv: Path) -> SpareKey:
    """The key of a start of ``bot_file`` with ``env`` and the bot's ``--env`` pairs."""
    return SpareKey((str(python), bot_file, *args), str(Path(bot_file).parent),
                    startup_vars(env) + tuple(sorted(own_env)), venv_stamp(venv))


def spare_env(env: Mapping[str, str], marker_env: str, fd: int, preload: list[str],
              leaf: Path | None) -> dict[str, str]:
    """The environment a spare waits with: the run's, its marker and run id placeholders."""
    out = {k: v for k, v in env.items() if k != cgroups.CGROUP_ENV}
    for name in (marker_env, *(p.decode() for p in protocol.PATCHED)):
        out[name] = PLACEHOLDER * len(env.get(name, ""))
    out["WDBOT_RUN_ID"] = PLACEHOLDER * RUN_ID_LENGTH
    out[protocol.FD_ENV] = str(fd)
    out[protocol.PRELOAD_ENV] = ",".join(preload)
    if leaf is not None:
        out[protocol.LEAF_ENV] = str(leaf)
    return out


def leaf_for(bot_cgroup: Path | None, name: str) -> Path | None:
    """The spare's own cgroup leaf beside the bot's (made here), or None."""
    if bot_cgroup is None:
        return None
    leaf = bot_cgroup.with_name(f"{LEAF_PREFIX}{name}")
    try:
        leaf.mkdir(exist_ok=True)
    except OSError:
        return None
    return leaf


class WarmSpares:
    """At most one waiting spare of one bot."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.spare: Spare | None = None
        self.taken: Spare | None = None
        """The spare taken for the next run (its pid written ahead), until released."""

    def start(self, key: SpareKey, env: Mapping[str, str], marker_env: str, leaf: Path | None) -> None:
        """Start a spare (``bot.spare``) for ``key``, unless one is there."""
        if self.spare is not None:
            return
        ours, theirs = socket.socketpair()
        try:
            popen = subprocess.Popen(
                [*key.argv[:1], "-c", SPARE, *key.argv[1:]], cwd=key.cwd,
                env=spare_env(env, marker_env, theirs.fileno(), preload_names(key.argv[1]), leaf),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, close_fds=True, pass_fds=(theirs.fileno(),))
        except OSError as exc:
            ours.close()
            log.warning("%s: no warm spare (%s)", self.name, exc)
            return
        finally:
            theirs.close()
        if leaf is not None:
            with contextlib.suppress(OSError):
                cgroups.join(leaf, popen.pid)  # before its interpreter runs (it joins too)
        ident = identify(popen.pid) or ProcessIdentity(popen.pid, 0.0)
        self.spare = Spare(popen, ours, ident, key, leaf)

    def take(self, key: SpareKey | None) -> Spare | None:
        """The waiting spare, if it is alive and made for ``key``, taken for the next run
        (:meth:`taken_for` hands it to the spawn); any other is dropped. One taken for a run
        that never spawned (its write-ahead failed) was never released: it waits again."""
        if self.taken is not None and self.spare is None:
            self.spare, self.taken = self.taken, None
        self.drop_taken()
        spare = self.spare
        if spare is None:
            return None
        if key is None or spare.key != key or not self._alive(spare):
            self.discard()
            return None
        self.spare, self.taken = None, spare
        return spare

    def taken_for(self, ident: ProcessIdentity | None) -> Spare | None:
        """The spare taken for the run whose written-ahead process is ``ident``; any other taken
        spare is dropped (its run was never spawned)."""
        taken, self.taken = self.taken, None
        if taken is not None and taken.ident == ident:
            return taken
        if taken is not None:
            _end(taken)
        return None

    def release(self, spare: Spare, env: Mapping[str, str], cwd: str) -> bool:
        """Let ``spare`` run the bot with the run's ``env`` (its pid is on disk by now)."""
        body = json.dumps({"env": dict(env), "cwd": cwd}).encode()
        try:
            spare.sock.setblocking(True)
            spare.sock.settimeout(SEND_TIMEOUT_S)
            spare.sock.sendall(f"{len(body):0{protocol.HEADER}x}".encode() + body)
        except OSError as exc:
            log.warning("%s: its warm spare could not be released (%s)", self.name, exc)
            return False
        finally:
            spare.sock.close()
        return True

    def status(self) -> dict[str, object]:
        """``{"warm_spare": {"pid", "ready"}}`` while a spare waits, for ``status`` (under its
        own key: it is no copy of the bot, and not its pid); else nothing."""
        spare = self.spare
        if spare is None or not self._alive(spare):
            return {}
        return {"warm_spare": {"pid": spare.ident.pid, "ready": spare.ready}}

    def drop(self) -> None:
        """No spare outlives the bot's lifecycle (a stop, a hold, an end, a detach): the
        waiting one and one taken but never released."""
        self.drop_taken()
        self.discard()

    def drop_taken(self) -> None:
        taken, self.taken = self.taken, None
        if taken is not None:
            _end(taken)

    def discard(self) -> None:
        """End the waiting spare (its socket closed: it reads an end of file; and killed)."""
        spare, self.spare = self.spare, None
        if spare is not None:
            _end(spare)

    @staticmethod
    def _alive(spare: Spare) -> bool:
        """The spare still runs and holds its socket; notes its readiness on the way."""
        if spare.popen.poll() is not None:
            return False
        try:
            spare.sock.setblocking(False)
            got = spare.sock.recv(16)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not got:
            return False
        spare.ready = spare.ready or protocol.READY in got
        return True


def _end(spare: Spare) -> None:
    spare.sock.close()
    if spare.popen.poll() is None:
        with contextlib.suppress(OSError):
            os.killpg(spare.popen.pid, signal.SIGKILL)  # unreaped: the pid is still ours
    with contextlib.suppress(subprocess.TimeoutExpired):
        spare.popen.wait(timeout=SEND_TIMEOUT_S)


def move_in(bot_cgroup: Path, pid: int) -> bool:
    """Put the released spare ``pid`` into the bot's cgroup; True when it is inside."""
    try:
        cgroups.join(bot_cgroup, pid)
    except OSError:
        return pid in cgroups.pids(bot_cgroup)
    return True
