"""The facts about a bot's processes that the registry keeps and the supervisor finds out:
who a process is (:class:`ProcessIdentity`), a deadline that outlives the supervisor
(:class:`Deadline`), a process sent SIGTERM and its SIGKILL deadline (:class:`Signalled`), and
how a run ended (:class:`ExitInfo`, with its :class:`Diagnosis`).

Plain values and their JSON, shared by the registry (which stores them), the supervisor (which
makes them: ``identity``, ``graces``, ``lifecycle``, ``diagnosis``) and the terminal side
(which shows them); standard library only, so the shared modules need not reach up into the
supervisor for them.
"""

from __future__ import annotations

import math
import re
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from enum import Enum
from functools import lru_cache
from typing import Any

from .common.leandataclass import dataclass
from .states import ExitReason

LINUX = sys.platform.startswith("linux")


# ------------------------------------------------------------------ processes
@dataclass(frozen=True)
class ProcessIdentity:
    """A process as pid plus start, so a recycled pid is never mistaken for a bot.

    ``start_ticks`` and ``boot_id`` (Linux) decide; ``create_time`` is the start as a wall
    clock time, for people and for platforms without ticks."""

    pid: int
    create_time: float
    start_ticks: int | None = None
    boot_id: str | None = None


@lru_cache(maxsize=1)
def boot_id() -> str | None:
    """This boot's id (Linux), or None."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def to_json(ident: ProcessIdentity) -> dict[str, Any]:
    out: dict[str, Any] = {"pid": ident.pid, "create_time": ident.create_time}
    if ident.start_ticks is not None:
        out["start_ticks"] = ident.start_ticks
    if ident.boot_id is not None:
        out["boot_id"] = ident.boot_id
    return out



# ------------------------------------------------------------------ deadlines
def boot_clock() -> float:
    """Seconds since boot, counting suspend where the platform can (never stepped)."""
    if LINUX and hasattr(time, "CLOCK_BOOTTIME"):
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    return time.monotonic()


@dataclass(frozen=True)
class Deadline:
    """A point in time that a restart of the supervisor, or a step of the wall clock, must
    not bring forward.

    >>> d = Deadline(delay_s=60.0, boot_id="b1", boot_at=1000.0, wall_at=5000.0)
    >>> d.remaining_s(boot_id="b1", boot_now=950.0, wall_now=9999.0)    # same boot: boot clock
    50.0
    >>> d.remaining_s(boot_id="b2", boot_now=3.0, wall_now=4970.0)      # rebooted: wall clock
    30.0
    >>> d.remaining_s(boot_id="b2", boot_now=3.0, wall_now=1000.0)      # ... stepped far back
    60.0
    """

    delay_s: float
    boot_id: str | None
    boot_at: float
    """On :func:`boot_clock`."""
    wall_at: float
    """On the wall clock, used only after a reboot."""

    @classmethod
    def after(cls, delay_s: float) -> Deadline:
        return cls(delay_s, boot_id(), boot_clock() + delay_s, time.time() + delay_s)

    def remaining_s(self, *, boot_id: str | None, boot_now: float, wall_now: float) -> float:
        if boot_id is not None and boot_id == self.boot_id:
            return min(self.delay_s, max(0.0, self.boot_at - boot_now))
        # Another boot: the wall clock is all that is left; never wait longer than asked.
        return min(self.delay_s, max(0.0, self.wall_at - wall_now))

    def remaining_now(self) -> float:
        return self.remaining_s(boot_id=boot_id(), boot_now=boot_clock(), wall_now=time.time())

    def to_json(self) -> dict[str, Any]:
        return {"delay_s": self.delay_s, "boot_id": self.boot_id, "boot_at": self.boot_at,
                "wall_at": self.wall_at}

    @classmethod
    def from_json(cls, data: Any) -> Deadline:
        numbers = [float(data[key]) for key in ("delay_s", "boot_at", "wall_at")]
        if not all(math.isfinite(n) for n in numbers) or numbers[0] < 0:
            raise ValueError(f"not a deadline: {data!r}")
        boot = data.get("boot_id")
        return cls(numbers[0], boot if isinstance(boot, str) else None, numbers[1], numbers[2])


@dataclass(frozen=True)
class Signalled:
    """A process sent SIGTERM, and when its SIGKILL is due."""

    ident: ProcessIdentity
    kill_at: Deadline

    def to_json(self) -> dict[str, Any]:
        return {"process": to_json(self.ident), "kill_at": self.kill_at.to_json()}

    @classmethod
    def from_json(cls, data: Any) -> Signalled:
        proc = data["process"]
        if not isinstance(proc, dict):
            raise ValueError(f"not a process: {proc!r}")
        ticks = proc.get("start_ticks")
        boot = proc.get("boot_id")
        ident = ProcessIdentity(int(proc["pid"]), float(proc["create_time"]),
                                int(ticks) if ticks is not None else None,
                                boot if isinstance(boot, str) else None)
        if ident.pid <= 0:
            raise ValueError(f"not a process: {proc!r}")
        return cls(ident, Deadline.from_json(data["kill_at"]))


# ----------------------------------------------------------------------- exits
class Pattern(Enum):
    """The crash patterns of bots that run 24/7."""

    DEPENDENCY = "dependency"
    """A missing or mismatched package."""
    NETWORK = "network"
    """A dropped connection, a timeout, an exchange down or in maintenance, a 5xx."""
    RATE_LIMIT = "rate_limit"
    """HTTP 429, or 418 (banned for ignoring 429s)."""
    MEMORY = "memory"
    """MemoryError, the OOM killer, or the bot's own --max-memory."""
    CREDENTIALS = "credentials"
    """A rejected key: 401/403, invalid signature, missing permission."""
    PAYLOAD = "payload"
    """An answer of another shape than the code expected (KeyError on a field, None, ...)."""
    SYSTEM = "system"
    """The machine: open files, disk, a signal from outside, a hang."""
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Diagnosis:
    """A pattern, what was seen, and what to do."""

    pattern: Pattern
    seen: str
    hint: str

    def to_json(self) -> dict[str, str]:
        return {"pattern": self.pattern.value, "seen": self.seen, "hint": self.hint}

    def named(self, bot: str) -> Diagnosis:
        """The hint's commands for this bot (``wdbot logs NAME`` → ``wdbot logs mybot``): a
        hint, an event or an alert gives a command to paste, not a placeholder.

        >>> Diagnosis(Pattern.UNKNOWN, "exit 3", "see: wdbot logs NAME --stderr").named("b1").hint
        'see: wdbot logs b1 --stderr'
        """
        return replace(self, hint=_PLACEHOLDER.sub(rf"\g<1>{bot}", self.hint))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Diagnosis:
        return cls(Pattern(data.get("pattern", "unknown")), str(data.get("seen", "")),
                   str(data.get("hint", "")))


