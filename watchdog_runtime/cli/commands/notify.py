"""``wdbot notify test``: one test alert to every configured URL, to see that alerts arrive."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ...common.home import Home
from ..client import registered
from ..errors import Failure, UsageError

if TYPE_CHECKING:
    from . import Subcommands


def register(sub: Subcommands) -> None:
    """Add ``notify`` to the subcommands ``sub``."""
    p = sub.add_parser("notify", help="alerts: send a test message to every configured URL")
    p.add_argument("action", choices=("test",))
    p.set_defaults(func=cmd_notify)


def cmd_notify(ns: argparse.Namespace, home: Home) -> int:
    from ...config import ConfigError, load_config
    from ...supervisor.alerts import Alert, deliver_with_apprise

    try:
        urls = list(load_config(home.config).alerts.urls)
    except ConfigError as exc:
        raise Failure(str(exc)) from None
    for record in registered(home).values():
        urls += [u for u in record.spec.notify if u not in urls]
    if not urls:
        raise UsageError("no alert URLs: add [alerts] urls = [\"...\"] to config.toml, or --notify URL "
                         "to a bot")
    alert = Alert(("", "test"), "wdbot: test alert", f"A test from wdbot for {home.root}: alerts reach "
                  f"you here.", tuple(urls))
    if not deliver_with_apprise(alert):
        raise Failure(f"the test alert reached none of the {len(urls)} URL(s); see the messages above")
    print(f"test alert sent to {len(urls)} URL(s)")
    return 0
