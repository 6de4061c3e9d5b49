"""The ``wdbot`` command: a thin argparse layer over the control client.

Heavy modules (asyncio, rich, psutil, watchfiles) are imported inside the commands that need
them, so ``wdbot --help`` and quick commands stay fast. Exit status: 0 success, 1 the
operation failed, 2 a usage error; a user mistake is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .. import __version__
from ..common.control import NoSupervisor, RequestFailed, request
from ..common.home import BOT_NAME_RE, Home, HomeError
from ..spec import BotSpec, SpecError, add_spec_options, spec_options

if TYPE_CHECKING:
    from ..redaction import Redactor

LIVE_TIMEOUT_S = 3.0
"""``status --live``: the longest the supervisor may take to answer (keep a probe's above)."""
WATCH_PLAIN_S = 2.0
"""``status --watch`` off a terminal: one plain snapshot this often (a log is read, not watched)."""
START_TIMEOUT_S = 1800.0  # a first start may build a venv and install large packages
STOP_MARGIN_S = 30.0


class UsageError(Exception):
    """A mistake in the command line: exit 2."""


class Failure(Exception):
    """The operation failed: exit 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, naming the fix, instead of argparse's usage dump.
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wdbot", description="Keeps trading bots alive and makes every restart safe.")
    parser.add_argument("--version", action="version", version=f"wdbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("start", help="register a bot file and start it")
    p.add_argument("path", metavar="PATH", help="the bot's .py file (or the name of a registered bot)")
    p.add_argument("--name", help="the bot's name (default: the file's stem)")
    add_spec_options(p)
    p.set_defaults(func=cmd_start)

    for name, helptext, func in (("stop", "stop bots gracefully", cmd_stop),
                                 ("restart", "stop, then start bots (with new options: one NAME and "
                                             "the start options to change, like PM2's --update-env)",
                                  cmd_restart)):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("names", metavar="NAME", nargs="*")
        p.add_argument("--all", action="store_true", help="every registered bot")
        if name == "restart":
            add_spec_options(p)
        p.set_defaults(func=func)

    p = sub.add_parser("remove", help="stop a bot and forget it")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--purge", action="store_true", help="also delete its venv, logs and state")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("status", aliases=["ls"], help="show the bots ('ls' is the same)")
    p.add_argument("name", metavar="NAME", nargs="?")
    p.add_argument("--json", action="store_true", help="print the status document")
    p.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when the supervisor or a bot is unhealthy (a readiness check)")
    p.add_argument("--live", action="store_true",
                   help="exit 0 when the supervisor answers, whatever its bots do (a liveness check)")
    p.set_defaults(func=cmd_status)

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

    p = sub.add_parser("allow", help="let auto-install install DIST for import name MODULE")
    p.add_argument("pairs", metavar="MODULE=DIST", nargs="*",
                   help="an import name and the PyPI distribution that provides it")
    p.add_argument("--remove", metavar="MODULE", action="append", default=[],
                   help="take a pair off the list (repeatable)")
    p.add_argument("--list", action="store_true", help="show the pairs (the default with no pair)")
    p.set_defaults(func=cmd_allow)

    p = sub.add_parser("daemon", help="run the supervisor in the foreground")
    p.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    p.add_argument("--metrics", metavar="HOST:PORT",
                   help="serve Prometheus metrics there, and the probes /livez and /readyz (off by default)")
    p.add_argument("--up", metavar="FILE.toml",
                   help="once serving, start or update the bots of this up-file (see 'wdbot up')")
    p.add_argument("--tee-logs", action="store_true",
                   help="also write every bot's lines to this daemon's stdout, as 'NAME | line'")
    p.set_defaults(func=cmd_daemon)

    p = sub.add_parser("run", help="run a bot in the foreground, in its venv, as the supervisor would "
                                   "(Ctrl-C is a stop), to try it before 'wdbot start'")
    p.add_argument("path", metavar="PATH", help="the bot's .py file")
    p.add_argument("--name", help="the bot's name, whose venv and state it uses (default: the file's stem)")
    add_spec_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("up", help="start or update the bots of a TOML file (see README)")
    p.add_argument("file", metavar="FILE.toml")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("secret", help="a bot's secrets, encrypted at rest (wd.connection reads them)")
    p.add_argument("action", choices=("set", "list", "rm"))
    p.add_argument("bot", metavar="BOT", nargs="?")
    p.add_argument("name", metavar="CONNECTION[.FIELD]", nargs="?",
                   help="like binance.apiKey: the value comes from a hidden prompt or stdin, never "
                        "argv; a CONNECTION alone (set): KEY=VALUE lines from stdin (a .env file)")
    p.add_argument("--force", action="store_true",
                   help="set: store it for a BOT not registered (yet): the name is then not checked")
    p.set_defaults(func=cmd_secret)

    p = sub.add_parser("notify", help="alerts: send a test message to every configured URL")
    p.add_argument("action", choices=("test",))
    p.set_defaults(func=cmd_notify)

    p = sub.add_parser("service", help="run the supervisor as a systemd or launchd service")
    p.add_argument("action", choices=("install", "uninstall", "print"))
    p.add_argument("--system", action="store_true",
                   help="a system unit (needs root) running as --user, instead of a user unit")
    p.add_argument("--user", metavar="NAME", help="the account of a --system unit (default: you)")
    p.add_argument("--metrics", metavar="HOST:PORT", help="the daemon serves Prometheus metrics there")
    p.add_argument("--web", metavar="HOST:PORT", nargs="?", const="127.0.0.1:8377",
                   help="also a unit for 'wdbot web' (default 127.0.0.1:8377)")
    p.add_argument("--telegram", action="store_true", help="also a unit for 'wdbot telegram'")
    p.set_defaults(func=cmd_service)

    p = sub.add_parser("web", help="the dashboard in a browser (loopback, login, see README)")
    from ..web.options import add_options  # argparse only: Starlette loads in cmd_web

    add_options(p)
    p.set_defaults(func=cmd_web)

    from .telegram import register as register_telegram  # issue 27: wdbot telegram

    register_telegram(sub)

    p = sub.add_parser("shutdown", help="stop the supervisor (and its bots)")
    p.add_argument("--keep-bots", action="store_true", help="leave the bots running")
    p.set_defaults(func=cmd_shutdown)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wdbot`` command; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    bot_args: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, bot_args = args[:cut], args[cut + 1:]
    if args[:2] == ["secret", "set"] and len([a for a in args[2:] if a != "--force"]) > 2:
        # Never echo it back (argparse would, as an unrecognised argument): it is a secret.
        print("wdbot secret: error: a value never comes from the command line (it would stay in "
              "your shell history); run 'wdbot secret set BOT NAME' and type it at the prompt, "
              "or pipe it in", file=sys.stderr)
        return 2
    ns = build_parser().parse_args(args)
    if bot_args and ns.command not in ("start", "restart", "run"):
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


# -------------------------------------------------------------------- helpers
def _raise_broken_pipe() -> NoReturn:
    raise BrokenPipeError  # to main, which ends quietly with 0


def _reader_gone() -> int:
    """``wdbot logs NAME | head``: the reader closed the pipe, which is what it wanted, so end
    quietly with 0. Python's recipe: point stdout at /dev/null, so the flush at exit that
    would fail again (a traceback, exit 120) writes nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 0


def _call(home: Home, op: str, *, launch: bool = True, timeout_s: float = 30.0, announce: bool = False,
          **args: Any) -> Any:
    """Send a request, starting the home's supervisor first when ``launch`` and none runs
    (said in one line on stderr when ``announce``: a command that is no start of its own)."""
    if launch:
        from .launcher import LaunchError, ensure_supervisor

        try:
            launched = ensure_supervisor(home)
        except LaunchError as exc:
            raise Failure(str(exc)) from None
        if launched and announce:
            print(f"wdbot {op}: started a supervisor for {home.root} to answer ('wdbot shutdown' stops it)",
                  file=sys.stderr)
    try:
        return request(home, op, timeout_s=timeout_s, **args)
    except NoSupervisor:
        raise Failure(f"no supervisor is running for {home.root}; "
                      f"start one with 'wdbot daemon' or 'wdbot start'") from None


def _registered(home: Home) -> dict[str, Any]:
    from .. import registry

    return registry.read_only(home.registry)


def _unreadable(home: Home) -> str | None:
    """The one line saying why the registry cannot be read, or None."""
    from .. import registry

    found = registry.unreadable(home.registry)
    return found.message if found else None


def _refuse_while_unreadable(home: Home) -> None:
    """Commands that start, stop or forget a bot act on no file they cannot read (the
    supervisor refuses too: this also spares launching one, and a misread name)."""
    why = _unreadable(home)
    if why is not None:
        raise Failure(why)


def _build_spec(ns: argparse.Namespace) -> BotSpec:
    from ..spec import bot_file, requirements_file

    try:
        path = bot_file(ns.path)
        name = ns.name or path.stem
        if not BOT_NAME_RE.fullmatch(name):
            raise UsageError(f"bad bot name {name!r}: use letters, digits, '.', '_' or '-' (set --name)")
        options = spec_options(ns)
        if options.get("requirements"):
            options["requirements"] = requirements_file(options["requirements"])
        return BotSpec(name=name, path=str(path), args=tuple(ns.bot_args), **options)
    except SpecError as exc:
        raise UsageError(str(exc)) from None


# ------------------------------------------------------------------- commands
def cmd_start(ns: argparse.Namespace, home: Home) -> int:
    _refuse_while_unreadable(home)
    looks_like_name = not Path(ns.path).exists() and BOT_NAME_RE.fullmatch(ns.path) and "/" not in ns.path
    registered = _registered(home)
    if looks_like_name and not ns.path.endswith(".py") and ns.path in registered:
        return _start_registered(ns, home, registered[ns.path].spec)
    else:
        spec = _build_spec(ns)
        result = _call(home, "start", spec=spec.to_json(), timeout_s=START_TIMEOUT_S)
    note = " (already running)" if result.get("already") else ""
    print(f"{result['name']}: pid {result['pid']}, {result['state']}{note}")
    return 0


def _start_registered(ns: argparse.Namespace, home: Home, stored: BotSpec) -> int:
    """``start NAME``: the stored options, said in one line, or those given applied (a
    running bot with other options is refused by the supervisor: restart applies them)."""
    from .respec import given_options, respec, stored_line

    try:
        options = given_options(ns)
        spec = respec(stored, options, ns.bot_args) if options or ns.bot_args else None
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    if spec is None:
        result = _call(home, "start", name=stored.name, timeout_s=START_TIMEOUT_S)
        if not result.get("already"):
            print(stored_line(stored), file=sys.stderr)
    else:
        result = _call(home, "start", spec=spec.to_json(), timeout_s=START_TIMEOUT_S)
    note = " (already running)" if result.get("already") else ""
    print(f"{result['name']}: pid {result['pid']}, {result['state']}{note}")
    return 0


def cmd_run(ns: argparse.Namespace, home: Home) -> int:
    """``wdbot run BOT.py``: prepared as a start would, then the bot replaces this process."""
    from .respec import given_options, respec
    from .run import RunRefused, exec_bot, prepare, refuse_if_supervised

    _refuse_while_unreadable(home)
    spec = _build_spec(ns)
    stored = _registered(home).get(spec.name)
    if stored is not None and stored.spec.path != spec.path:
        raise UsageError(f"a bot named {spec.name!r} is registered for {stored.spec.path}; "
                         f"choose another name with --name")
    if stored is not None:  # its stored options (its --env), with those given here on top
        try:
            spec = respec(stored.spec, given_options(ns), ns.bot_args)
        except SpecError as exc:
            raise UsageError(str(exc)) from None
    try:
        refuse_if_supervised(home, spec, _supervised_state(home, spec.name) if stored else None)
        paths = prepare(home, spec, lambda line: print(line, file=sys.stderr))
    except RunRefused as exc:
        raise Failure(str(exc)) from None
    print(f"{spec.name}: running in the foreground (Ctrl-C stops it, its clean-up runs)", file=sys.stderr)
    exec_bot(home, spec, paths)


def _supervised_state(home: Home, name: str) -> str | None:
    """The bot's state as the running supervisor has it; None when no supervisor answers
    (asked without starting one)."""
    try:
        doc = request(home, "status", name=name)
    except (NoSupervisor, RequestFailed):
        return None
    bots = doc.get("bots") if isinstance(doc, dict) else None
    return str(bots[0]["state"]) if bots else None


def cmd_up(ns: argparse.Namespace, home: Home) -> int:
    from .upfile import UpFileError, load

    try:
        specs = load(Path(ns.file))
    except UpFileError as exc:
        raise UsageError(str(exc)) from None
    _refuse_while_unreadable(home)
    failed = 0
    for spec in specs:
        timeout = START_TIMEOUT_S + spec.stop_timeout_s + STOP_MARGIN_S
        try:
            result = _call(home, "start", spec=spec.to_json(), update=True, timeout_s=timeout)
        except RequestFailed as exc:
            print(f"{spec.name}: not started: {exc}", file=sys.stderr)
            failed += 1
            continue
        how = ("unchanged" if result.get("already") else
               "updated and restarted" if result.get("updated") else "started")
        print(f"{spec.name}: {how}, pid {result['pid']}, {result['state']}")
    others = sorted(set(_registered(home)) - {s.name for s in specs})
    if others:
        print(f"not in {ns.file}, left as they are: {', '.join(others)}")
    return 1 if failed else 0


def _stop_timeout(home: Home, names: list[str], all_: bool) -> float:
    specs = _registered(home)
    chosen = specs.values() if all_ else [specs[n] for n in names if n in specs]
    return max((r.spec.stop_timeout_s for r in chosen), default=10.0) + STOP_MARGIN_S


def _many(ns: argparse.Namespace, home: Home, op: str) -> int:
    if not ns.names and not ns.all:
        raise UsageError(f"name a bot, or use --all (see 'wdbot {op} --help')")
    _refuse_while_unreadable(home)
    timeout = _stop_timeout(home, ns.names, ns.all) + (START_TIMEOUT_S if op == "restart" else 0)
    for bot in _call(home, op, names=ns.names, all=ns.all, timeout_s=timeout):
        pid = f"pid {bot['pid']}, " if bot["pid"] else ""
        print(f"{bot['name']}: {pid}{bot['state']}")
    return 0


def cmd_stop(ns: argparse.Namespace, home: Home) -> int:
    return _many(ns, home, "stop")


def cmd_restart(ns: argparse.Namespace, home: Home) -> int:
    from .respec import given_options, respec

    try:
        options = given_options(ns)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    if not options and not ns.bot_args:
        return _many(ns, home, "restart")
    if ns.all or len(ns.names) != 1:
        raise UsageError("new options apply to one bot: name exactly one, like "
                         "'wdbot restart NAME --env KEY=VALUE'")
    _refuse_while_unreadable(home)
    name = ns.names[0]
    stored = _registered(home).get(name)
    if stored is None:
        raise UsageError(f"no bot named {name!r}; see 'wdbot status'")
    try:
        spec = respec(stored.spec, options, ns.bot_args)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    timeout = START_TIMEOUT_S + max(spec.stop_timeout_s, stored.spec.stop_timeout_s) + STOP_MARGIN_S
    result = _call(home, "start", spec=spec.to_json(), update=True, timeout_s=timeout)
    if result.get("already"):  # the same options: a plain restart, as asked
        return _many(ns, home, "restart")
    print(f"{result['name']}: pid {result['pid']}, {result['state']} (with the new options)")
    return 0


def cmd_remove(ns: argparse.Namespace, home: Home) -> int:
    _refuse_while_unreadable(home)
    result = _call(home, "remove", name=ns.name, purge=ns.purge,
                   timeout_s=_stop_timeout(home, [ns.name], False))
    print(f"{result['name']}: removed{' and purged' if result['purged'] else ''}")
    return 0


def cmd_status(ns: argparse.Namespace, home: Home) -> int:
    from ..common.control import is_running

    if ns.live:
        return _live(ns, home)
    unreadable = _unreadable(home)
    if not is_running(home) and (ns.check or not (_registered(home) or unreadable)):
        if ns.check:
            if unreadable:
                print(f"unhealthy: {unreadable}", file=sys.stderr)
            print(f"unhealthy: no supervisor is running for {home.root}", file=sys.stderr)
            return 1
        if ns.name:
            raise UsageError(f"no bot named {ns.name!r}; see 'wdbot status'")
        if ns.json:
            print(json.dumps({"supervisor": None, "bots": []}))
        else:
            print(f"no bots registered in {home.root}: add one with 'wdbot start BOT.py'")
        return 0
    def fetch() -> dict[str, Any]:
        doc: dict[str, Any] = _call(home, "status", name=ns.name, announce=True)
        return doc

    doc = fetch()
    if ns.json:
        print(json.dumps(doc, indent=2))
    else:
        from rich.console import Console

        from .render import WIDE

        console = Console()  # off a terminal: no colours, no cursor moves
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console = Console(width=WIDE)  # a log or a pipe: every column, not rich's 80
        console.on_broken_pipe = _raise_broken_pipe  # type: ignore[method-assign] # rich exits 1
        from ..redaction import Redactor

        redact = Redactor(home.secrets)
        if ns.watch:
            _watch(console, lambda: _screen(home, fetch(), ns.name, console.width, redact))
        else:
            console.print(_screen(home, doc, ns.name, console.width, redact))
    if ns.check:
        if doc["supervisor"].get("registry_unreadable"):
            print(f"unhealthy: {doc['supervisor']['registry_unreadable']['message']}", file=sys.stderr)
            return 1
        bad = [b["name"] for b in doc["bots"] if b["state"] in ("errored", "backoff")]
        if bad:
            print(f"unhealthy: {', '.join(bad)}", file=sys.stderr)
            return 1
    return 0


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
    from ..common.home import BotPaths
    from ..common.logfiles import tail_lines
    from ..events import read_events
    from .render import bot_detail, dashboard

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


def cmd_logs(ns: argparse.Namespace, home: Home) -> int:
    from ..common.home import BotPaths
    from . import logs

    if ns.name is None:
        return _all_logs(ns, home)
    if ns.name not in _registered(home) and not home.bot_dir(ns.name).is_dir():
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
    from ..common.home import BotPaths
    from . import logs

    _refuse_while_unreadable(home)  # 'no bots' would be a lie: they are unknown
    names = sorted(_registered(home))
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
    from ..common.home import BotPaths
    from ..common.logrotate import empty_all
    from ..common.units import size

    if ns.name is not None and (not BOT_NAME_RE.fullmatch(ns.name) or (
            ns.name not in _registered(home) and not home.bot_dir(ns.name).is_dir())):
        raise UsageError(f"no bot named {ns.name!r}; see 'wdbot status'")
    if ns.name is None:
        _refuse_while_unreadable(home)  # 'no bots' would be a lie: they are unknown
    names = [ns.name] if ns.name else sorted(_registered(home))
    for name in names:
        paths = BotPaths(home.bot_dir(name))
        freed = empty_all(paths.stdout_log) + empty_all(paths.stderr_log)
        print(f"{name}: logs emptied ({size(freed)} freed)")
    if not names:
        print(f"no bots registered in {home.root}")
    return 0


def cmd_events(ns: argparse.Namespace, home: Home) -> int:
    from ..events import event_line, parse_event, read_events
    from . import logs

    if ns.name and ns.name not in _registered(home) and not home.bot_dir(ns.name).is_dir():
        raise UsageError(f"no bot named {ns.name!r}; see 'wdbot status'")

    from ..redaction import Redactor

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


def cmd_allow(ns: argparse.Namespace, home: Home) -> int:
    from ..config import ConfigError, load_config, operator_pairs, update_allowed
    from ..installs.modmap import TableError, pairs_to_entries

    add: dict[str, str] = {}
    for pair in ns.pairs:
        module, sep, dist = pair.partition("=")
        try:
            if not sep:
                raise TableError("no '='")
            pairs_to_entries({module: dist})  # the same check the supervisor applies
        except TableError as exc:
            raise UsageError(f"bad pair {pair!r} ({exc}): use MODULE=DIST, an import name and a "
                             f"PyPI distribution name, like yaml=PyYAML") from None
        add[module] = dist
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


def _check_metrics(listen: str | None) -> None:
    """``--metrics HOST:PORT`` (of ``daemon`` and ``service``): one error line when malformed."""
    if listen:
        from ..supervisor.metrics import MetricsError, parse_listen

        try:
            parse_listen(listen)
        except MetricsError as exc:
            raise UsageError(str(exc)) from None


def cmd_daemon(ns: argparse.Namespace, home: Home) -> int:
    from ..supervisor.daemon import AlreadyRunning, run_daemon
    from ..supervisor.metrics import MetricsError

    _check_metrics(ns.metrics)
    up = _up_file(ns.up) if ns.up is not None else None  # a bad file: exit 2 before anything runs

    under_init = os.getpid() == 1

    def serve(ready_fd: int | None = ns.ready_fd) -> int:
        try:
            # boot: not launched by a command (--ready-fd), whether a person, a service
            # manager or the PID-1 init (which passes its own ready pipe) runs it.
            return run_daemon(home, ready_fd, metrics=ns.metrics, boot=ns.ready_fd is None,
                              under_init=under_init, up=up, tee_logs=ns.tee_logs)
        except AlreadyRunning as exc:
            print(f"wdbot daemon: error: {exc}", file=sys.stderr)
            return 1
        except MetricsError as exc:  # the port is taken, say
            print(f"wdbot daemon: error: {exc}", file=sys.stderr)
            return 1

    if under_init:  # a container's init: reap orphans, forward signals, restart (pid1.py)
        from ..supervisor.pid1 import run_as_init

        return run_as_init(serve)
    return serve()


def _up_file(raw: str) -> tuple[Path, list[BotSpec]]:
    """``daemon --up FILE``: the file read and checked whole, as ``wdbot up`` does."""
    from .upfile import UpFileError, load

    if not raw.strip():
        raise UsageError("--up needs a file: give the path of an up-file, like --up wdbot.toml")
    path = Path(raw).absolute()
    try:
        return path, load(path)
    except UpFileError as exc:
        raise UsageError(str(exc)) from None


def cmd_secret(ns: argparse.Namespace, home: Home) -> int:
    from ..secretstore import SecretError, SecretStore

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
    registered = _registered(home)
    if force or bot in registered or _unreadable(home) is not None:
        return
    known = f"the registered bots: {', '.join(sorted(registered))}" if registered else "no bot is registered"
    raise UsageError(f"no bot named {bot!r} ({known}); to set it before the bot's first start, "
                     f"add --force")


def _env_values(connection: str) -> dict[str, str]:
    """The bulk form: ``KEY=VALUE`` lines from stdin (never from a terminal, which would
    show them), all valid or none stored."""
    from ..secretstore import parse_env

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


def cmd_notify(ns: argparse.Namespace, home: Home) -> int:
    from ..config import ConfigError, load_config
    from ..supervisor.alerts import Alert, deliver_with_apprise

    try:
        urls = list(load_config(home.config).alerts.urls)
    except ConfigError as exc:
        raise Failure(str(exc)) from None
    for record in _registered(home).values():
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


def cmd_service(ns: argparse.Namespace, home: Home) -> int:
    import getpass

    from . import service

    user = ns.user or os.environ.get("SUDO_USER") or getpass.getuser()
    _check_metrics(ns.metrics)
    spec = service.ServiceSpec(home.root, home.id, sys.executable, system=ns.system, user=user,
                               metrics=ns.metrics)
    platform = "darwin" if sys.platform == "darwin" else "linux"
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    specs = [spec, *([_web_unit_spec(spec, ns.web)] if ns.web else []),
             *([spec.telegram_unit()] if ns.telegram else [])]
    for one in specs:
        path = service.unit_path(one, platform, Path.home(), config_home)
        if ns.action == "print":
            # Which unit and where it goes: a comment systemd ignores; stderr beside a plist,
            # where a comment before the XML declaration would break the file.
            where = f"# {path.name}: install it as {path} (or run 'wdbot service install')\n"
            print(where, end="", file=sys.stdout if platform == "linux" else sys.stderr)
            sys.stdout.write(service.render(one, platform).decode())
            continue
        try:
            act = service.install if ns.action == "install" else service.uninstall
            lines = act(one, platform, path, os.getuid())
        except service.ServiceError as exc:
            raise Failure(str(exc)) from None
        print("\n".join(lines))
    if ns.action == "print":
        return 0
    if ns.action == "install":
        note = service.running_note(spec, platform, _ping_quietly(home))
        if note:
            print(note)
    return 0


def _ping_quietly(home: Home) -> dict[str, Any] | None:
    """The home's supervisor's ``ping`` reply, or None when none answers (never launches one)."""
    try:
        reply = request(home, "ping", timeout_s=5.0)
    except (NoSupervisor, RequestFailed):
        return None
    return reply if isinstance(reply, dict) else None


def _web_unit_spec(spec: Any, listen: str) -> Any:
    """The dashboard's unit (``service --web``): loopback, or refused as ``wdbot web`` would."""
    from ..web.settings import WebUsageError, make_settings

    try:
        make_settings(listen)
    except WebUsageError as exc:
        raise UsageError(f"{exc} (for TLS or a proxy, adapt the unit of 'wdbot service print --web')") \
            from None
    return spec.web_unit(listen)


def cmd_web(ns: argparse.Namespace, home: Home) -> int:
    from ..web.command import run
    from ..web.settings import WebUsageError

    try:
        return run(ns, home)
    except WebUsageError as exc:
        raise UsageError(str(exc)) from None


def cmd_shutdown(ns: argparse.Namespace, home: Home) -> int:
    from .launcher import wait_exited, watch_exit

    try:
        result = request(home, "shutdown", keep_bots=ns.keep_bots)
    except NoSupervisor:
        print(f"no supervisor is running for {home.root}")
        return 0
    # What the supervisor does, not what was asked: a shutdown already under way keeps its kind.
    kept = bool(result.get("keep_bots", ns.keep_bots))
    successor = result.get("successor") if kept else None
    if isinstance(successor, str):  # its manager starts the next one at once: a hand-over
        return _handed_over(home, result["pid"], successor, watch_exit(result.get("pid")))
    timeout = _stop_timeout(home, [], True)
    if not wait_exited(home, timeout, result.get("pid")):
        raise Failure(f"the supervisor (pid {result['pid']}) did not exit within {timeout:.0f} s")
    if result.get("left_running"):
        print(f"supervisor {result['pid']} stopped; every bot was left running, since "
              f"{result['left_running']}")
        return 0
    if not kept:
        print(f"supervisor {result['pid']} stopped; its bots stay stopped until 'wdbot start' "
              f"(or restart, up), whatever starts a supervisor again{_after_shutdown(result)}")
    else:  # nobody restarts it: the next command does
        print(f"supervisor {result['pid']} stopped, bots left running; the next wdbot command "
              f"starts a supervisor that adopts them")
    return 0


def _after_shutdown(result: dict[str, Any]) -> str:
    """What the supervisor's manager does next, as the end of the shutdown's line."""
    manager = result.get("manager")
    kind, unit = (manager.get("kind"), manager.get("unit")) if isinstance(manager, dict) else (None, None)
    if kind == "init":
        return "; the container ends"
    if kind in ("systemd", "launchd"):
        how = "systemctl stop" if kind == "systemd" else "launchctl bootout"
        return f"; {kind} ({unit}) starts a new supervisor, which runs none of them ('{how}' stops it)"
    return ""


HANDOVER_WAIT_S = 30.0
"""How long ``shutdown --keep-bots`` waits for the manager's next supervisor (systemd's
``RestartSec=2``, launchd's 10 s throttle, the container init at once)."""


def _handed_over(home: Home, old: int, successor: str, gone: Callable[[float], bool]) -> int:
    """After ``shutdown --keep-bots`` under a manager that starts the next supervisor: say
    so only once that one answers and the old process is gone (issue 23, point 2: the
    message is what happened). No wait for a free home lock: the successor may take it at
    once (the container init), and a command holding it even briefly would turn it away."""
    import time

    deadline = time.monotonic() + HANDOVER_WAIT_S
    while time.monotonic() < deadline:
        try:
            pid = request(home, "ping").get("pid")
        except (NoSupervisor, RequestFailed, ConnectionError):  # reset: the old one is closing
            pid = None
        if isinstance(pid, int) and pid != old and gone(max(0.0, deadline - time.monotonic())):
            print(f"supervisor {old} handed over to supervisor {pid} (started by {successor}), "
                  f"which adopts the bots; bots left running")
            return 0
        time.sleep(0.1)
    raise Failure(f"supervisor {old} stopped, bots left running, but {successor} started no new "
                  f"supervisor within {HANDOVER_WAIT_S:.0f} s: 'wdbot status' starts one that adopts them")
