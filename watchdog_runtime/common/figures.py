"""A bot's ``wd.report()`` figures as one line for people (``status NAME``, the web page,
``wdbot telegram``). Stdlib only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .units import duration


def figures_text(bot: Mapping[str, Any]) -> str:
    """``balance 10000, equity 10012.5 (4s ago)``; ``-`` when the bot reported none.

    >>> figures_text({"figures": {"balance": 10000, "equity": 10012.5}, "figures_age_s": 4.2})
    'balance 10000, equity 10012.5 (4s ago)'
    >>> figures_text({"figures": {}, "figures_age_s": None})
    '-'
    """
    figures = bot.get("figures") or {}
    if not figures:
        return "-"
    text = ", ".join(f"{name} {value:.10g}" if isinstance(value, float) else f"{name} {value}"
                     for name, value in figures.items())
    age = bot.get("figures_age_s")
    return f"{text} ({duration(age)} ago)" if age is not None else text
