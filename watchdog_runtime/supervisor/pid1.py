"""``wdbot daemon`` as a container's PID 1: a minimal init in front of the supervisor.

PID 1 inherits every orphan of the container and must reap it, or zombies pile up; it also
gets no default signal handling from the kernel. Reaping every child with ``waitpid(-1)``
inside the supervisor would steal the exit statuses it waits for (its bots, its uv calls).
So, as tini does, the process forks: the parent stays PID 1, reaps whatever exits and passes
SIGTERM, SIGINT, SIGHUP, SIGQUIT and SIGUSR1/2 on to the supervisor, which runs in the child,
unchanged.

The container lives as long as PID 1, and its bots with it: a supervisor that dies without
being asked to stop (a crash, an OOM kill, ``kill -9``) is started again, after a backoff
(``next_delay``), and the new one adopts the running bots. The init ends only when asked:
SIGTERM or SIGINT (``docker stop``, Ctrl-C) is forwarded, and PID 1 exits with the
supervisor's status once it has stopped its bots; a supervisor that exits 0 by itself
(``wdbot shutdown``) ends it too. A supervisor that hands over (``wdbot shutdown
--keep-bots`` exits ``HANDOVER_EXIT``) is followed at once by the next, which adopts the
bots: ending the container there would have the kernel SIGKILL every one of them.
A signal is forwarded only once the supervisor reports
that it serves (its ready pipe), so an early ``docker stop`` cannot kill it before it has
installed its handlers; a stop asked during a backoff starts the supervisor at once, to stop
the bots gracefully.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..common.manager import HANDOVER_EXIT

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
STOPS = (signal.SIGTERM, signal.SIGINT)
"""The forwarded signals that end the container."""
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
LAST_RESORT_S = 8.0
"""How long PID 1, ending, waits for what is left after its SIGTERM to everything (within
``docker stop``'s default 10 s, after which Docker SIGKILLs PID 1 itself)."""
HEALTHY_AFTER_S = 60.0
"""A supervisor that stayed up this long died of something new: the backoff starts over."""
REAP_EVERY_S = 1.0
"""The longest PID 1 sleeps without reaping, as tini does: a zombie whose SIGCHLD never woke
the loop (one that exited before the handlers were in place; one seen once on a loaded CI
machine, its signal never accounted for) is collected within this, not at the next event."""


def next_delay(previous_s: float | None, up_s: float) -> float:
    """How long to wait before starting the supervisor again (pure).

    >>> [next_delay(p, 5.0) for p in (None, 1.0, 16.0, 30.0)]
    [1.0, 2.0, 30.0, 30.0]
    >>> next_delay(30.0, HEALTHY_AFTER_S)
    1.0
    """
    if previous_s is None or up_s >= HEALTHY_AFTER_S:
        return FIRST_DELAY_S
    return min(previous_s * 2, MAX_DELAY_S)


def exit_code(status: int) -> int:
    """A wait status as a shell reports it: the code, or 128 + the signal."""
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


@dataclass
class _Child:
    """The supervisor now running, and what it has not been told yet."""

    pid: int
    started_at: float
    ready_fd: int | None
    """Our end of its ready pipe, until it reports (or dies)."""
    pending: list[int] = field(default_factory=list)
    """Signals held until it serves."""


def run_as_init(main: Callable[[int | None], int], clock: Callable[[], float] = time.monotonic) -> int:
    """Run ``main(ready_fd)`` in a child, again whenever it dies unasked; reap every child and
    forward signals; return the supervisor's exit status once the container is asked to end.
    ``main`` writes to ``ready_fd`` once it serves."""
    return _Init(main, clock).run()


class _Init:
    """The loop of PID 1: one select on the signal wakeup pipe and the child's ready pipe
    (for at most ``REAP_EVERY_S``, or until the backoff's deadline), then reaping."""

    def __init__(self, main: Callable[[int | None], int], clock: Callable[[], float]) -> None:
        self.main, self.clock = main, clock
        self.stop: int | None = None
        self.delay_s: float | None = None
        self.restart_at = clock()
        self.child: _Child | None = None
        self.wake_r, self.wake_w = os.pipe()

    def run(self) -> int:
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wake_w)  # a signal wakes the select below: no polling
        for signum in (*FORWARDED, signal.SIGCHLD):
            signal.signal(signum, _only_wake)
        while True:
            if self.child is None and (self.stop is not None or self.clock() >= self.restart_at):
                self._start()
            self._wait()
            for pid, status in _reap():
                if self.child is not None and pid == self.child.pid and self._ended(status):
                    self._last_resort()
                    return exit_code(status)

    def _start(self) -> None:
        try:
            self.child = _start(self.main, self.clock(), (self.wake_r, self.wake_w))
        except OSError as exc:  # EAGAIN, ENOMEM: the container must not end for it
            if self.stop is not None:
                raise SystemExit(1) from None  # asked to end, and nothing left to stop
            self._retry_later(f"cannot start a supervisor: {exc}", 0.0)
            return
        if self.stop is not None:
            self.child.pending.append(self.stop)

    def _retry_later(self, why: str, up_s: float) -> None:
        self.delay_s = next_delay(self.delay_s, up_s)
        self.restart_at = self.clock() + self.delay_s
        print(f"wdbot init: {why}; starting a new one in {self.delay_s:.0f} s", file=sys.stderr, flush=True)

    def _wait(self) -> None:
        """Sleep until a signal, the child's ready report, the end of the backoff, or the next
        round of reaping."""
        child = self.child
        waiting = [self.wake_r] + ([child.ready_fd] if child and child.ready_fd is not None else [])
        timeout = REAP_EVERY_S if child else min(REAP_EVERY_S, max(0.0, self.restart_at - self.clock()))
        readable, _, _ = select.select(waiting, [], [], timeout)
        for received in _drain(self.wake_r):
            if received in FORWARDED:
                self.stop = received if received in STOPS else self.stop
                if child is not None:
                    child.pending.append(received)
        if child is not None and child.ready_fd in readable:
            os.close(child.ready_fd)  # "ready", or the end of a child that died first
            child.ready_fd = None
        if child is not None and child.ready_fd is None:
            _forward(child)

    def _last_resort(self) -> None:
        """The container ends: what is still in it (the bots a supervisor that could not start
        after a hand-over never stopped, helpers that escaped a stop) gets a SIGTERM and up to
        ``LAST_RESORT_S`` to go, rather than the kernel's SIGKILL alone when PID 1 exits. Only
        as the real PID 1: ``kill(-1)`` anywhere else would reach every process of the user."""
        if os.getpid() != 1:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGTERM)  # all of this PID namespace but PID 1 itself
        deadline = self.clock() + LAST_RESORT_S
        while self.clock() < deadline:
            try:
                while os.waitpid(-1, os.WNOHANG)[0] > 0:
                    pass
            except ChildProcessError:
                return  # nothing left to wait for
            select.select([self.wake_r], [], [], max(0.0, deadline - self.clock()))  # a SIGCHLD
            _drain(self.wake_r)

    def _ended(self, status: int) -> bool:
        """The supervisor exited: True when that ends the container, else schedule a new one."""
        assert self.child is not None
        if self.child.ready_fd is not None:
            os.close(self.child.ready_fd)
        up_s, self.child = self.clock() - self.child.started_at, None
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == HANDOVER_EXIT:
            # `wdbot shutdown --keep-bots`: ending here would end the container and the
            # kernel would SIGKILL every bot; the next supervisor starts now and adopts them,
            # also when a stop came meanwhile (it gets the stop, and stops them gracefully).
            print("wdbot init: the supervisor handed over (shutdown --keep-bots); starting the "
                  "next one now", file=sys.stderr, flush=True)
            self.delay_s, self.restart_at = None, self.clock()
            return False
        if self.stop is not None or status == 0:
            return True  # asked to end (a forwarded stop, or `wdbot shutdown`)
        self._retry_later(f"the supervisor ended unasked ({_how(status)})", up_s)
        return False


