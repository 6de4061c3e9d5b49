"""What the supervisor makes of a bot's resource samples: CPU percent, leak trends, and
when a limit is crossed. Pure: samples (taken by ``procs.sample_tree``) carry their own
monotonic time, so tests drive it with a fake clock.
"""

from __future__ import annotations

from array import array
from typing import Any

from ..common.leandataclass import dataclass
from ..common.units import duration, size
from ..states import ExitReason
from ..supervision import WatchSettings as WatchSettings  # config reads it, so it lives below
from .trend import Trend, TrendParams

MEMORY = "memory"
FDS = "fds"


@dataclass(frozen=True, slots=True)
class TreeSample:
    """One reading of a bot's whole process tree (the bot and all its descendants)."""

    at: float
    """Monotonic seconds."""
    rss_bytes: int
    num_fds: int
    threads: int
    cpu_seconds: float
    """User plus system CPU time of the live members."""
    procs: int
    pids: tuple[int, ...] = ()
    """The members read (for checks that look at each, such as ``logwriters``)."""


def trend_params(settings: WatchSettings, resource: str) -> TrendParams:
    """What a leak of ``resource`` (``MEMORY`` or ``FDS``) is, by ``settings``; one shared
    object for equal settings (every bot's two trends, at each start: issue 29)."""
    key = (settings, resource)
    params = _PARAMS.get(key)
    if params is None:
        if len(_PARAMS) >= 16:  # settings changed many times (config reloads): start over
            _PARAMS.clear()
        params = _PARAMS[key] = _trend_params(settings, resource)
    return params


_PARAMS: dict[tuple[WatchSettings, str], TrendParams] = {}


def _trend_params(settings: WatchSettings, resource: str) -> TrendParams:
    threshold = settings.memory_leak_per_hour if resource == MEMORY else settings.fds_leak_per_hour
    return TrendParams(window_s=settings.window_s, min_span_s=settings.min_span_s,
                       threshold_per_hour=threshold)


@dataclass(frozen=True, slots=True)
class Limits:
    """A bot's limits and, for projections, the ceilings it runs under."""

    max_memory_bytes: int | None
    max_fds: int | None
    machine_memory_bytes: int
    fd_rlimit: int | None
    """The bot's soft RLIMIT_NOFILE."""

    @staticmethod
    def default_max_fds(fd_rlimit: int | None) -> int | None:
        """90 % of the soft RLIMIT_NOFILE: restart before ``Too many open files``."""
        return int(fd_rlimit * 0.9) if fd_rlimit else None


@dataclass(frozen=True, slots=True)
class Breach:
    """A limit crossed for enough samples in a row: restart the bot with ``reason``."""

    reason: ExitReason
    detail: str


@dataclass(frozen=True, slots=True)
class Leak:
    """A suspected leak: which resource, how fast, and when it reaches its ceiling."""

    resource: str
    rate_per_hour: float
    eta_s: float | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"resource": self.resource, "detail": self.detail,
                "rate_per_hour": round(self.rate_per_hour, 3),
                "eta_s": None if self.eta_s is None else round(self.eta_s, 1)}


@dataclass(frozen=True)
class Verdict:
    """What one sample changed."""

    breach: Breach | None = None
    new_leaks: tuple[Leak, ...] = ()
    cleared: tuple[str, ...] = ()


HISTORY = 30
"""RSS readings kept for the dashboard's sparkline (a minute at the default interval)."""


