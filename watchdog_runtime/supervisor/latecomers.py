"""Processes that join a bot's tree while a stop waits (a helper an ``on_shutdown`` launches
to cancel orders, a child a helper forks): each gets its one SIGTERM too, noted the instant
it is out and under the stop's deadline (``treestop``, ``graces``: no fresh grace).

Without it such a process got no SIGTERM at all, only the SIGKILL at the deadline: killed
mid-task, and the stop took its whole timeout. No event says that a process joined a cgroup
or the marker walk, so the stop looks again and again while it waits (``watching``).

A look signals a newcomer only once it can take the signal: SIGTERM's default action is
death, and a helper signalled before it set its handler would die before it cancelled
anything. So a newcomer that catches SIGTERM is signalled from the second look that finds
it on (a child between its fork and its ``exec`` shows the handler it inherited, which the
``exec`` drops; a look later it is past that), one that ignores it at the second look (the
signal is harmless, and it is its one). One that takes the default action (a shell line,
curl, a plain script cancelling orders) is never signalled early: the SIGTERM would only kill
it mid-task, where the stop's deadline leaves it the rest of ``--stop-timeout`` (a first
version signalled it after 2 s, and the red team's curl-style helper died before it had
cancelled). It is re-read at every look, so a helper that sets its handler later gets its
SIGTERM then; one that never does is SIGKILLed at the deadline, like every process that
outlives its stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import field
from typing import Any

from ..common.leandataclass import dataclass
from .procs import Disposition

log = logging.getLogger(__name__)

def ready(disposition: Disposition | None, seen_s: float) -> bool:
    """Whether a newcomer first found ``seen_s`` ago may have its SIGTERM now (pure).

    >>> ready(Disposition.CAUGHT, 0.0), ready(Disposition.CAUGHT, 0.1)  # first look: maybe pre-exec
    (False, True)
    >>> ready(Disposition.DEFAULT, 0.5), ready(Disposition.DEFAULT, 3600.0)  # it would only die of it
    (False, False)
    >>> ready(None, 0.0), ready(None, 0.1)  # gone, or no /proc: at the second look
    (False, True)
    """
    if disposition is Disposition.DEFAULT:
        return False
    return seen_s > 0.0


@dataclass
class Latecomers:
    """The members that join a stop under way, and whom the stop signalled or spared."""

    find: Callable[[], dict[int, Any]]
    """The members now, by pid (cgroup pids, or process identities from the walk)."""
    send: Callable[[list[Any]], list[int]]
    """SIGTERM to these members; the pids signalled."""
    term: Callable[[list[int]], frozenset[int]]
    """Asked before a batch is signalled: stores its deadlines (the stop's), and returns the
    pids to spare (noted by the supervisor this one replaces)."""
    noted: Callable[[list[int]], object]
    """Told right after a batch is signalled (``run/sigterms``)."""
    disposition: Callable[[int], Disposition | None]
    clock: Callable[[], float]
    done: set[int]
    """The pids signalled or spared already, by this stop or the one it finishes."""
    seen: dict[int, Any] = field(default_factory=dict)
    """Every member found so far (the walk's last phase starts from them)."""
    first_seen: dict[int, float] = field(default_factory=dict)
    born: Callable[[int], object] = lambda pid: None
    """When a pid's process started (None: gone, or unknown): a pid ``done`` knows that
    comes back with another start is a new process on a reused pid, and a newcomer."""
    births: dict[int, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.births.update((pid, self.born(pid)) for pid in self.done)

    def look(self) -> bool:
        """Find the members now and SIGTERM the newcomers that are ready; True when any
        newcomer was found (signalled or not yet)."""
        found = self.find()
        self.seen.update(found)
        self._forget_reused(found)
        now = self.clock()
        new = {pid: p for pid, p in sorted(found.items()) if pid not in self.done}
        for pid in new:
            if pid not in self.first_seen:
                self.first_seen[pid], self.births[pid] = now, self.born(pid)
        due = {pid: p for pid, p in new.items()
               if ready(self.disposition(pid), now - self.first_seen[pid])}
        if due:
            spare = self.term(list(due))
            sent = self.send([p for pid, p in due.items() if pid not in spare])
            self.noted(sent)
            self.done.update(due)
            if sent:
                log.info("SIGTERM to %s, joined during the stop: SIGKILL at its deadline", sent)
        return bool(new)

    def _forget_reused(self, found: dict[int, Any]) -> None:
        """Pids known (signalled, spared, or waiting for readiness) that another process
        holds now: that one is a newcomer of its own, with its own SIGTERM."""
        for pid in [p for p in found if p in self.births]:
            was, now = self.births[pid], self.born(pid)
            if was is not None and now is not None and was != now:
                self.done.discard(pid)
                self.first_seen.pop(pid, None)
                del self.births[pid]

    @contextlib.asynccontextmanager
    async def watching(self, every_s: tuple[float, float]) -> AsyncIterator[None]:
        """Look for newcomers while the block waits: every ``every_s[0]`` seconds, less often
        (up to ``every_s[1]``) while none comes."""
        task = asyncio.ensure_future(self._watch(*every_s))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self, first_s: float, most_s: float) -> None:
        pause = first_s
        while True:
            await asyncio.sleep(pause)
            try:
                pause = first_s if self.look() else min(most_s, pause * 2)
            except Exception:  # noqa: BLE001 - a failed look must not end the stop's wait
                log.exception("looking for processes that joined the stop")
