"""A kernel memory limit for bots where the supervisor's own cgroup cannot give one: a
transient systemd scope per bot (``systemd-run --scope -p MemoryMax=``).

Under systemd older than 254 (Debian 12's 252, Ubuntu 22.04's 249) the unit's
``DelegateSubgroup=`` is unknown, systemd starts the supervisor at the top of its delegated
cgroup, and the supervisor rightly enables no controllers there (``cgroupplan``): a restarted
service would be refused its own cgroup. The same holds on a hybrid layout, where the memory
controller stays on cgroup v1. So a bot with ``--max-memory`` is started through
``systemd-run --scope``: systemd makes a scope unit for it, moves it there and sets the limit
(``memory.max`` on cgroup v2, ``memory.limit_in_bytes`` on v1), and ``systemd-run`` then
execs the bot in place, so its pid, session, environment and output are the supervisor's
child's as before. The scope belongs to systemd, not to the supervisor's cgroup: it outlives
a supervisor restart (the next one adopts the bot by its marker, as always), needs no
controller in the unit's cgroup, and goes away with the bot (``--collect``). It is ordered
after the supervisor's unit, so at a host's shutdown systemd stops the supervisor, which stops
the bot gracefully, before it stops the scope.

Used only where a trial scope worked when the supervisor started (``available``): under a
systemd unit, ``systemd-run`` on the PATH, and the manager answering.

Until the manager has answered (40 to 65 ms under systemd 252 here), the new process is
``systemd-run`` itself, still in the supervisor's cgroup: a start is answered only once it is in
its scope (``settled``), as a bot with a cgroup of the supervisor's is joined to it before its
start is answered.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from .cgroupplan import MARKER_WALK, Containment

TRIAL_TIMEOUT_S = 10.0
SETTLE_BOUND_S = 30.0
"""How long a start waits for the manager to put the bot into its scope (``systemd-run``'s
own D-Bus call gives up after 25 s)."""
SETTLE_EVERY_S = 0.005


def available(environ: Mapping[str, str] = os.environ, euid: int | None = None) -> bool:
    """A trial scope can be made now (we run under a systemd unit whose manager answers)."""
    if "INVOCATION_ID" not in environ or shutil.which("systemd-run") is None:
        return False  # not started by systemd: no manager of ours to ask
    argv = ["systemd-run", *_user(euid), "--scope", "--quiet", "--collect", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=TRIAL_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _user(euid: int | None) -> list[str]:
    """``--user`` for a user manager's supervisor (a user unit), none for the system's."""
    return [] if (os.geteuid() if euid is None else euid) == 0 else ["--user"]


def unit_name(containment: Containment, bot: str, run_id: str) -> str:
    """The bot's scope: the supervisor's unit, the bot, the run (a restart gets a new one).

    >>> from pathlib import Path
    >>> from watchdog_runtime.supervisor.cgroupplan import Containment, Layout
    >>> c = Containment(Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/system.slice/wdbot-0123abcd.service"),
    ...                 Layout.DELEGATED, False, controllers=False, scopes=True)
    >>> unit_name(c, "grid", "f00dfeed0000")
    'wdbot-0123abcd-grid-f00dfeed.scope'
    """
    owner = containment.base.name.removesuffix(".service")
    return f"{owner}-{bot}-{run_id[:8]}.scope"


def prefix(containment: Containment | None, bot: str, max_memory_bytes: int | None, run_id: str,
           euid: int | None = None) -> list[str]:
    """What goes before the bot's argv: ``systemd-run --scope`` with its limit, or nothing
    (no limit asked, or scopes not available: the RSS watch alone holds the limit)."""
    if containment is None or not containment.scopes or not max_memory_bytes:
        return []
    after = [f"--property=After={containment.base.name}"] if containment.base.name.endswith(".service") \
        else []
    return ["systemd-run", *_user(euid), "--scope", "--quiet", "--collect",
            f"--unit={unit_name(containment, bot, run_id)}",
            f"--property=MemoryMax={max_memory_bytes}", *after, "--"]


def takes(containment: Containment | None, max_memory_bytes: int | None) -> bool:
    """The bot goes into a scope, not into a cgroup of the supervisor's (its bootstrap would
    move it out of the scope again)."""
    return containment is not None and containment.scopes and bool(max_memory_bytes)


def describe(containment: Containment | None, max_memory_bytes: int | None, scope: str | None = None) -> str:
    """The containment of a bot outside the supervisor's cgroups, for ``status NAME``:
    ``scope``, the unit its live process was seen in (None: not seen in one)."""
    if scope is not None:
        return (f"a systemd scope of its own ({scope}, MemoryMax={max_memory_bytes}); its tree found "
                "by the process marker walk")
    if takes(containment, max_memory_bytes):
        return ("no systemd scope (systemd-run did not move it into one: see the supervisor's log); "
                "--max-memory held by the RSS watch alone, its tree found by the process marker walk")
    return MARKER_WALK


async def settled(pid: int, unit: str, alive: Callable[[], bool], bound_s: float = SETTLE_BOUND_S,
                  clock: Callable[[], float] = time.monotonic) -> bool:
    """Wait until process ``pid`` is in scope ``unit`` (``systemd-run`` moves itself there,
    then execs the bot); False when it is gone first or past ``bound_s``. Polled: the move
    sends no event we could wait on."""
    deadline = clock() + bound_s
    while scope_of(pid) != unit:
        if not alive() or clock() > deadline:
            return False
        await asyncio.sleep(SETTLE_EVERY_S)
    return True


def own_scope(containment: Containment | None, bot: str, max_memory_bytes: int | None,
              pid: int) -> str | None:
    """The scope of bot ``bot`` that process ``pid`` is in (an adopted bot's), or None: never
    another unit's scope (a login session's, say) taken for the bot's own."""
    if containment is None or not takes(containment, max_memory_bytes):
        return None
    found = scope_of(pid)
    owner = unit_name(containment, bot, "")
    return found if found is not None and found.startswith(owner.removesuffix(".scope")) else None


def scope_of(pid: int) -> str | None:
    """The systemd unit a process is in, from its cgroup v2 path (for ``status``)."""
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("0::"):
            name = line[3:].rstrip("/").rsplit("/", 1)[-1]
            return name if name.endswith(".scope") else None
    return None
