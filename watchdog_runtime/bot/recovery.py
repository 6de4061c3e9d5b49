"""The recovery entrypoint: what ``recover(ctx)`` receives (how a bot file is entered is in
``entry``). Stdlib only (the bootstrap uses it inside the bot's venv).

A bot file that defines a top-level ``recover(ctx)`` is run in three steps:

1. its top-level statements, except ``if __name__ == "__main__":`` blocks: imports and
   definitions (keep trading code out of this part: it runs before recovery);
2. ``recover(ctx)``, the bot's status ``recovering`` meanwhile; if it raises, nothing else runs;
3. the ``if __name__ == "__main__":`` blocks, or, when there are none, ``main()``.

A file without ``recover`` runs exactly as ``python BOT.py`` would, then ``main()`` if it
defines one and has no ``__main__`` block. ``recover`` and ``main`` may be ``async def``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .entry import Entry, analyse, defines_recover
from .startcontext import CONTEXT_ENV, encode_context
from .store import State

__all__ = ["Context", "Entry", "LastExit", "analyse", "defines_recover", "encode_context"]


@dataclass(frozen=True)
class LastExit:
    """How the bot's previous run ended (``ctx.last_exit``).

    >>> LastExit(code=None, signal=9, reason="memory_limit", error="RSS 600M over 500M").signal
    9
    """

    code: int | None
    signal: int | None
    reason: str
    """``crash``, ``memory_limit``, ``recovery_failed``, ... (CONTRACT section 4)."""
    error: str | None
    """The exception line (``ConnectionError: ...``) when the bot died of one."""


@dataclass(frozen=True)
class Context:
    """What ``recover(ctx)`` is told about this start.

    >>> ctx = Context.from_env({"WDBOT_BOT_NAME": "grid", "WDBOT_CONTEXT":
    ...     '{"reason": "crash", "restarts": 2, "downtime_s": 1.5, "last_exit":'
    ...     ' {"code": 1, "signal": null, "reason": "crash", "error": "TimeoutError: read"}}'},
    ...     state=None)
    >>> ctx.name, ctx.reason, ctx.restarts, ctx.downtime_s, ctx.last_exit.error
    ('grid', 'crash', 2, 1.5, 'TimeoutError: read')
    """

    name: str
    reason: str
    """Why the bot is starting: ``first_start``, ``crash``, ``restart``, ``reload``,
    ``memory_limit``, ``fd_limit``, ``hang``, ``supervisor_restart`` or ``installed``."""
    restarts: int
    last_exit: LastExit | None
    downtime_s: float | None
    """Seconds since the previous run ended; None on a first start or when unknown."""
    state_dir: Path
    state: State | None
    """The bot's durable state (``wd.State()``), loaded before ``recover`` is called."""

    @property
    def mode(self) -> str:
        """The trading mode in force now (``wd.mode()``): recovery that finds ``reducing`` or
        ``halted`` protects what is open and opens nothing new."""
        from .mode import mode

        return mode()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *,
                 state: State | None = None) -> Context:
        """The context wdbot passed in the environment; a first start outside wdbot."""
        env = os.environ if environ is None else environ
        try:
            info: dict[str, Any] = json.loads(env.get(CONTEXT_ENV, "{}"))
        except ValueError:
            info = {}
        last = info.get("last_exit")
        return cls(
            name=env.get("WDBOT_BOT_NAME", "bot"),
            reason=str(info.get("reason") or env.get("WDBOT_START_REASON") or "first_start"),
            restarts=int(info.get("restarts") or 0),
            last_exit=LastExit(code=last.get("code"), signal=last.get("signal"),
                               reason=str(last.get("reason", "unknown")), error=last.get("error"))
            if isinstance(last, dict) else None,
            downtime_s=info.get("downtime_s"),
            state_dir=Path(env.get("WDBOT_STATE_DIR") or Path.cwd() / ".wdbot-state"),
            state=state,
        )
