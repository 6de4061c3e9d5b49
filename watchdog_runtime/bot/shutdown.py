"""Graceful shutdown: ``wd.on_shutdown(fn)``, ``wd.stopping()`` and ``wd.wait(seconds)``.
Stdlib only.

The first use of any of them (from the main thread) installs handlers for SIGTERM (what
``wdbot stop`` sends) and SIGINT (Ctrl-C). A signal then:

- sets the flag ``stopping()`` returns and ends every ``wait()`` at once;
- if the bot never asked ``stopping()`` or ``wait()``, raises ``SystemExit(0)`` in the main
  thread, the way Python raises ``KeyboardInterrupt`` for Ctrl-C, so ``finally`` blocks and
  ``with`` blocks unwind. A bot that does ask is trusted to finish its step and return;
- a second signal always raises ``SystemExit(0)``.

The callbacks registered with ``on_shutdown`` run once, last registered first, when the bot
exits: after a stop, and after a normal return too. A failing callback is logged and the
others still run. The bot exits 0, and wdbot never counts a stop as a crash. Finish within
the bot's stop timeout (``--stop-timeout``, default 10 s): wdbot sends SIGKILL after it.

Signal handlers only record (a flag and a byte in a pipe, both safe inside a handler); the
bot's own loop, or the unwinding, acts.
"""

from __future__ import annotations

import atexit
import logging
import os
import select
import signal
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("watchdog_runtime.shutdown")  # the name bots configure

_stopping = False
_cooperative = False
_installed = False
_callbacks: list[Callable[[], Any]] = []
_ran = False
_pipe: tuple[int, int] | None = None
_lock = threading.Lock()


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
    select.select([_pipe[0]], [], [], seconds)  # readable for good once a stop began
    return _stopping


def _install() -> None:
    global _installed, _pipe
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    with _lock:
        if _installed:
            return
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        _pipe = (read_fd, write_fd)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, _on_signal)
        _installed = True


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
        raise SystemExit(0)


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
            log.exception("shutdown callback %s failed", getattr(fn, "__qualname__", fn))