class ResourceWatch:
    """One bot's readings. Memory is bounded, and small for an idle bot (issue 29: what a
    bot costs the supervisor): the last sample, two fixed-size trends, and the sparkline's
    last ``HISTORY`` readings in one flat array."""

    __slots__ = ("settings", "trends", "last", "_history", "cpu_percent", "leaks", "_over")

    def __init__(self, settings: WatchSettings | None = None) -> None:
        self.settings = settings or WatchSettings()
        self.trends: dict[str, Trend] = {}
        self.last: TreeSample | None = None
        self._history: array[int] | None = None
        self.cpu_percent: float | None = None
        self.leaks: dict[str, Leak] = {}
        self._over = [0, 0]  # samples in a row over the memory, the open-files limit
        self.reset()

    def reset(self, settings: WatchSettings | None = None) -> None:
        """A new process (or new settings): start over, keeping nothing of the old one."""
        self.settings = settings or self.settings
        self.trends = {r: Trend(trend_params(self.settings, r)) for r in (MEMORY, FDS)}
        self.last = None
        self._history = None
        self.cpu_percent = None
        self.leaks = {}
        self._over = [0, 0]

    @property
    def history(self) -> list[int]:
        """The last ``HISTORY`` RSS readings, oldest first (the dashboard's sparkline)."""
        return list(self._history) if self._history is not None else []

    def _remember(self, rss_bytes: int) -> None:
        if self._history is None:
            self._history = array("q")
        self._history.append(rss_bytes)
        if len(self._history) > HISTORY:
            del self._history[0]

    def observe(self, sample: TreeSample, limits: Limits) -> Verdict:
        """Take one sample; say whether a limit was crossed or a leak began or ended."""
        prev, self.last = self.last, sample
        self._remember(sample.rss_bytes)
        if prev is not None and sample.at > prev.at:
            # CPU time of members that died meanwhile is gone from the sum: never negative.
            self.cpu_percent = max(0.0, (sample.cpu_seconds - prev.cpu_seconds)
                                   / (sample.at - prev.at) * 100)
        values = {MEMORY: sample.rss_bytes, FDS: sample.num_fds}
        new: list[Leak] = []
        cleared: list[str] = []
        for resource, trend in self.trends.items():
            if not trend.add(sample.at, values[resource]):
                continue  # the verdict changes only when a bucket completes
            rate = trend.leaking()
            if rate is None:
                if self.leaks.pop(resource, None) is not None:
                    cleared.append(resource)
                continue
            leak = _leak(resource, rate, values[resource], limits)
            if resource not in self.leaks:
                new.append(leak)
            self.leaks[resource] = leak
        return Verdict(self._breach(sample, limits), tuple(new), tuple(cleared))

    def _breach(self, sample: TreeSample, limits: Limits) -> Breach | None:
        checks = (
            (MEMORY, limits.max_memory_bytes, sample.rss_bytes, ExitReason.MEMORY_LIMIT, size),
            (FDS, limits.max_fds, sample.num_fds, ExitReason.FD_LIMIT, str),
        )
        for resource, limit, value, reason, fmt in checks:
            i = 0 if resource == MEMORY else 1
            over = limit is not None and value > limit
            self._over[i] = self._over[i] + 1 if over else 0
            if over and self._over[i] >= self.settings.consecutive:
                self._over = [0, 0]
                what = "RSS" if resource == MEMORY else "open files"
                return Breach(reason, f"{what} {fmt(value)} over the limit of {fmt(limit)} "
                                      f"for {self.settings.consecutive} samples in a row")
        return None

    def status(self) -> dict[str, Any]:
        """The resource fields of ``status --json``."""
        last = self.last
        mem_trend = self.trends[MEMORY].slope_per_hour()
        fd_trend = self.trends[FDS].slope_per_hour()
        leak = self.leaks.get(MEMORY) or self.leaks.get(FDS)
        return {
            "rss_bytes": last.rss_bytes if last else None,
            "rss_history": self.history,
            "num_fds": last.num_fds if last else None,
            "cpu_percent": None if self.cpu_percent is None else round(self.cpu_percent, 1),
            "threads": last.threads if last else None,
            "procs": last.procs if last else None,
            "rss_trend_bytes_per_hour": None if mem_trend is None else round(mem_trend, 1),
            "fds_trend_per_hour": None if fd_trend is None else round(fd_trend, 3),
            "leak": leak.to_json() if leak else None,
        }


NO_READINGS = ResourceWatch().status()
"""The resource fields of a bot that is not running."""


def _leak(resource: str, rate_per_hour: float, value: float, limits: Limits) -> Leak:
    if resource == MEMORY:
        ceiling = limits.max_memory_bytes or limits.machine_memory_bytes
        which = "its --max-memory" if limits.max_memory_bytes else "the machine's memory"
        rate_text, ceiling_text = f"{size(rate_per_hour)}/h", size(ceiling)
        what = "RSS"
    else:
        ceiling = limits.max_fds or limits.fd_rlimit or 0
        which = "its --max-fds" if limits.max_fds else "its open-file limit"
        rate_text, ceiling_text = f"{rate_per_hour:.0f}/h", str(ceiling)
        what = "open files"
    eta = (ceiling - value) / rate_per_hour * 3600 if ceiling and rate_per_hour > 0 else None
    eta = max(0.0, eta) if eta is not None else None
    reach = f"; reaches {which} ({ceiling_text}) in about {duration(eta)}" if eta is not None else ""
    return Leak(resource, rate_per_hour, eta, f"{what} rising {rate_text}{reach}")
