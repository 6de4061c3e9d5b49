"""The trading mode as words (issue 27), for both dashboards: the terminal colours them
(``cli.moderender``), the web shows them as they are. Pure: a status document's bot in, text
out; no renderer, so the web process never loads rich."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

NOT_HEARD = "not acknowledged"
"""How a bot's ``mode_note`` begins when its process has not read its mode since the change."""


def any_mode(bots: Sequence[Mapping[str, Any]]) -> bool:
    """True when some bot is not ``active`` (the MODE column is shown)."""
    return any(b.get("mode", "active") != "active" for b in bots)


def not_heard(bot: Mapping[str, Any]) -> bool:
    """True when the bot is not active and its process does not read its mode."""
    return str(bot.get("mode_note") or "").startswith(NOT_HEARD)


def mode_full(bot: Mapping[str, Any]) -> str:
    """The mode with its whole note and reason: ``halted (not acknowledged: ...)``.

    >>> mode_full({"mode": "halted", "mode_reason": "news"})
    'halted, because news'
    """
    mode = str(bot.get("mode") or "active")
    text = f"{mode} ({bot['mode_note']})" if bot.get("mode_note") else mode
    if bot.get("mode_reason"):
        text += f", because {bot['mode_reason']}"
    if bot.get("mode_source") and bot.get("mode_since"):
        text += f" (set by {bot['mode_source']} at {str(bot['mode_since'])[:19].replace('T', ' ')})"
    return text
