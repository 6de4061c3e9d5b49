"""The registry: every bot of a home, its spec, whether it should run, and its live process.

One JSON file, written atomically and durably by the supervisor alone. It is what lets a new
supervisor adopt the bots of one that died. A file that is not a registry at all is moved
aside, never emptied; one entry that cannot be read (an unknown value after a downgrade, a
hand edit) is quarantined alone: kept verbatim in the file, shown in the status with what to
do, and its name refused to ``start`` until it is fixed or removed, so a bot that may still be
running is never started a second time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .common.durable import atomic_write_json
from .common.home import BOT_NAME_RE
from .spec import BotSpec
from .states import BotState, Hold
from .supervisor.graces import Signalled
from .supervisor.identity import Deadline, ProcessIdentity
from .supervisor.lifecycle import ExitInfo

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
    start_ticks: int | None = None
    """Linux: the start in clock ticks since boot, which a clock step cannot move."""
    boot_id: str | None = None

    @property
    def ident(self) -> ProcessIdentity:
        return ProcessIdentity(self.pid, self.create_time, self.start_ticks, self.boot_id)

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "create_time": self.create_time, "run_id": self.run_id,
                "started_at": self.started_at, "stderr_offset": self.stderr_offset,
                "stderr_inode": self.stderr_inode, "start_ticks": self.start_ticks,
                "boot_id": self.boot_id}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRecord:
        ticks = data.get("start_ticks")
        return cls(pid=int(data["pid"]), create_time=float(data["create_time"]),
                   run_id=str(data["run_id"]), started_at=str(data.get("started_at", "")),
                   stderr_offset=int(data.get("stderr_offset", 0)),
                   stderr_inode=int(data.get("stderr_inode", 0)),
                   start_ticks=int(ticks) if ticks is not None else None,
                   boot_id=str(data["boot_id"]) if data.get("boot_id") else None)


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
    pending_run: RunRecord | None = None
    """Write-ahead: the run id of a process about to be spawned, on disk before it exists, so
    a supervisor killed between the fork and the pid's write leaves a findable process (it
    carries the run id in its environment), never an unknown one."""
    held: bool = False
    """Meant to run, and stopped with its supervisor: ``held_by`` says what runs it again."""
    held_by: Hold = Hold.SHUTDOWN
    """Why it is held (meaningful only when ``held``). A file without it (written before the
    field existed) counts as a ``wdbot shutdown``: a held bot never starts by doubt."""
    backoff: Deadline | None = None
    """When a bot waiting in ``backoff`` is due, kept across supervisors and clock steps."""
    signalled: tuple[Signalled, ...] = ()
    """Processes sent SIGTERM by a stop or leftover sweep, each with its SIGKILL deadline: a
    supervisor killed during the grace leaves them here, so the next one does not grant a
    SIGTERM-deaf process a fresh grace (killed every second, supervisors would otherwise
    never reach it). See ``graces``."""
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
            "pending_run": self.pending_run.to_json() if self.pending_run else None,
            "held": self.held,
            "held_by": self.held_by.value if self.held else None,
            "backoff": self.backoff.to_json() if self.backoff else None,
            "signalled": [s.to_json() for s in self.signalled],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BotRecord:
        known = {"spec", "should_run", "state", "restarts", "failures", "last_exit", "run", "installs",
                 "recovery_failures", "pending_run", "held", "held_by", "backoff", "signalled"}
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
            pending_run=RunRecord.from_json(data["pending_run"]) if data.get("pending_run") else None,
            held=bool(data.get("held", False)),
            held_by=_field("held_by", lambda: Hold(data.get("held_by") or Hold.SHUTDOWN.value)),
            backoff=_field("backoff", lambda: Deadline.from_json(data["backoff"])
                           if data.get("backoff") else None),
            signalled=_field("signalled", lambda: tuple(Signalled.from_json(s)
                                                        for s in _list(data.get("signalled")))),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"a list was expected, not {type(value).__name__}")
    return value


T = TypeVar("T")


def _field(name: str, read: Callable[[], T]) -> T:
    """``read()``, its failure named after the field (for the quarantine's one line)."""
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - re-raised with the field's name
        raise ValueError(f"field {name!r}: {_reason(exc)}") from None


@dataclass(frozen=True)
class Quarantined:
    """A registry entry that could not be read, kept verbatim until a person fixes it."""

    name: str | None
    raw: Any
    error: str

    def describe(self, path: Path) -> str:
        who = f"bot {self.name!r}" if self.name else "an unnamed bot"
        return (f"the registry entry of {who} is unreadable ({self.error}); it is kept as it is "
                f"and that bot is not supervised: fix it in {path} and restart the supervisor "
                f"('wdbot shutdown --keep-bots'), or forget it with 'wdbot remove {self.name or 'NAME'}'")


@dataclass(frozen=True)
class Registry:
    """What the file holds: the readable bots, and the entries quarantined."""

    bots: dict[str, BotRecord]
    quarantined: tuple[Quarantined, ...] = ()


def load(path: Path) -> Registry:
    """Read the registry; a missing file is an empty registry, a file that is no registry
    raises :class:`CorruptRegistry` after moving it aside, an unreadable entry is quarantined.
    Only the supervisor holding the home lock calls this, so temporary files of an
    interrupted save are stale and removed."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Registry({})
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or not isinstance(doc.get("bots"), list):
            raise ValueError("not a wdbot registry")
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        moved = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        path.replace(moved)
        raise CorruptRegistry(path, moved, str(exc) or type(exc).__name__) from None
    return parse(doc["bots"])


def parse(entries: list[Any]) -> Registry:
    """Each entry on its own: one that fails is quarantined, the others are read."""
    bots: dict[str, BotRecord] = {}
    bad: list[Quarantined] = []
    for item in entries:
        try:
            record = BotRecord.from_json(item)
            if not BOT_NAME_RE.match(record.spec.name):
                raise ValueError(f"bad bot name {record.spec.name!r}")
        except Exception as exc:  # noqa: BLE001 - any unreadable entry is quarantined, never fatal
            bad.append(Quarantined(_entry_name(item), item, _reason(exc)))
            continue
        if record.spec.name in bots:
            bad.append(Quarantined(record.spec.name, item, "a second entry with the same name"))
            continue
        bots[record.spec.name] = record
    named = {q.name for q in bad if q.name}
    # A readable entry whose twin is quarantined stays out too: one name, one bot.
    for name in named & set(bots):
        twin = bots.pop(name).to_json()
        bad.append(Quarantined(name, twin, "another entry of the same name is unreadable"))
    return Registry(bots, tuple(bad))


def _entry_name(item: Any) -> str | None:
    try:
        name = item["spec"]["name"]
    except (KeyError, TypeError, IndexError):
        return None
    return name if isinstance(name, str) and BOT_NAME_RE.match(name) else None


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    return str(exc) or type(exc).__name__


def save(path: Path, records: Mapping[str, BotRecord], quarantined: tuple[Quarantined, ...] = ()) -> None:
    """Write the registry atomically and durably; quarantined entries are written back as
    they were read."""
    atomic_write_json(path, {"format": FORMAT,
                             "bots": [records[name].to_json() for name in sorted(records)]
                             + [q.raw for q in quarantined]})


def read_only(path: Path) -> dict[str, BotRecord]:
    """Read the registry without ever moving it (for commands that run beside a supervisor)."""
    try:
        doc = json.loads(path.read_bytes())
        return parse(doc["bots"]).bots
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return {}
