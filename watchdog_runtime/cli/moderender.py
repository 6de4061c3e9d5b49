"""The trading mode on the terminal (issue 27): the MODE column of ``wdbot status``, shown
only when some bot is not ``active``, and the "needs a look" line of a bot that does not
listen. Pure: a status document in, rich text out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text

MODE_STYLE = {"active": "green", "reducing": "yellow", "halted": "bold red"}
NOT_HEARD = "not acknowledged"


def any_mode(bots: Sequence[Mapping[str, Any]]) -> bool:
    """True when some bot is not ``active`` (the MODE column is shown)."""
    return any(b.get("mode", "active") != "active" for b in bots)


def mode_cell(bot: Mapping[str, Any]) -> Text:
    """``halted``, ``halted (not acknowledged)`` or ``reducing (waiting)``."""
    mode = str(bot.get("mode") or "active")
    text = Text(mode, style=MODE_STYLE.get(mode, ""))
    note = bot.get("mode_note")
    if note:
        short = NOT_HEARD if note.startswith(NOT_HEARD) else "waiting"
        text.append(f" ({short})", style="bold red" if short == NOT_HEARD else "yellow")
    return text


def mode_full(bot: Mapping[str, Any]) -> str:
    """The mode with its whole note and reason: ``halted (not acknowledged: ...)``."""
    mode = str(bot.get("mode") or "active")
    text = f"{mode} ({bot['mode_note']})" if bot.get("mode_note") else mode
    if bot.get("mode_reason"):
        text += f", because {bot['mode_reason']}"
    if bot.get("mode_source") and bot.get("mode_since"):
        text += f" (set by {bot['mode_source']} at {str(bot['mode_since'])[:19].replace('T', ' ')})"
    return text


def mode_advice(bots: Sequence[Mapping[str, Any]]) -> list[Text]:
    """One line per bot that is not active and does not read its mode."""
    return [Text(f"  {b['name']}: {mode_full(b)}", style="bold red")
            for b in bots if str(b.get("mode_note") or "").startswith(NOT_HEARD)]
