"""``wdbot secret set|list|rm``: a bot's secrets, encrypted at rest; a value comes from a
hidden prompt or stdin, never from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ...common.home import BOT_NAME_RE, Home
from ..client import registered, unreadable
from ..errors import UsageError

if TYPE_CHECKING:
    from . import Subcommands


def register(sub: Subcommands) -> None:
    """Add ``secret`` to the subcommands ``sub``."""
    p = sub.add_parser("secret", help="a bot's secrets, encrypted at rest (wd.connection reads them)")
    p.add_argument("action", choices=("set", "list", "rm"))
    p.add_argument("bot", metavar="BOT", nargs="?")
    p.add_argument("name", metavar="CONNECTION[.FIELD]", nargs="?",
                   help="like binance.apiKey: the value comes from a hidden prompt or stdin, never "
                        "argv; a CONNECTION alone (set): KEY=VALUE lines from stdin (a .env file)")
    p.add_argument("--force", action="store_true",
                   help="set: store it for a BOT not registered (yet): the name is then not checked")
    p.set_defaults(func=cmd_secret)


def refuse_argv(args: list[str]) -> str | None:
    """Checked before parsing: a value given on the command line, which is refused unseen
    (argparse would echo it back, as an unrecognised argument: it is a secret)."""
    if args[:2] == ["secret", "set"] and len([a for a in args[2:] if a != "--force"]) > 2:
        return ("wdbot secret: error: a value never comes from the command line (it would stay in "
                "your shell history); run 'wdbot secret set BOT NAME' and type it at the prompt, "
                "or pipe it in")
    return None


def cmd_secret(ns: argparse.Namespace, home: Home) -> int:
    from ...secretstore import SecretError, SecretStore

    store = SecretStore(home.secrets)
    if ns.bot is not None and not BOT_NAME_RE.fullmatch(ns.bot):
        raise UsageError(f"bad bot name {ns.bot!r}")
    try:
        if ns.action == "list":
            for bot in [ns.bot] if ns.bot else store.bots():
                broken = set(store.unreadable(bot))
                for name in store.names(bot):
                    note = " (cannot be decrypted: set it again)" if name in broken else ""
                    print(f"{bot} {name}{note}")
            return 0
        if not ns.bot or not ns.name:
            raise UsageError(f"wdbot secret {ns.action} needs BOT and CONNECTION.FIELD")
        if ns.action == "rm":
            print(f"{ns.bot}: removed {', '.join(store.remove(ns.bot, ns.name))}")
            return 0
        _refuse_unknown_bot(home, ns.bot, ns.force)
        home.ensure()
        values = (_env_values(ns.name) if "." not in ns.name else
                  {ns.name: _secret_value(f"value of {ns.name} for {ns.bot}: ")})
        store.set_many(ns.bot, values)
        print(f"{ns.bot}: stored {', '.join(values)} (encrypted; the bot reads it with "
              f"wd.connection({ns.name.split('.')[0]!r}))")
        return 0
    except SecretError as exc:
        raise UsageError(str(exc)) from None


def _refuse_unknown_bot(home: Home, bot: str, force: bool) -> None:
    """``secret set`` for a name no bot has is most often a typo, which would store silently
    what the bot never reads; ``--force`` sets one before the bot's first start."""
    bots = registered(home)
    if force or bot in bots or unreadable(home) is not None:
        return
    known = f"the registered bots: {', '.join(sorted(bots))}" if bots else "no bot is registered"
    raise UsageError(f"no bot named {bot!r} ({known}); to set it before the bot's first start, "
                     f"add --force")


def _env_values(connection: str) -> dict[str, str]:
    """The bulk form: ``KEY=VALUE`` lines from stdin (never from a terminal, which would
    show them), all valid or none stored."""
    from ...secretstore import parse_env

    if sys.stdin.isatty():
        raise UsageError(f"pipe KEY=VALUE lines in: wdbot secret set BOT {connection} < {connection}.env "
                         f"(or name one field: {connection}.FIELD)")
    return parse_env(sys.stdin.read(), connection)


def _secret_value(prompt: str) -> str:
    """From a hidden prompt on a terminal, else all of stdin (one trailing newline dropped)."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt)
    value = sys.stdin.read()
    return value[:-1] if value.endswith("\n") else value
