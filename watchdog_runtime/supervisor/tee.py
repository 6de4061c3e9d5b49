"""``wdbot daemon --tee-logs``: every line of every bot, stdout and stderr, also on the
daemon's own stdout as ``NAME | line`` (for ``docker logs``, ``kubectl logs``, journald).

Nothing here runs on the event loop but :meth:`Tee.keep` (a few ``open`` calls when a bot is
new). A reader thread follows the bots' files (``logfollow``: bounded reads, the files the
bot writes itself, so the bot never waits for us) and hands lines to an :class:`Outbox`,
whose own thread writes them (``outbox``): when whoever reads the daemon's stdout is slow or
gone, lines are dropped and counted, and one line says how many once there is room again.
A blocked stdout blocks that thread only; the supervisor, its control socket and the bots
go on. Where it stands in each file is kept in the home (``teeplaces``): the next supervisor
goes on from there, so the lines written while none ran are not lost.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..common.home import BOT_NAME_RE, BotPaths, Home
from ..redaction import Mask, Redactor
from . import teeplaces
from .logfollow import Follower
from .outbox import Outbox

if TYPE_CHECKING:
    from .supervisor import Supervisor

TICK_S = 0.2
READ_BUDGET = 256 * 1024
"""Bytes read per file per tick at most (1.25 MB/s a file, more than any log reader wants);
a faster writer is skipped ahead, so a flooding bot costs the supervisor a bounded share."""
BATCH_BYTES = 64 * 1024

log = logging.getLogger(__name__)


class Tee:
    """The bots' lines, prefixed with their names, into an :class:`Outbox`."""

    def __init__(self, home: Home, outbox: Outbox, masks: Callable[[], Mask | None] = lambda: None) -> None:
        self.home = home
        self.outbox = outbox
        self.masks = masks
        """The secret values' mask now (a redactor of the tee's own: it is not thread-safe)."""
        self.dropped = 0
        """Lines dropped (no room in the outbox) since the last note saying so."""
        self.skipped = 0
        """Bytes skipped unread (a bot writing faster than we read) since the last note."""
        self._followers: dict[str, tuple[Follower, Follower]] = {}
        self._absent: set[str] = set()
        self._failing: set[Path] = set()
        self._retired: list[Follower] = []
        """Let go of, to be closed by the reader (never under a read in progress)."""
        self._checkpoints = teeplaces.Checkpoints(home.root / teeplaces.FILE_NAME)
        self._places = teeplaces.load(self._checkpoints.path)
        """Where the last supervisor's tee stood, used once per bot."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="tee-reader", daemon=True)

    def start(self) -> None:
        self.outbox.start()
        self.thread.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        """Stop reading, after one last pass (the bots' last lines, the exit marks); the
        writer drains what is queued, as long as the process lives."""
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout_s)
        if not self.thread.is_alive():  # the last places, once their lines are written
            self.outbox.flush(timeout_s)
            self._checkpoints.save_written(self.outbox.written, last=True)

    def keep(self, names: Iterable[str]) -> None:
        """Follow exactly these bots (from where the last supervisor's tee stood, else from
        their files' ends). A bot missing twice in a row is let go: a start may add it the
        instant after the names were taken."""
        wanted = set(names)
        with self._lock:
            for name in wanted - set(self._followers):
                self._add(name)
            gone = set(self._followers) - wanted
            for name in gone & self._absent:
                self._retired.extend(self._followers.pop(name))  # closed by the reader thread
            self._absent = gone - self._absent

    def follow(self, name: str) -> None:
        """Follow a bot from the current ends of its files (before it is first spawned)."""
        with self._lock:
            self._add(name)

    def _add(self, name: str) -> None:
        if name not in self._followers:
            paths = BotPaths(self.home.bot_dir(name))
            # A saved place of None: the file was not there yet, so all of it is new.
            saved = name in self._places
            out, err = self._places.pop(name, (None, None))
            self._followers[name] = (Follower(paths.stdout_log, at_end=not saved, resume=out),
                                     Follower(paths.stderr_log, at_end=not saved, resume=err))
        self._absent.discard(name)

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            self._pass_all()
        self._pass_all()

    def _pass_all(self) -> None:
        with self._lock:
            followed = sorted(self._followers.items())
            retired, self._retired = self._retired, []
        for follower in retired:
            follower.close()
        for name, followers in followed:
            for follower in followers:
                try:
                    self._pass(name, follower)
                    self._failing.discard(follower.path)
                except Exception:  # noqa: BLE001 - one odd file must not end the tee for every bot
                    if follower.path not in self._failing:  # said once, not five times a second
                        self._failing.add(follower.path)
                        log.exception("--tee-logs: copying %s's lines failed", name)
        self._checkpoints.note(self.outbox.queued, {name: (out.position(), err.position())
                                                    for name, (out, err) in followed})
        self._checkpoints.save_written(self.outbox.written)

    def _pass(self, name: str, follower: Follower) -> None:
        try:
            found = follower.read(READ_BUDGET)
        except OSError:
            return  # the folder went with a purge, say: the bot is let go of soon
        self.skipped += found.skipped
        if not found.lines:
            return
        if (self.dropped or self.skipped) and self.outbox.put(self._note()):
            self.dropped = self.skipped = 0
        prefix = f"{name} | "
        mask = self.masks()  # once a pass: it stats the secret store
        batch: list[bytes] = []
        size = 0
        for line in found.lines:
            shown = line.decode("utf-8", "replace")
            text = f"{prefix}{mask.text(shown) if mask else shown}\n".encode()
            batch.append(text)
            size += len(text)
            if size >= BATCH_BYTES:
                self._put(batch)
                batch, size = [], 0
        self._put(batch)

    def _put(self, batch: list[bytes]) -> None:
        if batch and not self.outbox.put(b"".join(batch)):
            self.dropped += len(batch)

    def _note(self) -> bytes:
        parts = []
        if self.dropped:
            parts.append(f"{self.dropped} line(s) dropped: the daemon's stdout was not read fast enough")
        if self.skipped:
            parts.append(f"{self.skipped} byte(s) skipped: a bot wrote faster than they can be copied")
        return f"wdbot | --tee-logs: {'; '.join(parts)} (the log files have every line)\n".encode()


def attach(sup: Supervisor, ops: dict[str, Any], out: Outbox) -> Tee:
    """``--tee-logs``: follow every registered bot from now on, and a new one from before
    its first spawn (the ``start`` operation tells us its name first)."""
    tee = Tee(sup.home, out, Redactor(sup.home.secrets).mask)
    tee.keep(followed(sup))  # before resume_all: an adopted bot's lines from here on
    tee.start()
    start = ops["start"]

    @functools.wraps(start)
    async def following(*args: Any, **kwargs: Any) -> Any:
        spec = kwargs.get("spec")
        name = spec.get("name") if isinstance(spec, dict) else None
        if isinstance(name, str) and BOT_NAME_RE.fullmatch(name) and name not in sup.runners:
            tee.follow(name)
        return await start(*args, **kwargs)

    ops["start"] = following
    return tee


def followed(sup: Supervisor) -> Iterable[str]:
    """The registry's bots; while a supervisor that never read the registry waits for its fix
    (it knows no bot), every bot folder of the home: those bots run on, and their lines went
    nowhere but their files for the whole episode."""
    if sup.loaded:
        return sup.runners
    try:
        return [p.name for p in (sup.home.root / "bots").iterdir() if BOT_NAME_RE.fullmatch(p.name)]
    except OSError:
        return []


async def keep_following(sup: Supervisor, tee: Tee) -> None:
    """The followed bots follow the registry: a removed bot's files are let go."""
    while True:
        await asyncio.sleep(1.0)
        tee.keep(followed(sup))
