"""``wdbot run BOT.py``: a bot in the foreground, prepared as a start would prepare it, to
try it before ``wdbot start`` (the work is in ``cli/run.py``)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ...common.home import Home
from ...spec import SpecError, add_spec_options
from ..client import ask_quietly, refuse_while_unreadable, registered
from ..errors import Failure, UsageError
from ..respec import build_spec

if TYPE_CHECKING:
    from . import Subcommands


def register(sub: Subcommands) -> None:
    """Add ``run`` to the subcommands ``sub``."""
    p = sub.add_parser("run", help="run a bot in the foreground, in its venv, as the supervisor would "
                                   "(Ctrl-C is a stop), to try it before 'wdbot start'")
    p.add_argument("path", metavar="PATH", help="the bot's .py file")
    p.add_argument("--name", help="the bot's name, whose venv and state it uses (default: the file's stem)")
    add_spec_options(p)
    p.set_defaults(func=cmd_run, takes_bot_args=True)


def cmd_run(ns: argparse.Namespace, home: Home) -> int:
    """``wdbot run BOT.py``: prepared as a start would, then the bot replaces this process."""
    from ..respec import given_options, respec
    from ..run import RunRefused, exec_bot, prepare, refuse_if_supervised

    refuse_while_unreadable(home)
    spec = build_spec(ns)
    stored = registered(home).get(spec.name)
    if stored is not None and stored.spec.path != spec.path:
        raise UsageError(f"a bot named {spec.name!r} is registered for {stored.spec.path}; "
                         f"choose another name with --name")
    if stored is not None:  # its stored options (its --env), with those given here on top
        try:
            spec = respec(stored.spec, given_options(ns), ns.bot_args)
        except SpecError as exc:
            raise UsageError(str(exc)) from None
    try:
        refuse_if_supervised(home, spec, _supervised_state(home, spec.name) if stored else None)
        paths = prepare(home, spec, lambda line: print(line, file=sys.stderr))
    except RunRefused as exc:
        raise Failure(str(exc)) from None
    print(f"{spec.name}: running in the foreground (Ctrl-C stops it, its clean-up runs)", file=sys.stderr)
    exec_bot(home, spec, paths)


def _supervised_state(home: Home, name: str) -> str | None:
    """The bot's state as the running supervisor has it; None when no supervisor answers
    (asked without starting one)."""
    doc = ask_quietly(home, "status", timeout_s=30.0, name=name)
    bots = doc.get("bots") if isinstance(doc, dict) else None
    return str(bots[0]["state"]) if bots else None
