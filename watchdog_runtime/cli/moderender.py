"""The trading mode on the terminal (issue 27): the MODE column of ``wdbot status``, shown
only when some bot is not ``active``; the words come from ``common.modetext``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text

from ..common.modetext import NOT_HEARD, any_mode, mode_full

__all__ = ["MODE_STYLE", "any_mode", "mode_cell", "mode_full"]

MODE_STYLE = {"active": "green", "reducing": "yellow", "halted": "bold red"}


def mode_cell(bot: Mapping[str, Any]) -> Text:
    """``halted``, ``halted (not acknowledged)`` or ``reducing (waiting)``."""
    mode = str(bot.get("mode") or "active")
    text = Text(mode, style=MODE_STYLE.get(mode, ""))
    note = bot.get("mode_note")
    if note:
        short = NOT_HEARD if note.startswith(NOT_HEARD) else "waiting"
        text.append(f" ({short})", style="bold red" if short == NOT_HEARD else "yellow")
    return text