_PLACEHOLDER = re.compile(r"(wdbot [a-z]+ )NAME\b")
"""A command in a hint written for any bot, its ``NAME`` to be replaced by the bot's."""


@dataclass(frozen=True)
class ExitInfo:
    """How a bot's process ended (``last_exit`` in the status)."""

    code: int | None
    signal: int | None
    reason: ExitReason
    error: str | None
    at: str
    """ISO-8601 wall-clock time, for people; decisions never read it."""
    diagnosis: Diagnosis | None = None
    """The crash pattern and its fix (``diagnosis``); None for a clean exit or a stop."""
    detail: str | None = None
    """The whole text behind ``error`` when it is longer than one line (uv's full error):
    ``status NAME`` shows it, the table only ``error``."""

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "signal": self.signal, "reason": self.reason.value,
                "error": self.error, "at": self.at,
                "diagnosis": self.diagnosis.to_json() if self.diagnosis else None,
                "detail": self.detail}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExitInfo:
        found = data.get("diagnosis")
        return cls(code=data.get("code"), signal=data.get("signal"),
                   reason=ExitReason(data.get("reason", "unknown")), error=data.get("error"),
                   at=str(data.get("at", "")),
                   diagnosis=Diagnosis.from_json(found) if isinstance(found, Mapping) else None,
                   detail=data.get("detail"))

    @property
    def credentials(self) -> bool:
        """The exchange rejected the bot's key: restarts go slowly (lockout risk)."""
        return self.diagnosis is not None and self.diagnosis.pattern is Pattern.CREDENTIALS

    def describe(self) -> str:
        """One line for people: ``crash (exit 1): ValueError: boom``."""
        if self.signal is not None:
            how = f"signal {signal.Signals(self.signal).name if self._known_signal() else self.signal}"
        elif self.code is not None:
            how = f"exit {self.code}"
        else:
            how = "exit status unknown"
        text = f"{self.reason.value} ({how})"
        return f"{text}: {self.error}" if self.error else text

    def _known_signal(self) -> bool:
        return self.signal in {s.value for s in signal.Signals}
