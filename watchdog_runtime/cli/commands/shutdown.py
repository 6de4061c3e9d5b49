"""``wdbot shutdown``: the supervisor stopped (its bots too, or left running with
``--keep-bots``), and what its manager does next said as it happens."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...common.control import NoSupervisor, RequestFailed, request
from ...common.home import Home
from ..client import stop_timeout
from ..errors import Failure

if TYPE_CHECKING:
    from . import Subcommands

HANDOVER_WAIT_S = 30.0
"""How long ``shutdown --keep-bots`` waits for the manager's next supervisor (systemd's
``RestartSec=2``, launchd's 10 s throttle, the container init at once)."""


def register(sub: Subcommands) -> None:
    """Add ``shutdown`` to the subcommands ``sub``."""
    p = sub.add_parser("shutdown", help="stop the supervisor (and its bots)")
    p.add_argument("--keep-bots", action="store_true", help="leave the bots running")
    p.set_defaults(func=cmd_shutdown)


def cmd_shutdown(ns: argparse.Namespace, home: Home) -> int:
    from ..launcher import wait_exited, watch_exit

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
    timeout = stop_timeout(home, [], True)
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
