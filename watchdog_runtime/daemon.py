"""Running the supervisor: in the foreground (``wdbot daemon``), or launched in the background
by any command that needs one, exactly once per home even when clients race.

Exactly one: a live supervisor holds an exclusive ``flock`` on ``supervisor.lock`` for its
whole life (the kernel drops it when the process dies, even by ``kill -9``); clients that
find no supervisor serialise on ``spawn.lock`` and look again before launching one. The
launched daemon reports back through a pipe once its socket listens: a handshake, no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import IO

from . import notify
from .control import is_running
from .home import Home

log = logging.getLogger(__name__)

LAUNCH_TIMEOUT_S = 60.0
READY = b"ready\n"


class LaunchError(Exception):
    """The supervisor could not be started; the message says where to look."""


class AlreadyRunning(Exception):
    """Another supervisor holds this home."""


def run_daemon(home: Home, ready_fd: int | None = None, metrics: str | None = None) -> int:
    """The supervisor's main: hold the home lock, serve, supervise, until asked to stop."""
    home.ensure()
    lock = _acquire(home)
    if lock is None:
        _report(ready_fd, b"busy\n")
        raise AlreadyRunning(f"a supervisor already runs for {home.root}")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _rotate_own_log(home)
    # Bots inherit none of our variables that describe another bot.
    for key in [k for k in os.environ if k.startswith("WDBOT_") and k != "WDBOT_HOME"]:
        del os.environ[key]
    try:
        asyncio.run(_serve(home, ready_fd, metrics))
    finally:
        lock.close()
    return 0


def _rotate_own_log(home: Home) -> None:
    """When our output goes to ``supervisor.log`` (a launched supervisor), rotate it by size
    like the bots' logs; a foreground ``wdbot daemon`` writing to a terminal is left alone."""
    from .config import ConfigError, load_config
    from .logrotate import RotationPolicy, start

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
    fh = open(home.lock, "a+")  # noqa: SIM115 - held open for the supervisor's lifetime
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


async def _serve(home: Home, ready_fd: int | None, metrics: str | None = None) -> None:
    from .channel import listen
    from .server import serve, serve_secrets
    from .supervisor import Supervisor
    from .uvtool import UvError, uv_bin
    from .venvs import refresh_sdk_link

    sup = Supervisor(home)
    refresh_sdk_link(home.sdk_dir)
    try:
        uv_bin()  # find and check uv once, on the main thread, before any bot needs it
    except UvError as exc:
        sup.warnings.append(str(exc))
    sup.load()
    ops = {name[3:]: getattr(sup, name) for name in dir(sup) if name.startswith("op_")}
    server = await serve(home.socket, ops)
    channel = await listen(home.notify_socket, sup.deliver)
    secrets = await serve_secrets(home.secrets_socket, sup.answer_secret)
    _install_signal_handlers(sup)
    sup.resume_all()
    sampler = asyncio.get_running_loop().create_task(sup.sample_forever(), name="sampler")
    sleeper = asyncio.get_running_loop().create_task(sup.watch_sleep(), name="sleep-watch")
    uptime = asyncio.get_running_loop().create_task(sup.ping_forever(), name="uptime-ping")
    if metrics:
        from .metrics import Collector
        from .metrics import serve as serve_metrics

        sup.metrics = Collector()
        serve_metrics(metrics, sup.metrics)
        log.info("metrics on http://%s/metrics", metrics)
    sup.note_previous_stop()
    sup.events.write("supervisor_start", pid=os.getpid())
    log.info("supervisor %d serving %s", os.getpid(), home.root)
    _report(ready_fd, READY)
    pinger = asyncio.get_running_loop().create_task(_systemd_watchdog(), name="systemd-watchdog")
    try:
        await sup.shutdown_requested.wait()
        notify.systemd("STOPPING=1")
        sampler.cancel()
        await sup.shutdown()
    finally:
        sampler.cancel()
        sleeper.cancel()
        uptime.cancel()
        pinger.cancel()
        server.close()
        secrets.close()
        channel.close()
        for path in (home.socket, home.notify_socket, home.secrets_socket):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        sup.events.write("supervisor_exit", pid=os.getpid())


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


# ------------------------------------------------------------------ client side
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
    with open(home.spawn_lock, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # held only while a launch is in flight
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _launch(home: Home) -> None:
    read_end, write_end = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WDBOT_")}
    env["WDBOT_HOME"] = str(home.root)
    with open(home.supervisor_log, "ab") as log_fh:
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
    if answer == READY or (answer == b"busy\n" and _wait_listening(home)):
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
        with open(home.lock, "a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            result.append(True)

    worker = threading.Thread(target=take, daemon=True)
    worker.start()
    worker.join(timeout_s)
    return bool(result)
