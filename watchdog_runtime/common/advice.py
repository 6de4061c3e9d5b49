"""What needs a person, from the bots of a status document: the lines both dashboards show
(the terminal's ``wdbot status`` in colour, the web's as levels), without a renderer."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .modetext import mode_full, not_heard


class Urgency(enum.Enum):
    """How loudly a line is shown."""

    ALERT = "alert"
    """The bot needs a person now (it gave up, or its file cannot be read): red."""
    WARNING = "warning"
    """A change was not applied (a reload that failed): the old code still runs."""
    HINT = "hint"
    """A bot down for a known reason, and the fix."""


@dataclass(frozen=True)
class Advice:
    """One line of advice about one bot."""

    text: str
    urgency: Urgency


def advice(bots: Iterable[Mapping[str, Any]]) -> list[Advice]:
    """What needs a person, then the fix for each bot that is down.

    >>> [a.text for a in advice([{"name": "b", "state": "errored", "attention": "gave up"}])]
    ['b: gave up']
    """
    bots = list(bots)
    lines = [Advice(f"{b['name']}: {b['attention']}", Urgency.ALERT) for b in bots if b.get("attention")]
    # A bot told to stop trading whose process does not listen (issue 27).
    lines += [Advice(f"{b['name']}: {mode_full(b)}", Urgency.ALERT) for b in bots if not_heard(b)]
    lines += [Advice(f"{b['name']}: {b['reload_error']}", Urgency.WARNING)
              for b in bots if b.get("reload_error")]
    for bot in bots:
        diagnosis = (bot.get("last_exit") or {}).get("diagnosis")
        if diagnosis and bot["state"] in ("backoff", "errored") and not bot.get("attention"):
            lines.append(Advice(f"{bot['name']}: {diagnosis['pattern']}: {diagnosis['hint']}", Urgency.HINT))
    return lines
