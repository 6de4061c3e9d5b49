"""A warm spare (``--warm-spare``): the next process of a bot, started ahead by its supervisor.

It loads the interpreter, the bootstrap and (``WDBOT_SPARE_PRELOAD``) the bot's top-level
third-party imports, then waits on its socket (``WDBOT_SPARE_FD``) without running any of
the bot's code. The supervisor's release message carries the environment of the run as it is
at the release (never the one the spare was started with: a changed ``--env`` reaches the
bot); the spare takes it on, reopens its logs and runs the bootstrap's ``run``, as a fresh
spawn would. An end of file (its supervisor died, or dropped it) ends it at once: a spare
never outlives its supervisor and never runs the bot unasked.

While it waits, what says whose process it is (:data:`PATCHED`: the marker, the run id, the
home, the bot's name) are placeholders of the real values' length, so no sweep counts it as a
copy of the bot; at the release they are written over in place, so ``/proc/PID/environ`` then
names the bot as a fresh spawn's would (the supervisor's sweeps and the marker walk find the
bot by it; its other variables there stay as the spare started, ``os.environ`` is the run's).
Stdlib only.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: its import is downtime
if TYPE_CHECKING:
    from typing import Any, NoReturn

FD_ENV = "WDBOT_SPARE_FD"
"""The spare's end of its socket to the supervisor."""
PRELOAD_ENV = "WDBOT_SPARE_PRELOAD"
"""Comma-separated modules to import before waiting (the bot's top-level third-party ones)."""
LEAF_ENV = "WDBOT_SPARE_CGROUP"
"""The spare's own cgroup leaf, joined first thing (outside the bot's until the release)."""
PATCHED = (b"WDBOT_BOT_ID", b"WDBOT_RUN_ID", b"WDBOT_HOME", b"WDBOT_BOT_NAME")
"""What says whose process it is: a placeholder while the spare waits, overwritten in place at
the release."""
HEADER = 8
"""The release message: its length as 8 hex digits, then that much JSON."""
READY = b"r"
"""Sent once the spare has loaded everything and waits."""


def main() -> NoReturn:
    """``python -c "import watchdog_runtime.bot.spare as s; s.main()" BOT.py ARGS``."""
    slots = _environ_slots()
    _join(os.environ.get(LEAF_ENV))
    fd = int(os.environ[FD_ENV])
    waiter = _Waiter(fd)
    preloaded = _warm(os.environ.get(PRELOAD_ENV, ""))
    try:
        os.write(fd, READY)
    except OSError:
        _die()  # the supervisor is gone
    order = waiter.wait()
    _become(order, slots, fd)
    _unshadow(preloaded)
    from . import bootstrap

    bootstrap.run(sys.argv[1], sys.argv[2:])


class _Waiter:
    """Reads the release message in a thread from the start, so an end of file ends the spare
    even while it is still importing."""

    def __init__(self, fd: int) -> None:
        import threading

        self.fd = fd
        self.order: dict[str, Any] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._read, name="wdbot-spare", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        head = _read_exactly(self.fd, HEADER)
        body = _read_exactly(self.fd, int(head, 16)) if head and _hex(head) else b""
        if not body:
            _die()  # an end of file: the supervisor died or dropped this spare
        import json

        try:
            order = json.loads(body)
        except ValueError:
            _die()
        if not isinstance(order, dict) or not isinstance(order.get("env"), dict):
            _die()
        self.order = order
        self.done.set()

    def wait(self) -> dict[str, Any]:
        self.done.wait()
        self.thread.join()
        return self.order


def _die() -> NoReturn:
    """End the spare and what its preload started (a library's helper, in its process group:
    it carries only the placeholders, so no sweep would ever find it; red team rt29)."""
    import signal

    if os.getpgrp() == os.getpid():  # its own group (``start_new_session``), nobody else's
        try:
            os.killpg(0, signal.SIGKILL)
        except OSError:
            pass
    os._exit(0)


def _hex(data: bytes) -> bool:
    return all(c in b"0123456789abcdef" for c in data)


