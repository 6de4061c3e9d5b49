"""The first code of every bot process (``main``, run as ``python -c``, or ``python -m
watchdog_runtime.bot.bootstrap BOT.py ARGS`` by hand).

Stdlib only (it runs inside the bot's venv). It runs the bot file as ``__main__`` as
``python BOT.py`` would, calling its ``recover(ctx)`` before its trading code (``recovery``
says how) and telling the supervisor when recovery starts and ends. It leaves a structured
exit record for the supervisor, so the supervisor learns how the bot ended (exception type,
message, the phase: compile, recover or run) without trusting text the bot printed, and even
when the supervisor that started it is gone and cannot collect the exit status.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import types

from . import codecache, shutdown

TYPE_CHECKING = False  # not typing's: its import is downtime at every restart
if TYPE_CHECKING:
    import ast
    import signal
    from typing import Any, NoReturn

    from .entry import Entry
else:  # the same functions and numbers without signal's enums: ~5 ms of every start (issue 29)
    import _signal as signal

# Everything else is imported where it is used: this module runs before every bot's first
# line, on every restart, and each import is a few milliseconds of downtime.

_RETRYING = os.path.join(os.path.dirname(os.path.abspath(__file__)), "retrying.py")
"""``wd.retry``'s file, as its frames name it."""

THREADS_POLL_S = 0.2
"""How often a bot whose main code returned looks whether its threads are done."""

PHASE_SEND_WAIT_S = 1.0
"""How long a phase message may wait for room at a busy supervisor (it is sent once)."""


def _record(**fields: Any) -> None:
    path = os.environ.get("WDBOT_EXIT_RECORD")
    if not path:
        return
    from . import exitrecord  # lean: the durable writer's imports cost a crash ~20 ms (issue 29)

    fields["run_id"] = os.environ.get("WDBOT_RUN_ID")
    try:
        exitrecord.write(path, fields, sync=False)  # read from the page cache (exitrecord)
    except OSError as exc:  # a full disk must not change how the bot exits
        print(f"wdbot: cannot write exit record: {exc}", file=sys.stderr)


def _exception_fields(exc: BaseException, phase: str) -> dict[str, Any]:
    import traceback

    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    last = frames[-1:]
    fields: dict[str, Any] = {
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "phase": phase,
        "filename": getattr(exc, "filename", None) or (last[0].filename if last else None),
        # The failing statement, which tells apart distributions sharing an import name.
        "line": (last[0].line or None) if last else None,
        "lineno": last[0].lineno if last else None,
        # It came out of wd.retry: the diagnosis does not advise a retry already there.
        "retried": any(f.filename == _RETRYING for f in frames),
    }
    if isinstance(exc, ModuleNotFoundError):
        fields["name"] = exc.name
    if isinstance(exc, OSError) and isinstance(exc.errno, int):
        fields["errno"] = exc.errno
    # The class names along the MRO let the supervisor recognise a library's error family
    # (ccxt's NetworkError, requests' ConnectionError) without importing the library.
    fields["mro"] = [f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__
                     if c not in (BaseException, Exception, object)]
    return fields


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


def run(path: str, args: list[str]) -> NoReturn:
    """Run the bot file at ``path`` with ``args`` (``recover`` first, see ``recovery``) and
    exit as ``python BOT.py`` would."""
    path = os.path.abspath(path)
    sys.argv = [path, *args]
    sys.path[0] = os.path.dirname(path)
    _set_up_process()
    plan = _plan(path)
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__builtins__ = __builtins__  # type: ignore[attr-defined]  # as runpy does
    sys.modules["__main__"] = module
    _run_plan(plan, path, module)
    try:
        _record(code=0)
        _clean_up_before_threads()  # a bot that returned from a stop (it asked wd.stopping())
        _wait_for_threads()
    except (SystemExit, KeyboardInterrupt):  # a stop as the main code ended, or in the wait
        _clean_up_before_threads()
    sys.exit(0)


