"""``wdbot halt``, ``wdbot reduce``, ``wdbot resume``: a bot's trading mode (issue 27).

The mode is kept by the supervisor on disk and read by the bot through ``wd.mode()``; these
commands only ask the supervisor to change it (``mode`` control operation) and say what it
answered. argparse only at import: the handler imports the rest.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ...common.home import Home

COMMANDS = (
    ("halt", "halted", "halt trading: the bot's wd.mode() says 'halted' (send no orders), kept "
                       "across restarts and reboots until 'wdbot resume'"),
    ("reduce", "reducing", "reduce only: the bot's wd.mode() says 'reducing' (close what is open, "
                           "open nothing new) until 'wdbot resume'"),
    ("resume", "active", "trade again: the bot's wd.mode() says 'active'"),
)
MAX_REASON = 300


def register(sub: Any) -> None:
    """Register the three commands on the ``wdbot`` parser's subcommands."""
    for command, mode, helptext in COMMANDS:
        p = sub.add_parser(command, help=helptext)
        p.add_argument("names", metavar="NAME", nargs="*")
        p.add_argument("--all", action="store_true",
                       help="every bot, and the home's mode (bots added later follow it)")
        p.add_argument("--reason", metavar="TEXT", help="why, shown in status, events and alerts")
        p.set_defaults(func=cmd_mode, mode=mode)


def cmd_mode(ns: argparse.Namespace, home: Home) -> int:
    """Set the mode of the named bots (or all) and print each one's mode now."""
    from ..client import call
    from ..errors import UsageError

    if not ns.names and not ns.all:
        raise UsageError(f"name a bot, or use --all (see 'wdbot {ns.command} --help')")
    if ns.names and ns.all:
        raise UsageError("give bot names or --all, not both")
    reason = " ".join((ns.reason or "").split()) or None
    if reason is not None and len(reason) > MAX_REASON:
        raise UsageError(f"--reason is too long ({len(reason)} characters, at most {MAX_REASON})")
    reply = call(home, "mode", names=ns.names or None, all=ns.all, mode=ns.mode, reason=reason,
                  source="cli", announce=ns.command)
    for bot in reply:
        note = "" if bot["changed"] else f" (already {bot['mode']})"
        print(f"{bot['name']}: {bot['mode']}{note}")
    if ns.all and not reply:
        print(f"no bots yet: the home's mode is now {ns.mode}; bots added later follow it")
    if ns.mode != "active" and reply:
        print("a bot that does not read wd.mode() is shown as 'not acknowledged' in 'wdbot status' "
              "within 5 s: 'wdbot stop' it to be sure", file=sys.stderr)
    return 0
