"""Starting the home's supervisor from a command, exactly once even when commands race, and
waiting for it to exit. The client side of ``daemon``; it imports no asyncio, so commands
such as ``wdbot status --json`` stay quick.

Clients that find no supervisor serialise on ``spawn.lock``, look again, and launch one; the
launched daemon reports back through a pipe once its socket listens: a handshake, no polling.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..common.control import is_running
from ..common.home import Home
from ..common.privacy import open_private
from ..common.protocol import BUSY, READY

LAUNCH_TIMEOUT_S = 60.0


class LaunchError(Exception):
    """The supervisor could not be started; the message says where to look."""


def ensure_supervisor(home: Home) -> bool:
    """Make sure a supervisor serves ``home``; return True when this call launched it."""
    if is_running(home):
        return False
    home.ensure()
    with _locked(home):
        if is_running(home):
            return False
        _launch(home)
        return True


@contextlib.contextmanager
def _locked(home: Home) -> Iterator[None]:
    with open(open_private(home.spawn_lock), "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # held only while a launch is in flight
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _launch(home: Home) -> None:
    read_end, write_end = os.pipe()
    from ..common import heappin, leanbytecode

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WDBOT_") or k in leanbytecode.SUPERVISOR_ENV}
    env["WDBOT_HOME"] = str(home.root)
    env = heappin.supervisor_env(env)  # its large blocks out of the heap (``common.heappin``)
    args = ["daemon", "--ready-fd", str(write_end)]
    with open(open_private(home.supervisor_log), "ab") as log_fh:
        subprocess.Popen(
            leanbytecode.lean_argv(home.root, args) or [sys.executable, "-m", "watchdog_runtime", *args],
            stdin=subprocess.DEVNULL, stdout=log_fh, stderr=log_fh, env=env, cwd="/",
            pass_fds=(write_end,), start_new_session=True, close_fds=True,
        )
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], LAUNCH_TIMEOUT_S)
        answer = os.read(read_end, 64) if ready else b""
    finally:
        os.close(read_end)
    if answer == READY or (answer == BUSY and _wait_listening(home)):
        return
    raise LaunchError(f"the supervisor did not start; see {home.supervisor_log}")


def _wait_listening(home: Home) -> bool:
    """Another supervisor won the home lock (a foreground ``wdbot daemon``): wait for it."""
    done = threading.Event()
    for _ in range(100):
        if is_running(home):
            return True
        done.wait(0.1)
    return False


def wait_exited(home: Home, timeout_s: float, pid: int | None = None) -> bool:
    """Block until the home's supervisor has exited, up to ``timeout_s``: its lock is free
    and, given its ``pid`` (call this while it still runs), its process is gone too (it
    frees the lock a moment before the interpreter has finished)."""
    deadline = time.monotonic() + timeout_s
    proc = _daemon_process(pid)
    if not _lock_free(home, timeout_s):
        return False
    return _gone(proc, deadline)


def watch_exit(pid: int | None) -> Callable[[float], bool]:
    """For a supervisor whose successor takes the lock at once (a hand-over): no wait for
    a free lock, which the successor may never leave free; call the result (with a timeout)
    once the successor serves, to wait until the old process is gone too."""
    proc = _daemon_process(pid)
    return lambda timeout_s: _gone(proc, time.monotonic() + timeout_s)


def _daemon_process(pid: int | None) -> Any:
    """The supervisor's psutil.Process, or None when it cannot be seen from here."""
    import psutil

    try:
        proc = psutil.Process(pid) if pid is not None else None
        if proc is not None and "daemon" not in proc.cmdline():
            proc = None  # a pid of another namespace (a container's) names someone else here
    except psutil.Error:
        proc = None  # gone already (or not ours to see): the lock alone tells
    return proc


def _gone(proc: Any, deadline: float) -> bool:
    while proc is not None and _running(proc):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _running(proc: Any) -> bool:
    """``proc`` (a psutil.Process) still runs: the same process (psutil checks its start
    time, so a reused pid is not it), and no zombie."""
    import psutil

    try:
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _lock_free(home: Home, timeout_s: float) -> bool:
    result: list[bool] = []

    def take() -> None:
        with open(open_private(home.lock), "a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            result.append(True)

    worker = threading.Thread(target=take, daemon=True)
    worker.start()
    worker.join(timeout_s)
    return bool(result)
