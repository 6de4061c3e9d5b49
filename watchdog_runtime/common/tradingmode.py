"""Trading modes on disk: what the supervisor writes and the bot's SDK reads (stdlib only).

A bot's mode is ``active`` (the default), ``reducing`` (manage and close what is open, open
nothing new) or ``halted`` (send no orders). Two files hold it, both written atomically and
durably, so they outlive bot restarts, supervisor restarts, ``kill -9`` and reboots:

- ``HOME/mode.json``: the home's mode, set by ``--all`` (a bot registered after
  ``halt --all`` starts halted);
- ``HOME/bots/NAME/mode.json``: one bot's own mode (``halt NAME``, the circuit breaker).

Each record carries a ``seq``, one above every record it replaces: the newer of a bot's two
records is in force. So ``--all`` is one atomic write (the emergency button never leaves half
the bots behind, whatever kills the supervisor), and ``halt NAME`` after it wins for that bot.
The bot's process says it has read the mode in force by writing the record's ``id``, its run
id and its pid to ``HOME/bots/NAME/mode.ack`` (see ``bot.mode``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Any

from .durable import atomic_write_json, read_regular
from .leandataclass import dataclass
from .randomid import uuid4_hex

DAMAGED_SEQ = 2**62
"""A damaged file's record (halted) wins over any other until a command rewrites it."""
MAX_FILE_BYTES = 8192
"""A mode file is a few hundred bytes; anything bigger is not ours."""
REASON_MAX = 300
SOURCE_RE = re.compile(r"^[A-Za-z0-9_.:@?\[\] -]{1,100}$")
"""``cli``, ``web 127.0.0.1``, ``telegram:12345``, ``circuit-breaker``: short, one line."""


class Mode(Enum):
    """A bot's trading mode."""

    ACTIVE = "active"
    """Trade normally (the default)."""
    REDUCING = "reducing"
    """Manage and close what is open; open nothing new."""
    HALTED = "halted"
    """Send no orders at all."""

    @property
    def gauge(self) -> int:
        """The ``wdbot_bot_mode`` metric's value: 0 active, 1 reducing, 2 halted."""
        return list(Mode).index(self)


@dataclass(frozen=True)
class ModeRecord:
    """One mode as written: what, why, since when, set from where, and an id that changes
    with every change (what a bot's acknowledgement names)."""

    mode: Mode
    reason: str | None = None
    since: str | None = None
    """ISO-8601 wall time of the change; None for the default (never set)."""
    source: str | None = None
    id: str = "default"
    seq: int = 0
    """Above every record this one replaced: of a bot's own and the home's, the higher wins."""

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "reason": self.reason, "since": self.since,
                "source": self.source, "id": self.id, "seq": self.seq}

    @classmethod
    def from_json(cls, data: Any) -> ModeRecord:
        """The record ``data`` holds; ValueError when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("not a mode record")
        reason, since, source = (data.get(k) for k in ("reason", "since", "source"))
        texts = (reason, since, source)
        seq = data.get("seq", 0)
        if not all(t is None or isinstance(t, str) for t in texts) or not isinstance(data.get("id"), str) \
                or not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < DAMAGED_SEQ:
            raise ValueError("not a mode record")
        return cls(Mode(data.get("mode")), reason, since, source, id=str(data["id"]), seq=seq)

    @classmethod
    def new(cls, mode: Mode, reason: str | None, source: str, now_iso: str, seq: int) -> ModeRecord:
        return cls(mode, reason, now_iso, source, uuid4_hex(), seq)


DEFAULT = ModeRecord(Mode.ACTIVE)


@dataclass(frozen=True)
class ModeFiles:
    """Where one bot's mode lives (``home`` is the home's root folder)."""

    home: Path
    name: str

    @property
    def home_file(self) -> Path:
        return self.home / "mode.json"

    @property
    def bot_file(self) -> Path:
        return self.home / "bots" / self.name / "mode.json"  # inside Home.bot_dir(name)

    @property
    def ack_file(self) -> Path:
        return self.home / "bots" / self.name / "mode.ack"

    def candidates(self) -> tuple[Path, Path]:
        """The files that decide the mode, the bot's own first."""
        return self.bot_file, self.home_file


def read_record(path: Path) -> ModeRecord | None:
    """The record in ``path``; None when there is none. A damaged file counts as halted:
    when in doubt, a kill switch must not read as "trade"."""
    try:
        raw = read_regular(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        return None
    except OSError:
        return ModeRecord(Mode.HALTED, f"{path} could not be read", id="unreadable", seq=DAMAGED_SEQ)
    try:
        return ModeRecord.from_json(json.loads(raw))
    except (ValueError, RecursionError):  # RecursionError: '[[[[...' nested past json's depth
        return ModeRecord(Mode.HALTED, f"{path} is damaged", id="damaged", seq=DAMAGED_SEQ)


def newest(records: Iterable[ModeRecord | None]) -> ModeRecord:
    """Of a bot's records (its own first), the one in force: the highest ``seq``, the bot's
    own on a tie; active when there is none."""
    found = [r for r in records if r is not None]
    return max(found, key=lambda r: r.seq) if found else DEFAULT


def effective(files: ModeFiles) -> ModeRecord:
    """The mode in force for one bot."""
    return newest(read_record(path) for path in files.candidates())


def write_record(path: Path, record: ModeRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_json(path, record.to_json())


def read_ack(files: ModeFiles) -> tuple[str, int, str | None] | None:
    """(record id, pid, run id) the bot's process last acknowledged, or None."""
    try:
        data = json.loads(read_regular(files.ack_file, MAX_FILE_BYTES))
    except (OSError, ValueError, RecursionError):  # the bot writes it: anything may be there
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return None
    pid = data.get("pid")
    run = data.get("run") if isinstance(data.get("run"), str) else None
    return (data["id"], pid, run) if isinstance(pid, int) and not isinstance(pid, bool) else None


def write_ack(files: ModeFiles, record_id: str, run_id: str) -> None:
    """The bot's side: replace the acknowledgement, naming this process (atomic, not
    fsynced: only a hint the supervisor reads while the process lives)."""
    tmp = files.ack_file.with_name(f".mode.ack.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"id": record_id, "run": run_id, "pid": os.getpid()}))
    os.replace(tmp, files.ack_file)


def parse_mode(text: str) -> Mode:
    """``halted`` and friends; ValueError naming the choices."""
    try:
        return Mode(text)
    except ValueError:
        raise ValueError(f"mode must be one of {', '.join(m.value for m in Mode)}, not {text!r}") from None


def parse_reduce_after(text: str) -> str:
    """``--reduce-after N/MINUTES``, normalised (``3/10``); ValueError with the fix.

    >>> parse_reduce_after(" 3 / 10 "), parse_reduce_after("5/0.5")
    ('3/10', '5/0.5')
    """
    match = re.fullmatch(r"\s*(\d{1,4})\s*/\s*(\d{1,5}(?:\.\d+)?)\s*", text)
    if not match or int(match[1]) < 1 or float(match[2]) <= 0:
        raise ValueError(f"--reduce-after {text!r}: give N/MINUTES, like 3/10 (3 crashes within 10 minutes)")
    return f"{int(match[1])}/{float(match[2]):g}"


def reduce_after_window(value: str) -> tuple[int, float]:
    """(crashes, window in seconds) of a normalised ``--reduce-after`` value."""
    count, minutes = value.split("/")
    return int(count), float(minutes) * 60.0
