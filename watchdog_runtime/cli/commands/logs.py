"""``wdbot logs``, ``flush`` and ``events``: a bot's output (or every bot's, merged), its
logs emptied in place, and the supervisor's event log; none of them starts a supervisor."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...common.home import BOT_NAME_RE, Home
from ..client import is_known_bot, refuse_while_unreadable, registered
from ..errors import UsageError

if TYPE_CHECKING:
    from . import Subcommands


def register(sub: Subcommands) -> None:
    """Add ``logs``, ``flush`` and ``events`` to the subcommands ``sub``."""
    p = sub.add_parser("logs", help="show a bot's output (no NAME: every bot's, each line 'NAME | ')")
    p.add_argument("name", metavar="NAME", nargs="?")
    p.add_argument("-n", "--lines", type=int, default=20, metavar="N", help="how many lines (default 20)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--stdout", action="store_true", help="stdout only")
    which.add_argument("--stderr", action="store_true", help="stderr only")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("flush", help="empty the logs of a bot (or of every bot), safely while they write")
    p.add_argument("name", metavar="NAME", nargs="?")
    p.set_defaults(func=cmd_flush)

    p = sub.add_parser("events", help="the supervisor's event log (starts, exits and why, installs, ...)")
    p.add_argument("name", metavar="NAME", nargs="?", help="only this bot's events")
    p.add_argument("-n", "--lines", type=int, default=20, metavar="N", help="how many events (default 20)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    p.add_argument("--json", action="store_true", help="the raw JSON lines")
    p.set_defaults(func=cmd_events)


def cmd_logs(ns: argparse.Namespace, home: Home) -> int:
    from ...common.home import BotPaths
    from .. import logs

    if ns.name is None:
        return _all_logs(ns, home)
    if not is_known_bot(home, ns.name):
        raise UsageError(f"no bot named {ns.name!r}; see 'wdbot status'")
    paths = BotPaths(home.bot_dir(ns.name))
    files = [("stdout", paths.stdout_log), ("stderr", paths.stderr_log)]
    if ns.stdout or ns.stderr:
        files = [files[0] if ns.stdout else files[1]]
    since = logs.ends(files)
    logs.show(files, ns.lines)
    if ns.follow:
        try:
            logs.follow(files, since=since)
        except KeyboardInterrupt:
            return 0
    return 0


def _all_logs(ns: argparse.Namespace, home: Home) -> int:
    """``wdbot logs`` without a name: every registered bot's lines, merged by time as best the
    files allow, each line ``NAME | `` (PM2's ``pm2 logs``)."""
    from ...common.home import BotPaths
    from .. import logs

    refuse_while_unreadable(home)  # 'no bots' would be a lie: they are unknown
    names = sorted(registered(home))
    if not names:
        print(f"no bots registered in {home.root}: add one with 'wdbot start BOT.py'", file=sys.stderr)
        return 0
    files: list[tuple[str, Path]] = []
    for name in names:
        paths = BotPaths(home.bot_dir(name))
        wanted = ((paths.stdout_log, not ns.stderr), (paths.stderr_log, not ns.stdout))
        files += [(name, p) for p, on in wanted if on]
    since = logs.ends(files)
    logs.interleaved(files, ns.lines)
    if ns.follow:
        try:
            logs.follow(files, since=since, prefixed=True)
        except KeyboardInterrupt:
            return 0
    return 0


def cmd_flush(ns: argparse.Namespace, home: Home) -> int:
    """Empty the bots' logs and their rotated copies in place (never a supervisor started)."""
    from ...common.home import BotPaths
    from ...common.logrotate import empty_all
    from ...common.units import size

    if ns.name is not None and (not BOT_NAME_RE.fullmatch(ns.name) or not is_known_bot(home, ns.name)):
        raise UsageError(f"no bot named {ns.name!r}; see 'wdbot status'")
    if ns.name is None:
        refuse_while_unreadable(home)  # 'no bots' would be a lie: they are unknown
    names = [ns.name] if ns.name else sorted(registered(home))
    for name in names:
        paths = BotPaths(home.bot_dir(name))
        freed = empty_all(paths.stdout_log) + empty_all(paths.stderr_log)
        print(f"{name}: logs emptied ({size(freed)} freed)")
    if not names:
        print(f"no bots registered in {home.root}")
    return 0


def cmd_events(ns: argparse.Namespace, home: Home) -> int:
    from ...events import event_line, parse_event, read_events
    from ...redaction import Redactor
    from .. import logs

    if ns.name and not is_known_bot(home, ns.name):
        raise UsageError(f"no bot named {ns.name!r}; see 'wdbot status'")
    redact = Redactor(home.secrets)  # events written before a value was set are shown hidden too

    def shown(event: dict[str, Any]) -> str:
        event = redact(event)
        return json.dumps(event) if ns.json else event_line(event)

    files = [("events", home.events)]
    since = logs.ends(files)
    for event in read_events(home.events, ns.lines, bot=ns.name):
        print(shown(event))
    sys.stdout.flush()
    if ns.follow:
        def transform(line: str) -> str | None:
            event = parse_event(line)
            return shown(event) if event and (not ns.name or event.get("bot") == ns.name) else None

        try:
            logs.follow(files, transform=transform, since=since)
        except KeyboardInterrupt:
            return 0
    return 0
