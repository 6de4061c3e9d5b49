"""Running the supervisor (``wdbot daemon``, or launched in the background by ``launcher``).

Exactly one per home: a live supervisor holds an exclusive ``flock`` on ``supervisor.lock``
for its whole life (the kernel drops it when the process dies, even by ``kill -9``). A
launched daemon reports ``ready`` (or ``busy``) through an inherited pipe once it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING

from ..common.heappin import forget_pin
from ..common.home import Home
from ..common.leanbytecode import SUPERVISOR_ENV
from ..common.manager import HANDOVER_EXIT
from ..common.privacy import open_private, private_umask, tighten
from ..common.protocol import BUSY

if TYPE_CHECKING:
    from pathlib import Path

    from ..spec import BotSpec
    from .upstart import UpFile

log = logging.getLogger(__name__)

FLUSH_S = 2.0
"""``--tee-logs``: how long the daemon's exit waits for its last lines to be read."""
OWN_LOG_QUIET_S = 60.0
"""The longest wait between two checks of the supervisor's own log while it does not grow
(``logrotate.start``): its writer is this process, which writes little when all is well, and
each of its writes to stderr ends such a wait at once (``logrotate.Nudge``): only what others
write there (a child with our stderr) waits for a check."""


class AlreadyRunning(Exception):
    """Another supervisor holds this home."""


def run_daemon(home: Home, ready_fd: int | None = None, metrics: str | None = None, *,
               boot: bool = False, under_init: bool = False,
               up: tuple[Path, Sequence[BotSpec]] | None = None, tee_logs: bool = False) -> int:
    """The supervisor's main: hold the home lock, serve, supervise, until asked to stop.
    ``boot``: started as ``wdbot daemon`` (a person, a service manager, the container init),
    not launched by a command: bots held by a signal's stop start again. ``under_init``:
    forked by the PID-1 init. ``up``: an up-file (checked already) applied once it serves;
    ``tee_logs``: the bots' lines also on our stdout (``tee``). Returns the exit status: 0,
    or ``HANDOVER_EXIT`` after ``shutdown --keep-bots`` (the next supervisor is wanted at once)."""
    if tee_logs:
        _hold_std_fds()
    private_umask()  # all the supervisor, uv and the bots create is private (privacy.py)
    home.ensure()
    tightened = tighten(home.root)
    lock = _acquire(home)
    if lock is None and boot:
        lock = _take_over(home)
    if lock is None:
        report(ready_fd, BUSY)
        raise AlreadyRunning(f"a supervisor already runs for {home.root}")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if tightened:
        log.warning("%s", tightened)
    _rotate_own_log(home)
    # Bots inherit none of our variables that describe another bot (botenv drops the rest:
    # the home, and the supervisor's own settings of its bytecode, ``leanbytecode``).
    forget_pin()  # first: its mark is one of our variables, dropped just below
    keep = {"WDBOT_HOME", *SUPERVISOR_ENV}
    for key in [k for k in os.environ if k.startswith("WDBOT_") and k not in keep]:
        del os.environ[key]
    outputs = None
    if tee_logs:
        from .outbox import open_outputs

        outputs = open_outputs()
    try:
        from .serving import serve

        handover = asyncio.run(serve(home, ready_fd, metrics, boot=boot, under_init=under_init,
                                      up=_up_file(up), tee_out=outputs[0] if outputs else None))
    finally:
        lock.close()
        for outbox in set(outputs or ()):
            outbox.flush(FLUSH_S)  # the last lines, as long as someone reads them
    return HANDOVER_EXIT if handover else 0


def _up_file(up: tuple[Path, Sequence[BotSpec]] | None) -> UpFile | None:
    """``--up``'s file, its module imported only then (issue 29)."""
    if not up:
        return None
    from .upstart import UpFile

    return UpFile(*up)


def _hold_std_fds() -> None:
    """A daemon started with stdout or stderr closed (``>&-``): /dev/null takes the number,
    before anything is opened, or the next file opened (the home's lock, say) would get it and
    the tee would write the bots' lines into it."""
    for fd in (1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _rotate_own_log(home: Home) -> None:
    """When our output goes to ``supervisor.log`` (a launched supervisor), rotate it by size
    like the bots' logs; a foreground ``wdbot daemon`` writing to a terminal is left alone."""
    from ..common.logrotate import Nudge, NudgedStream, RotationPolicy, start
    from ..config import ConfigError, load_config

    try:
        same = os.path.samestat(os.fstat(2), os.stat(home.supervisor_log))
    except OSError:
        return
    if not same:
        return
    try:
        policy = load_config(home.config).logs
    except ConfigError:
        policy = RotationPolicy()
    nudge = Nudge()
    # Our writes to stderr, log records and others (warnings, a thread's traceback), end the
    # watch's quiet wait: sys.stderr and the log handler's stream become one nudging stream
    # (one object: ``outbox.open_outputs`` knows the handler over stderr by identity).
    nudged = NudgedStream(sys.stderr, nudge)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
            handler.setStream(nudged)
    sys.stderr = nudged
    start([(home.supervisor_log, (1, 2))], policy, quiet_s=OWN_LOG_QUIET_S, nudge=nudge)


def _acquire(home: Home) -> IO[str] | None:
    fh = open(open_private(home.lock, os.O_RDWR | os.O_CREAT), "a+")  # noqa: SIM115 - held for life
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


TAKE_OVER_S = 60.0
"""How long the boot's daemon waits for a launched supervisor's hand-over (its detach)."""


def _take_over(home: Home) -> IO[str] | None:
    """The home's lock, from a supervisor that a command launched (``boot`` false in its
    ``ping``): it hands over as after ``shutdown --keep-bots`` and this daemon (a service
    manager's, the container init's, a person's) supervises instead, starting the bots a
    signal held. Without it an early command at boot (a cron job, a probe) kept the unit's
    supervisor out for good, and the bots the reboot stopped down. A supervisor started as
    ``wdbot daemon`` itself, or one that does not say, is left alone: None."""
    import time

    from ..common.control import NoSupervisor, RequestFailed, request

    try:
        reply = request(home, "ping", timeout_s=5.0)
        if reply.get("boot") is not False or not _launched_here(reply.get("pid"), home):
            return None
        request(home, "shutdown", keep_bots=True, timeout_s=10.0)
    except (NoSupervisor, RequestFailed, AttributeError):
        return None
    deadline = time.monotonic() + TAKE_OVER_S
    while (lock := _acquire(home)) is None and time.monotonic() < deadline:
        time.sleep(0.05)  # its exit frees the lock; no event tells this process
    return lock


def _launched_here(pid: object, home: Home) -> bool:
    """Whether ``pid`` is, as this process sees it, a supervisor a command launched for
    ``home``: one in another PID namespace (a home shared with a container) runs bots this
    one could not see, and so not adopt: it is never taken over."""
    if not isinstance(pid, int) or sys.platform != "linux":
        return isinstance(pid, int)
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
        with open(f"/proc/{pid}/environ", "rb") as fh:
            env = fh.read().split(b"\0")
    except OSError:
        return False
    return b"daemon" in argv and b"--ready-fd" in argv and os.fsencode(f"WDBOT_HOME={home.root}") in env


def report(fd: int | None, message: bytes) -> None:
    """Tell a launching command how the start went (``protocol.READY`` or ``BUSY``), once."""
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, message)
        os.close(fd)
