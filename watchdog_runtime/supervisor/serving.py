"""The supervisor's event loop, wired (``wdbot daemon`` once it holds the home's lock,
``daemon.run_daemon``): the supervisor prepared, its operations behind the control socket, the
notify and secrets sockets, the periodic tasks; then, once asked to stop, everything it
started cancelled, closed and unlinked, whatever the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ..bot import notify
from ..common.home import Home
from ..common.manager import detect as detect_manager
from ..common.protocol import READY
from .daemon import report

if TYPE_CHECKING:
    from pathlib import Path

    from .outbox import Outbox
    from .supervisor import Supervisor
    from .tee import Tee
    from .upstart import UpFile

Handler = Callable[..., Awaitable[Any]]

log = logging.getLogger(__name__)


async def serve(home: Home, ready_fd: int | None, metrics: str | None = None, *,
                 boot: bool = False, under_init: bool = False,
                 up: UpFile | None = None, tee_out: Outbox | None = None) -> bool:
    """Supervise until asked to stop; True when that was a hand-over (``--keep-bots``)."""
    # The modules' objects (tens of thousands: functions, classes, constants) live as long as
    # the process: out of the cyclic collector's sight, each full collection of a supervisor
    # that runs for months looks at the bots' objects only (issue 29: idle CPU). What is made
    # from here on (runners, tasks) is collected as ever.
    gc.freeze()
    sup = _prepared(home, boot=boot, under_init=under_init)
    ops, tee = _operations(sup, up, tee_out)
    async with contextlib.AsyncExitStack() as stack:
        started: list[bool] = []
        stack.callback(_said_goodbye, sup, started)  # last, after the sockets are gone
        await _open_sockets(sup, ops, stack)
        if tee is not None:
            stack.callback(tee.stop)  # after its task is cancelled
        _install_signal_handlers(sup)
        # Bots held by 'wdbot shutdown' stay down whoever starts this supervisor (a service
        # manager's restart, a reboot, a person). Those held because a signal stopped the last
        # one (the machine going down) start again under 'wdbot daemon' (boot), as after a boot;
        # a supervisor a command launched leaves them down.
        sup.resume_all(service=boot)
        tasks = _Tasks()
        stack.callback(tasks.cancel_all)
        stack.callback(sup.flush)  # whatever the way out, the registry holds the last state
        _start_housekeeping(sup, tasks, metrics)
        sup.note_previous_stop()
        sup.events.write("supervisor_start", pid=os.getpid())
        started.append(True)
        log.info("supervisor %d serving %s", os.getpid(), home.root)
        report(ready_fd, READY)
        _start_followers(sup, tasks, up, ops, tee)
        await sup.shutdown_requested.wait()
        notify.systemd("STOPPING=1")
        tasks.cancel("sampler")
        await sup.shutdown()
    return sup.handover


def _prepared(home: Home, *, boot: bool, under_init: bool) -> Supervisor:
    """The home's supervisor, contained and with its registry read, not yet serving."""
    from ..installs.uvtool import UvError, uv_bin
    from ..installs.venvs import refresh_sdk_link
    from ..redaction import guard_logging
    from .supervisor import Supervisor

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
    return sup


def _operations(sup: Supervisor, up: UpFile | None,
                tee_out: Outbox | None) -> tuple[dict[str, Handler], Tee | None]:
    """The control protocol's operations, each flushing the registry before it replies,
    audited, and (``--tee-logs``) following the bots they start."""
    from .audit import audited
    from .debugops import debug_heap, debug_modules

    ops = {name: _flushing(sup, op, quiet=name in READ_ONLY_OPS) for name, op in sup.ops.table().items()}
    ops["ready"] = _readiness(sup, up)
    ops["debug_modules"] = debug_modules  # issue 29: what the running daemon has imported
    ops["debug_heap"] = debug_heap  # issue 29: which objects a soak run's supervisor holds
    tee = None
    if tee_out:  # the tee's modules only with --tee-logs (issue 29)
        from .tee import attach

        tee = attach(sup, ops, tee_out)
    return audited(ops, sup.events), tee


