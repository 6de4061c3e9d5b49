"""Graceful shutdown: ``wd.on_shutdown(fn)``, ``wd.stopping()`` and ``wd.wait(seconds)``.
Stdlib only.

Under wdbot the bootstrap installs the handlers before the bot's first line (``install``),
so every bot, SDK or not, unwinds on a stop; elsewhere the first use of any of the three
(from the main thread) installs them. They handle SIGTERM (what ``wdbot stop`` sends),
SIGINT (Ctrl-C) and the bot's ``--stop-signal`` (``WDBOT_STOP_SIGNAL``: HUP or QUIT). A
handler the bot installed itself is never replaced: its own handler wins. A signal then:

- sets the flag ``stopping()`` returns and ends every ``wait()`` at once;
- if the bot never asked ``stopping()`` or ``wait()``, raises in the main thread what
  Python raises for Ctrl-C: ``KeyboardInterrupt`` for SIGINT (bots written for PM2 clean
  up in ``except KeyboardInterrupt``), ``SystemExit(0)`` for the others, so ``finally``
  blocks, ``with`` blocks and ``atexit`` run. A bot that does ask is trusted to finish its
  step and return;
- a second signal always raises.

The callbacks registered with ``on_shutdown`` run once, last registered first, when the bot
exits: after a stop, and after a normal return too. A failing callback is logged and the
others still run. wdbot never counts a stop as a crash. Finish within the bot's stop timeout
(``--stop-timeout``, default 10 s): wdbot sends SIGKILL after it.

Signal handlers only record (a flag and a byte in a pipe, both safe inside a handler); the
bot's own loop, or the unwinding, acts.
"""

from __future__ import annotations

import atexit
import os
import select
import threading
import time

TYPE_CHECKING = False  # not typing's: the bootstrap imports this module before every bot
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable
    from typing import Any
else:  # the same functions and numbers without signal's enums: ~5 ms of every start (issue 29)
    import _signal as signal

LOGGER = "watchdog_runtime.shutdown"
"""The logger of failing callbacks (the name bots configure); logging loads only then."""
STOP_SIGNAL_ENV = "WDBOT_STOP_SIGNAL"
"""The bot's ``--stop-signal`` (``TERM``, ``INT``, ``HUP`` or ``QUIT``), set by the supervisor."""

_stopping = False
_cooperative = False
_installed = False
_callbacks: list[Callable[[], Any]] = []
_ran = False
_pipe: tuple[int, int] | None = None
_wake: tuple[int, int] | None = None
"""Python's wakeup fd (``signal.set_wakeup_fd``), where the interpreter's C handler writes a
byte whichever thread the kernel gave the signal to. Without it a stop signal taken by a
worker thread left the main thread in ``select`` for the whole ``wait()`` (the Python handler
runs only in the main thread, between bytecodes), and the bot was SIGKILLed."""
_lock = threading.Lock()

WAIT_SLICE_S = 1.0
"""The longest a ``wait()`` sleeps in one go: where the wakeup fd is another's (asyncio's,
the bot's own), a signal taken by another thread is seen within this."""


