"""``wd.crash_point(name)``: kill the bot at a named point, to test its recovery. Stdlib only.

Set ``WDBOT_CRASH_AT`` to a comma-separated list of points, each ``NAME`` (its first pass) or
``NAME@N`` (its N-th pass within one run). The bot dies by ``SIGKILL``, as in a power cut or
the OOM killer: no ``finally``, no ``atexit``, no flush. Each point fires once per bot, ever:
a marker in the state folder keeps the restarted bot from dying at the same place again, so
the crash is followed by exactly one recovery. Outside a test the variable is unset and a
crash point costs one dictionary lookup.

``wd.State.save`` has a built-in point, ``mid_save``: half the new version is written to the
temporary file when it fires.
"""

from __future__ import annotations

import os
import signal

ENV = "WDBOT_CRASH_AT"
_passes: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Die here by SIGKILL when ``WDBOT_CRASH_AT`` names this point (see the module docs).

    >>> import os
    >>> os.environ.pop("WDBOT_CRASH_AT", None) and None
    >>> crash_point("after_entry")  # not armed: nothing happens
    """
    armed = os.environ.get(ENV)
    if not armed:
        return
    _passes[name] = _passes.get(name, 0) + 1
    for item in armed.split(","):
        point, _, nth = item.strip().partition("@")
        if point == name and _passes[name] == (int(nth) if nth.isdigit() else 1):
            _fire(name)


def _fire(name: str) -> None:
    from .. import state_dir
    from ..common.durable import atomic_write_bytes

    marker = state_dir() / f".crashed-{name}"
    if marker.exists():
        return  # fired in an earlier run: this run recovers instead
    atomic_write_bytes(marker, b"")
    print(f"wdbot crash point {name}: SIGKILL", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