def _set_up_process() -> None:
    """What the bot's process has before anything of the bot's runs."""
    # Popped: the bot's own children write their bytecode.
    if os.environ.pop(codecache.BYTECODE_LATER_ENV, None) == "1":
        sys.dont_write_bytecode = True
    # A stop unwinds every bot, SDK or not, so its finally, with, atexit and wd.on_shutdown
    # clean-up runs (a handler of the bot's own replaces it).
    shutdown.install()
    # On a hang the supervisor sends SIGUSR1 before stopping the bot: every thread's stack
    # goes to stderr, which says where it was stuck.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # A crash in native code (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) leaves every thread's
    # Python stack on stderr: the supervisor names the extension module at its top.
    faulthandler.enable(all_threads=True)
    if os.environ.get("WDBOT_TIMESTAMPS") == "1":
        from ..common import timestamps

        timestamps.install()
    _rotate_own_logs()


def _plan(path: str) -> Entry | codecache.Compiled:
    """How to enter the bot file: compiled from the cache (``codecache``, keyed by the file's
    identity) when this version of the file ran before; else parsed, and cached for the next
    start. A plan that does not compile is not cached: its error comes where it always did."""
    cache = os.environ.get("WDBOT_CODE_CACHE")
    found = codecache.load(cache, path) if cache else None
    if found is not None:
        return found
    from . import entry

    key = codecache.identity(path) if cache else None
    plan = entry.analyse(_parse(path))
    if cache is None or key is None or key != codecache.identity(path):  # edited while read
        return plan
    try:
        compiled = codecache.compile_plan(plan, path)
    except Exception:  # noqa: BLE001 - raised again, from the bot's run, where it always was
        return plan
    codecache.store(cache, key, compiled)
    return compiled


def _parse(path: str) -> ast.Module:
    """The bot file's syntax tree; a syntax error is recorded (phase ``compile``) and ends
    the process as Python would."""
    from ..common.syntax import parse

    try:
        with open(path, "rb") as fh:
            return parse(fh.read(), path)
    except SyntaxError as exc:
        import traceback

        _record(code=1, **_exception_fields(exc, "compile"))
        traceback.print_exception(type(exc), exc, None)
        sys.exit(1)


def _run_plan(plan: Entry | codecache.Compiled, path: str, module: types.ModuleType) -> None:
    """The bot's code: its body, ``recover(ctx)``, its ``__main__`` guards, ``main()``; how
    it ended is recorded, with the phase it was in."""
    phase = types.SimpleNamespace(name="run")
    try:
        _execute(plan.body, path, module)
        if plan.has_recover:
            phase.name = "recover"
            _recover(module)
            phase.name = "run"
            _phase("running")
        if plan.guards is not None:
            _execute(plan.guards, path, module)
        if plan.calls_main and not shutdown.stop_requested():  # a stop ends it, not a new main()
            _await_if_needed(module.main())
    except SystemExit as exc:
        _record(code=_exit_code(exc), phase=phase.name)
        _clean_up_before_threads()
        raise
    except KeyboardInterrupt:
        if shutdown.stop_requested():  # a --stop-signal INT stop, unhandled: a quiet exit
            _record(code=0, phase=phase.name)
            _clean_up_before_threads()
            sys.exit(0)
        _record(code=-2, type="KeyboardInterrupt", message="", phase=phase.name)
        raise
    except BaseException as exc:
        import traceback

        _record(code=1, **_exception_fields(exc, phase.name))
        # Print as Python would, minus this bootstrap's own frames.
        traceback.print_exception(type(exc), exc, _bot_frames(exc.__traceback__))
        sys.exit(1)


def _wait_for_threads() -> None:
    """A bot whose main code returned lives on in its non-daemon threads: wait for them here,
    where a stop lands in the bootstrap's hands and runs the clean-up (in Python's own wait
    at the exit, it is an 'Exception ignored' traceback and the workers are cut off)."""
    import threading
    import time

    main = threading.main_thread()
    # A sleep, not join(): a signal that interrupts a join (3.11) marks the thread stopped
    # while it runs, and the exit then cuts it off.
    while any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        time.sleep(THREADS_POLL_S)


def _clean_up_before_threads() -> None:
    """After a stop, the bot's ``atexit`` and ``wd.on_shutdown`` clean-up runs now, while
    its other threads still run: Python runs it only once every non-daemon thread has ended,
    and a worker that loops until told to stop (by that very clean-up) never would; SIGKILL
    came first. Run here, it is not run again at the exit."""
    import threading

    if not shutdown.stop_requested():
        return
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        import atexit

        atexit._run_exitfuncs()


