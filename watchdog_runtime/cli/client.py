"""What the commands ask of the home's supervisor and registry: a request (starting a
supervisor first when none runs), the registered bots, and how long a stop may take.

Nothing heavy at import: the launcher and the registry load inside the calls.
"""

from __future__ import annotations

import sys
from typing import Any

from ..common.control import NoSupervisor, RequestFailed, request
from ..common.home import Home
from .errors import Failure

START_TIMEOUT_S = 1800.0  # a first start may build a venv and install large packages
STOP_MARGIN_S = 30.0


def call(home: Home, op: str, *, launch: bool = True, timeout_s: float = 30.0, announce: str = "",
         **args: Any) -> Any:
    """Send a request, starting the home's supervisor first when ``launch`` and none runs
    (said in one line on stderr when ``announce``, the user's command that is no start of its
    own, such as ``halt``: the operation's name may not be the command typed)."""
    if launch:
        from .launcher import LaunchError, ensure_supervisor

        try:
            launched = ensure_supervisor(home)
        except LaunchError as exc:
            raise Failure(str(exc)) from None
        if launched and announce:
            print(f"wdbot {announce}: started a supervisor for {home.root} to answer"
                  " ('wdbot shutdown' stops it)", file=sys.stderr)
    try:
        return request(home, op, timeout_s=timeout_s, **args)
    except NoSupervisor:
        raise Failure(f"no supervisor is running for {home.root}; "
                      f"start one with 'wdbot daemon' or 'wdbot start'") from None


def ask_quietly(home: Home, op: str, timeout_s: float = 5.0, **args: Any) -> Any:
    """The running supervisor's reply, or None when none answers (never launches one)."""
    try:
        return request(home, op, timeout_s=timeout_s, **args)
    except (NoSupervisor, RequestFailed):
        return None


def registered(home: Home) -> dict[str, Any]:
    """The registered bots' records, by name (read, never written)."""
    from .. import registry

    return registry.read_only(home.registry)


def unreadable(home: Home) -> str | None:
    """The one line saying why the registry cannot be read, or None."""
    from .. import registry

    found = registry.unreadable(home.registry)
    return found.message if found else None


def refuse_while_unreadable(home: Home) -> None:
    """Commands that start, stop or forget a bot act on no file they cannot read (the
    supervisor refuses too: this also spares launching one, and a misread name)."""
    why = unreadable(home)
    if why is not None:
        raise Failure(why)


def is_known_bot(home: Home, name: str) -> bool:
    """A registered bot, or one whose folder is left (its logs and events still readable)."""
    return name in registered(home) or home.bot_dir(name).is_dir()


def stop_timeout(home: Home, names: list[str], all_: bool) -> float:
    """How long stopping these bots may take: the longest ``stop_timeout_s``, and a margin."""
    specs = registered(home)
    chosen = specs.values() if all_ else [specs[n] for n in names if n in specs]
    return max((r.spec.stop_timeout_s for r in chosen), default=10.0) + STOP_MARGIN_S