async def _open_sockets(sup: Supervisor, ops: dict[str, Handler], stack: contextlib.AsyncExitStack) -> None:
    """The control, notify and secrets sockets, closed and unlinked by ``stack``."""
    from .channel import listen
    from .server import serve, serve_secrets

    home = sup.home
    for path in (home.socket, home.notify_socket, home.secrets_socket):
        stack.callback(_unlink, path)
    server = await serve(home.socket, ops, sup.redact)  # origin= of the web's actions
    stack.callback(server.close)
    channel = await listen(home.notify_socket, sup.deliver)
    stack.callback(channel.close)
    secrets = await serve_secrets(home.secrets_socket, sup.answer_secret)
    stack.callback(secrets.close)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _said_goodbye(sup: Supervisor, started: list[bool]) -> None:
    """``supervisor_exit``, once ``supervisor_start`` was written (the pair tells a clean
    stop from a kill: ``note_previous_stop``)."""
    if started:
        sup.events.write("supervisor_exit", pid=os.getpid())


class _Tasks:
    """The daemon's own tasks, held here (the loop keeps only weak references to its tasks)
    and all cancelled on the way out."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def start(self, name: str, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        task.add_done_callback(_said_if_failed)
        self._tasks[name] = task

    def cancel(self, name: str) -> None:
        task = self._tasks.get(name)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> None:
        for task in self._tasks.values():
            task.cancel()


def _said_if_failed(task: asyncio.Task[Any]) -> None:
    """Log a task that ended on an error: held here, it is never collected, so asyncio's
    "exception was never retrieved" never comes, and the daemon would go on without that
    loop in silence."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("%s ended on an error, the supervisor goes on without it", task.get_name(), exc_info=exc)


def _start_housekeeping(sup: Supervisor, tasks: _Tasks, metrics: str | None) -> None:
    """The periodic work (``housekeeping``), and the metrics endpoint (``--metrics``)."""
    from . import housekeeping

    tasks.start("sampler", housekeeping.sample_forever(sup))
    tasks.start("sleep-watch", housekeeping.watch_sleep(sup))
    tasks.start("uptime-ping", housekeeping.ping_forever(sup))
    tasks.start("on-halt", sup.modes.enforce_forever())  # issue 27: --on-halt stop
    tasks.start("registry-watch", housekeeping.watch_registry(sup))
    tasks.start("scratch-sweep", housekeeping.sweep_scratch())
    tasks.start("lean-bytecode", housekeeping.fill_bytecode_cache(sup))
    if metrics:
        from .metrics import Collector
        from .metrics import serve as serve_metrics

        sup.metrics = Collector()
        serve_metrics(metrics, sup.metrics, sup.home)
        log.info("metrics on http://%s/metrics, probes on /livez and /readyz", metrics)


def _start_followers(sup: Supervisor, tasks: _Tasks, up: UpFile | None, ops: dict[str, Handler],
                     tee: Tee | None) -> None:
    """Once serving: systemd's watchdog pings, the up-file, and the tee of the bots' lines."""
    tasks.start("systemd-watchdog", _systemd_watchdog())
    if up is not None:
        tasks.start("up", _apply_up(sup, up, ops["start"]))
    if tee is not None:
        from .tee import keep_following

        tasks.start("tee", keep_following(sup, tee))


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


READ_ONLY_OPS = frozenset({"ping", "status", "ready", "debug_modules", "debug_heap"})
"""They change nothing: a registry write still pending (a full disk) does not fail them."""


def _flushing(sup: Supervisor, op: Handler, quiet: bool = False) -> Handler:
    """An operation whose reply waits for the registry write its changes called for; a
    failed write fails the operation (``RegistryWriteError``), unless it is read-only."""
    @functools.wraps(op)
    async def run(*args: Any, **kwargs: Any) -> Any:
        sup.check_registry()  # a file broken a moment ago is known before the command acts
        try:
            return await op(*args, **kwargs)
        finally:
            if quiet:
                sup.writer.flush_quietly()
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
    # A signal the shell left ignored (nohup: SIGHUP; a background job: SIGINT, SIGQUIT)
    # stays ignored across exec, so every bot would start with it ignored: one stopped with
    # SIGHUP or SIGQUIT would wait out its timeout. A handler that does nothing keeps it
    # ignored here, and each bot starts with the default, as under systemd.
    for signum in (signal.SIGHUP, signal.SIGQUIT):
        if signal.getsignal(signum) == signal.SIG_IGN:
            loop.add_signal_handler(signum, log.debug, "%s ignored", signal.Signals(signum).name)
