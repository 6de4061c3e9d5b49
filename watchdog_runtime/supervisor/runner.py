"""One bot's lifecycle, driven by an asyncio task: prepare, spawn, await the exit as an event,
decide (pure, in ``lifecycle``), back off, and stop the whole tree on request.

Every state change goes through ``states.transition``; every decision through
``lifecycle.decide_after_exit``; every process operation through ``procs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from ..bot.entry import defines_recover
from ..common.home import BotPaths, Home
from ..common.logrotate import RotationPolicy, rotate_file
from ..config import ConfigError
from ..events import parse_wall_iso, wall_iso
from ..installs.autoinstall import Budget
from ..installs.deps import DependencyError
from ..installs.repair import AutoInstaller, Outcome, RepairHost
from ..installs.venvs import VenvError, ensure_venv, install_in_place
from ..redaction import Redactor
from ..registry import BotRecord, RunRecord
from ..spec import BotSpec, RestartPolicy
from ..states import ACTIVE_STATES, BotState, Event, ExitReason, Hold, StartReason, transition
from . import cgroupplan, cgroups, graces, identity, logmarks, procs, runfiles, sentmarks
from .adoption import choose_own, others, with_ident
from .backoff import BackoffPolicy
from .botenv import Launch, bot_environment
from .botfile import BotFileError, check_bot_file
from .diagnosis import Diagnosis, Failure, Pattern, diagnose, failure_of
from .lifecycle import ExitInfo, classify_exit, decide_after_exit
from .logwriters import LogWriterWatch
from .nativecrash import NATIVE_SIGNALS, crashed_module
from .reload import SourceWatcher, check_and_install
from .resources import NO_READINGS, Breach, Limits, ResourceWatch, TreeSample, WatchSettings
from .tracebacks import MissingModule, final_traceback, missing_module
from .treestop import Term, kill_leftovers, stop_processes, stop_tree

log = logging.getLogger(__name__)

BOOTSTRAP = "import watchdog_runtime.bot.bootstrap as b; b.main()"
"""The bot's first code (``-c``, not ``-m``: runpy's import is downtime at every restart)."""

_ASKED_FOR = (StartReason.FIRST_START, StartReason.RESTART)
"""Starts a person asked for: the file is compiled first, so 'wdbot start' reports a syntax
error at once (a crash restart leaves that to the bootstrap, as before)."""

LEFTOVER_GRACE_S = 3.0
"""SIGTERM to SIGKILL for what a bot left behind once its own process is gone (its helpers,
the processes of a dead supervisor's run): short, since the bot waits for them to restart.
The bot's own graceful stop gets its full ``--stop-timeout``."""

DUMP_WAIT_S = 1.0
"""How long a hung bot's stack dump may take before it is stopped."""

_WATCHED = (BotState.RUNNING, BotState.RECOVERING)
"""States whose process is sampled and held to its limits."""

_START_AFTER = {
    ExitReason.MEMORY_LIMIT: StartReason.MEMORY_LIMIT,
    ExitReason.FD_LIMIT: StartReason.FD_LIMIT,
    ExitReason.HANG: StartReason.HANG,
    ExitReason.RELOAD: StartReason.RELOAD,
    ExitReason.CLEAN_EXIT: StartReason.RESTART,
}


class StartFailed(Exception):
    """The bot could not be started (its venv, its dependencies, its interpreter)."""


class InstallFailed(Exception):
    """A module the bot's file imports at its top level could not be installed."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.refused)
        self.outcome = outcome


class RegistryUnwritable(Exception):
    """The write-ahead record of a spawn could not be written: nothing was spawned."""


class RunnerHost(RepairHost, Protocol):
    """What a runner needs from the supervisor."""

    home: Home
    uniform01: Callable[[], float]
    containment: cgroupplan.Containment | None
    redact: Redactor
    """Hides the home's secret values in what the runner writes itself (its marks in the
    bot's log, the next run's ``WDBOT_CONTEXT``); events and the registry redact on their own."""
    shutdown_requested: asyncio.Event
    """Set once the supervisor shuts down: no start goes ahead from then on."""

    def persist(self) -> None: ...

    def persist_now(self) -> None:
        """Write the registry at once; raise when it cannot be written."""
        ...

    def slept_recently(self) -> float | None:
        """Seconds the machine slept, if it woke a moment ago."""
        ...


@dataclass
class _Live:
    """The bot's current process."""

    ident: procs.ProcessIdentity
    popen: subprocess.Popen[bytes] | None
    run: RunRecord
    started_mono: float


