"""The registry: every bot of a home, its spec, whether it should run, and its live process.

One JSON file, written atomically and durably by the supervisor alone, and after it the same
content to ``registry.json.last-good``. It is what lets a new supervisor adopt the bots of one
that died. A file that cannot be read at all (a stray comma, a torn restore) is left where it
is and raises :class:`RegistryUnreadable`: the supervisor then adopts, stops and forgets
nothing until a person fixes the file or restores the last good copy. One entry that cannot
be read (an unknown value after a downgrade, a hand edit) is quarantined alone: kept verbatim
in the file, shown in the status with what to do, and its name refused to ``start`` until it
is fixed or removed, so a bot that may still be running is never started a second time.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import field, replace
from pathlib import Path
from typing import Any, TypeVar

from .common.durable import atomic_write_json, read_bounded
from .common.home import BOT_NAME_RE
from .common.leandataclass import dataclass
from .records import Deadline, ExitInfo, ProcessIdentity, Signalled
from .spec import BotSpec
from .states import BotState, Hold

FORMAT = 1
AHEAD = "written_while_unreadable"
"""Set in a last good copy written alone (``ahead``): a hand fix of the file may predate it."""


LAST_GOOD_SUFFIX = ".last-good"
MAX_BYTES = 64 * 2**20
"""A registry larger than this is not one (a file put there by mistake): unreadable."""


def last_good(path: Path) -> Path:
    """Where the last registry that was written (and so parsed) is kept."""
    return path.with_name(path.name + LAST_GOOD_SUFFIX)


@dataclass(frozen=True)
class Unreadable:
    """Why the registry file cannot be read: the one line status, the web page and the
    alert give, with the line of the file where the reading stopped."""

    path: Path
    error: str
    line: int | None = None
    has_last_good: bool = False
    regular: bool = True
    """False when a folder or a FIFO stands in its place: ``cp`` would copy into the folder
    (the registry still unreadable) or hang on the FIFO, so the restore moves it away first."""

    @property
    def message(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        good = last_good(self.path)
        restore = f"cp {good} {self.path}"
        if not self.regular:
            restore = f"mv {self.path} {self.path}.broken && {restore}"
        fix = (f"fix it or restore {good.name} ({restore})" if self.has_last_good
               else f"fix it (there is no {good.name} to restore)")
        return (f"{self.path.name} unreadable: {where}{self.error}; {fix}; until then no bot is "
                f"adopted, started, stopped or forgotten ({self.path})")

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "line": self.line, "error": self.error,
                "last_good": str(last_good(self.path)) if self.has_last_good else None,
                "message": self.message}


class RegistryUnreadable(Exception):
    """The registry file exists (or its last good copy does) but cannot be read; it is left
    as it is."""

    def __init__(self, unreadable: Unreadable) -> None:
        super().__init__(unreadable.message)
        self.unreadable = unreadable


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
    ahead: bool = False
    """A last good copy written while the registry file was unreadable: newer than that file."""


def load(path: Path) -> Registry:
    """Read the registry: a missing file is an empty registry (unless its last good copy
    exists: then it was lost, and that is unreadable too); a file that cannot be read raises
    :class:`RegistryUnreadable` and is left in place; an unreadable entry is quarantined.
    Only the supervisor holding the home lock calls this, so temporary files of an
    interrupted save are stale and removed (the last good copy's too)."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    found = read(path)
    if isinstance(found, Unreadable):
        raise RegistryUnreadable(found)
    return found


def read(path: Path) -> Registry | Unreadable:
    """The registry, or why it cannot be read; never moves or changes a file."""
    try:
        raw = _read_bounded(path)
    except FileNotFoundError:
        if last_good(path).is_file():
            return _unreadable(path, "the file is missing")
        return Registry({})
    except OSError as exc:
        return _unreadable(path, exc.strerror or str(exc))
    if len(raw) > MAX_BYTES:
        return _unreadable(path, f"larger than {MAX_BYTES >> 20} MB: not a wdbot registry")
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        return _unreadable(path, f"{exc.msg} (column {exc.colno})", exc.lineno)
    except UnicodeDecodeError as exc:
        return _unreadable(path, "not UTF-8 text", raw[:exc.start].count(b"\n") + 1)
    except (ValueError, RecursionError) as exc:
        return _unreadable(path, str(exc) or type(exc).__name__, 1)
    if not isinstance(doc, dict) or not isinstance(doc.get("bots"), list):
        return _unreadable(path, "not a wdbot registry (no \"bots\" list)", 1)
    return replace(parse(doc["bots"]), ahead=doc.get(AHEAD) is True)


def with_newer_runs(read: Registry, good: Registry | Unreadable,
                    alive: Callable[[ProcessIdentity], bool]) -> Registry:
    """``read``, where a bot's recorded run is gone, with the runs its last good copy holds.
    While the file is unreadable the supervisor writes only the copy, so a file fixed by hand
    may predate a restart made meanwhile: that run's live process is the bot's own (its
    identity was recorded for it), not a stray to stop and start again.

    >>> spec = BotSpec(name="a", path="/a.py")
    >>> old, new = RunRecord(1, 1.0, "r1", "t"), RunRecord(2, 2.0, "r2", "t")
    >>> fixed, copy = Registry({"a": BotRecord(spec, run=old)}), Registry({"a": BotRecord(spec, run=new)})
    >>> with_newer_runs(fixed, copy, lambda ident: ident.pid == 2).bots["a"].run.pid
    2

    A bot the fixed file lacks (it predates the bot's start) whose copy's run is alive is
    taken from the copy: its process is adopted, not stopped as a stray of an unknown bot.

    >>> with_newer_runs(Registry({}), copy, lambda ident: ident.pid == 2).bots["a"].run.pid
    2
    >>> with_newer_runs(Registry({}), copy, lambda ident: False).bots
    {}

    A hold the copy has and the file lacks (a shutdown while the file was unreadable) stays.

    >>> held = Registry({"a": BotRecord(spec, run=new, held=True)}, ahead=True)
    >>> fixed = Registry({"a": BotRecord(spec, should_run=True)})
    >>> with_newer_runs(fixed, held, lambda ident: False).bots["a"].held
    True
    """
    if not isinstance(good, Registry):
        return read
    bots = dict(read.bots)
    named = {q.name for q in read.quarantined}
    for name, known in good.bots.items():
        if name not in bots and name not in named and known.run is not None and alive(known.run.ident):
            bots[name] = known
    for name, record in read.bots.items():
        copy = good.bots.get(name)
        if copy is not None and copy.spec.path == record.spec.path:
            bots[name] = _newer_run(record, copy, alive, ahead=good.ahead)
    return Registry(bots, read.quarantined)


def _newer_run(record: BotRecord, copy: BotRecord, alive: Callable[[ProcessIdentity], bool], *,
               ahead: bool) -> BotRecord:
    """``record`` with its copy's run when only the copy's run is alive, and the copy's hold
    when the copy was written ahead of the file (``with_newer_runs``)."""
    if record.run is not None and alive(record.run.ident):
        return record
    # Only what adds a live process: never a run or a write-ahead of the file dropped.
    run = copy.run if copy.run is not None and alive(copy.run.ident) else record.run
    pending = record.pending_run or copy.pending_run
    if (run, pending) != (record.run, record.pending_run):
        record = replace(record, run=run, pending_run=pending)
    running = run is not None and alive(run.ident)
    if ahead and copy.held and not record.held and not running:
        # 'wdbot shutdown' while the file was unreadable held it in the copy only: a hold
        # is never lost to a hand fix (the bot started again by the next supervisor).
        record = replace(record, held=True, held_by=copy.held_by, should_run=False)
    return record


def _read_bounded(path: Path) -> bytes:
    """Up to ``MAX_BYTES + 1`` bytes of the regular file ``path``: a FIFO or a device put in
    its place is refused at once, never waited on (it would hang every reader)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        os.set_blocking(fd, True)
        return read_bounded(fh, MAX_BYTES + 1)


def _unreadable(path: Path, error: str, line: int | None = None) -> Unreadable:
    regular = path.is_file() or not os.path.lexists(path)
    return Unreadable(path, error, line, last_good(path).is_file(), regular)


def parse(entries: list[Any]) -> Registry:
    """Each entry on its own: one that fails is quarantined, the others are read."""
    bots: dict[str, BotRecord] = {}
    bad: list[Quarantined] = []
    for item in entries:
        try:
            record = BotRecord.from_json(item)
            if not BOT_NAME_RE.fullmatch(record.spec.name):
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
    # ``match``, not ``fullmatch``: an entry named 'trader\n' by a version that let such names
    # pass is quarantined under that name, so its processes are left alone (and said so),
    # not stopped as strays of an unknown bot.
    return name if isinstance(name, str) and BOT_NAME_RE.match(name) else None


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    return str(exc) or type(exc).__name__


def save(path: Path, records: Mapping[str, BotRecord], quarantined: tuple[Quarantined, ...] = ()) -> None:
    """Write the registry atomically and durably; quarantined entries are written back as
    they were read. The supervisor writes the same to :func:`save_last_good` after it."""
    atomic_write_json(path, _document(records, quarantined))


def save_last_good(path: Path, records: Mapping[str, BotRecord],
                   quarantined: tuple[Quarantined, ...] = (), ahead: bool = False) -> None:
    """Write the last good copy (atomically, durably, 0600): after every registry write, and
    alone while the registry file is unreadable (it is left as the person left it), so this
    copy always holds what a restore must bring back."""
    document = _document(records, quarantined)
    atomic_write_json(last_good(path), {**document, AHEAD: True} if ahead else document)


def _document(records: Mapping[str, BotRecord], quarantined: tuple[Quarantined, ...]) -> dict[str, Any]:
    return {"format": FORMAT, "bots": [records[name].to_json() for name in sorted(records)]
            + [q.raw for q in quarantined]}


def read_only(path: Path) -> dict[str, BotRecord]:
    """The readable bots, or none when the file cannot be read (see :func:`unreadable`)."""
    found = read(path)
    return found.bots if isinstance(found, Registry) else {}


def unreadable(path: Path) -> Unreadable | None:
    """Why the registry cannot be read, or None (for commands that run beside a supervisor)."""
    found = read(path)
    return found if isinstance(found, Unreadable) else None
