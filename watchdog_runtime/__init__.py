"""wdbot: a process supervisor for trading bots, and the small SDK its bots import.

Inside a bot, ``import watchdog_runtime as wd`` works without declaring anything, and pulls
in no third-party package: this module and everything it imports use the standard library
only. The supervisor's own modules (which need psutil, rich, ...) are never imported here.

Every function works, harmlessly, in a bot run outside wdbot too::

    >>> import watchdog_runtime as wd
    >>> isinstance(wd.under_wdbot(), bool)
    True
"""

from __future__ import annotations

import os
from pathlib import Path

__version__ = "0.1.0"
__all__ = ["__version__", "bot_name", "state_dir", "under_wdbot"]


def under_wdbot() -> bool:
    """True when this process was started by a wdbot supervisor.

    >>> import os
    >>> os.environ.pop("WDBOT_BOT_NAME", None) and None
    >>> under_wdbot()
    False
    """
    return "WDBOT_BOT_NAME" in os.environ


def bot_name() -> str | None:
    """The bot's name under wdbot (``mybot`` for ``mybot.py``), None outside it."""
    return os.environ.get("WDBOT_BOT_NAME")


def state_dir() -> Path:
    """The bot's durable state folder; outside wdbot, ``./.wdbot-state`` (created on demand)."""
    path = os.environ.get("WDBOT_STATE_DIR")
    folder = Path(path) if path else Path.cwd() / ".wdbot-state"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