class BotRunner:
    """Drives one bot. At most one lifecycle task runs at a time, so at most one process."""

    def __init__(self, host: RunnerHost, record: BotRecord) -> None:
        self.host = host
        self.spec: BotSpec = record.spec
        self.paths = BotPaths(host.home.bot_dir(record.spec.name))
        waiting = record.state is BotState.BACKOFF and record.should_run and record.backoff is not None
        self.state = record.state if record.state not in ACTIVE_STATES or waiting else BotState.STOPPED
        self.should_run = record.should_run
        self.held = record.held
        """Meant to run, stopped with its supervisor; ``held_by`` says what starts it again."""
        self.held_by = record.held_by
        self.backoff_deadline = record.backoff if waiting else None
        """The pending restart's deadline, on clocks that outlive this supervisor."""
        self.signalled: tuple[graces.Signalled, ...] = record.signalled
        """The processes sent SIGTERM and their SIGKILL deadlines (:meth:`_grace`)."""
        self._about: dict[int, procs.ProcessIdentity] = {}
        """The identities of the processes last about to be signalled (for :meth:`_sent`)."""
        self.restarts = record.restarts
        self.last_exit = record.last_exit
        self.start_reason: StartReason | None = None
        self.next_start_at: float | None = None
        self.failures = record.failures
        self.budget = Budget(record.installs, int(record.extra.get("install_rounds", 0)),
                             str(record.extra.get("install_basis", "")))
        self.recovery_failures = record.recovery_failures
        self.repairs = AutoInstaller(host, self.paths)
        self._saved_run = record.run
        self.retired = False
        """Being removed: no command may start it again (a racing restart would leave a
        process no registry knows)."""
        self._pending: RunRecord | None = record.pending_run
        self._cgroup: Path | None = None
        """The bot's own cgroup v2, where the supervisor could make one."""
        self._joined = False
        """The live process is inside ``_cgroup``: its whole tree is, whatever it does."""
        self._oom_before: int | None = None
        """Its cgroup's OOM-kill count at the spawn (memory controller only)."""
        """Write-ahead: the run about to be spawned (no pid yet), on disk before the fork."""
        self._extra = dict(record.extra)
        self._live: _Live | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.watch = ResourceWatch()
        self._limits: Limits | None = None
        self._breach: asyncio.Future[Breach] | None = None
        """Resolved when the supervisor decides to restart the live process (a limit)."""
        self._first_spawn: asyncio.Future[None] | None = None
        self._log_policy = RotationPolicy()
        self.watcher = SourceWatcher(record.spec.name)
        self.reload_error: str | None = None
        self._wake = asyncio.Event()
        """Set by a reload to end a backoff wait early."""
        self._has_recover = False
        """The bot file defines ``recover(ctx)`` (read while preparing, off the event loop)."""
        self._last_beat = 0.0
        """Clock time of the live process's last heartbeat (of its start, before the first)."""
        self._beats_seen = False
        self._recovery_started = 0.0
        self._down_since: float | None = None
        """Wall-clock time of the last exit, for ``ctx.downtime_s``."""
        self.repeats = runfiles.StderrRepeats(self.paths.stderr_log)
        self.log_writers = LogWriterWatch(self.paths.logs)
        """The live process's repeated errors on stderr (a degraded bot)."""

    @property
    def last_exit(self) -> ExitInfo | None:
        """How the last run ended (or failed to start)."""
        return self._last_exit

    @last_exit.setter
    def last_exit(self, info: ExitInfo | None) -> None:
        # Redacted when recorded, not only when shown: a value replaced later (the rejected
        # key a person then changes) is no longer known to the redactor, yet the text quotes it.
        self._last_exit = None if info is None else ExitInfo.from_json(self.host.redact(info.to_json()))

    # ----------------------------------------------------------------- commands
    @property
    def active(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def marker(self) -> str:
        return f"{self.host.home.id}:{self.spec.name}"

    async def start(self, reason: StartReason) -> None:
        """Start the bot and return once its process is spawned; raise StartFailed if it cannot.
        A stop in progress (another command's) is waited for first."""
        await self.settle()
        if self.retired:
            raise StartFailed(f"{self.spec.name} is being removed")
        if self.host.shutdown_requested.is_set():
            # A start (a restart's second half) that waited for a stop while a shutdown came:
            # going ahead would leave the bot running, unsupervised, after the supervisor.
            # Meant to run, so the shutdown holds it (a reboot's boot starts it again).
            self.should_run = True
            raise StartFailed("the supervisor is shutting down: run the command again once "
                              "'wdbot shutdown' has returned")
        if self.active:
            await self.spawned()
            return  # a racing command started it meanwhile: one copy, already there
        self.should_run = True
        self.held = False
        self.failures = 0  # a person acted: the next crash starts the backoff over
        self.recovery_failures = 0  # ... and recover() its five
        # Not auto-install's rounds: only new dependencies or a 'wdbot allow' give them back
        # (``Budget.rebased``), so a plain restart cannot loop on a package that never installs.
        self._first_spawn = asyncio.get_running_loop().create_future()
        self._launch(self._lifecycle(reason, adopted=None))
        self._ensure_watching()
        await asyncio.shield(self._first_spawn)

    def resume(self, found: list[procs.Marked], *, service: bool = False) -> None:
        """After a supervisor (re)start: adopt the bot's live process, or start it if it should
        run but died meanwhile (at its backoff deadline if it was waiting). Never a second
        copy: ``found`` holds every process carrying this bot's marker; the one that is the
        recorded run (by identity, or by the write-ahead run id for a supervisor that died
        right after the fork) is adopted, and every process of another run is stopped before
        anything new starts. A live bot that should not run (its supervisor died while
        stopping it) is adopted and the stop finished. ``service``: ``wdbot daemon``, which
        also starts a bot held because a signal stopped its supervisor (``Hold.SIGNAL``: a
        reboot, ``systemctl stop``); one held by ``wdbot shutdown`` stays down, whoever starts
        the supervisor (issue 23, point 1)."""
        adopted = choose_own(self._saved_run, self._pending, found, procs.is_alive)
        strays = others(found, adopted[1] if adopted else None)
        if self.held and service and self.held_by is Hold.SIGNAL:
            self.held, self.should_run = False, True
        elif self.held:
            self.should_run = False  # a hold wins over should_run (an older file, a hand edit)
        self._forget_the_gone()
        if adopted:
            if self.state is BotState.BACKOFF:
                self.state = BotState.STOPPED  # restored from disk: it runs after all
            self._launch(self._lifecycle(StartReason.SUPERVISOR_RESTART, adopted=adopted,
                                         strays=strays))
            if not self.should_run:
                self._stop.set()
        elif self.should_run:
            reason, wait_s = StartReason.SUPERVISOR_RESTART, None
            if self.state is BotState.BACKOFF and self.backoff_deadline is not None:
                wait_s = self.backoff_deadline.remaining_now()
                last = self.last_exit.reason if self.last_exit else ExitReason.CRASH
                reason = _START_AFTER.get(last, StartReason.CRASH)
            self._launch(self._lifecycle(reason, adopted=None, strays=strays, wait_s=wait_s))
        elif strays or self.signalled or self._left_cgroup():
            asyncio.get_running_loop().create_task(self._finish_stop(strays))
        if self.should_run or self.state in (BotState.ERRORED, BotState.EXITED):
            self._ensure_watching()  # --watch: a fix saved later starts it again

    async def _stop_strays(self, strays: list[procs.Marked]) -> None:
        """Processes of another run of this bot (an orphan of a dead supervisor, a second
        copy): stopped, and said so."""
        if not strays:
            return
        self._say_strays(strays)
        await stop_processes(procs.as_processes(strays), self._leftover_grace())
        self._forget_the_gone()

    def _say_strays(self, strays: list[procs.Marked]) -> None:
        pids = [m.ident.pid for m in strays]
        self.host.events.write("orphans_stopped", self.spec.name, pids=pids,
                               message=f"{len(pids)} process(es) of an earlier run of "
                                       f"{self.spec.name} were stopped")

    async def _finish_stop(self, strays: list[procs.Marked]) -> None:
        """The bot is gone and should not run, but its supervisor died during its stop: what
        is left (the bot's cgroup, processes with its marker, the processes that were
        signalled and outlived it, marker or not) is stopped, each at the deadline it had
        (the stop's grace, not the leftovers' shorter one: it may be cleaning up)."""
        grace = self._stop_grace()
        cgroup = self._left_cgroup()
        if cgroup is not None:
            self._report_killed(await kill_leftovers(None, [], self.marker, grace, cgroup=cgroup))
        if strays:
            self._say_strays(strays)
        left = {i.pid: i for i in [*(m.ident for m in strays), *(s.ident for s in self.signalled)]}
        found = procs.handles(left.values())
        if found:
            self._report_killed(await stop_processes(found, grace))
        self._forget_the_gone()

    def _left_cgroup(self) -> Path | None:
        """The bot's cgroup if it exists and holds a process (never made here)."""
        containment = self.host.containment
        cgroup = containment.bot(self.spec.name) if containment is not None else None
        return cgroup if cgroup is not None and not cgroups.is_empty(cgroup) else None

    async def _empty_cgroup(self) -> None:
        """The bot has no live process, so whatever its cgroup still holds (a helper of a run
        whose supervisor died, that dropped the marker) is a leftover: it goes first."""
        cgroup = self._find_cgroup()
        if cgroup is not None and not cgroups.is_empty(cgroup):
            self._report_killed(await kill_leftovers(None, [], self.marker, self._leftover_grace(),
                                                     cgroup=cgroup))
            self._forget_the_gone()

    async def spawned(self) -> None:
        """Wait until a start in progress has spawned (or failed): a second ``start`` of the
        same bot then answers with the real pid, not ``None, starting``."""
        if self._first_spawn is not None and not self._first_spawn.done():
            with contextlib.suppress(StartFailed):
                await asyncio.shield(self._first_spawn)

    async def settle(self) -> None:
        """Wait for a stop in progress to finish (a start asked meanwhile comes after it)."""
        while self.active and self._stop.is_set() and self._task is not None:
            await asyncio.shield(self._task)

    def hold(self, why: Hold) -> None:
        """A shutdown of the supervisor (``why``) is about to stop this bot: a bot meant to
        run is held. A deliberate hold is never weakened: a bot ``wdbot shutdown`` held stays
        so when a signal later stops a supervisor that left it down."""
        if not (self.should_run or self.held):
            return
        deliberate = why is Hold.SHUTDOWN or (self.held and self.held_by is Hold.SHUTDOWN)
        self.held, self.held_by = True, Hold.SHUTDOWN if deliberate else Hold.SIGNAL
        # Not meant to run from now on, on disk before the first SIGTERM: a supervisor killed
        # mid-shutdown leaves a bot the next one stops (or leaves stopped), never restarts.
        self.should_run = False

    async def stop(self, keep_held: bool = False) -> None:
        """Stop gracefully (SIGTERM to the group, SIGKILL after the stop timeout) and wait.
        ``keep_held``: a shutdown's stop, which leaves the hold :meth:`hold` set."""
        self.should_run = False
        self.held = self.held and keep_held
        await self._stop_watching()
        if self.active:
            assert self._task is not None
            self._stop.set()
            await asyncio.shield(self._task)
        elif self.state in (BotState.EXITED, BotState.ERRORED):
            self._stopped_idle()

    async def check_file(self) -> None:
        """Before a restart stops the running bot: its file is there and compiles (under the
        venv's Python); raises ``BotFileError``, the bot left running."""
        python = self.paths.python if self.paths.python.exists() else None
        await asyncio.to_thread(check_bot_file, Path(self.spec.path), self.spec.name, python,
                                then="restart")

    async def detach(self) -> None:
        """Let go of the bot without touching its process (``shutdown --keep-bots``)."""
        await self._stop_watching()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass  # the cancellation we asked for: the process is left running on purpose

    def record(self) -> BotRecord:
        """What the registry keeps of this bot now."""
        run = self._live.run if self._live else self._saved_run
        return BotRecord(spec=self.spec, should_run=self.should_run, state=self.state,
                         restarts=self.restarts, failures=self.failures,
                         last_exit=self.last_exit, run=run, installs=self.budget.modules,
                         recovery_failures=self.recovery_failures, pending_run=self._pending,
                         held=self.held, held_by=self.held_by,
                         backoff=self.backoff_deadline if self.state is BotState.BACKOFF else None,
                         signalled=self.signalled,
                         extra={**self._extra, "install_rounds": self.budget.rounds,
                                "install_basis": self.budget.basis})

    def status(self) -> dict[str, Any]:
        """This bot's entry of ``status --json`` (CONTRACT section 4)."""
        now = self.host.clock()
        live = self._live
        return {
            "name": self.spec.name,
            "path": self.spec.path,
            "state": self.state.value,
            "pid": live.ident.pid if live else None,
            "restarts": self.restarts,
            "uptime_s": round(now - live.started_mono, 3) if live else None,
            "next_start_in_s": (round(max(0.0, self.next_start_at - now), 3)
                                if self.next_start_at is not None else None),
            "last_exit": self.last_exit.to_json() if self.last_exit else None,
            **(self.watch.status() if live else NO_READINGS),
            "auto_installed": [i.to_json() for i in self.repairs.recorded],
            "heartbeat_age_s": (round(now - self._last_beat, 3)
                                if live and self._beats_seen else None),
            "recovery_failures": self.recovery_failures,
            "held": self.held,
            "held_by": self.held_by.value if self.held else None,
            "containment": (self.host.containment.description if self._joined and self.host.containment
                            else cgroupplan.describe(None)),
            "watch": self.spec.watch,
            "reload_error": self.reload_error,
            "attention": self._attention(),
            "degraded": ({**self.repeats.degraded.to_json(), "diagnosis": self._degraded_diagnosis()}
                         if live and self.repeats.degraded else None),
            "limits": {
                "max_memory_bytes": self.spec.max_memory_bytes,
                "max_fds": self._limits.max_fds if self._limits else self.spec.max_fds,
                "heartbeat_timeout_s": self.spec.heartbeat_timeout_s,
            },
            "venv": str(self.paths.venv),
            "start_reason": self.start_reason.value if self.start_reason else None,
            "restart_policy": self.spec.restart.value,
            "logs": {"stdout": str(self.paths.stdout_log), "stderr": str(self.paths.stderr_log)},
            "stray_log_writers": [w.to_json() for w in self.log_writers.found] if live else [],
        }

    @property
    def live_ident(self) -> procs.ProcessIdentity | None:
        """The bot's process while it runs or recovers (not while stopping): what the
        sampler reads."""
        return self._live.ident if self._live and self.state in _WATCHED else None

    @property
    def live_run_id(self) -> str | None:
        """The run id of the bot's current process (what its acknowledgement of a trading
        mode must name, issue 27), None when none runs."""
        return self._live.run.run_id if self._live else None

    def _leftover_grace(self) -> _Graces:
        return _Graces(self, min(self.spec.stop_timeout_s, LEFTOVER_GRACE_S))

    def _stop_grace(self) -> _Graces:
        return _Graces(self, self.spec.stop_timeout_s)

    def _grace(self, seconds: float, pids: list[int], late: bool = False) -> Term:
        """The wait from SIGTERM to SIGKILL for ``pids``, about to be signalled: ``seconds``
        from each process's first SIGTERM, even when the supervisor that sent it was killed,
        and no second SIGTERM for those that had it (``graces``, ``sentmarks``). New
        deadlines go on disk first; a failed write only costs the next supervisor a fresh
        grace for those processes. ``late``: they joined the stop under way, and share its
        deadline."""
        idents = [i for i in map(identity.identify, pids) if i is not None]
        self._about = {i.pid: i for i in idents}
        marks = sentmarks.read(self.paths.sigterms)
        wait = graces.grace(self.signalled, idents, seconds, identity.Deadline.after,
                            identity.Deadline.remaining_now, marks, late=late)
        if wait.added:
            self.signalled = graces.prune(self.signalled, procs.is_alive) + wait.added
            try:
                self.host.persist_now()
            except Exception:  # noqa: BLE001 - the supervisor's RegistryWriteError, already logged
                log.debug("%s: SIGKILL deadlines kept in memory only", self.spec.name)
        # Every process noted is spared, also one these pids missed: a member of the bot's
        # process group that the marker walk cannot see (cleared environment, orphaned).
        return Term(wait.seconds, wait.spare | {m.pid for m in marks if procs.is_alive(m)},
                    self.spec.stop_signal.signum)

    def _sent(self, pids: list[int]) -> None:
        """``pids`` had their SIGTERM this instant: noted at once, so that a supervisor
        finishing this stop spares them (``sentmarks``)."""
        idents = [self._about.get(pid) or identity.identify(pid) for pid in pids]
        try:
            sentmarks.note(self.paths.sigterms, [i for i in idents if i is not None])
        except OSError as exc:  # a full disk: a supervisor killed now would signal them again
            log.warning("%s: cannot note the SIGTERMs sent: %s", self.spec.name, exc)

    def _forget_the_gone(self) -> None:
        """Drop the deadlines of processes that are gone (after a stop or sweep, and at
        adoption): a new process is never held to another's deadline."""
        alive = graces.prune(self.signalled, procs.is_alive)
        if alive != self.signalled:
            self.signalled = alive
            self.host.persist()
        sentmarks.prune(self.paths.sigterms, procs.is_alive)

    @property
    def joined_cgroup(self) -> Path | None:
        """The cgroup that holds the live process's whole tree, or None."""
        return self._cgroup if self._joined else None

    def release_cgroup(self) -> None:
        """The bot is forgotten: its (empty) cgroup goes too."""
        if self._cgroup is not None:
            cgroups.remove(self._cgroup)

    def _find_cgroup(self) -> Path | None:
        """The bot's cgroup, made if missing; None without containment or when it cannot be."""
        containment = self.host.containment
        if containment is None:
            return None
        try:
            return cgroups.create(containment, self.spec.name)
        except OSError as exc:
            log.warning("%s: no cgroup (%s); its tree is found by the marker walk", self.spec.name, exc)
            return None

    def near_limit(self) -> bool:
        """The last reading is past half of a limit: read this bot more often."""
        last, limits = self.watch.last, self._limits
        if last is None or limits is None:
            return False
        memory = limits.max_memory_bytes is not None and last.rss_bytes * 2 >= limits.max_memory_bytes
        return memory or (limits.max_fds is not None and last.num_fds * 2 >= limits.max_fds)

    @property
    def process_ident(self) -> procs.ProcessIdentity | None:
        """The bot's process in any state while it lives, stopping included: the tree that
        may read the bot's secrets."""
        return self._live.ident if self._live else None

    def on_message(self, run_id: str, kind: str) -> bool:
        """A message from the bot (``notify``); False when it is not from the live process."""
        live = self._live
        if live is None or live.run.run_id != run_id:
            return False
        now = self.host.clock()
        if kind == "heartbeat":
            self._last_beat = now
            self._beats_seen = True
        elif kind == "recovering" and self.state is BotState.RUNNING:
            self._recovery_started = now
            self._to(Event.RECOVERY_STARTED)
        elif kind == "running" and self.state is BotState.RECOVERING:
            self._to(Event.RECOVERED)
            self.recovery_failures = 0
            self.host.events.write("recovered", self.spec.name, pid=live.ident.pid,
                                   seconds=round(now - self._recovery_started, 3))
            self.host.persist()
        return True

    def observe(self, ident: procs.ProcessIdentity, sample: TreeSample, settings: WatchSettings) -> None:
        """Take one resource sample of the live process; restart the bot past a limit."""
        if self._live is None or self._live.ident != ident or self.state not in _WATCHED:
            return  # a sample of a process that is gone or going
        if settings != self.watch.settings:
            self.watch.reset(settings)
        if self._limits is None:
            fd_rlimit = procs.fd_soft_limit(ident)
            self._limits = Limits(
                max_memory_bytes=self.spec.max_memory_bytes,
                max_fds=self.spec.max_fds or Limits.default_max_fds(fd_rlimit),
                machine_memory_bytes=procs.machine_memory(), fd_rlimit=fd_rlimit)
        verdict = self.watch.observe(sample, self._limits)
        for stray in self.log_writers.check(sample.pids, root=ident.pid):
            self.host.events.write("stray_log_writer", self.spec.name, **stray.to_json())
        for leak in verdict.new_leaks:
            self.host.events.write("leak_suspected", self.spec.name, pid=ident.pid, **leak.to_json())
        for resource in verdict.cleared:
            self.host.events.write("leak_cleared", self.spec.name, pid=ident.pid, resource=resource)
        if verdict.breach is not None and self._breach is not None and not self._breach.done():
            self._breach.set_result(verdict.breach)
        self._check_repeats()

    def _check_repeats(self) -> None:
        """Flag (and alert) a running bot that repeats one error on stderr; clear the flag
        when it stops."""
        change = self.repeats.check(self.host.clock())
        if change is True and self.repeats.degraded is not None:
            d = self.repeats.degraded
            hint = self._degraded_diagnosis()
            self.host.events.write("degraded", self.spec.name, error=d.error, count=d.count,
                                   window_s=d.window_s, diagnosis=hint)
        elif change is False:
            self.host.events.write("degraded_cleared", self.spec.name)

    def _degraded_diagnosis(self) -> dict[str, str] | None:
        d = self.repeats.degraded
        if d is None:
            return None
        found = diagnose(ExitReason.CRASH, None, None, Failure.from_line(d.exc_line), bot=self.spec.name)
        return found.to_json() if found else None

    # ---------------------------------------------------------------- lifecycle
    def _launch(self, coro: Any) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(coro, name=f"bot:{self.spec.name}")

    async def _lifecycle(self, reason: StartReason,
                         adopted: tuple[procs.ProcessIdentity, RunRecord] | None,
                         strays: list[procs.Marked] | None = None, wait_s: float | None = None) -> None:
        try:
            if adopted:
                self._adopt(*adopted)
                if strays:
                    asyncio.get_running_loop().create_task(self._stop_strays(strays))
            else:
                # Before anything new starts; together, so SIGTERM-deaf leftovers cost one
                # stop timeout, not two.
                await asyncio.gather(self._stop_strays(strays or []), self._empty_cgroup())
                if wait_s is not None and not await self._wait_backoff(wait_s):
                    return
                if not await self._start_once(reason):
                    return
            while True:
                exited = await self._supervise()
                if exited is None or not await self._after_exit(*exited):
                    return
        finally:
            if self._first_spawn is not None and not self._first_spawn.done():
                self._first_spawn.set_exception(StartFailed(self._failure_text()))

    def _failure_text(self) -> str:
        if self.last_exit and self.last_exit.error:
            return self.last_exit.error
        return f"{self.spec.name} did not start (state {self.state.value})"

    async def _start_once(self, reason: StartReason) -> bool:
        """Prepare and spawn; False when the bot must not (or cannot) run now. A failure that
        may heal (a download, an index that is down, a full disk) backs off and tries again,
        like a crash; only what needs a person ends in ``errored``."""
        while True:
            if self.state is BotState.BACKOFF:
                self._to(Event.BACKOFF_ELAPSED)
            elif self.state is not BotState.STARTING:  # STARTING: right after a repair
                self._to(Event.START)
            self.start_reason = reason
            self.host.persist()
            try:
                await asyncio.to_thread(self._prepare)
                if not self._stop.is_set():
                    self._spawn(reason)
            except Exception as exc:  # noqa: BLE001 - any set-up failure is said, then retried or not
                delay = self._fail_start(exc)
                if delay is None or not await self._wait_backoff(delay):
                    return False
                self.restarts += 1
                continue
            if self._stop.is_set():
                self._stopped_idle()
                return False
            return True

    def _fail_start(self, exc: Exception) -> float | None:
        """Record a failed preparation; the delay before the next try, or None (``errored``)."""
        if not isinstance(exc, (VenvError, DependencyError, OSError, RegistryUnwritable, BotFileError,
                                InstallFailed)):
            log.error("starting %s failed", self.spec.name, exc_info=exc)
        permanent = _needs_a_person(exc)
        delay = None
        if not permanent:
            policy = BackoffPolicy(initial_s=self.spec.backoff_initial_s, max_s=self.spec.backoff_max_s)
            delay = policy.delay_s(self.failures, self.host.uniform01)
            self.failures += 1
        retry = "" if delay is None else f" (retrying in {delay:.1f} s)"
        syntax = isinstance(exc, BotFileError) and exc.syntax
        self.last_exit = ExitInfo(None, None, ExitReason.SYNTAX_ERROR if syntax else ExitReason.UNKNOWN,
                                  f"{exc}{retry}", wall_iso())
        if isinstance(exc, InstallFailed):
            done = exc.outcome
            self.last_exit = ExitInfo(
                None, None, ExitReason.MISSING_MODULE,
                f"ModuleNotFoundError: No module named {done.module!r}: {done.refused}", wall_iso(),
                Diagnosis(Pattern.DEPENDENCY, f"{done.module} cannot be installed", str(done.refused)),
                done.detail)
        if permanent:
            self.should_run = False
            self._to(Event.PREPARE_FAILED)
        else:
            self._to(Event.PREPARE_RETRY)
        self.host.events.write("prepare_failed", self.spec.name, error=str(exc), retry_in_s=delay)
        self.host.persist()
        if self._first_spawn is not None and not self._first_spawn.done():
            self._first_spawn.set_exception(StartFailed(_one_line(f"{exc}") + retry))
        return delay

    async def _wait_backoff(self, delay_s: float) -> bool:
        """Wait ``delay_s`` in ``backoff`` (a reload ends it early); False when stopped meanwhile."""
        self.next_start_at = self.host.clock() + delay_s
        self.backoff_deadline = identity.Deadline.after(delay_s)
        self.host.persist()
        self._wake = asyncio.Event()
        if delay_s > 0:  # no wait, no turn of the loop, for an immediate restart
            waits = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._wake.wait())]
            try:
                await asyncio.wait(waits, timeout=delay_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
        self.next_start_at = None
        self.backoff_deadline = None
        if self._stop.is_set():
            self._stopped_idle()
            return False
        return True

    def _index_args(self) -> list[str]:
        """uv's options of where packages come from; raises VenvError on a bad config."""
        try:
            return self.host.settings().index.uv_args()
        except ConfigError as exc:
            raise VenvError(f"cannot build the bot's venv: {exc}", permanent=True) from None

    def _prepare(self) -> None:
        """Blocking set-up, run in a thread: folders, venv, log rotation."""
        self.paths.ensure()
        check_bot_file(Path(self.spec.path), self.spec.name, None)
        self._cgroup = self._find_cgroup()
        declared = self.repairs.declared(self.spec)
        if ensure_venv(self.paths.venv, self.spec.python, declared, self.host.home.sdk_dir,
                       self._index_args):
            self.host.events.write("venv_built", self.spec.name, python=self.spec.python)
        if self.start_reason in _ASKED_FOR:
            check_bot_file(Path(self.spec.path), self.spec.name, self.paths.python)
        self._has_recover = defines_recover(self.spec.path)
        outcome = self.repairs.before_start(self.spec, self.budget)
        self.budget = outcome.budget
        if outcome.refused is not None:
            raise InstallFailed(outcome)
        try:
            self._log_policy = self.host.settings().logs
        except ConfigError:
            self._log_policy = RotationPolicy()  # the config error is reported where it matters
        for log_file in (self.paths.stdout_log, self.paths.stderr_log):
            rotate_file(log_file, self._log_policy)  # while running, the bot rotates its own

    def _new_process(self) -> None:
        """Readings, limits, heartbeats and a pending limit restart belong to one process."""
        self.watch.reset()
        self._limits = None
        self._breach = asyncio.get_running_loop().create_future()
        self._last_beat = self.host.clock()  # the timeout counts from the start
        self._beats_seen = False
        self.repeats.restart()  # only this process's own repeats count
        self.log_writers = LogWriterWatch(self.paths.logs)

    def _spawn(self, reason: StartReason) -> None:
        """Write ahead, then fork: the run (its id, carried in the bot's environment) is on
        disk before the process exists, and its pid right after; a failed first write spawns
        nothing."""
        run_id = uuid.uuid4().hex
        argv = [str(self.paths.python), "-c", BOOTSTRAP, self.spec.path, *self.spec.args]
        stderr_offset, stderr_inode = runfiles.stderr_position(self.paths.stderr_log)
        launch = Launch(run_id, reason.value, self.restarts,  # the last exit quotes the bot's error
                        self.host.redact(self.last_exit.to_json()) if self.last_exit else None,
                        self._downtime_s())
        env = bot_environment(os.environ, self.spec, self.paths, self.host.home, launch, self.marker,
                              self._log_policy)
        if self._cgroup is not None:
            env[cgroups.CGROUP_ENV] = str(self._cgroup)  # the bootstrap joins it first thing
        self._pending = RunRecord(0, 0.0, run_id, wall_iso(), stderr_offset, stderr_inode)
        try:
            self.host.persist_now()
        except Exception as exc:  # noqa: BLE001 - the supervisor's RegistryWriteError, said to the user
            self._pending = None
            raise RegistryUnwritable(f"{exc}; {self.spec.name} was not started") from None
        popen = procs.spawn(argv, cwd=Path(self.spec.path).parent, env=env,
                            stdout=self.paths.stdout_log, stderr=self.paths.stderr_log)
        self._contained(self._join(popen.pid))
        # The mark before anything slow (the pid's fsynced write): the bot's first lines follow it.
        self._mark(logmarks.start_mark(self._pending.started_at, popen.pid, reason.value))
        ident = procs.identify(popen.pid) or procs.ProcessIdentity(popen.pid, time.time())
        run = with_ident(self._pending, ident)
        self._live = _Live(ident, popen, run, self.host.clock())
        self._saved_run = None
        self._pending = None
        try:
            self.host.persist_now()
        except Exception:  # noqa: BLE001 - the run id written ahead still finds this process
            log.warning("%s: its pid could not be recorded; the next supervisor finds it by its "
                        "run id", self.spec.name)
        self._new_process()
        self._recovery_started = self.host.clock()
        self._to(Event.RECOVERY_STARTED if self._has_recover else Event.SPAWNED)
        self.host.events.write("start", self.spec.name, pid=popen.pid, reason=reason.value)
        self.host.persist()
        if self._first_spawn is not None and not self._first_spawn.done():
            self._first_spawn.set_result(None)

    def _join(self, pid: int) -> bool:
        """Put the new process into the bot's cgroup at once, before its interpreter has
        started anything (its bootstrap joins too, first thing)."""
        if self._cgroup is None:
            return False
        try:
            cgroups.join(self._cgroup, pid)
        except OSError:
            return pid in cgroups.pids(self._cgroup)  # the bootstrap may have been quicker
        return True

    def _contained(self, joined: bool) -> None:
        """The live process is (or is not) in the bot's cgroup; count its OOM kills from now."""
        self._joined = joined
        self._oom_before = cgroups.oom_kills(self._cgroup) if joined and self._cgroup else None

    def _adopt(self, ident: procs.ProcessIdentity, run: RunRecord) -> None:
        # Uptime from the process's own start (ticks since boot): no wall clock involved.
        started = self.host.clock() - identity.age_s(ident)
        self._cgroup = self._find_cgroup()
        self._contained(self._cgroup is not None and ident.pid in cgroups.pids(self._cgroup))
        self._live = _Live(ident, None, run, started)
        self._saved_run = None
        self._pending = None
        self._new_process()
        self._to(Event.ADOPTED)
        self.host.events.write("adopt", self.spec.name, pid=ident.pid)
        self.host.persist()

    def _downtime_s(self) -> float | None:
        """Seconds since the last exit (wall clock: a machine asleep counts as down)."""
        since = self._down_since
        if since is None and self.last_exit is not None:
            since = parse_wall_iso(self.last_exit.at)
        return None if since is None else max(0.0, time.time() - since)

    async def _hang(self) -> None:
        """Resolve the breach future when the heartbeat is older than the bot's timeout."""
        timeout_s = self.spec.heartbeat_timeout_s
        if timeout_s is None:
            return
        while True:
            silent_s = self.host.clock() - self._last_beat
            if silent_s >= timeout_s:
                break
            await asyncio.sleep(timeout_s - silent_s)  # until the deadline; a beat moves it
        what = "heartbeat" if self._beats_seen else "heartbeat since the start"
        if self._breach is not None and not self._breach.done():
            self._breach.set_result(Breach(ExitReason.HANG, f"no {what} for {silent_s:.1f} s "
                                                            f"(--heartbeat-timeout {timeout_s:g})"))

    async def _supervise(self) -> tuple[ExitInfo, float, MissingModule | None] | None:
        """Wait for the exit or a stop request; None when stopped on request."""
        live = self._live
        assert live is not None
        exit_task = asyncio.ensure_future(procs.wait_exit(live.ident, live.popen))
        stop_task = asyncio.ensure_future(self._stop.wait())
        hang_task = asyncio.ensure_future(self._hang())
        breach = self._breach
        assert breach is not None
        try:
            waiters: set[asyncio.Future[Any]] = {exit_task, stop_task, breach}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not exit_task.done() and stop_task.done():
                await self._terminate(live, exit_task)
                return None
            if not exit_task.done() and breach.done():
                return await self._planned_restart(live, exit_task, breach.result()), \
                    self.host.clock() - live.started_mono, None
            record = runfiles.exit_record(self.paths.exit_record, live.run)
            missing = missing_module(lambda: runfiles.stderr_tail(self.paths.stderr_log, live.run), record)
            info = classify_exit(exit_task.result(), record, Path(self.spec.path).parent, wall_iso(),
                                 missing_module=missing is not None,
                                 recovering=self.state is BotState.RECOVERING)
            info = replace(info, diagnosis=self._diagnose(info, record, live.run))
            await self._kill_leftovers()
            return info, self.host.clock() - live.started_mono, missing
        finally:
            stop_task.cancel()
            hang_task.cancel()
            if not exit_task.done():
                exit_task.cancel()

    async def _after_exit(self, info: ExitInfo, uptime_s: float, missing: MissingModule | None) -> bool:
        """Record the exit and wait out the backoff; True when the bot must start again now."""
        self._live = None
        if uptime_s >= self.spec.min_uptime_s:
            self.budget = self.budget.healthy()  # auto-install has its three rounds again
        if missing is not None and self.spec.restart is not RestartPolicy.NEVER:
            return await self._repair(info, uptime_s, missing)
        decision = decide_after_exit(self.spec, info, uptime_s, self.failures, self.host.uniform01,
                                     self.recovery_failures)
        self.failures = decision.failures
        self.recovery_failures = decision.recovery_failures
        if info.reason is ExitReason.RECOVERY_FAILED:
            self.host.events.write("recovery_failed", self.spec.name, error=info.error,
                                   failures=self.recovery_failures, gives_up=decision.delay_s is None)
        if decision.event is not Event.EXIT_RESTART:
            self.should_run = False
        self._exited(info, uptime_s, decision.event, decision.delay_s)
        if decision.delay_s is None:
            self.host.persist()
            return False
        if not await self._wait_backoff(decision.delay_s):
            return False
        self.restarts += 1
        reason = StartReason.RELOAD if self._wake.is_set() else _START_AFTER.get(info.reason,
                                                                                 StartReason.CRASH)
        return await self._start_once(reason)

    def _exited(self, info: ExitInfo, uptime_s: float, event: Event, delay_s: float | None,
                mark: bool = True) -> None:
        """Record an exit: ``last_exit``, the state it leads to, and one ``exit`` event (and
        the log's exit mark unless ``mark`` is False: the caller writes it once it knows the
        state the exit really leads to)."""
        self.last_exit = info
        self._down_since = time.time()
        self._to(event)
        self.host.events.write("exit", self.spec.name, **info.to_json(), uptime_s=round(uptime_s, 3),
                               next_state=self.state.value, delay_s=delay_s)
        if mark:
            self._mark_exit(info, self.state.value, delay_s)

    def _mark(self, line: str) -> None:
        """A mark in the bot's stdout log, redacted: an exit's line quotes the bot's error
        (``wdbot logs`` and the web's log view show it; the bot's own lines are its own)."""
        logmarks.append(self.paths.stdout_log, self.host.redact(line))

    def _mark_exit(self, info: ExitInfo, next_state: str, delay_s: float | None = None) -> None:
        # The error redacted alone first: a value cut short at its end is found only there.
        self._mark(logmarks.exit_mark(info.at, self.host.redact(info.describe()), next_state, delay_s))

    async def _repair(self, info: ExitInfo, uptime_s: float, missing: MissingModule) -> bool:
        """The bot died of a missing module: install it (if the policy allows) and start the
        bot again at once, or leave it ``errored`` saying why. True when it must start now."""
        self._exited(info, uptime_s, Event.EXIT_REPAIR, None, mark=False)
        self.host.persist()
        outcome = await asyncio.to_thread(self.repairs.after_missing, self.spec, missing, self.budget)
        self.budget = outcome.budget
        # The mark says where the exit led (issue 24: '; starting' for a bot that ended errored).
        self._mark_exit(info, "errored" if outcome.refused is not None else self.state.value)
        if outcome.refused is not None:
            # The hint says what wdbot did (refused, capped, failed) and the command to run.
            hint = replace(info.diagnosis, hint=outcome.refused) if info.diagnosis else None
            self.last_exit = replace(info, error=f"{info.error}: {outcome.refused}",
                                     detail=outcome.detail, diagnosis=hint)
            self.should_run = False
            self._to(Event.PREPARE_FAILED)
            self.host.persist()
            return False
        self.host.persist()
        if self._stop.is_set():
            self._stopped_idle()
            return False
        self.restarts += 1
        return await self._start_once(StartReason.INSTALLED)

    async def _terminate(self, live: _Live, exit_task: asyncio.Future[int | None]) -> None:
        """Stop on request: the whole tree, gracefully; the bot ends ``stopped``."""
        self._to(Event.STOP)
        self.host.persist()
        code, sig = await self._kill_tree(live, exit_task)
        self.last_exit = ExitInfo(code, sig, ExitReason.STOPPED, None, wall_iso())
        self._live = None
        self._to(Event.STOPPED)
        self.host.events.write("stopped", self.spec.name, pid=live.ident.pid, signal=sig)
        self._mark_exit(self.last_exit, "stopped")
        self.host.persist()

    async def _planned_restart(self, live: _Live, exit_task: asyncio.Future[int | None],
                               breach: Breach) -> ExitInfo:
        """Stop the tree gracefully because of a limit; the exit then goes the usual way."""
        self._to(Event.STOP)
        if breach.reason is not ExitReason.RELOAD:  # a reload has its own event already
            self.host.events.write("limit_restart", self.spec.name, pid=live.ident.pid,
                                   reason=breach.reason.value, detail=breach.detail)
        self.host.persist()
        if breach.reason is ExitReason.HANG:
            await self._dump_stacks(live)
        code, sig = await self._kill_tree(live, exit_task)
        return ExitInfo(code, sig, breach.reason, breach.detail, wall_iso(),
                        diagnose(breach.reason, code, sig, None, bot=self.spec.name))

    async def _dump_stacks(self, live: _Live) -> None:
        """SIGUSR1: the bootstrap's faulthandler writes every thread's stack to stderr. The
        SIGTERM waits until the dump is there (its log grows; 1 s at most): sent together, an
        unhandled SIGTERM kills the process before the SIGUSR1 handler has run."""
        log_file = self.paths.stderr_log
        before = log_file.stat().st_size if log_file.exists() else 0
        procs.signal_pid(live.ident, signal.SIGUSR1)
        deadline = self.host.clock() + DUMP_WAIT_S
        while self.host.clock() < deadline and procs.is_alive(live.ident):
            await asyncio.sleep(0.02)  # noqa: ASYNC110 - a file grows with no event to wait on
            with contextlib.suppress(OSError):
                if log_file.stat().st_size > before:
                    await asyncio.sleep(0.05)  # the rest of the dump, written in one go
                    return

    async def _kill_tree(self, live: _Live,
                         exit_task: asyncio.Future[int | None]) -> tuple[int | None, int | None]:
        """Stop the live tree (``treestop``); the (exit code, signal) of the bot's process."""
        code, sig, killed = await stop_tree(live.ident, self.marker, exit_task, self._stop_grace(),
                                            cgroup=self.joined_cgroup)
        self._report_killed(killed)
        self._forget_the_gone()
        return code, sig

    async def _kill_leftovers(self) -> None:
        """After the bot's own exit: nothing it started outlives it."""
        ident = self._live.ident if self._live else None
        self._report_killed(await kill_leftovers(ident.pid if ident else None, [], self.marker,
                                                 self._leftover_grace(), since=ident,
                                                 cgroup=self.joined_cgroup))
        self._forget_the_gone()

    def _report_killed(self, pids: list[int]) -> None:
        if pids:
            self.host.events.write("killed_leftovers", self.spec.name, pids=pids)

    # -------------------------------------------------------------- --watch
    def _ensure_watching(self) -> None:
        if self.spec.watch:
            self.watcher.start(Path(self.spec.path).parent, [self.host.home.root], self._reload)

    async def _stop_watching(self) -> None:
        await self.watcher.stop()

    async def _reload(self, changed: list[Path]) -> None:
        """Files changed: check the new code and its dependencies, then restart the bot
        (reason ``reload``); a broken edit leaves the running bot alone and says why."""
        folder = Path(self.spec.path).parent
        names = [str(p.relative_to(folder)) if p.is_relative_to(folder) else str(p) for p in changed]

        def install() -> bool:
            return install_in_place(self.paths.venv, self.spec.python, self.repairs.declared(self.spec),
                                    self._index_args)

        self.reload_error = await asyncio.to_thread(check_and_install, Path(self.spec.path), changed,
                                                    install)
        if self.reload_error:
            self.host.events.write("reload_failed", self.spec.name, files=names, error=self.reload_error)
            return
        self.host.events.write("reload", self.spec.name, files=names, state=self.state.value)
        if self.state in _WATCHED and self._breach is not None and not self._breach.done():
            self._breach.set_result(Breach(ExitReason.RELOAD, f"files changed: {', '.join(names)}"))
        elif self.state is BotState.BACKOFF:
            self._wake.set()
        elif self.state in (BotState.ERRORED, BotState.EXITED) and not self.active:
            try:
                await self.start(StartReason.RELOAD)
            except StartFailed as exc:
                self.reload_error = f"reloaded, but it did not start: {exc}"

    def _diagnose(self, info: ExitInfo, record: dict[str, Any] | None, run: RunRecord) -> Diagnosis | None:
        """The crash pattern of an exit (pure ``diagnosis``), from the exit record, else the
        final traceback of this run's stderr, and the last memory reading."""
        exc_line, tail = None, ""
        if info.signal is None and record is None:
            # No record of ours (an adopted bot): the final traceback on stderr is all there is.
            # With a record, its absent exception means a plain exit: nothing to read.
            tail = runfiles.stderr_tail(self.paths.stderr_log, run)
            found = final_traceback(tail)
            exc_line = found.exc_line if found else None
        native = None
        if info.signal in NATIVE_SIGNALS:  # faulthandler's dump names the crashing package
            native = crashed_module(runfiles.stderr_tail(self.paths.stderr_log, run))
        last = self.watch.last
        return diagnose(info.reason, info.code, info.signal, failure_of(record, exc_line, tail),
                        last.rss_bytes if last else None,
                        self._limits.machine_memory_bytes if self._limits else None,
                        slept_s=self.host.slept_recently(), native_module=native, bot=self.spec.name,
                        oom_killed=self._oom_killed())

    def _oom_killed(self) -> bool | None:
        """Did the kernel's OOM killer end a process of this run? None when nobody counted."""
        cgroup = self.joined_cgroup
        if cgroup is None or self._oom_before is None:
            return None
        after = cgroups.oom_kills(cgroup)
        return None if after is None else after > self._oom_before

    def _attention(self) -> str | None:
        """What a person must look at, while the bot waits or has given up."""
        last = self.last_exit
        if last and last.credentials and last.diagnosis and self.state in (BotState.BACKOFF,
                                                                          BotState.ERRORED):
            return f"credentials rejected ({last.diagnosis.seen}): {last.diagnosis.hint}"
        return None

    def _stopped_idle(self) -> None:
        """Stop a bot that has no process (exited, errored, backing off, or not yet spawned)."""
        self._to(Event.STOP)
        self._to(Event.STOPPED)
        self.host.persist()

    def _to(self, event: Event) -> None:
        self.state = transition(self.state, event)



def _needs_a_person(exc: Exception) -> bool:
    """A preparation failure that no retry heals: an interpreter that does not exist, a
    malformed requirement or dependency block, a broken setting, a bot file that is gone."""
    if isinstance(exc, VenvError):
        return exc.permanent
    if isinstance(exc, (DependencyError, ConfigError, FileNotFoundError, BotFileError, InstallFailed)):
        return True
    return not isinstance(exc, (OSError, RegistryUnwritable))


def _one_line(text: str, limit: int = 400) -> str:
    """A multi-line error (uv's) as one line for a command's answer; the whole text stays in
    ``last_exit`` and ``wdbot status NAME``."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class _Graces:
    """A runner's per-process graces of ``seconds``, as ``treestop`` asks for them."""

    runner: BotRunner
    seconds: float

    def before(self, pids: list[int], late: bool = False) -> Term:
        return self.runner._grace(self.seconds, pids, late)  # noqa: SLF001 - the runner's own helper

    def sent(self, pids: list[int]) -> None:
        self.runner._sent(pids)  # noqa: SLF001
