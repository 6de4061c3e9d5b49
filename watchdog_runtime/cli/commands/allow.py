"""``wdbot allow``: the operator's MODULE=DIST pairs that auto-install may install."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ...common.home import Home
from ..errors import Failure, UsageError

if TYPE_CHECKING:
    from . import Subcommands


def register(sub: Subcommands) -> None:
    """Add ``allow`` to the subcommands ``sub``."""
    p = sub.add_parser("allow", help="let auto-install install DIST for import name MODULE")
    p.add_argument("pairs", metavar="MODULE=DIST", nargs="*",
                   help="an import name and the PyPI distribution that provides it")
    p.add_argument("--remove", metavar="MODULE", action="append", default=[],
                   help="take a pair off the list (repeatable)")
    p.add_argument("--list", action="store_true", help="show the pairs (the default with no pair)")
    p.set_defaults(func=cmd_allow)


def cmd_allow(ns: argparse.Namespace, home: Home) -> int:
    from ...config import ConfigError, load_config, operator_pairs, update_allowed

    add = _checked_pairs(ns.pairs)
    try:
        if add or ns.remove:
            home.ensure()
            update_allowed(home.allowed, add, tuple(ns.remove))
            for module, dist in add.items():
                print(f"allowed: {module} -> {dist}")
            for module in ns.remove:
                print(f"removed: {module}")
            return 0
        pairs = operator_pairs(load_config(home.config), home.allowed)
    except ConfigError as exc:
        raise Failure(str(exc)) from None
    if not pairs:
        print("no pairs added: the shipped table and each bot's declared dependencies apply; "
              "add one with 'wdbot allow MODULE=DIST'")
    for module, dist in sorted(pairs.items()):
        print(f"{module} -> {dist}")
    return 0


def _checked_pairs(raw: list[str]) -> dict[str, str]:
    """``MODULE=DIST`` arguments as a mapping, each checked as the supervisor checks it."""
    from ...installs.modmap import TableError, pairs_to_entries

    add: dict[str, str] = {}
    for pair in raw:
        module, sep, dist = pair.partition("=")
        try:
            if not sep:
                raise TableError("no '='")
            pairs_to_entries({module: dist})  # the same check the supervisor applies
        except TableError as exc:
            raise UsageError(f"bad pair {pair!r} ({exc}): use MODULE=DIST, an import name and a "
                             f"PyPI distribution name, like yaml=PyYAML") from None
        add[module] = dist
    return add
