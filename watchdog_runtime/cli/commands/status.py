"""``wdbot status`` (``ls``): the bots at a glance or one in detail, refreshed with
``--watch``, as JSON with ``--json``, and the probes ``--check`` (readiness) and ``--live``
(liveness). rich loads only when it draws."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from ...common.control import NoSupervisor, RequestFailed, request
from ...common.home import Home
from ..client import call, registered, unreadable
from ..errors import UsageError

if TYPE_CHECKING:
    from ...redaction import Redactor
    from . import Subcommands

LIVE_TIMEOUT_S = 3.0
"""``status --live``: the longest the supervisor may take to answer (keep a probe's above)."""
WATCH_PLAIN_S = 2.0
"""``status --watch`` off a terminal: one plain snapshot this often (a log is read, not watched)."""


def register(sub: Subcommands) -> None:
    """Add ``status`` (and its alias ``ls``) to the subcommands ``sub``."""
    p = sub.add_parser("status", aliases=["ls"], help="show the bots ('ls' is the same)")
    p.add_argument("name", metavar="NAME", nargs="?")
    p.add_argument("--json", action="store_true", help="print the status document")
    p.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when the supervisor or a bot is unhealthy (a readiness check)")
    p.add_argument("--live", action="store_true",
                   help="exit 0 when the supervisor answers, whatever its bots do (a liveness check)")
    p.set_defaults(func=cmd_status)


def cmd_status(ns: argparse.Namespace, home: Home) -> int:
    from ...common.control import is_running

    if ns.live:
        return _live(ns, home)

    def fetch() -> dict[str, Any]:
        doc: dict[str, Any] = call(home, "status", name=ns.name, announce="status")
        return doc

    try:  # a running supervisor answers at once: no registry read, no launcher (issue 29)
        doc: dict[str, Any] = request(home, "status", name=ns.name)
    except NoSupervisor:
        why = unreadable(home)
        if not is_running(home) and (ns.check or not (registered(home) or why)):
            return _no_supervisor(ns, home, why)
        doc = fetch()
    if ns.json:
        print(json.dumps(doc, indent=2))
    else:
        _draw(ns, home, doc, fetch)
    return _health(doc) if ns.check else 0


def _no_supervisor(ns: argparse.Namespace, home: Home, why: str | None) -> int:
    """No supervisor runs, and none is started to say what the registry already says."""
    if ns.check:
        if why:
            print(f"unhealthy: {why}", file=sys.stderr)
        print(f"unhealthy: no supervisor is running for {home.root}", file=sys.stderr)
        return 1
    if ns.name:
        raise UsageError(f"no bot named {ns.name!r}; see 'wdbot status'")
    if ns.json:
        print(json.dumps({"supervisor": None, "bots": []}))
    else:
        print(f"no bots registered in {home.root}: add one with 'wdbot start BOT.py'")
    return 0


def _health(doc: dict[str, Any]) -> int:
    """``status --check``: 1, with why on stderr, when the registry or a bot is unhealthy."""
    if doc["supervisor"].get("registry_unreadable"):
        print(f"unhealthy: {doc['supervisor']['registry_unreadable']['message']}", file=sys.stderr)
        return 1
    bad = [b["name"] for b in doc["bots"] if b["state"] in ("errored", "backoff")]
    if bad:
        print(f"unhealthy: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


def _draw(ns: argparse.Namespace, home: Home, doc: dict[str, Any],
          fetch: Callable[[], dict[str, Any]]) -> None:
    """The snapshot on the terminal (or a pipe), once or until Ctrl-C with ``--watch``."""
    from rich.console import Console

    from ...redaction import Redactor
    from ..render import WIDE

    console = Console()  # off a terminal: no colours, no cursor moves
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=WIDE)  # a log or a pipe: every column, not rich's 80
    console.on_broken_pipe = _raise_broken_pipe  # type: ignore[method-assign] # rich exits 1
    redact = Redactor(home.secrets)
    if ns.watch:
        _watch(console, lambda: _screen(home, fetch(), ns.name, console.width, redact))
    else:
        console.print(_screen(home, doc, ns.name, console.width, redact))


def _raise_broken_pipe() -> NoReturn:
    raise BrokenPipeError  # to main, which ends quietly with 0


def _live(ns: argparse.Namespace, home: Home) -> int:
    """``status --live``: the supervisor answers its socket (a bot's state never matters)."""
    if ns.name or ns.check or ns.watch or ns.json:
        raise UsageError("--live takes no NAME and no other option: it asks the supervisor only")
    try:
        pid = request(home, "ping", timeout_s=LIVE_TIMEOUT_S)["pid"]
    except (NoSupervisor, RequestFailed, OSError) as exc:
        why = f"no supervisor is running for {home.root}" if isinstance(exc, NoSupervisor) else str(exc)
        print(f"not live: {why}", file=sys.stderr)
        return 1
    print(f"live: supervisor {pid} answers")
    return 0


def _screen(home: Home, doc: dict[str, Any], name: str | None, width: int, redact: Redactor) -> Any:
    """The status snapshot (the document, plus the event log and logs read here) rendered;
    what is read here is redacted here (the bot's stderr quotes what it likes)."""
    from ...common.home import BotPaths
    from ...common.logfiles import tail_lines
    from ...events import read_events
    from ..render import bot_detail, dashboard

    if name is None:
        return dashboard(doc, redact(read_events(home.events, 8)), width)
    paths = BotPaths(home.bot_dir(name))
    exits = read_events(home.events, 5, bot=name, kinds=frozenset({"exit"}))
    return bot_detail(doc["bots"][0], redact(exits), redact(tail_lines(paths.stderr_log, 10)), width)


def _watch(console: Any, screen: Callable[[], Any]) -> None:
    """Redraw in place about once a second until Ctrl-C (rich's Live: no flicker)."""
    import threading

    from rich.live import Live

    tick = threading.Event()
    try:
        if not console.is_terminal:  # a pipe or a log: a plain snapshot per refresh, never cursor moves
            while True:
                console.print(screen())
                console.print()
                console.file.flush()
                tick.wait(WATCH_PLAIN_S)
        with Live(screen(), console=console, auto_refresh=False) as live:
            while not tick.wait(1.0):
                live.update(screen(), refresh=True)
    except KeyboardInterrupt:
        return  # Ctrl-C is how --watch ends
