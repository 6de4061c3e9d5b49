"""The ``wdbot`` command: a thin argparse layer over the control client.

This module keeps the parser's frame and the exit mapping; the commands live in
``cli/commands/``, one module per topic, each adding its own subcommands (see
``commands/__init__.py`` for how to add one). Heavy modules (asyncio, rich, psutil,
watchfiles) are imported inside the commands that need them, so ``wdbot --help`` and quick
commands stay fast. Exit status: 0 success, 1 the operation failed, 2 a usage error; a user
mistake is one line on stderr, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..common.control import RequestFailed
from ..common.home import Home, HomeError
from .commands import module_of, refused_argv
from .errors import Failure, UsageError

if TYPE_CHECKING:
    import argparse

__all__ = ["Failure", "UsageError", "build_parser", "main"]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line's parser (``cli/parser.py``: imported only when a command line
    needs it, so a well-formed ``wdbot daemon`` never loads argparse, issue 29)."""
    from .parser import build_parser as build

    return build(only)


def __getattr__(name: str) -> Any:
    # ``_Parser`` moved to cli/parser.py with build_parser; imported from here by tests.
    if name == "_Parser":
        from .parser import _Parser

        return _Parser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def lean_command(args: Sequence[str]) -> str | None:
    """``wdbot daemon ...``: the long-lived supervisor parses with its own command module alone,
    so the other command modules (and what they import) never take its memory (issue 29)."""
    if args[:1] != ["daemon"]:
        return None
    from ..common.importwithout import import_without

    # Before the parser (argparse's help formatter imports shutil): shutil imports bz2, lzma
    # and zlib (about 0.5 MiB) only for archive formats the supervisor never makes or unpacks.
    import_without("shutil", ("bz2", "lzma", "zlib"))
    return "daemon"


def parse_args(args: list[str], lean: str | None) -> Any:
    """The parsed command line; a well-formed ``wdbot daemon`` one without argparse, any other
    that names a command with that command's module alone (``commands.COMMANDS``)."""
    if lean == "daemon":
        from .daemonargs import parse_daemon_args

        quick = parse_daemon_args(args[1:])
        if quick is not None:
            return quick
    return build_parser(lean or module_of(args)).parse_args(args)


def _run_lean(args: Sequence[str]) -> None:
    """A supervisor started plainly (a service manager, a container, a person) runs on as a
    lean one once its bytecode cache is filled (``leanbytecode``): the same process, re-executed,
    its large allocations out of the heap from then on (``common.heappin``)."""
    from ..common import heappin, leanbytecode

    try:
        argv = leanbytecode.lean_argv(Home.from_env().root, list(args))
    except HomeError:
        return  # said by the command itself
    if argv is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(argv[0], argv, heappin.supervisor_env(os.environ))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wdbot`` command; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    bot_args: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, bot_args = args[:cut], args[cut + 1:]
    if argv is None and args[:1] == ["daemon"]:
        _run_lean(args)  # the process's own command line only: never a caller's
    lean = lean_command(args)
    refused = None if lean else refused_argv(args)
    if refused is not None:
        print(refused, file=sys.stderr)
        return 2
    ns = parse_args(args, lean)
    if bot_args and not getattr(ns, "takes_bot_args", False):
        print(f"wdbot {ns.command}: error: '--' arguments are only for 'wdbot start' (or restart, run)",
              file=sys.stderr)
        return 2
    ns.bot_args = bot_args
    logging.basicConfig(level=logging.WARNING, format="wdbot: %(message)s")
    try:
        home = Home.from_env()
        result: int = ns.func(ns, home)
        if sys.stdout is not None:  # None when started with stdout closed (>&-)
            sys.stdout.flush()  # here, not at exit, so a closed pipe is caught below
        return result
    except BrokenPipeError:
        return _reader_gone()
    except UsageError as exc:
        print(f"wdbot {ns.command}: error: {exc}", file=sys.stderr)
        return 2
    except (Failure, HomeError) as exc:
        print(f"wdbot {ns.command}: error: {exc}", file=sys.stderr)
        return 1
    except RequestFailed as exc:
        print(f"wdbot {ns.command}: error: {exc}", file=sys.stderr)
        return 2 if exc.usage else 1
    except KeyboardInterrupt:
        return 130


def _reader_gone() -> int:
    """``wdbot logs NAME | head``: the reader closed the pipe, which is what it wanted, so end
    quietly with 0. Python's recipe: point stdout at /dev/null, so the flush at exit that
    would fail again (a traceback, exit 120) writes nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 0
