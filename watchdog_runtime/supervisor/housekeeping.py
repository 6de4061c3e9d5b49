"""The supervisor's periodic work, each loop a task the daemon owns and cancels: the resource
sampler (``sampler``), the uptime pings, the sleep watch and the registry watch.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..common.units import duration
from ..config import ConfigError
from ..events import EventLog, wall_iso
from .pacing import FAST_S
from .sampler import sample_forever as sample_forever  # noqa: PLC0414 - serving starts it from here
from .sleepwatch import SleepDetector
from .ticks import sleep_to_tick

if TYPE_CHECKING:
    from .supervisor import Supervisor

log = logging.getLogger(__name__)

FAST_SAMPLE_S = FAST_S
"""How often a bot past half of its memory or open-files limit is read (``pacing``)."""

RECENT_SLEEP_S = 120.0
"""An exit this soon after the machine woke is put down to the sleep."""


# ------------------------------------------------------------- uptime pings
async def ping_forever(sup: Supervisor) -> None:
    """``[uptime]``: request the URL every interval while all is well (the supervisor runs
    and no bot has given up), so a silent machine is noticed by the service watching it."""
    while True:
        try:
            config = sup.settings()
        except ConfigError:
            config = None
        interval = config.uptime_interval_s if config else 60.0
        if config and config.uptime_url and sup.healthy():
            await asyncio.to_thread(ping, config.uptime_url)
        await sleep_to_tick(interval)  # on the housekeeping grid (``ticks``): no wake of its own


def ping(url: str) -> None:
    """One uptime ping; a failure is logged, never raised (the service will notice)."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read(1024)
    except (OSError, ValueError) as exc:
        log.warning("uptime ping to %s failed: %s", url.split("?")[0], exc)


# --------------------------------------------------------------- sleep watch
class SleepWatch:
    """The machine's sleeps while the supervisor runs: each said once (an event, the log),
    the last one kept for the status and for the diagnosis of an exit just after it."""

    def __init__(self, detector: SleepDetector | None, events: EventLog) -> None:
        self._detector = detector
        self._events = events
        self.last: dict[str, Any] | None = None
        """The last sleep: when, how long, the message, and when it was noticed (monotonic)."""

    def check(self) -> None:
        """Notice a sleep of the machine since the last check: an event and the status say so."""
        slept = self._detector.check() if self._detector else None
        if slept is None:
            return
        message = (f"the machine was asleep for {duration(slept.seconds)}: no bot was watched "
                   f"meanwhile; run wdbot as a service on a machine that does not sleep")
        self.last = {"at": wall_iso(), "asleep_s": slept.seconds, "message": message,
                     "noticed_mono": slept.noticed_mono}
        self._events.write("sleep", asleep_s=slept.seconds, message=message)
        log.warning("%s", message)

    def recent(self, now: float, within_s: float = RECENT_SLEEP_S) -> float | None:
        """Seconds the machine slept, if it woke less than ``within_s`` before ``now``."""
        if self.last and now - self.last["noticed_mono"] <= within_s:
            return float(self.last["asleep_s"])
        return None


async def watch_sleep(sup: Supervisor, interval_s: float = 30.0) -> None:
    """:meth:`SleepWatch.check` every ``interval_s`` (on the housekeeping grid, ``ticks``)
    until cancelled. Seldom is enough: the clocks' difference adds up whenever it is read, and
    an exit asks at once (``Supervisor.slept_recently``); the watch only says a sleep no exit
    followed."""
    while True:
        await sleep_to_tick(interval_s)
        sup.check_sleep()


# ------------------------------------------------------------ lean bytecode
async def fill_bytecode_cache(sup: Supervisor) -> None:
    """Once, after ``leanbytecode.fill_after_s``: fill this interpreter's cache of the
    supervisor's lean bytecode when it is missing, so the next supervisor runs lean."""
    from ..common import leanbytecode

    if not leanbytecode.needs_fill(sup.home.root):
        return
    await asyncio.sleep(leanbytecode.fill_after_s())
    if not leanbytecode.needs_fill(sup.home.root):
        return  # another supervisor (of a home sharing the cache) did it meanwhile
    from .bytecodejob import run_to_end

    # Its errors go to this supervisor's own log (its stderr): no pipe for the loop to read.
    code = await run_to_end(leanbytecode.fill_argv(sup.home.root))
    if code:
        log.warning("filling the lean bytecode cache exited %s", code)
    else:
        log.info("lean bytecode cached in %s: the next supervisor runs lean",
                 leanbytecode.cache_dir(sup.home.root))


# ------------------------------------------------------------ registry watch
async def sweep_scratch() -> None:
    """Once, at the start: the install machinery's scratch folders that a supervisor killed
    mid-probe left in the temporary directory (``installs.scratch``)."""
    from ..installs.scratch import sweep

    for path in await asyncio.to_thread(sweep):
        log.info("removed %s, left by a process that no longer runs", path)


REGISTRY_LOOK_S = 5.0
"""How often the registry file is looked at while it reads well (on the housekeeping grid,
``ticks``): a command looks before it acts, so only a file broken or fixed by hand between
commands waits for this look."""
REGISTRY_BROKEN_LOOK_S = 1.0
"""How often while it cannot be read: the fix is taken up (and the bots supervised) soon."""


async def watch_registry(sup: Supervisor) -> None:
    """``check_registry`` until cancelled: a broken file is said (an alert) within
    ``REGISTRY_LOOK_S``, a fixed one taken up within ``REGISTRY_BROKEN_LOOK_S``, without
    waiting for a command. Seldom while all is well (issue 29: each wake of an idle supervisor
    costs CPU); a failed write has its own retry (``registrywriter.RETRY_S``)."""
    while True:
        await sleep_to_tick(REGISTRY_LOOK_S if sup.unreadable is None else REGISTRY_BROKEN_LOOK_S)
        try:
            sup.check_registry()
        except Exception:  # noqa: BLE001 - the watch must outlive a surprise
            log.exception("checking the registry failed")
        sup.writer.flush_quietly()
