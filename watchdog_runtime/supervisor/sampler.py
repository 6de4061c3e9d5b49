"""The resource sampler: the loop that reads the running bots' trees and hands each reading
to its runner (which may restart the bot past a limit), each bot at its own pace
(``pacing``): at the interval while it could change soon, every ``FAST_S`` past half of a
limit, once per trend bucket while flat and far from every limit.

The loop wakes at each tick of the interval (a new process is noticed there, and read at
once), and sooner only for a bot past half of a limit; one wake reads every bot due, in
one worker thread. A tick with nothing due reads nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from . import cgroups, procs
from .pacing import Pace, Schedule, next_reading, pace, young_s
from .resources import TreeSample, WatchSettings, trend_params

if TYPE_CHECKING:
    from .supervisor import Supervisor

log = logging.getLogger(__name__)


class Sampler:
    """The pacing of every bot's readings, and the loop that takes them."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.schedule = Schedule()
        self.paces: dict[str, Pace] = {}
        """Each bot's pace at its last reading (``status`` does not show it; tests read it)."""
        self._idents: dict[str, procs.ProcessIdentity] = {}

    async def run(self) -> None:
        """Read until cancelled."""
        sup = self.sup
        next_tick = sup.clock()
        settings = sup.watch_settings()
        while True:
            now = sup.clock()
            tick = now >= next_tick
            if tick:
                next_tick = now + settings.interval_s
            live = self._live(now)
            due = {n: live[n] for n in self.schedule.due(now)}
            if due:
                settings = sup.watch_settings()  # an edit of config.toml counts from the next read
                for name, sample in (await _sample_safely(sup, due)).items():
                    runner = sup.runners.get(name)
                    if runner is not None:
                        runner.observe(due[name], sample, settings)
                self._replan(due, sup.clock(), next_tick, settings)
            if tick and sup.metrics is not None:
                sup.metrics.snapshot = sup.redact(await sup.ops.op_status())
            wake = min(next_tick, self.schedule.next_at() or next_tick)
            await asyncio.sleep(max(0.0, wake - sup.clock()))

    def _live(self, now: float) -> dict[str, procs.ProcessIdentity]:
        """The bots with a live process to read; a new process is due at once, a gone one
        forgotten."""
        live = {n: ident for n, r in self.sup.runners.items() if (ident := r.live_ident)}
        for name in [n for n in self._idents if n not in live]:
            del self._idents[name]
            self.schedule.forget(name)
            self.paces.pop(name, None)
        for name, ident in live.items():
            if self._idents.get(name) != ident:
                self._idents[name] = ident
                self.schedule.plan(name, now)
        return live

    def _replan(self, read: dict[str, procs.ProcessIdentity], now: float, next_tick: float,
                settings: WatchSettings) -> None:
        """Plan each bot just read by what its readings say now."""
        bucket_s = trend_params(settings, "memory").bucket_s
        for name in read:
            runner = self.sup.runners.get(name)
            if runner is None:
                continue
            watch = runner.watch
            reason = pace(watch.outlook(), young_s(settings.interval_s))
            self.paces[name] = reason
            phase = now if watch.first_reading_at is None else watch.first_reading_at
            self.schedule.plan(name, next_reading(reason, now, next_tick, bucket_s, phase))


async def sample_forever(sup: Supervisor) -> None:
    """The sampler of ``sup``, run until cancelled."""
    await Sampler(sup).run()


async def _sample_safely(sup: Supervisor, live: dict[str, procs.ProcessIdentity]) -> dict[str, TreeSample]:
    try:
        return await asyncio.to_thread(sample, sup, live)
    except Exception:  # noqa: BLE001 - a failed reading must not end the watch
        log.exception("sampling the bots failed")
        return {}


def sample(sup: Supervisor, live: dict[str, procs.ProcessIdentity]) -> dict[str, TreeSample]:
    """One reading of each bot: from its cgroup when it has joined one (its own files, no walk
    of the process table), else from the walk; a recycled pid is never read."""
    contained = {n: cg for n in live if (cg := sup.runners[n].joined_cgroup) is not None}
    walked = {n: ident for n, ident in live.items() if n not in contained}
    now = sup.clock()
    samples = procs.sample_trees(walked, now) if walked else {}
    if contained:
        alive = {n: cg for n, cg in contained.items() if procs.is_alive(live[n])}
        samples.update(cgroups.sample_all(alive, now))
    return samples
