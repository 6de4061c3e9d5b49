"""``wdbot start``, ``stop``, ``restart`` and ``remove``: a bot registered, started, stopped,
restarted (with new options) and forgotten, through the home's supervisor."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ...common.home import BOT_NAME_RE, Home
from ...spec import BotSpec, SpecError, add_spec_options
from ..client import START_TIMEOUT_S, STOP_MARGIN_S, call, refuse_while_unreadable, registered, stop_timeout
from ..errors import UsageError
from ..respec import build_spec

if TYPE_CHECKING:
    from . import Subcommands


def register(sub: Subcommands) -> None:
    """Add ``start``, ``stop``, ``restart`` and ``remove`` to the subcommands ``sub``."""
    p = sub.add_parser("start", help="register a bot file and start it")
    p.add_argument("path", metavar="PATH", help="the bot's .py file (or the name of a registered bot)")
    p.add_argument("--name", help="the bot's name (default: the file's stem)")
    add_spec_options(p)
    p.set_defaults(func=cmd_start, takes_bot_args=True)

    for name, helptext, func in (("stop", "stop bots gracefully", cmd_stop),
                                 ("restart", "stop, then start bots (with new options: one NAME and "
                                             "the start options to change, like PM2's --update-env)",
                                  cmd_restart)):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("names", metavar="NAME", nargs="*")
        p.add_argument("--all", action="store_true", help="every registered bot")
        if name == "restart":
            add_spec_options(p)
            p.set_defaults(takes_bot_args=True)
        p.set_defaults(func=func)

    p = sub.add_parser("remove", help="stop a bot and forget it")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--purge", action="store_true", help="also delete its venv, logs and state")
    p.set_defaults(func=cmd_remove)


def cmd_start(ns: argparse.Namespace, home: Home) -> int:
    refuse_while_unreadable(home)
    looks_like_name = not Path(ns.path).exists() and BOT_NAME_RE.fullmatch(ns.path) and "/" not in ns.path
    bots = registered(home)
    if looks_like_name and not ns.path.endswith(".py") and ns.path in bots:
        return _start_registered(ns, home, bots[ns.path].spec)
    else:
        spec = build_spec(ns)
        result = call(home, "start", spec=spec.to_json(), timeout_s=START_TIMEOUT_S)
    note = " (already running)" if result.get("already") else ""
    print(f"{result['name']}: pid {result['pid']}, {result['state']}{note}")
    return 0


def _start_registered(ns: argparse.Namespace, home: Home, stored: BotSpec) -> int:
    """``start NAME``: the stored options, said in one line, or those given applied (a
    running bot with other options is refused by the supervisor: restart applies them)."""
    from ..respec import given_options, respec, stored_line

    try:
        options = given_options(ns)
        spec = respec(stored, options, ns.bot_args) if options or ns.bot_args else None
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    if spec is None:
        result = call(home, "start", name=stored.name, timeout_s=START_TIMEOUT_S)
        if not result.get("already"):
            print(stored_line(stored), file=sys.stderr)
    else:
        result = call(home, "start", spec=spec.to_json(), timeout_s=START_TIMEOUT_S)
    note = " (already running)" if result.get("already") else ""
    print(f"{result['name']}: pid {result['pid']}, {result['state']}{note}")
    return 0


def _many(ns: argparse.Namespace, home: Home, op: str) -> int:
    if not ns.names and not ns.all:
        raise UsageError(f"name a bot, or use --all (see 'wdbot {op} --help')")
    refuse_while_unreadable(home)
    timeout = stop_timeout(home, ns.names, ns.all) + (START_TIMEOUT_S if op == "restart" else 0)
    for bot in call(home, op, names=ns.names, all=ns.all, timeout_s=timeout):
        pid = f"pid {bot['pid']}, " if bot["pid"] else ""
        print(f"{bot['name']}: {pid}{bot['state']}")
    return 0


def cmd_stop(ns: argparse.Namespace, home: Home) -> int:
    return _many(ns, home, "stop")


def cmd_restart(ns: argparse.Namespace, home: Home) -> int:
    from ..respec import given_options, respec

    try:
        options = given_options(ns)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    if not options and not ns.bot_args:
        return _many(ns, home, "restart")
    if ns.all or len(ns.names) != 1:
        raise UsageError("new options apply to one bot: name exactly one, like "
                         "'wdbot restart NAME --env KEY=VALUE'")
    refuse_while_unreadable(home)
    name = ns.names[0]
    stored = registered(home).get(name)
    if stored is None:
        raise UsageError(f"no bot named {name!r}; see 'wdbot status'")
    try:
        spec = respec(stored.spec, options, ns.bot_args)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    timeout = START_TIMEOUT_S + max(spec.stop_timeout_s, stored.spec.stop_timeout_s) + STOP_MARGIN_S
    result = call(home, "start", spec=spec.to_json(), update=True, timeout_s=timeout)
    if result.get("already"):  # the same options: a plain restart, as asked
        return _many(ns, home, "restart")
    print(f"{result['name']}: pid {result['pid']}, {result['state']} (with the new options)")
    return 0


def cmd_remove(ns: argparse.Namespace, home: Home) -> int:
    refuse_while_unreadable(home)
    result = call(home, "remove", name=ns.name, purge=ns.purge,
                  timeout_s=stop_timeout(home, [ns.name], False))
    print(f"{result['name']}: removed{' and purged' if result['purged'] else ''}")
    return 0
