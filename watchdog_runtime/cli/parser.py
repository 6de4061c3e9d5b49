"""The ``wdbot`` command line's argparse parser: the top options and each command module's
subcommands. Apart from ``cli/main.py`` so that ``wdbot daemon`` with a well-formed command
line (``cli/daemonargs.py``) never imports argparse (issue 29)."""

from __future__ import annotations

import argparse
import importlib
from typing import NoReturn

from .. import __version__
from .commands import register_all

__all__ = ["_Parser", "build_parser"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, naming the fix, instead of argparse's usage dump.
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line: the top options, then each command module's subcommands
    (``only``: that one command module's, see ``main.lean_command``)."""
    parser = _Parser(prog="wdbot", description="Keeps trading bots alive and makes every restart safe.")
    parser.add_argument("--version", action="version", version=f"wdbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    if only is None:
        register_all(sub)
    else:
        importlib.import_module(f"{__package__}.commands.{only}").register(sub)
    return parser
