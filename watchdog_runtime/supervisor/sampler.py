"""The resource sampler: the loop that reads the running bots' trees and hands each reading
to its runner (which may restart the bot past a limit), each bot at its own pace
(``pacing``): on a grid of the interval while it could change soon, every ``FAST_S`` past
half of a limit, once per trend bucket (or every few, ``pacing.flat_every``) while flat and
far from every limit, peeked at (``cgroups.memory_now``) in the buckets between.

The loop sleeps until the next planned reading; a process that starts wakes it
(``livewatch.process_starts``), and it is read at once. One wake reads every bot due: in a
worker thread when one of them needs a walk of the process table, else on the loop. A bot
in a cgroup read before is read without a look into the cgroups below its own
(``cgroups.glance``), its whole tree every ``FULL_EVERY`` readings or when its processes
changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..records import boot_id
from . import cgroups, procs
from .livewatch import process_starts
from .pacing import Pace, Schedule, flat_every, memory_moved, next_reading, pace, young_s
from .resources import TreeSample, WatchSettings, trend_params
from .ticks import TICK_S, tick_at_or_after

if TYPE_CHECKING:
    from pathlib import Path

    from .supervisor import Supervisor

log = logging.getLogger(__name__)

FULL_EVERY = 6
"""A bot's whole tree is read at every sixth reading, the others glance at its cgroup's
files (issue 29: a glance is a third cheaper, and a bot seldom makes cgroups of its own)."""


class Sampler:
    """The pacing of every bot's readings, and the loop that takes them."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.schedule = Schedule()
        self.paces: dict[str, Pace] = {}
        """Each bot's pace at its last reading."""
        self._idents: dict[str, procs.ProcessIdentity] = {}
        self._glanced: dict[str, int] = {}
        self._flat: dict[str, int] = {}
        """How many readings in a row each bot was flat (``pacing.flat_every``)."""
        self._peeks: dict[str, tuple[int, float]] = {}
        """Bots read every few buckets: (peeks left before the next reading, bucket)."""
        self._memory_files: dict[str, tuple[Path, bool]] = {}
        """Each peeked bot's cgroup and whether it has ``memory.current`` (looked at once)."""
        # The interval's ticks from a tick of the housekeeping grid (``ticks``): some of the
        # readings every interval fall on the grid's wakes (all of them at a 5 s interval).
        self._grid0 = tick_at_or_after(sup.clock(), TICK_S) - TICK_S
        self._settings = sup.watch_settings()
        self._next_snapshot = self._grid0

    async def run(self) -> None:
        """Read until cancelled."""
        sup, starts = self.sup, process_starts()
        while True:
            starts.clear()  # a start from here on wakes the sleep below
            now = sup.clock()
            live = self._live(now)
            due = self._peeked({n: live[n] for n in self.schedule.due(now)}, now)
            if due:
                await self._read(due)
            if sup.metrics is not None and now >= self._next_snapshot:
                self._next_snapshot = now + self._settings.interval_s
                sup.metrics.snapshot = sup.redact(await sup.ops.op_status())
            wake = self.schedule.next_at()
            if sup.metrics is not None:
                wake = min(wake if wake is not None else math.inf, self._next_snapshot)
            timeout = None if wake is None or wake == math.inf else max(0.0, wake - sup.clock())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(starts.wait(), timeout)

    def _live(self, now: float) -> dict[str, procs.ProcessIdentity]:
        """The bots with a live process to read; a new process is due at once, a gone one
        forgotten."""
        live = {n: ident for n, r in self.sup.runners.items() if (ident := r.live_ident)}
        for name in [n for n in self._idents if n not in live]:
            del self._idents[name]
            self.schedule.forget(name)
            self.paces.pop(name, None)
            self._glanced.pop(name, None)
            self._flat.pop(name, None)
            self._peeks.pop(name, None)
            self._memory_files.pop(name, None)
        for name, ident in live.items():
            if self._idents.get(name) != ident:
                self._idents[name] = ident
                self.schedule.plan(name, now)
                self.paces.pop(name, None)
                self._flat.pop(name, None)
                self._peeks.pop(name, None)
        return live

    async def _read(self, due: dict[str, procs.ProcessIdentity]) -> None:
        sup = self.sup
        self._settings = settings = sup.watch_settings()  # an edit of config.toml counts from here
        for name, sample in (await _sample_safely(sup, due, self._glances(due))).items():
            runner = sup.runners.get(name)
            if runner is not None:
                runner.observe(due[name], sample, settings)
        self._replan(due, sup.clock(), settings)

    def _glances(self, due: Mapping[str, procs.ProcessIdentity]) -> dict[str, TreeSample]:
        """The last readings of the due bots read before, to glance from (not every time)."""
        out: dict[str, TreeSample] = {}
        for name in due:
            runner = self.sup.runners.get(name)
            last = runner.watch.readings.last if runner is not None else None
            count = self._glanced.get(name, 0)
            if last is not None and name in self.paces and count < FULL_EVERY - 1:
                out[name] = last
                self._glanced[name] = count + 1
            else:
                self._glanced[name] = 0
        return out

    def _replan(self, read: dict[str, procs.ProcessIdentity], now: float, settings: WatchSettings) -> None:
        """Plan each bot just read by what its readings say now."""
        bucket_s = trend_params(settings, "memory").bucket_s
        step = settings.interval_s
        next_tick = self._grid0 + (math.floor((now - self._grid0) / step) + 1) * step
        for name in read:
            runner = self.sup.runners.get(name)
            if runner is None:
                self.schedule.forget(name)  # removed meanwhile: never due for good
                continue
            watch = runner.watch
            outlook = watch.outlook()
            reason = pace(outlook, young_s(step))
            self.paces[name] = reason
            streak = self._flat[name] = self._flat.get(name, 0) + 1 if reason is Pace.FLAT else 0
            # A flat bot's point of the bucket: the housekeeping tick at or after its first
            # reading, so flat bots are read together, in a wake the supervisor takes anyway
            # (their verdicts at most one tick later than when read at every interval).
            phase = tick_at_or_after(now if watch.first_reading_at is None else watch.first_reading_at)
            every = flat_every(streak) if outlook.settled else 1
            if every > 1:
                self._peeks[name] = (every - 1, bucket_s)
            else:
                self._peeks.pop(name, None)
            self.schedule.plan(name, next_reading(reason, now, next_tick, bucket_s, phase))

    def _peeked(self, due: dict[str, procs.ProcessIdentity], now: float) -> dict[str, procs.ProcessIdentity]:
        """The due bots still to read once those in a stretch of flat buckets were peeked at:
        one whose memory did not move is planned a bucket on (at the same point of it), one
        whose memory moved (or that cannot be peeked at) is read now."""
        for name in [n for n in due if n in self._peeks]:
            left, bucket_s = self._peeks.pop(name)
            runner = self.sup.runners.get(name)
            if runner is None or left <= 0 or (last := runner.watch.readings.last) is None:
                continue  # read now: its pace is planned afresh from the reading
            current = cgroups.memory_now(self._with_memory_file(name, runner.joined_cgroup), last.pids)
            if current is None or memory_moved(last.rss_bytes, current):
                continue
            at = self.schedule.when(name)
            self._peeks[name] = (left - 1, bucket_s)
            self.schedule.plan(name, next_reading(Pace.FLAT, now, now, bucket_s, now if at is None else at))
            del due[name]
        return due

    def _with_memory_file(self, name: str, cgroup: Path | None) -> Path | None:
        """``cgroup`` where it has ``memory.current``, else None (its members' ``statm`` are
        peeked at then): looked at once a cgroup, not tried and failed at every peek (without
        the memory controller, a hybrid layout's, every bot's)."""
        if cgroup is None:
            return None
        known = self._memory_files.get(name)
        if known is None or known[0] != cgroup:
            known = self._memory_files[name] = (cgroup, cgroups.has_memory_current(cgroup))
        return cgroup if known[1] else None