def on_shutdown(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Run ``fn()`` once when the bot exits (stopped or not); usable as a decorator.

    >>> @on_shutdown
    ... def save_state():
    ...     print("state saved")
    >>> _run_callbacks()  # what happens when the bot exits
    state saved
    >>> _run_callbacks()  # once only
    """
    _install()
    with _lock:
        if not _callbacks:
            atexit.register(_run_callbacks)
        _callbacks.append(fn)
    return fn


def stopping() -> bool:
    """True once wdbot (or Ctrl-C) asked the bot to stop: finish the current step and return.

    >>> import os, signal
    >>> stopping()
    False
    >>> os.kill(os.getpid(), signal.SIGTERM)  # what 'wdbot stop' sends
    >>> stopping()
    True
    """
    global _cooperative
    _cooperative = True
    _install()
    return _stopping


def wait(seconds: float) -> bool:
    """Sleep up to ``seconds``, ending early when the bot is asked to stop; returns
    ``stopping()``. The loop of a well-behaved bot::

        while not wd.wait(5):
            trade_once()

    >>> wait(3600)  # after the SIGTERM of the example above: returns at once
    True
    """
    global _cooperative
    _cooperative = True
    return sleep_unless_stopping(seconds)


def sleep_unless_stopping(seconds: float) -> bool:
    """``wait`` without declaring the bot cooperative (``wd.retry`` waits with this)."""
    _install()
    if _stopping or seconds <= 0:
        return _stopping
    if _pipe is None:  # no handlers here (not the main thread, or no signals): a plain sleep
        threading.Event().wait(seconds)
        return _stopping
    deadline = time.monotonic() + seconds
    while not _stopping:  # the Python handler runs as soon as select returns to us
        left = deadline - time.monotonic()
        if left <= 0:
            break
        wake = _wake
        watched = [_pipe[0]] if wake is None else [_pipe[0], wake[0]]
        ready, _, _ = select.select(watched, [], [], min(left, WAIT_SLICE_S))
        if wake is not None and wake[0] in ready:
            _drain(wake[0])  # any signal's byte: only ours says a stop began (_pipe)
    return _stopping


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except OSError:  # empty (non-blocking), or closed
        pass


def install() -> None:
    """The bootstrap's: handle the stop signals before the bot's first line, so a bot that
    never uses the SDK unwinds on a stop too. What the bot installs later replaces these.
    A signal ignored by inheritance (a supervisor started with ``nohup`` or ``&``) is
    handled all the same: that was not the bot's choice."""
    _install(inherited_too=True)


def stop_requested() -> bool:
    """``stopping()`` without declaring the bot cooperative (``wd.retry`` asks with this)."""
    return _stopping


def _install(inherited_too: bool = False) -> None:
    global _installed, _pipe
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    with _lock:
        if _installed:
            return
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        _pipe = (read_fd, write_fd)
        _take_wakeup_fd()
        untouched: tuple[object, ...] = (signal.SIG_DFL, signal.default_int_handler)
        if inherited_too:
            untouched += (signal.SIG_IGN,)
        for signum in _stop_signals():
            if signal.getsignal(signum) in untouched:  # never the bot's own handler
                signal.signal(signum, _on_signal)
        _installed = True


def _take_wakeup_fd() -> None:
    """Our pipe as Python's wakeup fd, unless another (asyncio, the bot) has it already."""
    global _wake
    wake = os.pipe()
    for fd in wake:
        os.set_blocking(fd, False)
    try:
        old = signal.set_wakeup_fd(wake[1], warn_on_full_buffer=False)
    except (ValueError, OSError):
        old = None  # not possible here: the slices of wait() do without
    if old is None or old != -1:
        if old is not None:
            signal.set_wakeup_fd(old, warn_on_full_buffer=False)  # theirs, left as it was
        for fd in wake:
            os.close(fd)
        return
    _wake = wake


def _after_fork_in_child() -> None:
    """A forked child (a multiprocessing worker) starts without the parent's handlers: its
    signal would write to the parent's pipe (ending every ``wait()`` of a parent that is not
    stopping), and ``Pool.terminate()`` expects its SIGTERM to kill. The child may install
    its own, on its first use of the SDK."""
    global _installed, _pipe, _wake
    if _pipe is None:
        return
    _pipe, _installed = None, False  # the parent's: left open, the parent still uses them
    if _wake is not None:
        _wake = None
        try:
            signal.set_wakeup_fd(-1)  # the parent's pipe: the child's signals are not its
        except ValueError:
            pass  # forked from another thread: the parent's fd stays, a byte there is harmless
    for signum in _stop_signals():
        try:
            if signal.getsignal(signum) is _on_signal:
                signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                              else signal.SIG_DFL)
        except ValueError:
            return  # not the main thread here: nothing to undo from it


os.register_at_fork(after_in_child=_after_fork_in_child)


def _stop_signals() -> list[signal.Signals]:
    """SIGTERM, SIGINT and the bot's ``--stop-signal``."""
    found = [signal.SIGTERM, signal.SIGINT]
    name = os.environ.get(STOP_SIGNAL_ENV, "")
    return found + [getattr(signal, f"SIG{name}")] if name in ("HUP", "QUIT") else found


def _on_signal(signum: int, frame: object) -> None:
    global _stopping
    first = not _stopping
    _stopping = True
    if _pipe is not None:
        try:
            os.write(_pipe[1], b"!")
        except OSError:
            pass  # the pipe is full: it is readable already, which is all a waiter needs
    if not first or not _cooperative:
        # What Python raises for Ctrl-C, and for the other stop signals (which would kill
        # the process outright) an exit that unwinds: finally, with and atexit all run.
        raise KeyboardInterrupt if signum == signal.SIGINT else SystemExit(0)


def _run_callbacks() -> None:
    global _ran
    with _lock:
        if _ran:
            return
        _ran = True
        callbacks = list(reversed(_callbacks))
    for fn in callbacks:
        try:
            fn()
        except Exception:
            import logging

            logging.getLogger(LOGGER).exception("shutdown callback %s failed",
                                                getattr(fn, "__qualname__", fn))
