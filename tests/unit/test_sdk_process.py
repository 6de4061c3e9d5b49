"""The SDK parts that act on the process itself, each in a real child process: graceful
shutdown on real signals, crash points, and systemd's notify protocol on a real socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import wait_for_line


def child(tmp_path: Path, source: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, cwd=tmp_path)


def finish(proc: subprocess.Popen[str]) -> str:
    out, _ = proc.communicate(timeout=30)
    return out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_blocked_bot_unwinds_runs_callbacks_last_first_and_exits_0(tmp_path: Path, signum: int) -> None:
    proc = child(tmp_path, """
        import time
        import watchdog_runtime as wd
        wd.on_shutdown(lambda: print("first registered", flush=True))
        @wd.on_shutdown
        def broken():
            raise RuntimeError("a failing callback does not stop the others")
        wd.on_shutdown(lambda: print("last registered", flush=True))
        try:
            print("ready", flush=True)
            time.sleep(600)
        finally:
            print("finally ran", flush=True)
    """)
    assert proc.stdout is not None
    wait_for_line(proc.stdout, "ready")
    proc.send_signal(signum)
    out = finish(proc)
    # SIGINT is Python's Ctrl-C: KeyboardInterrupt, which bots written for PM2 catch to
    # clean up, and whatever exit Python gives it (under wdbot a stop exits 0 all the same).
    assert proc.returncode == 0 or signum == signal.SIGINT
    assert out.split("\n")[:3] == ["finally ran", "last registered", "first registered"]


def test_a_cooperative_bot_finishes_its_step(tmp_path: Path) -> None:
    proc = child(tmp_path, """
        import watchdog_runtime as wd
        wd.on_shutdown(lambda: print("saved", flush=True))
        wd.stopping()  # from here on the bot is cooperative (a signal before would unwind it)
        print("ready", flush=True)
        while not wd.wait(600):
            pass
        print("step finished, stopping =", wd.stopping(), flush=True)
    """)
    assert proc.stdout is not None
    wait_for_line(proc.stdout, "ready")
    proc.send_signal(signal.SIGTERM)
    assert finish(proc).split("\n")[:2] == ["step finished, stopping = True", "saved"]
    assert proc.returncode == 0


def test_a_second_signal_forces_the_exit(tmp_path: Path) -> None:
    proc = child(tmp_path, """
        import time
        import watchdog_runtime as wd
        wd.stopping()  # cooperative: the first signal only sets the flag
        print("ready", flush=True)
        while True:
            if wd.stopping():
                print("asked to stop, ignoring", flush=True)
                while True:
                    time.sleep(1)
            time.sleep(0.01)
    """)
    assert proc.stdout is not None
    wait_for_line(proc.stdout, "ready")
    proc.send_signal(signal.SIGTERM)
    wait_for_line(proc.stdout, "asked to stop")
    proc.send_signal(signal.SIGTERM)  # its second: SystemExit(0) now
    finish(proc)
    assert proc.returncode == 0


def test_a_crash_point_kills_once_per_bot(tmp_path: Path) -> None:
    source = """
        import watchdog_runtime as wd
        for step in range(3):
            print("step", step, flush=True)
            wd.crash_point("after_entry")
        wd.crash_point("other")
        print("done", flush=True)
    """
    env = {"WDBOT_CRASH_AT": "after_entry@2", "WDBOT_STATE_DIR": str(tmp_path / "state")}
    first = child(tmp_path, source, env)
    out = finish(first)
    assert first.returncode == -signal.SIGKILL
    assert out.splitlines() == ["step 0", "step 1", "wdbot crash point after_entry: SIGKILL"]
    second = child(tmp_path, source, env)  # the restarted bot: the point has fired already
    assert finish(second).splitlines()[-1] == "done" and second.returncode == 0


def test_heartbeat_speaks_systemd_notify(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(30)
        proc = child(tmp_path, """
            import time
            import watchdog_runtime as wd
            wd.heartbeat()
            wd.heartbeat()  # coalesced: within 0.25 s of the first
            time.sleep(0.3)
            wd.heartbeat()
        """, {"NOTIFY_SOCKET": address})
        messages = [listener.recv(256), listener.recv(256)]
        finish(proc)
        listener.settimeout(0.5)
        with pytest.raises(TimeoutError):
            listener.recv(256)
    assert messages == [b"READY=1\nWATCHDOG=1", b"WATCHDOG=1"] and proc.returncode == 0


def test_heartbeat_is_a_no_op_outside_wdbot_and_systemd(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WDBOT_NOTIFY_SOCKET")}
    done = subprocess.run([sys.executable, "-c", "import watchdog_runtime as wd; wd.heartbeat()"],
                          env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stderr == ""


def test_a_forked_child_dies_of_its_sigterm_and_leaves_the_parents_wait_alone(tmp_path: Path) -> None:
    """Regression (issue 24, now that every bot has the handlers): a forked child (a
    multiprocessing worker) kept them, so ``Pool.terminate()``'s SIGTERM raised SystemExit in
    it and woke the parent's every ``wd.wait()`` through the shared pipe for good."""
    proc = child(tmp_path, """
        import os, select, signal
        import watchdog_runtime as wd
        from watchdog_runtime.bot import shutdown
        wd.on_shutdown(lambda: None)  # the handlers and their pipe, as in every bot
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(ready_w, b"!")  # the fork is done (a signal before it lands nowhere)
            signal.pause()
            os._exit(3)  # a handler ran and returned: not the default action
        os.read(ready_r, 1)
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        woken = select.select([shutdown._pipe[0]], [], [], 0)[0]
        print(os.WIFSIGNALED(status) and os.WTERMSIG(status), bool(woken), wd.stopping(), flush=True)
    """)
    assert finish(proc).split() == [str(int(signal.SIGTERM)), "False", "False"]


