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
from collections.abc import Iterator

from .control import is_running
from .home import Home
from .privacy import open_private

LAUNCH_TIMEOUT_S = 60.0
READY = b"ready\n"
BUSY = b"busy\n"


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
    env = {k: v for k, v in os.environ.items() if not k.startswith("WDBOT_")}
    env["WDBOT_HOME"] = str(home.root)
    with open(open_private(home.supervisor_log), "ab") as log_fh:
        subprocess.Popen(
            [sys.executable, "-m", "watchdog_runtime", "daemon", "--ready-fd", str(write_end)],
            stdin=subprocess.DEVNULL, stdout=log_fh, stderr=log_fh, env=env,
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


def wait_exited(home: Home, timeout_s: float) -> bool:
    """Block until the home's supervisor has exited (its lock is free), up to ``timeout_s``."""
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
