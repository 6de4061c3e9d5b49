"""``wdbot service install|uninstall|print``: the supervisor (and the dashboard, ``--web``)
as a systemd or launchd unit; the units are rendered in ``cli/service.py``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...common.home import Home
from ..client import ask_quietly
from ..errors import Failure, UsageError
from .daemon import check_metrics

if TYPE_CHECKING:
    from . import Subcommands


def register(sub: Subcommands) -> None:
    """Add ``service`` to the subcommands ``sub``."""
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


def cmd_service(ns: argparse.Namespace, home: Home) -> int:
    import getpass

    from .. import service

    user = ns.user or os.environ.get("SUDO_USER") or getpass.getuser()
    check_metrics(ns.metrics)
    spec = service.ServiceSpec(home.root, home.id, sys.executable, system=ns.system, user=user,
                               metrics=ns.metrics)
    platform = "darwin" if sys.platform == "darwin" else "linux"
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    specs = [spec, *([_web_unit_spec(spec, ns.web)] if ns.web else []),
             *([spec.telegram_unit()] if ns.telegram else [])]
    if ns.action == "install" and (missing := _missing_extra(ns)):
        # A unit whose command exits at once for want of a package would restart forever.
        raise Failure(f"{missing}; nothing installed (then run 'wdbot service install' again)")
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
    reply = ask_quietly(home, "ping", timeout_s=5.0)
    return reply if isinstance(reply, dict) else None


def _missing_extra(ns: argparse.Namespace) -> str | None:
    """What to install first for the extra units asked (``--web``, ``--telegram``), or None."""
    from ...chat import command as chat
    from ...web.command import missing_extra

    if ns.web and (advice := missing_extra()):
        return advice
    return chat.EXTRA_HINT if ns.telegram and chat.missing_extra() else None


def _web_unit_spec(spec: Any, listen: str) -> Any:
    """The dashboard's unit (``service --web``): loopback, or refused as ``wdbot web`` would."""
    from ...web.settings import WebUsageError, make_settings

    try:
        make_settings(listen)
    except WebUsageError as exc:
        raise UsageError(f"{exc} (for TLS or a proxy, adapt the unit of 'wdbot service print --web')") \
            from None
    return spec.web_unit(listen)
