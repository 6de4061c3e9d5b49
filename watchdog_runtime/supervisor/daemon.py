"""Running the supervisor (``wdbot daemon``, or launched in the background by ``launcher``).

Exactly one per home: a live supervisor holds an exclusive ``flock`` on ``supervisor.lock``
for its whole life (the kernel drops it when the process dies, even by ``kill -9``). A
launched daemon reports ``ready`` (or ``busy``) through an inherited pipe once it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import IO, TYPE_CHECKING, Any

from ..bot import notify
from ..common.home import Home
from ..common.manager import HANDOVER_EXIT
from ..common.manager import detect as detect_manager
from ..common.privacy import open_private, private_umask, tighten
from ..common.protocol import BUSY, READY
from .debugops import debug_modules

if TYPE_CHECKING:
    from pathlib import Path

    from ..spec import BotSpec
    from .outbox import Outbox
    from .supervisor import Supervisor
    from .upstart import UpFile

log = logging.getLogger(__name__)

FLUSH_S = 2.0
"""``--tee-logs``: how long the daemon's exit waits for its last lines to be read."""


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
        _report(ready_fd, BUSY)
        raise AlreadyRunning(f"a supervisor already runs for {home.root}")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if tightened:
        log.warning("%s", tightened)
    _rotate_own_log(home)
    # Bots inherit none of our variables that describe another bot.
    for key in [k for k in os.environ if k.startswith("WDBOT_") and k != "WDBOT_HOME"]:
        del os.environ[key]
    outputs = None
    if tee_logs:
        from .outbox import open_outputs

        outputs = open_outputs()
    try:
        from .upstart import UpFile

        handover = asyncio.run(_serve(home, ready_fd, metrics, boot=boot, under_init=under_init,
                                      up=UpFile(*up) if up else None,
                                      tee_out=outputs[0] if outputs else None))
    finally:
        lock.close()
        for outbox in set(outputs or ()):
            outbox.flush(FLUSH_S)  # the last lines, as long as someone reads them
    return HANDOVER_EXIT if handover else 0


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
    from ..common.logrotate import RotationPolicy, start
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
    start([(home.supervisor_log, (1, 2))], policy)


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


async def _serve(home: Home, ready_fd: int | None, metrics: str | None = None, *,
                 boot: bool = False, under_init: bool = False,
                 up: UpFile | None = None, tee_out: Outbox | None = None) -> bool:
    """Supervise until asked to stop; True when that was a hand-over (``--keep-bots``)."""
    from ..installs.uvtool import UvError, uv_bin
    from ..installs.venvs import refresh_sdk_link
    from ..redaction import guard_logging
    from .audit import audited
    from .channel import listen
    from .server import serve, serve_secrets
    from .supervisor import Supervisor
    from .tee import attach, keep_following

    sup = Supervisor(home)
    sup.manager = detect_manager(under_init)
    sup.boot = boot
    guard_logging(sup.redact)  # the supervisor log never shows a secret value
    refresh_sdk_link(home.sdk_dir)
    try:
        uv_bin()  # find and check uv once, on the main thread, before any bot needs it
    except UvError as exc:
        sup.warnings.append(str(exc))
    sup.contain()
    sup.load()
    ops = {name[3:]: _flushing(sup, getattr(sup, name), quiet=name[3:] in READ_ONLY_OPS)
           for name in dir(sup) if name.startswith("op_")}
    ops["ready"] = _readiness(sup, up)
    ops["debug_modules"] = debug_modules
    tee = attach(sup, ops, tee_out) if tee_out else None
    ops = audited(ops, sup.events)
    server = await serve(home.socket, ops, sup.redact)  # origin= of the web's actions
    channel = await listen(home.notify_socket, sup.deliver)
    secrets = await serve_secrets(home.secrets_socket, sup.answer_secret)
    _install_signal_handlers(sup)
    # Bots held by 'wdbot shutdown' stay down whoever starts this supervisor (a service
    # manager's restart, a reboot, a person). Those held because a signal stopped the last
    # one (the machine going down) start again under 'wdbot daemon' (boot), as after a boot;
    # a supervisor a command launched leaves them down.
    sup.resume_all(service=boot)
    sampler = asyncio.get_running_loop().create_task(sup.sample_forever(), name="sampler")
    sleeper = asyncio.get_running_loop().create_task(sup.watch_sleep(), name="sleep-watch")
    uptime = asyncio.get_running_loop().create_task(sup.ping_forever(), name="uptime-ping")
    watcher = asyncio.get_running_loop().create_task(sup.watch_registry(), name="registry-watch")
    if metrics:
        from .metrics import Collector
        from .metrics import serve as serve_metrics

        sup.metrics = Collector()
        serve_metrics(metrics, sup.metrics, home)
        log.info("metrics on http://%s/metrics, probes on /livez and /readyz", metrics)
    sup.note_previous_stop()
    sup.events.write("supervisor_start", pid=os.getpid())
    log.info("supervisor %d serving %s", os.getpid(), home.root)
    _report(ready_fd, READY)
    pinger = asyncio.get_running_loop().create_task(_systemd_watchdog(), name="systemd-watchdog")
    # Held here: the loop keeps only weak references to its tasks.
    applying = (asyncio.get_running_loop().create_task(_apply_up(sup, up, ops["start"]), name="up")
                if up is not None else None)
    teeing = asyncio.get_running_loop().create_task(keep_following(sup, tee), name="tee") if tee else None
    try:
        await sup.shutdown_requested.wait()
        notify.systemd("STOPPING=1")
        sampler.cancel()
        await sup.shutdown()
    finally:
        sup.flush()  # whatever the way out, the registry holds the last state
        sampler.cancel()
        sleeper.cancel()
        uptime.cancel()
        watcher.cancel()
        pinger.cancel()
        for task in (applying, teeing):
            if task is not None:
                task.cancel()
        if tee is not None:
            tee.stop()
        server.close()
        secrets.close()
        channel.close()
        for path in (home.socket, home.notify_socket, home.secrets_socket):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        sup.events.write("supervisor_exit", pid=os.getpid())
    return sup.handover


