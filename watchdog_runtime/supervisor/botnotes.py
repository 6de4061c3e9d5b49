"""The supervisor's end of ``wd.notify()`` and ``wd.report()``: each bot's latest figures,
and the policy that lets a bot's notes through (pure, with the caller's clock).

A note that passes becomes an event of kind ``notify`` (``wdbot events``, the web page,
``wdbot telegram``), which the alert listener sends to the home's URLs. Per bot: the same
text again within ``dedupe_s`` is dropped; beyond ``burst`` notes, one more per ``refill_s``.
What is held back is counted and said in the next note that passes. The policy is keyed by
the bot's name, so a bot that crash-loops cannot reset it by restarting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any

from ..bot.notes import LEVELS, MAX_FIGURES, MAX_TEXT, NAME_RE, is_number
from ..common.leandataclass import dataclass

DEDUPE_S = 600.0
BURST = 5
REFILL_S = 60.0
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class _Budget:
    tokens: float
    at: float
    held: int = 0
    recent: dict[str, float] = field(default_factory=dict)


@dataclass
class NotePolicy:
    """Which notes of a bot pass now (pure)."""

    burst: int = BURST
    refill_s: float = REFILL_S
    dedupe_s: float = DEDUPE_S
    _bots: dict[str, _Budget] = field(default_factory=dict)

    def admit(self, bot: str, text: str, now: float) -> int | None:
        """None when the note is held back; else how many were held back before it.

        >>> policy = NotePolicy(burst=1, refill_s=60)
        >>> policy.admit("grid", "a", 0.0), policy.admit("grid", "a", 1.0), policy.admit("grid", "b", 2.0)
        (0, None, None)
        >>> policy.admit("grid", "c", 61.0)
        2
        """
        budget = self._bots.setdefault(bot, _Budget(float(self.burst), now))
        budget.tokens = min(float(self.burst), budget.tokens + (now - budget.at) / self.refill_s)
        budget.at = now
        budget.recent = {t: at for t, at in budget.recent.items() if now - at < self.dedupe_s}
        if text in budget.recent or budget.tokens < 1.0:
            budget.held += 1
            return None
        budget.tokens -= 1.0
        if len(budget.recent) < 1000:  # bounded: a bot writing a new text each time is held by tokens
            budget.recent[text] = now
        held, budget.held = budget.held, 0
        return held


@dataclass(frozen=True)
class Figures:
    """A bot's latest ``wd.report()``: name to number, and when (monotonic) it came."""

    values: Mapping[str, float]
    at: float


class BotNotes:
    """Notes and figures of every bot of the home (the supervisor owns one)."""

    def __init__(self, write_event: Callable[..., None], clock: Callable[[], float]) -> None:
        self.write_event = write_event
        self.clock = clock
        self.policy = NotePolicy()
        self.figures: dict[str, Figures] = {}

    def take(self, bot: str, kind: str, payload: Mapping[str, Any]) -> None:
        """One message of ``bot``'s live process (the runner checked it is)."""
        if kind == "figures":
            self.figures[bot] = Figures(clean_figures(payload), self.clock())
        elif kind == "note":
            self._note(bot, payload)

    def _note(self, bot: str, payload: Mapping[str, Any]) -> None:
        text = _CONTROL.sub(" ", str(payload.get("text", "")))[:MAX_TEXT].strip()
        level = payload.get("level")
        if not text:
            return
        held = self.policy.admit(bot, text, self.clock())
        if held is not None:
            self.write_event("notify", bot, level=level if level in LEVELS else "info", text=text,
                             held=held or None)

    def status(self, bot: str) -> dict[str, Any]:
        """The fields ``status --json`` gains: ``figures`` and ``figures_age_s``."""
        found = self.figures.get(bot)
        if found is None:
            return {"figures": {}, "figures_age_s": None}
        return {"figures": dict(found.values), "figures_age_s": round(self.clock() - found.at, 3)}

    def add_to(self, bot: dict[str, Any]) -> dict[str, Any]:
        """``bot`` (a status entry) with its figures."""
        return {**bot, **self.status(str(bot.get("name")))}

    def forget(self, bot: str) -> None:
        self.figures.pop(bot, None)


def clean_figures(payload: Mapping[str, Any]) -> dict[str, float]:
    """What the SDK checked, checked again: a bot is free to send anything on the socket.

    >>> clean_figures({"balance": 10.5, "bad name": 1, "x": "7", "nan": float("nan"), "ok": True,
    ...                "huge": 10**400})
    {'balance': 10.5}
    """
    clean: dict[str, float] = {}
    for name, value in payload.items():
        if len(clean) >= MAX_FIGURES:
            break
        if isinstance(name, str) and NAME_RE.fullmatch(name) and is_number(value):
            clean[name] = value
    return clean
