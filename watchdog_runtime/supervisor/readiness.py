"""What ``/readyz`` says: every bot that should run is running. Pure: it reads the runners'
state and says, one line each, which bots are not ready and why.

Not ready: a bot that should run and does not run yet or again (``starting`` while its venv
builds, ``recovering``, ``backoff`` with its next start, a restart's ``stopping``), and a bot
that gave up (``errored``: a person must act). Fine: ``running``, and the bots a person
stopped (or ``wdbot shutdown`` held) or that finished cleanly (``stopped``, ``exited``).
Readiness is for orchestrators that route or roll out; it must never decide liveness, which
is the supervisor answering (``/livez``), whatever one bot does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..common.leandataclass import dataclass
from ..states import BotState


@dataclass(frozen=True)
class BotView:
    """What readiness needs of one bot."""

    name: str
    state: BotState
    should_run: bool
    next_start_in_s: float | None = None
    last_exit_reason: str | None = None


def not_ready(bots: Iterable[BotView], pending: Iterable[str] = ()) -> list[str]:
    """One line per bot that is not ready (``trader: backoff (next start in 240 s)``), after
    the ``pending`` lines (work the supervisor has still to do, like an up-file to apply).

    >>> not_ready([BotView("a", BotState.RUNNING, True), BotView("b", BotState.STOPPED, False),
    ...            BotView("c", BotState.BACKOFF, True, 239.6)])
    ['c: backoff (next start in 240 s)']
    """
    lines = list(pending)
    for bot in bots:
        why = _why(bot)
        if why is not None:
            lines.append(f"{bot.name}: {why}")
    return lines


def _why(bot: BotView) -> str | None:
    if bot.state is BotState.RUNNING:
        return None
    if bot.state is BotState.ERRORED:
        reason = f" ({bot.last_exit_reason})" if bot.last_exit_reason else ""
        return f"errored{reason}: it gave up; see 'wdbot status {bot.name}'"
    if not bot.should_run:
        return None  # stopped by a person, held by a shutdown, or finished cleanly
    if bot.state is BotState.BACKOFF and bot.next_start_in_s is not None:
        return f"backoff (next start in {bot.next_start_in_s:.0f} s)"
    return str(bot.state.value)


def views(runners: Iterable[Any], now: float) -> list[BotView]:
    """The :class:`BotView` of each runner (``runner.BotRunner``), read at ``now``."""
    return [BotView(r.spec.name, r.state, r.should_run,
                    max(0.0, r.next_start_at - now) if r.next_start_at is not None else None,
                    r.last_exit.reason.value if r.last_exit else None)
            for r in runners]
