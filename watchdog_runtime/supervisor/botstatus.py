"""A bot's entry of ``status --json`` (CONTRACT section 4), as a pure function of what the
runner knows at one instant: no clock read, no file, no process."""

from __future__ import annotations

from typing import Any

from ..common.home import BotPaths
from ..common.leandataclass import dataclass
from ..spec import BotSpec
from .botfacts import BotFacts
from .livewatch import LiveWatch
from .resources import NO_READINGS


@dataclass(frozen=True)
class Seen:
    """What the runner adds to its facts and watch for one status document."""

    now: float
    pid: int | None
    """The live process (None when the bot has none)."""
    started: float | None
    """Its start on the supervisor's clock."""
    containment: str
    """What holds the bot's tree, for people (``cgroupplan.describe``)."""
    auto_installed: list[dict[str, Any]]
    reload_error: str | None


def status_document(spec: BotSpec, paths: BotPaths, facts: BotFacts, watch: LiveWatch,
                    seen: Seen) -> dict[str, Any]:
    """This bot's entry of ``status --json``."""
    now, live = seen.now, seen.pid is not None
    degraded = watch.repeats.degraded if live else None
    return {
        "name": spec.name,
        "path": spec.path,
        "state": facts.state.value,
        "pid": seen.pid,
        "restarts": facts.restarts,
        "uptime_s": round(now - seen.started, 3) if seen.started is not None else None,
        "next_start_in_s": (round(max(0.0, facts.next_start_at - now), 3)
                            if facts.next_start_at is not None else None),
        "last_exit": facts.last_exit.to_json() if facts.last_exit else None,
        **(watch.readings.status() if live else NO_READINGS),
        "auto_installed": seen.auto_installed,
        "heartbeat_age_s": round(now - watch.last_beat, 3) if live and watch.beats_seen else None,
        "recovery_failures": facts.recovery_failures,
        "held": facts.held,
        "held_by": facts.held_by.value if facts.held else None,
        "containment": seen.containment,
        "watch": spec.watch,
        "reload_error": seen.reload_error,
        "attention": facts.attention(),
        "degraded": ({**degraded.to_json(), "diagnosis": watch.degraded_diagnosis()}
                     if degraded else None),
        "limits": {
            "max_memory_bytes": spec.max_memory_bytes,
            "max_fds": watch.limits.max_fds if watch.limits else spec.max_fds,
            "heartbeat_timeout_s": spec.heartbeat_timeout_s,
        },
        "venv": str(paths.venv),
        "start_reason": facts.start_reason.value if facts.start_reason else None,
        "repaired": facts.repaired.to_json() if facts.repaired else None,
        "restart_policy": spec.restart.value,
        "logs": {"stdout": str(paths.stdout_log), "stderr": str(paths.stderr_log)},
        "stray_log_writers": [w.to_json() for w in watch.log_writers.found] if live else [],
    }