def _read_exactly(fd: int, size: int) -> bytes:
    """``size`` bytes, or b"" when the stream ends first."""
    out = b""
    while len(out) < size:
        try:
            chunk = os.read(fd, size - len(out))
        except InterruptedError:
            continue
        except OSError:
            return b""
        if not chunk:
            return b""
        out += chunk
    return out


def _warm(preload: str) -> list[str]:
    """What a start loads before the bot's first line: the bootstrap and what it imports on
    the way, then the bot's third-party modules (never one of the bot's own folder)."""
    import json  # noqa: F401 - the release message, the exit record
    import threading  # noqa: F401
    import traceback  # noqa: F401 - an exception's record

    from ..common import durable, logrotate, syntax  # noqa: F401 - the exit record, the log rotation, the parse
    from . import bootstrap, entry, notify, recovery, shutdown, store  # noqa: F401

    names = [n for n in preload.split(",") if n and not _local(n.split(".")[0])]
    if not names:
        return names
    import importlib

    cwd_entry = sys.path.pop(0) if sys.path and sys.path[0] == "" else None  # not the bot's folder
    try:
        for name in names:
            try:
                importlib.import_module(name)
            except BaseException:  # noqa: BLE001 - the bot's own start reports a failing import
                sys.modules.pop(name, None)
    finally:
        if cwd_entry is not None:
            sys.path.insert(0, cwd_entry)
    return names


def _unshadow(preloaded: list[str]) -> None:
    """A preloaded module whose name is now one of the bot's folder (saved there while the
    spare waited) is forgotten, so the bot imports its own file as a fresh spawn would (the
    preloaded one stood in for it; red team rt29)."""
    tops = {n.split(".")[0] for n in preloaded}
    for top in [t for t in tops if _local(t)]:
        for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
            del sys.modules[name]


def _local(top: str) -> bool:
    """``top`` is a module of the bot's folder (the spare's working directory): never preloaded,
    since the bot's own code runs only at the release."""
    return os.path.exists(f"{top}.py") or os.path.isdir(top)


def _become(order: dict[str, Any], slots: dict[bytes, tuple[int, int]], fd: int) -> None:
    """Take on the run's environment, folder and log files, as a fresh spawn starts with."""
    import importlib

    env = {str(k): str(v) for k, v in order["env"].items()}
    os.environ.clear()
    os.environ.update(env)
    _patch(slots, env)
    _join(env.get("WDBOT_CGROUP"))  # the supervisor moved it already; as the bootstrap does
    if isinstance(order.get("cwd"), str):
        os.chdir(order["cwd"])
    for var, target in (("WDBOT_STDOUT_LOG", 1), ("WDBOT_STDERR_LOG", 2)):
        _reopen(env.get(var), target)
    os.close(fd)
    importlib.invalidate_caches()  # packages installed while it waited are found


def _reopen(path: str | None, target: int) -> None:
    """The log file as it is now (rotated meanwhile, or not), appended to, on ``target``."""
    if not path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    os.dup2(fd, target)
    os.close(fd)


def _join(folder: str | None) -> None:
    if not folder:
        return
    try:
        fd = os.open(folder + "/cgroup.procs", os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
    except OSError:
        pass  # the supervisor places it too; else the marker walk contains it


def _environ_slots() -> dict[bytes, tuple[int, int]]:
    """Where the placeholders of :data:`PATCHED` lie in the process's original environment
    block (the one ``/proc/PID/environ`` shows): address and length of each value."""
    try:
        import ctypes

        envp = ctypes.POINTER(ctypes.c_void_p).in_dll(ctypes.CDLL(None), "environ")
        slots: dict[bytes, tuple[int, int]] = {}
        index = 0
        while envp[index]:
            address = int(envp[index] or 0)
            key, _, value = ctypes.string_at(address).partition(b"=")
            if key in PATCHED:
                slots[key] = (address + len(key) + 1, len(value))
            index += 1
        return slots
    except (OSError, ValueError, AttributeError, ImportError):
        return {}


def _patch(slots: dict[bytes, tuple[int, int]], env: dict[str, str]) -> None:
    """Write the run's marker and run id over their placeholders (same length by design)."""
    if not slots:
        return
    import ctypes

    for key, (address, size) in slots.items():
        value = env.get(key.decode(), "").encode()
        if len(value) == size:
            ctypes.memmove(address, value, size)
