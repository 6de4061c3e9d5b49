"""``wdbot web``: the dashboard in a browser; its options are the web room's (argparse only),
Starlette and uvicorn load in the handler."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ...common.home import Home
from ..errors import UsageError

if TYPE_CHECKING:
    from . import Subcommands


def register(sub: Subcommands) -> None:
    """Add ``web`` to the subcommands ``sub``."""
    from ...web.options import add_options  # argparse only: Starlette loads in cmd_web

    p = sub.add_parser("web", help="the dashboard in a browser (loopback, login, see README)")
    add_options(p)
    p.set_defaults(func=cmd_web)


def cmd_web(ns: argparse.Namespace, home: Home) -> int:
    from ...web.command import run
    from ...web.settings import WebUsageError

    try:
        return run(ns, home)
    except WebUsageError as exc:
        raise UsageError(str(exc)) from None
