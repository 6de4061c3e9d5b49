"""Trading modes in the supervisor: the ``mode`` control operation, the mode fields of the
status document, whether each bot listens, ``--on-halt stop`` and the circuit breaker
(``--reduce-after N/MINUTES``).

The modes live on disk (``common.tradingmode``), never only in memory: a bot's SDK reads the
same files, and they outlive any restart or reboot. What is kept here in memory is only
bookkeeping: when this supervisor first saw a mode in force for a process (the grace before
"not acknowledged"), and the recent crashes the breaker counts.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..common.leandataclass import dataclass
from ..common.tradingmode import (
    DAMAGED_SEQ,
    REASON_MAX,
    SOURCE_RE,
    Mode,
    ModeFiles,
    ModeRecord,
    effective,
    parse_mode,
    read_ack,
    read_record,
    reduce_after_window,
    write_record,
)
from ..events import wall_iso
from .ticks import sleep_to_tick

if TYPE_CHECKING:
    from .runner import BotRunner
    from .supervisor import Supervisor

log = logging.getLogger(__name__)

ACK_GRACE_S = 5.0
"""A live process that has not read its mode this long after it changed is "not acknowledged"."""
NOT_ACKNOWLEDGED = "not acknowledged: this bot does not read wd.mode(); `wdbot stop` it to be sure"
WAITING = "waiting for the bot to read it"
CRASH_REASONS = frozenset({"crash", "recovery_failed", "unknown", "hang", "memory_limit", "fd_limit"})
"""Exits the circuit breaker counts: every one that was not asked for."""
BREAKER = "circuit-breaker"


@dataclass(frozen=True)
class Heard:
    """Whether one bot's live process has read the mode in force."""

    acknowledged: bool
    waited_s: float

    @property
    def note(self) -> str | None:
        if self.acknowledged:
            return None
        return NOT_ACKNOWLEDGED if self.waited_s >= ACK_GRACE_S else WAITING


def _next_seq(paths: Iterable[Path]) -> int:
    """One above every (readable) record in ``paths``."""
    seqs = [r.seq for r in map(read_record, paths) if r is not None and r.seq < DAMAGED_SEQ]
    return max(seqs, default=0) + 1


def _ours(reader: int, pid: int) -> bool:
    """The process that acknowledged is the bot's: its process, or one of its session (the
    bot is started as a session leader), alive now."""
    if reader == pid:
        return True
    try:
        return os.getsid(reader) == pid
    except OSError:
        return False  # gone: its reading no longer counts


