"""The chat's commands, parsed (pure): what a message asks, and whether it changes anything
(then it waits for a button press) or needs a one-time code."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..common.home import BOT_NAME_RE

READS = ("status", "bot", "logs", "events", "help", "start")
CHANGES = ("start", "stop", "restart", "halt", "reduce", "resume")
MODES = {"halt": "halted", "reduce": "reducing", "resume": "active"}
"""The trading-mode commands and the mode each sets (the ``mode`` control operation)."""
MAX_LOG_LINES = 50
CODE_RE = re.compile(r"^\d{6}$")
HELP = """wdbot commands:
/status - every bot
/bot NAME - one bot in detail
/logs NAME [N] - its last N output lines (at most 50)
/events - the latest events
/start NAME, /stop NAME, /restart NAME
/halt NAME|all, /reduce NAME|all, /resume NAME|all - the trading mode
Each change asks you to confirm with a button."""


class CommandError(ValueError):
    """A message that is not a command this chat understands; the text says what to send."""


@dataclass(frozen=True)
class Read:
    """A command that only shows something."""

    what: str
    name: str | None = None
    lines: int = 20


@dataclass(frozen=True)
class Change:
    """A command that changes something, once a person confirms it."""

    verb: str
    name: str | None
    """None with ``/halt all`` (and the other modes)."""
    code: str | None = None
    """The one-time code given after the name, if any."""

    @property
    def target(self) -> str:
        return self.name or "all bots"

    def describe(self) -> str:
        """``restart grid``, ``halt all bots``."""
        return f"{self.verb} {self.target}"

    def guarded(self) -> bool:
        """Whether a one-time code must come with it (when the chat has TOTP on)."""
        return self.verb == "stop" or (self.verb in ("halt", "resume") and self.name is None)


def parse(text: str) -> Read | Change:
    """The command of a message, or CommandError.

    >>> parse("/restart grid")
    Change(verb='restart', name='grid', code=None)
    >>> parse("/halt@wd_bot all 123456")
    Change(verb='halt', name=None, code='123456')
    >>> parse("/logs grid 5")
    Read(what='logs', name='grid', lines=5)
    """
    words = text.strip().split()
    if not words or not words[0].startswith("/"):
        raise CommandError("send a command, like /status (/help lists them)")
    verb, args = words[0][1:].split("@", 1)[0].lower(), words[1:]
    if verb in ("status", "events", "help") and not args:
        return Read(verb)
    if verb == "start" and not args:
        return Read("help")  # Telegram sends /start when a person opens the chat
    if verb in ("bot", "logs") and args:
        return Read(verb, _name(args[0]), _lines(args[1:]) if verb == "logs" else 20)
    if verb in CHANGES and args:
        code = args[1] if len(args) == 2 and CODE_RE.match(args[1]) else None
        if len(args) > (2 if code else 1):
            raise CommandError(f"/{verb} takes one bot name{' or all' if verb in MODES else ''}")
        if args[0].lower() == "all" and verb in MODES:
            return Change(verb, None, code)
        return Change(verb, _name(args[0]), code)
    raise CommandError(f"not a command here: {words[0][:40]} (/help lists them)")


def _name(text: str) -> str:
    if not BOT_NAME_RE.fullmatch(text) or len(text) > 64:
        raise CommandError(f"{text[:40]!r} is not a bot name (see /status)")
    return text


def _lines(args: list[str]) -> int:
    if not args:
        return 20
    if len(args) > 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= MAX_LOG_LINES:
        raise CommandError(f"/logs NAME [N]: N is a number of lines, 1 to {MAX_LOG_LINES}")
    return int(args[0])