def test_a_bot_living_on_in_its_threads_cleans_up_quietly_on_a_stop(tmp_path: Path) -> None:
    """Issue 24: a bot whose main code returned and whose work goes on in a non-daemon
    thread: the stop landed in Python's own wait for its threads (an 'Exception ignored'
    traceback on stderr, the worker cut off); the bootstrap waits for them itself."""
    bot = tmp_path / "threads.py"
    bot.write_text(textwrap.dedent("""
        import atexit, threading
        done = threading.Event()
        def work():
            while not done.wait(0.05):
                pass
            print("worker ended", flush=True)
        threading.Thread(target=work).start()
        atexit.register(done.set)  # the clean-up tells the worker to end
        print("ready", flush=True)
    """))
    with open(tmp_path / "stderr", "w") as stderr:  # a file: one pipe keeps stdout's buffer
        proc = subprocess.Popen([sys.executable, "-c", "import watchdog_runtime.bot.bootstrap as b; "
                                 "b.main()", str(bot)], stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert proc.stdout is not None
    wait_for_line(proc.stdout, "ready")
    proc.send_signal(signal.SIGTERM)
    out = finish(proc)
    err = (tmp_path / "stderr").read_text()
    assert proc.returncode == 0 and "worker ended" in out
    assert "Exception ignored" not in err and "SystemExit" not in err, err


def test_a_cooperative_bot_with_a_worker_thread_returns_from_a_stop_and_cleans_up(tmp_path: Path) -> None:
    """Issue 24: a bot that asks wd.wait() returns from a stop, and its wd.on_shutdown tells
    its non-daemon worker to end; Python ran that callback only once the worker had ended:
    never, until the SIGKILL."""
    bot = tmp_path / "coop.py"
    bot.write_text(textwrap.dedent("""
        import threading
        import watchdog_runtime as wd
        done = threading.Event()
        def work():
            while not done.wait(0.05):
                pass
            print("worker ended", flush=True)
        threading.Thread(target=work).start()
        wd.on_shutdown(done.set)
        wd.stopping()  # cooperative from here: the stop returns from the loop
        print("ready", flush=True)
        while not wd.wait(600):
            pass
    """))
    proc = subprocess.Popen([sys.executable, "-c", "import watchdog_runtime.bot.bootstrap as b; b.main()",
                             str(bot)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    wait_for_line(proc.stdout, "ready")
    proc.send_signal(signal.SIGTERM)
    assert "worker ended" in finish(proc) and proc.returncode == 0


@pytest.mark.parametrize("asyncio_owns_the_wakeup_fd", [False, True])
def test_a_stop_signal_taken_by_a_worker_thread_ends_the_main_threads_wait(
        tmp_path: Path, asyncio_owns_the_wakeup_fd: bool) -> None:
    """Regression (issue 24, found by the full suite under load, 2 in 300 runs by hand): the
    kernel may give a stop signal to any thread; Python runs its handler in the main thread
    only, between bytecodes, so a main thread in wd.wait()'s select slept on for the whole
    wait and the bot was SIGKILLed. Here the main thread blocks SIGTERM, so the worker takes
    it every time. With Python's wakeup fd (ours, or asyncio's: the slices of wait)."""
    proc = child(tmp_path, f"""
        import asyncio, signal, threading
        import watchdog_runtime as wd
        done = threading.Event()
        threading.Thread(target=done.wait, daemon=True).start()  # signals unblocked here
        wd.stopping()  # the handlers in place
        if {asyncio_owns_the_wakeup_fd}:
            loop = asyncio.new_event_loop()
            loop.add_signal_handler(signal.SIGUSR1, lambda: None)  # asyncio takes the wakeup fd
        signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGTERM}})  # never the main thread
        print("ready", flush=True)
        print("stopping" if wd.wait(600) else "timed out", flush=True)
    """)
    assert proc.stdout is not None
    wait_for_line(proc.stdout, "ready")
    proc.send_signal(signal.SIGTERM)
    assert "stopping" in finish(proc) and proc.returncode == 0