async def _systemd_watchdog() -> None:
    """Under systemd (``Type=notify``): READY once serving, then WATCHDOG pings at half the
    unit's ``WatchdogSec``, from the event loop itself, so a stuck loop is restarted."""
    if not notify.systemd("READY=1"):
        return
    usec = os.environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or os.environ.get("WATCHDOG_PID", str(os.getpid())) != str(os.getpid()):
        return
    while True:
        notify.systemd("WATCHDOG=1")
        await asyncio.sleep(int(usec) / 2_000_000)


async def _apply_up(sup: Supervisor, up: UpFile, start: Callable[..., Awaitable[Any]]) -> None:
    """The up-file, once the registry can be read: while it cannot, every start is refused,
    and the file applied then was never applied again after the restore (its new bots never
    started, ``/readyz`` 503 for good). The restore's adoption comes first (``sup.runners``)."""
    while sup.unreadable is not None:  # noqa: ASYNC110 - the 1 s watch sets no event
        await asyncio.sleep(0.5)
    await up.apply(sup.runners, start)


def _readiness(sup: Supervisor, up: UpFile | None) -> Callable[[], Awaitable[dict[str, Any]]]:
    """The ``ready`` operation (``/readyz``): which bots that should run do not."""
    from .readiness import not_ready, views

    async def ready() -> dict[str, Any]:
        """Every bot that should run runs when ``not_ready`` is empty."""
        pending = [sup.unreadable.message] if sup.unreadable is not None else []
        pending += [f"{q.name or '?'}: its registry entry is unreadable; see 'wdbot status'"
                    for q in sup.quarantined]
        pending += up.pending(sup.runners) if up is not None else []
        lines = not_ready(views(sup.runners.values(), sup.clock()), pending)
        return {"not_ready": lines, "bots": len(sup.runners)}
    return ready


READ_ONLY_OPS = frozenset({"ping", "status", "ready"})
"""They change nothing: a registry write still pending (a full disk) does not fail them."""


def _flushing(sup: Any, op: Callable[..., Awaitable[Any]],
              quiet: bool = False) -> Callable[..., Awaitable[Any]]:
    """An operation whose reply waits for the registry write its changes called for; a
    failed write fails the operation (``RegistryWriteError``), unless it is read-only."""
    @functools.wraps(op)
    async def run(*args: Any, **kwargs: Any) -> Any:
        sup.check_registry()  # a file broken a moment ago is known before the command acts
        try:
            return await op(*args, **kwargs)
        finally:
            if quiet:
                sup._flush_quietly()
            else:
                sup.flush()
    return run


def _install_signal_handlers(sup: object) -> None:
    """Handlers only record; the main loop acts. A second Ctrl-C leaves at once, bots kept."""
    from .supervisor import Supervisor

    assert isinstance(sup, Supervisor)
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def on_signal(signum: int) -> None:
        if sup.shutdown_requested.is_set() and signum == signal.SIGINT and main is not None:
            log.warning("second interrupt: leaving now, bots keep running")
            sup.keep_bots = True
            main.cancel()
            return
        log.info("received %s: shutting down", signal.Signals(signum).name)
        sup.shutdown_requested.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


def _report(fd: int | None, message: bytes) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, message)
        os.close(fd)