def _rotate_own_logs() -> None:
    """The bot rotates its own stdout and stderr logs (``logrotate``): no pipe through the
    supervisor, and the bot never stops for it."""
    files = [(os.environ[var], (fd,)) for var, fd in (("WDBOT_STDOUT_LOG", 1), ("WDBOT_STDERR_LOG", 2))
             if os.environ.get(var)]
    if files:
        from ..common import logrotate

        logrotate.start(files, logrotate.RotationPolicy.from_env(os.environ))


def _execute(code: ast.Module | types.CodeType, path: str, module: types.ModuleType) -> None:
    exec(code if isinstance(code, types.CodeType) else compile(code, path, "exec"), module.__dict__)


def _recover(module: types.ModuleType) -> None:
    """Call the bot's ``recover(ctx)`` with its durable state loaded."""
    from .recovery import Context
    from .store import State

    _phase("recovering")
    ctx = Context.from_env(state=State())
    _await_if_needed(module.recover(ctx))


def _phase(kind: str) -> None:
    """Tell the supervisor that recovery begins or ended (only files with ``recover`` do)."""
    from . import notify

    notify.send(kind, wait_s=PHASE_SEND_WAIT_S)


def _await_if_needed(result: object) -> None:
    """``recover`` and ``main`` may be coroutine functions: run them to completion."""
    if hasattr(result, "__await__"):
        import asyncio

        async def finish() -> None:
            await result  # checked above: it has __await__

        asyncio.run(finish())


def _bot_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """The traceback from the bot's first frame on (the bootstrap's own frames dropped)."""
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def _join_cgroup() -> None:
    """Enter the bot's cgroup (``WDBOT_CGROUP``) before anything else, so even a process
    started by the bot's first line is contained. The supervisor also moves us right after
    the spawn; if neither can, the bot runs all the same (the marker walk still finds it)."""
    folder = os.environ.get("WDBOT_CGROUP")
    if not folder or _in_cgroup(folder):
        return
    try:
        fd = os.open(folder + "/cgroup.procs", os.O_WRONLY)
        try:
            os.write(fd, b"0")  # 0: the writing process itself
        finally:
            os.close(fd)
    except OSError:
        pass  # no such cgroup, or not ours to join: contained by the marker walk instead


def _start_mark() -> None:
    """The supervisor's start mark (``WDBOT_START_MARK``, ``{pid}`` for ours) in the bot's
    ``stdout.log`` before any of the bot's lines: one ``O_APPEND`` write, as the supervisor's
    own marks. Popped: the bot's children never write it. The names are the writer's
    (``supervisor.logmarks.START_MARK_ENV``, ``PID_SLOT``), spelled out here: the bot side
    imports nothing of the supervisor's (as ``WDBOT_CGROUP`` above)."""
    mark = os.environ.pop("WDBOT_START_MARK", None)
    if not mark:
        return
    try:
        os.write(1, (mark.replace("{pid}", str(os.getpid())) + "\n").encode("utf-8", "replace"))
    except OSError:
        pass  # a full disk or a closed stdout: the bot runs all the same


def _in_cgroup(folder: str) -> bool:
    """Already in it: the supervisor moves the new process at once, and usually first. A move
    waits for the kernel's RCU grace period (5-15 ms), which a second, needless one would add
    to every restart (issue 29). Read, not written: reading ``cgroup.procs`` never waits."""
    try:
        with open(folder + "/cgroup.procs", "rb") as fh:
            return str(os.getpid()).encode() in fh.read().split()
    except OSError:
        return False


def main() -> NoReturn:
    """``python -c "import watchdog_runtime.bot.bootstrap as b; b.main()" BOT.py ARGS``: what the
    supervisor runs (``-c`` rather than ``-m`` spares the import of runpy at every start)."""
    _join_cgroup()
    _start_mark()
    if len(sys.argv) < 2:
        sys.exit("usage: python -m watchdog_runtime.bot.bootstrap BOT.py [ARGS...]")
    run(sys.argv[1], sys.argv[2:])


if __name__ == "__main__":
    main()