def _only_wake(signum: int, frame: object) -> None:
    """Handlers only record: the wakeup fd carries the signal number to the loop."""


def _start(main: Callable[[int | None], int], now: float, inherited: tuple[int, int]) -> _Child:
    """Fork the supervisor. Signals stay blocked across the fork, so none reaches the child
    while it still has our handlers."""
    ready_r, ready_w = os.pipe()
    blocked = {*FORWARDED, signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
        os.close(ready_r)
        os.close(ready_w)
        raise
    if pid == 0:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for signum in blocked:
                signal.signal(signum, signal.SIG_DFL)
            for fd in (*inherited, ready_r):
                os.close(fd)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
            code = main(ready_w)
        except SystemExit as exc:  # os._exit below skips the interpreter's own handling
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            import traceback

            traceback.print_exc()  # os._exit below would drop it silently
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
    os.close(ready_w)
    return _Child(pid, now, ready_r)


def _forward(child: _Child) -> None:
    for signum in child.pending:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signum)  # gone already: the reaping collects its status
    child.pending.clear()


def _drain(fd: int) -> list[int]:
    """The signal numbers the wakeup fd holds."""
    got = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 512):
            got += chunk
    return list(got)


def _reap() -> list[tuple[int, int]]:
    """Every child that has exited (orphans included), without blocking."""
    done: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done.append((pid, status))


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
