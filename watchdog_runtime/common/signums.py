"""Signals by number and name, for code that only speaks of them (a diagnosis, an exit's
description) and never sends one: the pure modules import these, not ``signal``.

>>> signal_name(9), signal_name(10_000)
('SIGKILL', None)
"""

from __future__ import annotations

from signal import (
    SIGABRT,
    SIGBUS,
    SIGFPE,
    SIGHUP,
    SIGILL,
    SIGINT,
    SIGKILL,
    SIGQUIT,
    SIGSEGV,
    SIGTERM,
    Signals,
)

__all__ = ["SIGABRT", "SIGBUS", "SIGFPE", "SIGHUP", "SIGILL", "SIGINT", "SIGKILL", "SIGQUIT", "SIGSEGV",
           "SIGTERM", "signal_name"]


def signal_name(signum: int) -> str | None:
    """The name of signal ``signum`` (``SIGTERM``), or None when no signal has that number."""
    try:
        return Signals(signum).name
    except ValueError:
        return None
