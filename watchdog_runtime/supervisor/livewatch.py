"""The watch on a bot's live process: its resource readings and limits, its heartbeat, its
repeated errors on stderr, the log writers it should not have, and the breach that makes
the supervisor restart it. Everything here belongs to one process: :meth:`LiveWatch.new_process`
starts over."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from pathlib import Path

from ..events import EventLog
from ..states import ExitReason
from .logwriters import LogWriterWatch
from .pacing import Outlook, moved
from .resources import FDS, MEMORY, Breach, Limits, ResourceWatch, TreeSample, WatchSettings
from .runfiles import StderrRepeats

_STARTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Event] = weakref.WeakKeyDictionary()


def process_starts() -> asyncio.Event:
    """Set each time a live process starts to be watched on the running loop: the sampler,
    which sleeps until its next planned reading, wakes and reads the new process at once."""
    loop = asyncio.get_running_loop()
    event = _STARTS.get(loop)
    if event is None:
        event = _STARTS[loop] = asyncio.Event()
    return event


class LiveWatch:
    """One bot's watch; ``name`` names it in the events it writes."""

    __slots__ = ("name", "_logs", "_events", "_clock", "readings", "limits", "breach", "last_beat",
                 "beats_seen", "recovery_started", "repeats", "log_writers", "started_at", "moved",
                 "first_reading_at", "_hang_timer")  # one per running bot (issue 29)

    def __init__(self, name: str, stderr_log: Path, logs: Path, events: EventLog,
                 clock: Callable[[], float]) -> None:
        self.name = name
        self._logs = logs
        self._events = events
        self._clock = clock
        self.readings = ResourceWatch()
        self.limits: Limits | None = None
        self.breach: asyncio.Future[Breach] | None = None
        """Resolved when the supervisor decides to restart the live process (a limit)."""
        self.last_beat = 0.0
        """Clock time of the live process's last heartbeat (of its start, before the first)."""
        self.beats_seen = False
        self.recovery_started = 0.0
        self.repeats = StderrRepeats(stderr_log)
        """The live process's repeated errors on stderr (a degraded bot)."""
        self.log_writers = LogWriterWatch(logs)
        self.started_at = clock()
        """Clock time the live process was started or adopted (how young it is)."""
        self.moved = True
        """The last reading differed from the one before (or there was none): read it soon."""
        self.first_reading_at: float | None = None
        """When the live process was first read (a flat bot is read in step with it)."""
        self._hang_timer: asyncio.TimerHandle | None = None

    def new_process(self) -> None:
        """Readings, limits, heartbeats and a pending limit restart belong to one process."""
        self.readings.reset()
        self.limits = None
        self.breach = asyncio.get_running_loop().create_future()
        self.last_beat = self._clock()  # the timeout counts from the start
        self.beats_seen = False
        self.recovery_started = self._clock()
        self.repeats.restart()  # only this process's own repeats count
        self.log_writers = LogWriterWatch(self._logs)
        self.started_at = self._clock()
        self.moved = True
        self.first_reading_at = None
        process_starts().set()

    def beat(self) -> None:
        self.last_beat = self._clock()
        self.beats_seen = True

    def restart_for(self, breach: Breach) -> None:
        """Restart the live process for ``breach``, unless a restart is already decided."""
        if self.breach is not None and not self.breach.done():
            self.breach.set_result(breach)

    def observe(self, pid: int, sample: TreeSample, settings: WatchSettings,
                limits: Callable[[], Limits]) -> None:
        """Take one sample of the process ``pid``; past a limit, restart it. ``limits``
        gives the bot's limits the first time they are needed."""
        if settings != self.readings.settings:
            self.readings.reset(settings)
        if self.limits is None:
            self.limits = limits()
        before = self.readings.last
        if before is None:
            self.first_reading_at = sample.at
        self.moved = moved(_shape(before) if before else None, _shape(sample))
        verdict = self.readings.observe(sample, self.limits)
        for stray in self.log_writers.check(sample.pids, root=pid):
            self._events.write("stray_log_writer", self.name, **stray.to_json())
        for leak in verdict.new_leaks:
            self._events.write("leak_suspected", self.name, pid=pid, **leak.to_json())
        for resource in verdict.cleared:
            self._events.write("leak_cleared", self.name, pid=pid, resource=resource)
        if verdict.breach is not None:
            self.restart_for(verdict.breach)
        self._check_repeats()

    def outlook(self) -> Outlook:
        """What the readings say about how soon this process should be read again."""
        limits, trends = self.limits, self.readings.trends
        user_fds = limits is not None and limits.max_fds is not None \
            and limits.max_fds != Limits.default_max_fds(limits.fd_rlimit)
        limit_set = limits is not None and (limits.max_memory_bytes is not None or user_fds)
        slopes = [(trends[r].slope_per_hour(), trends[r].params.threshold_per_hour) for r in (MEMORY, FDS)]
        rising = bool(self.readings.leaks) or any(s is not None and s * 2 >= t for s, t in slopes)
        settled = all(s is not None and abs(s) * 4 < t for s, t in slopes)
        return Outlook(age_s=self._clock() - self.started_at, near_limit=self.near_limit(),
                       limit_set=limit_set, rising=rising, moved=self.moved or self.repeats.grew,
                       settled=settled)

    def _check_repeats(self) -> None:
        """Flag (and alert) a running bot that repeats one error on stderr; clear the flag
        when it stops."""
        change = self.repeats.check(self._clock())
        if change is True and self.repeats.degraded is not None:
            d = self.repeats.degraded
            self._events.write("degraded", self.name, error=d.error, count=d.count,
                               window_s=d.window_s, diagnosis=self.degraded_diagnosis())
        elif change is False:
            self._events.write("degraded_cleared", self.name)

    def degraded_diagnosis(self) -> dict[str, str] | None:
        d = self.repeats.degraded
        if d is None:
            return None
        from .diagnosis import Failure, diagnose  # its tables only once needed (issue 29)

        found = diagnose(ExitReason.CRASH, None, None, Failure.from_line(d.exc_line), bot=self.name)
        return found.to_json() if found else None

    def near_limit(self) -> bool:
        """The last reading is past half of a limit: read this bot more often."""
        last, limits = self.readings.last, self.limits
        if last is None or limits is None:
            return False
        memory = limits.max_memory_bytes is not None and last.rss_bytes * 2 >= limits.max_memory_bytes
        return memory or (limits.max_fds is not None and last.num_fds * 2 >= limits.max_fds)

    def watch_heartbeat(self, timeout_s: float | None) -> None:
        """Restart the process when its heartbeat is older than ``timeout_s``: a timer on the
        loop, moved to the new deadline when a beat came meanwhile; no task (issue 29: a
        task and its frame for each bot was most of what a bot costs the supervisor).
        :meth:`stop_heartbeat_watch` ends it."""
        self.stop_heartbeat_watch()
        if timeout_s is not None:
            self._hang_check(asyncio.get_running_loop(), timeout_s)

    def stop_heartbeat_watch(self) -> None:
        if self._hang_timer is not None:
            self._hang_timer.cancel()
            self._hang_timer = None

    def _hang_check(self, loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        self._hang_timer = None
        silent_s = self._clock() - self.last_beat
        if silent_s < timeout_s:  # until the deadline; a beat moves it
            self._hang_timer = loop.call_later(timeout_s - silent_s, self._hang_check, loop, timeout_s)
            return
        what = "heartbeat" if self.beats_seen else "heartbeat since the start"
        self.restart_for(Breach(ExitReason.HANG, f"no {what} for {silent_s:.1f} s "
                                                 f"(--heartbeat-timeout {timeout_s:g})"))


def _shape(sample: TreeSample) -> tuple[int, int, int]:
    return sample.rss_bytes, sample.num_fds, sample.procs
