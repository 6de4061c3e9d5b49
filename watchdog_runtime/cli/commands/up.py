"""``wdbot up FILE.toml``: start or update every bot of an up-file (``daemon --up`` reads
the same file the same way)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ...common.control import RequestFailed
from ...common.home import Home
from ...spec import BotSpec
from ..client import START_TIMEOUT_S, STOP_MARGIN_S, call, refuse_while_unreadable, registered
from ..errors import UsageError

if TYPE_CHECKING:
    from . import Subcommands


def register(sub: Subcommands) -> None:
    """Add ``up`` to the subcommands ``sub``."""
    p = sub.add_parser("up", help="start or update the bots of a TOML file (see README)")
    p.add_argument("file", metavar="FILE.toml")
    p.set_defaults(func=cmd_up)


def cmd_up(ns: argparse.Namespace, home: Home) -> int:
    from ..upfile import UpFileError, load

    try:
        specs = load(Path(ns.file))
    except UpFileError as exc:
        raise UsageError(str(exc)) from None
    refuse_while_unreadable(home)
    failed = 0
    for spec in specs:
        timeout = START_TIMEOUT_S + spec.stop_timeout_s + STOP_MARGIN_S
        try:
            result = call(home, "start", spec=spec.to_json(), update=True, timeout_s=timeout)
        except RequestFailed as exc:
            print(f"{spec.name}: not started: {exc}", file=sys.stderr)
            failed += 1
            continue
        how = ("unchanged" if result.get("already") else
               "updated and restarted" if result.get("updated") else "started")
        print(f"{spec.name}: {how}, pid {result['pid']}, {result['state']}")
    others = sorted(set(registered(home)) - {s.name for s in specs})
    if others:
        print(f"not in {ns.file}, left as they are: {', '.join(others)}")
    return 1 if failed else 0


def read_up_file(raw: str) -> tuple[Path, list[BotSpec]]:
    """``daemon --up FILE``: the file read and checked whole, as ``wdbot up`` does."""
    from ..upfile import UpFileError, load

    if not raw.strip():
        raise UsageError("--up needs a file: give the path of an up-file, like --up wdbot.toml")
    path = Path(raw).absolute()
    try:
        return path, load(path)
    except UpFileError as exc:
        raise UsageError(str(exc)) from None