async def sample_forever(sup: Supervisor) -> None:
    """The sampler of ``sup``, run until cancelled."""
    await Sampler(sup).run()


async def _sample_safely(sup: Supervisor, live: dict[str, procs.ProcessIdentity],
                         glances: Mapping[str, TreeSample]) -> dict[str, TreeSample]:
    try:
        if _small(sup, live):
            # A few small files of /proc and the cgroup per bot: cheaper read here than a
            # hand-over to a worker thread and back. A walk of the process table goes there.
            return sample(sup, live, glances)
        return await asyncio.to_thread(sample, sup, live, glances)
    except Exception:  # noqa: BLE001 - a failed reading must not end the watch
        log.exception("sampling the bots failed")
        return {}


INLINE_PROCS = 64
"""At most this many processes (by their last readings) are read on the loop; more (a bot
that forks a crowd) go to the worker thread, so the loop is never held for long."""


def _small(sup: Supervisor, live: Mapping[str, procs.ProcessIdentity]) -> bool:
    """Every bot in a cgroup and already read, their processes few: read them on the loop."""
    total = 0
    for name in live:
        runner = sup.runners[name]
        last = runner.watch.readings.last
        if runner.joined_cgroup is None or last is None:
            return False
        total += last.procs
    return total <= INLINE_PROCS


def sample(sup: Supervisor, live: dict[str, procs.ProcessIdentity],
           glances: Mapping[str, TreeSample] | None = None) -> dict[str, TreeSample]:
    """One reading of each bot: from its cgroup when it has joined one (its own files, no walk
    of the process table; a glance at them for a bot in ``glances``), else from the walk; a
    recycled pid is never read."""
    contained = {n: cg for n in live if (cg := sup.runners[n].joined_cgroup) is not None}
    walked = {n: ident for n, ident in live.items() if n not in contained}
    now = sup.clock()
    samples = procs.sample_trees(walked, now) if walked else {}
    for name, cgroup in contained.items():
        last, root = (glances or {}).get(name), _root(live[name])
        # A glance checks the root's identity in the read it makes anyway; a full reading
        # (or a glance that found a change) checks it first.
        reading = cgroups.glance(cgroup, last, now, root) if last is not None and root else None
        if reading is None and _alive(live[name]):
            reading = cgroups.sample(cgroup, now)
        if reading is not None:
            samples[name] = reading
    return samples


def _root(ident: procs.ProcessIdentity) -> tuple[int, int] | None:
    """(pid, start ticks) of a root whose identity is its start ticks in this boot (Linux)."""
    if ident.start_ticks is not None and ident.boot_id in (None, boot_id()):
        return ident.pid, ident.start_ticks
    return None


def _alive(ident: procs.ProcessIdentity) -> bool:
    """``procs.is_alive``, in one raw read of the root's stat file where its identity is
    its start ticks in this boot (Linux)."""
    root = _root(ident)
    return cgroups.started_at(*root) if root else procs.is_alive(ident)
