"""``wdbot telegram`` on the command line: its parser and handler, registered by one call
in ``main.build_parser`` (issue 27); the work is in ``watchdog_runtime.chat``."""

from __future__ import annotations

import argparse
from typing import Any

from ...common.home import Home


def register(sub: Any) -> None:
    """Add ``wdbot telegram`` to the subcommands ``sub``."""
    from ...chat.command import add_options  # argparse only: python-telegram-bot loads in the handler

    p = sub.add_parser("telegram", help="chat control from allow-listed Telegram chats (see README)")
    add_options(p)
    p.set_defaults(func=cmd_telegram)


def cmd_telegram(ns: argparse.Namespace, home: Home) -> int:
    from ...chat.command import AlreadyRunning, run
    from ...chat.settings import ChatUsageError
    from ..errors import Failure, UsageError

    try:
        return run(ns, home)
    except ChatUsageError as exc:
        raise UsageError(str(exc)) from None
    except AlreadyRunning as exc:
        raise Failure(str(exc)) from None
