"""The registry: every bot of a home, its spec, whether it should run, and its live process.

One JSON file, written atomically and durably by the supervisor alone. It is what lets a new
supervisor adopt the bots of one that died. A corrupt file is moved aside, never emptied.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .durable import atomic_write_json
from .lifecycle import ExitInfo
from .spec import BotSpec
from .states import BotState

FORMAT = 1


class CorruptRegistry(Exception):
    """The registry could not be read; it was moved to ``moved_to``."""

    def __init__(self, path: Path, moved_to: Path, detail: str) -> None:
        super().__init__(
            f"the registry {path} was unreadable ({detail}); it was moved to {moved_to} and "
            f"wdbot starts with no bots: register them again with 'wdbot start', "
            f"or stop wdbot and put a fixed copy back"
        )
        self.moved_to = moved_to


@dataclass(frozen=True)
class RunRecord:
    """The live process of a bot: identified by pid *and* start time, never by pid alone."""

    pid: int
    create_time: float
    run_id: str
    started_at: str
    stderr_offset: int = 0
    """Size of the stderr log when this run began: its own output starts there."""
    stderr_inode: int = 0
    """The stderr log's inode then: another one means the bot rotated it during the run."""

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "create_time": self.create_time, "run_id": self.run_id,
                "started_at": self.started_at, "stderr_offset": self.stderr_offset,
                "stderr_inode": self.stderr_inode}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRecord:
        return cls(pid=int(data["pid"]), create_time=float(data["create_time"]),
                   run_id=str(data["run_id"]), started_at=str(data.get("started_at", "")),
                   stderr_offset=int(data.get("stderr_offset", 0)),
                   stderr_inode=int(data.get("stderr_inode", 0)))


@dataclass(frozen=True)
class BotRecord:
    """What the registry keeps of one bot."""

    spec: BotSpec
    should_run: bool = False
    state: BotState = BotState.STOPPED
    restarts: int = 0
    failures: int = 0
    """Consecutive short-lived runs: the backoff survives a supervisor restart."""
    last_exit: ExitInfo | None = None
    run: RunRecord | None = None
    installs: tuple[str, ...] = ()
    """Modules auto-installed since the bot last ran healthy (at most three)."""
    recovery_failures: int = 0
    """Consecutive failed ``recover(ctx)`` calls."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Fields of later features, kept as they are."""

    def to_json(self) -> dict[str, Any]:
        return {
            **self.extra,
            "spec": self.spec.to_json(),
            "should_run": self.should_run,
            "state": self.state.value,
            "restarts": self.restarts,
            "failures": self.failures,
            "last_exit": self.last_exit.to_json() if self.last_exit else None,
            "run": self.run.to_json() if self.run else None,
            "installs": list(self.installs),
            "recovery_failures": self.recovery_failures,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BotRecord:
        known = {"spec", "should_run", "state", "restarts", "failures", "last_exit", "run", "installs",
                 "recovery_failures"}
        return cls(
            spec=BotSpec.from_json(data["spec"]),
            should_run=bool(data.get("should_run", False)),
            state=BotState(data.get("state", "stopped")),
            restarts=int(data.get("restarts", 0)),
            failures=int(data.get("failures", 0)),
            last_exit=ExitInfo.from_json(data["last_exit"]) if data.get("last_exit") else None,
            run=RunRecord.from_json(data["run"]) if data.get("run") else None,
            installs=tuple(str(m) for m in data.get("installs", ())),
            recovery_failures=int(data.get("recovery_failures", 0)),
            extra={k: v for k, v in data.items() if k not in known},
        )


def load(path: Path) -> dict[str, BotRecord]:
    """Read the registry; a missing file is an empty registry, a corrupt one raises
    :class:`CorruptRegistry` after moving it aside. Only the supervisor holding the home lock
    calls this, so temporary files of an interrupted save are stale and removed."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or not isinstance(doc.get("bots"), list):
            raise ValueError("not a wdbot registry")
        records = [BotRecord.from_json(item) for item in doc["bots"]]
    except (ValueError, KeyError, TypeError) as exc:
        moved = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        path.replace(moved)
        raise CorruptRegistry(path, moved, str(exc) or type(exc).__name__) from None
    return {r.spec.name: r for r in records}


def save(path: Path, records: Mapping[str, BotRecord]) -> None:
    """Write the registry atomically and durably."""
    atomic_write_json(path, {"format": FORMAT,
                             "bots": [records[name].to_json() for name in sorted(records)]})


def read_only(path: Path) -> dict[str, BotRecord]:
    """Read the registry without ever moving it (for commands that run beside a supervisor)."""
    try:
        doc = json.loads(path.read_bytes())
        return {r.spec.name: r for r in (BotRecord.from_json(b) for b in doc["bots"])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
