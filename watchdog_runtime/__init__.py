"""wdbot: a process supervisor for trading bots, and the small SDK its bots import.

Inside a bot, ``import watchdog_runtime as wd`` works without declaring anything, and pulls
in no third-party package: the SDK uses the standard library only, and its modules load on
first use (``wd.State`` imports ``store``), so the supervisor's CLI stays light. The
supervisor's own modules (which need psutil, rich, ...) are never imported here.

The SDK:

- ``wd.State``: durable, atomically saved JSON state (``store``);
- ``wd.retry``: retry transient failures with backoff and jitter, and ``wd.is_transient(exc)``,
  what it retries, for bots that retry with tenacity or stamina (``retrying``);
- ``wd.RateLimiter``: a token bucket that honours ``Retry-After`` (``ratelimit``);
- ``wd.heartbeat()``: liveness for ``--heartbeat-timeout`` and systemd (``notify``);
- ``wd.on_shutdown``, ``wd.stopping``, ``wd.wait``: graceful shutdown (``shutdown``);
- ``wd.get``, ``wd.num``, ``wd.dec``: defensive reading of payloads (``payload``);
- ``wd.crash_point``: crash on purpose at a named point, to test recovery (``crashpoints``);
- ``wd.connection(NAME)``: the bot's secrets for one connection, fresh (``connections``);
- ``wd.Context``: what ``recover(ctx)`` receives (``recovery``);
- ``wd.mode()``, ``wd.may_open()``, ``wd.on_mode(fn)``: the trading mode a person set with
  ``wdbot halt``/``reduce``/``resume``, cheap enough to ask before every order (``mode``).
- ``wd.notify(text, level=)``, ``wd.report(**figures)``: notes and figures for people (``notes``).

Every function works, harmlessly, in a bot run outside wdbot too::

    >>> import watchdog_runtime as wd
    >>> isinstance(wd.under_wdbot(), bool), wd.num({"last": "64000.5"}, "last")
    (True, 64000.5)
"""

from __future__ import annotations

import os

# Not ``from typing import TYPE_CHECKING``: typing costs milliseconds, and every bot imports
# this package before its first line. Type checkers read the block below all the same.
TYPE_CHECKING = False

__version__ = "0.1.0"

_LAZY = {
    "State": "bot.store", "StateCorrupt": "bot.store", "StateWarning": "bot.store",
    "retry": "bot.retrying", "Retry": "bot.retrying", "is_transient": "bot.retrying",
    "RateLimiter": "bot.ratelimit",
    "heartbeat": "bot.notify",
    "notify": "bot.notes", "report": "bot.notes",
    "on_shutdown": "bot.shutdown", "stopping": "bot.shutdown", "wait": "bot.shutdown",
    "get": "bot.payload", "num": "bot.payload", "dec": "bot.payload",
    "crash_point": "bot.crashpoints",
    "connection": "bot.connections", "ConnectionUnavailable": "bot.connections",
    "Context": "bot.recovery", "LastExit": "bot.recovery",
    "mode": "bot.mode", "may_open": "bot.mode", "on_mode": "bot.mode", "mode_reason": "bot.mode",
}
__all__ = [  # spelled out for linters and type checkers; a test checks it against _LAZY
    "ConnectionUnavailable", "Context", "LastExit", "RateLimiter", "Retry", "State", "StateCorrupt",
    "StateWarning", "connection",
    "__version__", "bot_name", "crash_point", "dec", "get", "heartbeat", "is_transient", "num",
    "on_shutdown", "retry", "state_dir", "stopping", "under_wdbot", "wait",
    "may_open", "mode", "mode_reason", "on_mode",
    "notify", "report",
]

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from .bot.connections import ConnectionUnavailable, connection
    from .bot.crashpoints import crash_point
    from .bot.mode import may_open, mode, mode_reason, on_mode
    from .bot.notes import notify, report
    from .bot.notify import heartbeat
    from .bot.payload import dec, get, num
    from .bot.ratelimit import RateLimiter
    from .bot.recovery import Context, LastExit
    from .bot.retrying import Retry, is_transient, retry
    from .bot.shutdown import on_shutdown, stopping, wait
    from .bot.store import State, StateCorrupt, StateWarning


def __getattr__(name: str) -> Any:
    """Load an SDK name's module on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'watchdog_runtime' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def under_wdbot() -> bool:
    """True when this process was started by a wdbot supervisor.

    >>> import os
    >>> os.environ.pop("WDBOT_BOT_NAME", None) and None
    >>> under_wdbot()
    False
    """
    return "WDBOT_BOT_NAME" in os.environ


def bot_name() -> str | None:
    """The bot's name under wdbot (``mybot`` for ``mybot.py``), None outside it.

    >>> import os
    >>> os.environ["WDBOT_BOT_NAME"] = "grid"
    >>> bot_name()
    'grid'
    >>> del os.environ["WDBOT_BOT_NAME"]
    """
    return os.environ.get("WDBOT_BOT_NAME")


def state_dir() -> Path:
    """The bot's durable state folder; outside wdbot, ``./.wdbot-state`` (created on demand).

    >>> import os, tempfile
    >>> os.environ["WDBOT_STATE_DIR"] = folder = tempfile.mkdtemp()
    >>> str(state_dir()) == folder
    True
    >>> del os.environ["WDBOT_STATE_DIR"]
    """
    from pathlib import Path  # here, not at the top: every bot imports this package at start

    path = os.environ.get("WDBOT_STATE_DIR")
    folder = Path(path) if path else Path.cwd() / ".wdbot-state"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
