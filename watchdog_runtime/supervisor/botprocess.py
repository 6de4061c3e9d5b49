"""The process layer of one bot: prepare, spawn, adopt, wait for the exit, stop the tree,
kill what is left. On the runner's side, the only user of ``procs``, ``cgroups`` and
``treestop`` (and of the OS for them); the runner decides, this acts (``ProcessLayer``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

from ..bot.codecache import RecoverMemo
from ..common.home import BotPaths
from ..common.leandataclass import dataclass
from ..common.logrotate import RotationPolicy, rotate_file
from ..config import ConfigError
from ..events import wall_iso
from ..installs.autoinstall import Budget
from ..installs.deps import DependencyError
from ..installs.repair import AutoInstaller, Outcome
from ..installs.venvs import VenvError, ensure_venv, install_in_place
from ..registry import RunRecord
from ..spec import BotSpec
from ..states import StartReason
from . import bytecodejob, cgroups, exitwatch, freshjob, identity, logmarks, procs, runfiles, scopes
from .adoption import choose_own, others, with_ident
from .botenv import Launch, bot_environment
from .botfile import BotFileError, check_bot_file
from .graces import Signalled
from .lifecycle import SetupFailure
from .resources import Limits
from .runahead import ASKED_FOR, RunAhead
from .runnerhost import ProcessHost
from .sigterms import ShorterGrace, Sigterms
from .spareident import remove_leaf
from .sparelayer import SpareLayer
from .treestop import kill_leftovers, stop_processes, stop_tree

log = logging.getLogger(__name__)

Marked = procs.Marked
"""A process carrying the bot's marker, as the supervisor's sweep found it."""

BOOTSTRAP = "import watchdog_runtime.bot.bootstrap as b; b.main()"
"""The bot's first code (``-c``, not ``-m``: runpy's import is downtime at every restart)."""

LEFTOVER_GRACE_S = 3.0
"""SIGTERM to SIGKILL for what a bot left behind once its own process is gone (its helpers,
the processes of a dead supervisor's run): short, since the bot waits for them to restart.
The bot's own graceful stop gets its full ``--stop-timeout``."""

DUMP_WAIT_S = 1.0
"""How long a hung bot's stack dump may take before it is stopped."""


class InstallFailed(Exception):
    """A module the bot's file imports at its top level could not be installed."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.refused)
        self.outcome = outcome


class RegistryUnwritable(Exception):
    """The write-ahead record of a spawn could not be written: nothing was spawned."""


@dataclass
class LiveProcess:
    """The bot's current process."""

    ident: procs.ProcessIdentity
    popen: subprocess.Popen[bytes] | None
    run: RunRecord
    started_mono: float


class ProcessLayer(Protocol):
    """Every OS operation of a bot's lifecycle, behind one object."""

    def prepare(self, reason: StartReason, budget: Budget) -> Budget: ...
    def new_run(self, run_id: str) -> RunRecord: ...
    def spawn(self, pending: RunRecord, reason: StartReason, launch: Launch) -> LiveProcess: ...
    async def settle(self, live: LiveProcess | None) -> None: ...
    def adopt(self, ident: procs.ProcessIdentity, run: RunRecord) -> LiveProcess: ...
    def wait_exit(self, live: LiveProcess) -> asyncio.Future[int | None]: ...
    def later_jobs(self) -> list[tuple[float, Callable[[], Coroutine[Any, Any, None]]]]: ...
    async def stop_tree(self, live: LiveProcess,
                        exit_task: asyncio.Future[int | None]) -> tuple[int | None, int | None]: ...
    async def kill_leftovers(self, live: LiveProcess | None) -> None: ...
    async def stop_strays(self, strays: list[procs.Marked]) -> None: ...


class BotProcesses(SpareLayer):
    """The process layer of one bot (``ProcessLayer``)."""

    def __init__(self, host: ProcessHost, paths: BotPaths, spec: Callable[[], BotSpec],
                 signalled: tuple[Signalled, ...]) -> None:
        self.host = host
        self.paths = paths
        self._spec = spec
        self.sigterms = Sigterms(signalled, paths.sigterms, spec, self.is_alive, self.identify,
                                 host.persist, host.persist_now)
        self.repairs = AutoInstaller(host, paths)
        self.has_recover = False
        """The bot file defines ``recover(ctx)`` (read while preparing, off the event loop)."""
        self._recover = RecoverMemo()  # the file parsed again only once it changed (issue 29)
        self.ahead = RunAhead(paths, host)  # a restart's run written ahead alone (issue 29)
        self.log_policy = RotationPolicy()
        self._cgroup: Path | None = None
        """The bot's own cgroup v2, where the supervisor could make one."""
        self._joined = False
        """The live process is inside ``_cgroup``: its whole tree is, whatever it does."""
        self._oom_before: int | None = None
        """Its cgroup's OOM-kill count at the spawn (memory controller only)."""
        self._scope: str | None = None
        """The systemd scope the live process is in, or is being moved to (issue 28)."""
        self._pid: int | None = None  # the live process's, to look for its scope again (adopted mid-move)

    @property
    def spec(self) -> BotSpec:
        return self._spec()

    @property
    def marker(self) -> str:
        return f"{self.host.home.id}:{self.spec.name}"

    @staticmethod
    def is_alive(ident: procs.ProcessIdentity) -> bool:
        return procs.is_alive(ident)

    @staticmethod
    def identify(pid: int) -> procs.ProcessIdentity | None:
        return identity.identify(pid)

    # ------------------------------------------------------------------ prepare
    def index_args(self) -> list[str]:
        """uv's options of where packages come from; raises VenvError on a bad config."""
        try:
            return self.host.settings().index.uv_args()
        except ConfigError as exc:
            raise VenvError(f"cannot build the bot's venv: {exc}", permanent=True) from None

    def prepare(self, reason: StartReason, budget: Budget, keep: Callable[[Budget], None]) -> None:
        """Blocking set-up, run in a thread: folders, venv, auto-install (``keep`` takes the
        install budget it left, as soon as it is known), log rotation. Raises what failed
        (:func:`setup_failure` says what it means)."""
        spec = self.spec
        self.paths.ensure()
        check_bot_file(Path(spec.path), spec.name, None)
        self._cgroup = self._find_cgroup()
        declared = self.repairs.declared(spec)
        if ensure_venv(self.paths.venv, spec.python, declared, self.host.home.sdk_dir, self.index_args):
            self.host.events.write("venv_built", spec.name, python=spec.python)
        if reason in ASKED_FOR:
            check_bot_file(Path(spec.path), spec.name, self.paths.python)
        self.has_recover = self._recover(spec.path)
        outcome = self.repairs.before_start(spec, budget)
        keep(outcome.budget)
        if outcome.refused is not None:
            raise InstallFailed(outcome)
        try:
            self.log_policy = self.host.settings().logs
        except ConfigError:
            self.log_policy = RotationPolicy()  # the config error is reported where it matters
        for log_file in (self.paths.stdout_log, self.paths.stderr_log):
            rotate_file(log_file, self.log_policy)  # while running, the bot rotates its own

    def install_declared(self) -> bool:
        """Blocking: install the bot's declared dependencies into its live venv (a reload)."""
        return install_in_place(self.paths.venv, self.spec.python, self.repairs.declared(self.spec),
                                self.index_args)

    def check_file(self) -> None:
        """Blocking: the bot's file is there and compiles under the venv's Python."""
        python = self.paths.python if self.paths.python.exists() else None
        check_bot_file(Path(self.spec.path), self.spec.name, python, then="restart")

    # ------------------------------------------------------------------ spawn, adopt
    def new_run(self, run_id: str) -> RunRecord:
        """The write-ahead record of a run about to be spawned: no pid yet, or the pid of the
        warm spare taken for it (on disk before the spare runs any of the bot's code)."""
        stderr_offset, stderr_inode = runfiles.stderr_position(self.paths.stderr_log)
        run = RunRecord(0, 0.0, run_id, wall_iso(), stderr_offset, stderr_inode)
        spare = self.take_spare()
        return with_ident(run, spare.ident) if spare is not None else run

    def spawn(self, pending: RunRecord, reason: StartReason, launch: Launch) -> LiveProcess:
        """Fork the bot (its run, ``pending``, already on disk) into its cgroup."""
        spec = self.spec
        scoped = scopes.prefix(self.host.containment, spec.name, spec.max_memory_bytes, pending.run_id)
        self._scope = scopes.unit_name(self.host.containment, spec.name, pending.run_id) \
            if scoped and self.host.containment else None
        argv = [*scoped, str(self.paths.python), "-c", BOOTSTRAP, spec.path, *spec.args]
        env = self._environment(launch)
        env.update(bytecodejob.bot_env(self.paths.venv, reason))
        spare = self.spare_taken_for(pending.ident if pending.pid else None)
        if spare is not None:
            self._scope = None  # no spare where the limit is a scope (warmspare): never here
            return self._from_spare(spare, pending, reason, env)
        # The bootstrap writes the start mark, before the bot's first line (here it could be later).
        mark = logmarks.start_mark(pending.started_at, logmarks.PID_SLOT, reason.value)
        env[logmarks.START_MARK_ENV] = mark
        popen = procs.spawn(argv, cwd=Path(spec.path).parent, env=env,
                            stdout=self.paths.stdout_log, stderr=self.paths.stderr_log)
        self._contained(self._join(popen.pid))
        self._pid = popen.pid
        ident = procs.identify(popen.pid) or procs.ProcessIdentity(popen.pid, time.time())
        return LiveProcess(ident, popen, with_ident(pending, ident), self.host.clock())

    async def settle(self, live: LiveProcess | None) -> None:
        """A bot started through ``systemd-run --scope`` is in its scope before its start is
        answered (until the manager answers, the process is ``systemd-run`` in our own cgroup:
        issue 28's real-systemd check found the bot there, ``status`` saying "scope")."""
        if live is None or self._scope is None:
            return
        if not await scopes.settled(live.ident.pid, self._scope, lambda: procs.is_alive(live.ident)):
            if procs.is_alive(live.ident):
                log.warning("%s: pid %d is not in its systemd scope %s after %.0f s; --max-memory is "
                            "held by the RSS watch alone", self.spec.name, live.ident.pid, self._scope,
                            scopes.SETTLE_BOUND_S)
            self._scope = None

    def _environment(self, launch: Launch) -> dict[str, str]:
        env = bot_environment(os.environ, self.spec, self.paths, self.host.home, launch, self.marker,
                              self.log_policy)
        if self._cgroup is not None:
            env[cgroups.CGROUP_ENV] = str(self._cgroup)  # the bootstrap joins it first thing
        return env

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

    def adopt(self, ident: procs.ProcessIdentity, run: RunRecord) -> LiveProcess:
        """Take over a live process of the bot that an earlier supervisor spawned."""
        # Uptime from the process's own start (ticks since boot): no wall clock involved.
        started = self.host.clock() - identity.age_s(ident)
        self._cgroup = self._find_cgroup()
        self._contained(self._cgroup is not None and ident.pid in cgroups.pids(self._cgroup))
        self._pid, self._scope = ident.pid, None
        return LiveProcess(ident, None, run, started)

    def mark(self, line: str) -> None:
        """A mark in the bot's stdout log, redacted: an exit's line quotes the bot's error
        (``wdbot logs`` and the web's log view show it; the bot's own lines are its own)."""
        logmarks.append(self.paths.stdout_log, self.host.redact(line))

    def limits(self, ident: procs.ProcessIdentity) -> Limits:
        """The live process's limits, and the ceilings it runs under."""
        fd_rlimit = procs.fd_soft_limit(ident)
        return Limits(max_memory_bytes=self.spec.max_memory_bytes,
                      max_fds=self.spec.max_fds or Limits.default_max_fds(fd_rlimit),
                      machine_memory_bytes=procs.machine_memory(), fd_rlimit=fd_rlimit)

    # ------------------------------------------------------------------ exit, stop
    def wait_exit(self, live: LiveProcess) -> asyncio.Future[int | None]:
        """The live process's exit, as an event (its return code when it is our child): a
        future on its pidfd, no task waiting for it (issue 29: ``exitwatch``)."""
        return exitwatch.exit_future(live.ident, live.popen)

    def later_jobs(self) -> list[tuple[float, Callable[[], Coroutine[Any, Any, None]]]]:
        """Later in the run (issue 26): its venv's bytecode compiled, a venv from uv's cache checked
        against the index; each (delay, job) started when due, with no task waiting (issue 29)."""
        up_s, venv = self.spec.min_uptime_s, self.paths.venv
        return [(bytecodejob.settle_s(up_s), lambda: bytecodejob.compile_when_up(venv, 0.0)),
                (freshjob.wait_s(up_s), lambda: freshjob.check_when_up(
                    venv, 0.0, self.spec.name, lambda: self.repairs.declared(self.spec), self.index_args,
                    self.host.events))]

    async def stop_tree(self, live: LiveProcess,
                        exit_task: asyncio.Future[int | None]) -> tuple[int | None, int | None]:
        """Stop the live tree (``treestop``); the (exit code, signal) of the bot's process."""
        code, sig, killed = await stop_tree(live.ident, self.marker, exit_task, self.sigterms,
                                            cgroup=self.joined_cgroup)
        self._report_killed(killed)
        self.sigterms.forget_the_gone()
        return code, sig

    async def kill_leftovers(self, live: LiveProcess | None) -> None:
        """After the bot's own exit: nothing it started outlives it."""
        ident = live.ident if live else None
        self._report_killed(await kill_leftovers(ident.pid if ident else None, [], self.marker,
                                                 self._leftover_grace(), since=ident,
                                                 cgroup=self.joined_cgroup))
        self.sigterms.forget_the_gone()

    async def dump_stacks(self, live: LiveProcess) -> None:
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

    def _report_killed(self, pids: list[int]) -> None:
        if pids:
            self.host.events.write("killed_leftovers", self.spec.name, pids=pids)

    def _leftover_grace(self) -> ShorterGrace:
        return self.sigterms.shorter(LEFTOVER_GRACE_S)

    # ------------------------------------------------------------------ strays, sweeps
    def choose(self, saved: RunRecord | None, pending: RunRecord | None, found: list[procs.Marked],
               ) -> tuple[tuple[procs.ProcessIdentity, RunRecord] | None, list[procs.Marked]]:
        """Of the processes carrying the bot's marker: the one to adopt (the recorded run, by
        identity or by its write-ahead run id) and the others (strays)."""
        adopted = choose_own(saved, pending, found, procs.is_alive, self.is_waiting_spare)
        return adopted, others(found, adopted[1] if adopted else None)

    def needs_sweep(self, strays: list[procs.Marked]) -> bool:
        """Something of the bot is left to stop although it has no live process."""
        return bool(strays or self.sigterms.signalled or self._left_cgroup())

    async def stop_strays(self, strays: list[procs.Marked]) -> None:
        """Processes of another run of this bot (an orphan of a dead supervisor, a second
        copy): stopped, and said so."""
        if not strays:
            return
        self._say_strays(strays)
        await stop_processes(procs.as_processes(strays), self._leftover_grace())
        self.sigterms.forget_the_gone()

    def _say_strays(self, strays: list[procs.Marked]) -> None:
        pids = [m.ident.pid for m in strays]
        self.host.events.write("orphans_stopped", self.spec.name, pids=pids,
                               message=f"{len(pids)} process(es) of an earlier run of "
                                       f"{self.spec.name} were stopped")

    async def finish_stop(self, strays: list[procs.Marked]) -> None:
        """The bot is gone and should not run, but its supervisor died during its stop: what
        is left (the bot's cgroup, processes with its marker, the processes that were
        signalled and outlived it, marker or not) is stopped, each at the deadline it had
        (the stop's grace, not the leftovers' shorter one: it may be cleaning up)."""
        cgroup = self._left_cgroup()
        if cgroup is not None:
            self._report_killed(await kill_leftovers(None, [], self.marker, self.sigterms, cgroup=cgroup))
        if strays:
            self._say_strays(strays)
        left = {i.pid: i for i in [*(m.ident for m in strays), *(s.ident for s in self.sigterms.signalled)]}
        found = procs.handles(left.values())
        if found:
            self._report_killed(await stop_processes(found, self.sigterms))
        self.sigterms.forget_the_gone()

    def _left_cgroup(self) -> Path | None:
        """The bot's cgroup if it exists and holds a process (never made here)."""
        containment = self.host.containment
        cgroup = containment.bot(self.spec.name) if containment is not None else None
        return cgroup if cgroup is not None and not cgroups.is_empty(cgroup) else None

    async def empty_cgroup(self) -> None:
        """The bot has no live process, so whatever its cgroup still holds (a helper of a run
        whose supervisor died, that dropped the marker) is a leftover: it goes first."""
        cgroup = self._find_cgroup()
        if cgroup is not None and not cgroups.is_empty(cgroup):
            self._report_killed(await kill_leftovers(None, [], self.marker, self._leftover_grace(),
                                                     cgroup=cgroup))
            self.sigterms.forget_the_gone()

    # ------------------------------------------------------------------ the cgroup
    @property
    def joined_cgroup(self) -> Path | None:
        """The cgroup that holds the live process's whole tree, or None."""
        return self._cgroup if self._joined else None

    def release_cgroup(self) -> None:
        """The bot is forgotten: its (empty) cgroup goes too."""
        if self._cgroup is not None:
            cgroups.remove(self._cgroup)
            remove_leaf(self._cgroup, self.spec.name)

    def _find_cgroup(self) -> Path | None:
        """The bot's cgroup, made if missing; None without containment or when it cannot be."""
        containment = self.host.containment
        if containment is None or scopes.takes(containment, self.spec.max_memory_bytes):
            return None  # a bot with --max-memory in a systemd scope of its own (issue 28)
        try:
            return cgroups.create(containment, self.spec.name)
        except OSError as exc:
            log.warning("%s: no cgroup (%s); its tree is found by the marker walk", self.spec.name, exc)
            return None

    def containment(self) -> str:
        """What holds the live process's tree, for people."""
        containment = self.host.containment
        if self._joined and containment:
            return containment.description
        if self._scope is None and self._pid is not None:
            # Adopted, or started by a supervisor killed before systemd-run had moved it: seen now.
            self._scope = scopes.own_scope(containment, self.spec.name, self.spec.max_memory_bytes, self._pid)
        return scopes.describe(containment, self.spec.max_memory_bytes, self._scope)

    def oom_killed(self) -> bool | None:
        """Did the kernel's OOM killer end a process of this run? None when nobody counted."""
        cgroup = self.joined_cgroup
        if cgroup is None or self._oom_before is None:
            return None
        after = cgroups.oom_kills(cgroup)
        return None if after is None else after > self._oom_before


def setup_failure(name: str, exc: Exception) -> SetupFailure:
    """What a failed preparation of bot ``name`` means (``lifecycle.decide_after_setup_failure``
    decides)."""
    expected = (VenvError, DependencyError, OSError, RegistryUnwritable, BotFileError, InstallFailed)
    if not isinstance(exc, expected):
        log.error("starting %s failed", name, exc_info=exc)
    syntax = isinstance(exc, BotFileError) and exc.syntax
    if isinstance(exc, InstallFailed):
        done = exc.outcome
        return SetupFailure(str(exc), True, syntax, done.module, done.refused, done.detail)
    return SetupFailure(str(exc), _needs_a_person(exc), syntax)


def _needs_a_person(exc: Exception) -> bool:
    """A preparation failure that no retry heals: an interpreter that does not exist, a
    malformed requirement or dependency block, a broken setting, a bot file that is gone."""
    if isinstance(exc, VenvError):
        return exc.permanent
    if isinstance(exc, (DependencyError, ConfigError, FileNotFoundError, BotFileError, InstallFailed)):
        return True
    return not isinstance(exc, (OSError, RegistryUnwritable))