class ModeKeeper:
    """The home's trading modes, for one supervisor."""

    def __init__(self, sup: Supervisor) -> None:
        self._sup = sup
        self._first_seen: dict[str, tuple[str, int, float]] = {}
        """Per bot: (record id, pid) in force, and when this supervisor first saw that pair."""
        self._written: dict[str, float] = {}
        """Record id to when (monotonic) this supervisor wrote it: the grace counts from the change."""
        self._crashes: dict[str, deque[float]] = {}
        self._stopping: set[str] = set()
        self._stops: set[asyncio.Task[None]] = set()
        """The --on-halt stops under way, held (the loop keeps only weak references)."""
        sup.events.listeners.append(self.on_event)  # the circuit breaker counts exits

    @property
    def _clock(self) -> Callable[[], float]:
        return self._sup.clock

    def files(self, name: str) -> ModeFiles:
        return ModeFiles(self._sup.home.root, name)

    # ------------------------------------------------------------ the operation
    def set(self, names: list[str] | None, all: bool, mode: object, reason: object,
            source: object) -> list[dict[str, Any]]:
        """``wdbot halt``/``reduce``/``resume``: every check before the first write, so bad
        input changes nothing. One reply entry per bot: its mode now, and whether it changed."""
        from .supervisor import RequestError  # here: the supervisor module imports this one

        targets = self._sup.ops.targets(names, bool(all))
        try:
            wanted = parse_mode(mode if isinstance(mode, str) else repr(mode))
        except ValueError as exc:
            raise RequestError(str(exc), usage=True) from None
        if reason is not None and (not isinstance(reason, str) or len(reason) > REASON_MAX):
            raise RequestError(f"reason must be one line of text, at most {REASON_MAX} characters",
                               usage=True)
        if not isinstance(source, str) or not SOURCE_RE.fullmatch(source):
            raise RequestError("source must be a short one-line text, like 'cli' or 'web'", usage=True)
        why = " ".join(reason.split()) or None if isinstance(reason, str) else None
        if not all and wanted is not Mode.HALTED:
            self._refuse_under_damaged_home(wanted)
        names_now = [r.spec.name for r in targets]
        before = {n: effective(self.files(n)) for n in names_now}
        wrote = all and self._set_home(wanted, why, source, before)
        if not all:
            for name in names_now:
                if before[name].mode is not wanted:
                    files = self.files(name)
                    self._write(files.bot_file, ModeRecord.new(wanted, why, source, wall_iso(),
                                                               _next_seq(files.candidates())))
        return self._announce(before, wanted, wrote)

    def _refuse_under_damaged_home(self, wanted: Mode) -> None:
        """A damaged home file reads halted for every bot and outranks any bot's record: only
        ``--all`` writes it anew, so a bot named alone cannot leave halted. Said, not ignored."""
        from .supervisor import RequestError

        home_file = ModeFiles(self._sup.home.root, "-").home_file
        found = read_record(home_file)
        if found is not None and found.seq >= DAMAGED_SEQ:
            verb = "resume" if wanted is Mode.ACTIVE else "reduce"
            raise RequestError(f"{home_file} is damaged, so every bot reads halted: run "
                               f"'wdbot {verb} --all' (or 'wdbot halt --all') to write it anew")

    def _write(self, path: Path, record: ModeRecord) -> None:
        write_record(path, record)
        if len(self._written) >= 1000:
            self._written.clear()  # only a hint: the first sighting is the fallback
        self._written[record.id] = self._clock()

    def _set_home(self, wanted: Mode, why: str | None, source: str,
                  before: Mapping[str, ModeRecord]) -> bool:
        """``--all``: one atomic write of the home's record, newer than every bot's own, so
        every bot (and every bot added later) follows it at once."""
        home_file = ModeFiles(self._sup.home.root, "-").home_file
        current = read_record(home_file)
        # every bot folder's record, not only the registered bots': a removed bot keeps its
        # folder, and started again its old record must not outrank this one
        kept = sorted((self._sup.home.root / "bots").glob("*/mode.json"))
        newest_kept = _next_seq(kept) - 1
        if current is not None and current.mode is wanted and current.seq > newest_kept \
                and all(r.mode is wanted for r in before.values()):
            return False  # nothing to change: the time and reason of the mode in force stay
        for name in before:  # a damaged file of a bot would outrank any record: it goes
            own = read_record(self.files(name).bot_file)
            if own is not None and own.seq >= DAMAGED_SEQ:
                self.files(name).bot_file.unlink(missing_ok=True)
        paths = [home_file, *kept]
        self._write(home_file, ModeRecord.new(wanted, why, source, wall_iso(), _next_seq(paths)))
        return True

    def _announce(self, before: Mapping[str, ModeRecord], wanted: Mode,
                  all: bool) -> list[dict[str, Any]]:
        """Events (and so alerts) for what changed: one per bot, and with ``all`` (the home's
        record written) one for the home, which is the one that alerts."""
        reply = []
        record = read_record(ModeFiles(self._sup.home.root, "-").home_file) if all else None
        for name, old in before.items():
            now = effective(self.files(name))
            changed = now.mode is not old.mode
            if changed:
                if now.mode is Mode.ACTIVE:
                    self._crashes.pop(name, None)  # a person resumed it: the breaker counts anew
                self._sup.events.write("mode", name, mode=now.mode.value, reason=now.reason,
                                       source=now.source, previous=old.mode.value, all=all or None)
            reply.append({"name": name, "mode": now.mode.value, "changed": changed})
        if all and record is not None:
            self._sup.events.write("mode", None, mode=wanted.value, reason=record.reason,
                                   source=record.source, all=True,
                                   changed=[r["name"] for r in reply if r["changed"]])
        return reply

    # ------------------------------------------------------------ the status
    def annotate(self, bot: dict[str, Any]) -> dict[str, Any]:
        """The mode fields of one bot's status entry, added to it."""
        files = self.files(str(bot["name"]))
        record = effective(files)
        heard = self.heard(files, record, bot.get("pid"), bot.get("uptime_s"))
        bot.update(mode=record.mode.value, mode_reason=record.reason, mode_since=record.since,
                   mode_source=record.source, mode_acknowledged=heard.acknowledged,
                   mode_note=heard.note if record.mode is not Mode.ACTIVE else None)
        return bot

    def heard(self, files: ModeFiles, record: ModeRecord, pid: object, uptime_s: object = None) -> Heard:
        """Whether the live process ``pid`` has read ``record`` (True when none runs: no
        process, no order). Given the process's ``uptime_s``, the wait counts from the change
        when this supervisor made it (or from the process's start, if later); else from when it
        first saw the two together (``--on-halt stop`` looks twice a second)."""
        if not isinstance(pid, int):
            self._first_seen.pop(files.name, None)
            return Heard(True, 0.0)
        now = self._clock()
        seen = self._first_seen.get(files.name)
        if seen is None or seen[:2] != (record.id, pid):
            seen = (record.id, pid, now)
            self._first_seen[files.name] = seen
        start = seen[2]
        written = self._written.get(record.id)
        if written is not None and isinstance(uptime_s, (int, float)):  # no uptime: no change's time
            start = min(start, max(written, now - uptime_s))  # a process started later gets its grace
        ack = read_ack(files)
        return Heard(ack is not None and ack[0] == record.id and self._this_run(files.name, ack[2])
                     and _ours(ack[1], pid), now - start)

    def _this_run(self, name: str, run: str | None) -> bool:
        """The acknowledgement names the live run: after a reboot the pids come out the same,
        and the earlier boot's acknowledgement must not speak for a new process."""
        runner = self._sup.runners.get(name)
        live = runner.live_run_id if runner is not None else None
        return live is None or run == live

    # ------------------------------------------------------------ --on-halt stop
    async def enforce_forever(self, interval_s: float = 0.5) -> None:
        """Stop each halted bot started with ``--on-halt stop`` whose process has not read
        its mode within the grace: a bot that cannot listen must not trade."""
        while True:
            # Issue 29: without a bot to enforce, one look per grace, on the housekeeping grid
            # (``ticks``, no wake of its own): a bot started meanwhile is seen before its grace
            # is over, then looked at every interval_s as ever.
            if any(r.spec.on_halt == "stop" for r in self._sup.runners.values()):
                await asyncio.sleep(interval_s)
            else:
                await sleep_to_tick(ACK_GRACE_S)
            for runner in list(self._sup.runners.values()):
                if runner.spec.on_halt != "stop" or runner.spec.name in self._stopping:
                    continue
                ident = runner.live_ident
                files = self.files(runner.spec.name)
                record = effective(files)
                if ident is None or record.mode is not Mode.HALTED:
                    continue
                heard = self.heard(files, record, ident.pid)
                if heard.note == NOT_ACKNOWLEDGED:
                    self._stopping.add(runner.spec.name)
                    task = asyncio.get_running_loop().create_task(self._stop(runner))
                    self._stops.add(task)
                    task.add_done_callback(self._stops.discard)

    async def _stop(self, runner: BotRunner) -> None:
        """Stop the runner itself, not through the 'stop' command: that one is refused while
        registry.json is unreadable, and a bot that cannot listen must not trade meanwhile.
        Said once it is done, never before."""
        name = runner.spec.name
        try:
            await runner.stop()
            self._sup.events.write("mode_stop", name, detail="halted, and it does not read wd.mode() "
                                                             "(--on-halt stop): stopped")
            self._sup.persist()
        except Exception:  # noqa: BLE001 - a failed stop is logged; the next pass tries again
            log.exception("stopping %s (--on-halt stop) failed", name)
        finally:
            self._stopping.discard(name)

    # ------------------------------------------------------------ the circuit breaker
    def on_event(self, event: Mapping[str, Any]) -> None:
        """An event listener: N crashes within the window put the bot in ``reducing``, on
        disk at once (before its restart is spawned), told right after."""
        name = event.get("bot")
        if event.get("kind") == "removed" and isinstance(name, str):
            self._crashes.pop(name, None)  # a bot added again under the name counts anew
            return
        if event.get("kind") != "exit" or event.get("reason") not in CRASH_REASONS:
            return
        runner = self._sup.runners.get(name) if isinstance(name, str) else None
        if runner is None or not runner.spec.reduce_after:
            return
        count, window_s = reduce_after_window(runner.spec.reduce_after)
        times = self._crashes.setdefault(runner.spec.name, deque())
        now = self._clock()
        times.append(now)
        while times and now - times[0] > window_s:
            times.popleft()
        files = self.files(runner.spec.name)
        if len(times) < count or effective(files).mode is not Mode.ACTIVE:
            return
        why = (f"crashed {len(times)} times within {window_s / 60:g} min (--reduce-after "
               f"{runner.spec.reduce_after}); last: {event.get('error') or event.get('reason')}. "
               f"It stays reducing until a person runs 'wdbot resume {runner.spec.name}'")
        record = ModeRecord.new(Mode.REDUCING, why, BREAKER, wall_iso(), _next_seq(files.candidates()))
        self._write(files.bot_file, record)
        times.clear()
        self._later(lambda: self._sup.events.write("mode", runner.spec.name, mode=record.mode.value,
                                                   reason=why, source=BREAKER, previous="active"))

    @staticmethod
    def _later(fn: Callable[[], None]) -> None:
        """After the event being handled is written (an exit, then the mode it caused)."""
        try:
            asyncio.get_running_loop().call_soon(fn)
        except RuntimeError:  # no loop (a test's direct call): at once
            fn()
