"""One bot's lifecycle, driven by an asyncio task: prepare, spawn, await the exit as an event,
decide (pure, in ``lifecycle``), back off, and stop the whole tree on request.

The runner keeps the commands and the coroutines, and owns every task it starts
(``runtasks``); around it, each concern has its module: every decision is ``lifecycle``'s,
every process operation the process layer's (``botprocess``), every state change goes
through ``states.transition`` in the bot's persisted facts (``botfacts``), recorded with its
event and log mark by ``botjournal``; the live process is watched by ``livewatch``, and the
status document is ``botstatus``'s pure function.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..common.home import BotPaths
from ..common.randomid import uuid4_hex
from ..events import wall_iso
from ..installs.repair import AutoInstaller
from ..registry import BotRecord, RunRecord
from ..spec import BotSpec, RestartPolicy
from ..states import BotState, Event, ExitReason, Hold, StartReason
from .botfacts import BotFacts, Kept
from .botjournal import Journal
from .botprocess import BOOTSTRAP, BotProcesses, LiveProcess, RegistryUnwritable, setup_failure
from .botstatus import Seen, status_document
from .exitread import Context, read_exit
from .flag import first_done
from .identity import ProcessIdentity
from .lifecycle import ExitInfo, decide_after_exit, decide_after_setup_failure, start_reason_after
from .livewatch import LiveWatch
from .registrywriter import RegistryWriteError
from .resources import Breach, TreeSample, WatchSettings
from .runnerhost import RunnerHost
from .runtasks import RunTasks
from .tracebacks import MissingModule

if TYPE_CHECKING:
    from .botprocess import Marked
    from .reload import SourceWatcher

__all__ = ["BOOTSTRAP", "BotRunner", "RegistryUnwritable", "RunnerHost", "StartFailed"]

log = logging.getLogger(__name__)

_WATCHED = (BotState.RUNNING, BotState.RECOVERING)
"""States whose process is sampled and held to its limits."""


class StartFailed(Exception):
    """The bot could not be started (its venv, its dependencies, its interpreter)."""


class BotRunner:
    """Drives one bot. At most one lifecycle task runs at a time, so at most one process."""

    state: Kept[BotState] = Kept("facts")
    should_run: Kept[bool] = Kept("facts")
    held: Kept[bool] = Kept("facts")
    held_by: Kept[Hold] = Kept("facts")
    restarts: Kept[int] = Kept("facts")
    failures: Kept[int] = Kept("facts")
    recovery_failures: Kept[int] = Kept("facts")
    last_exit: Kept[ExitInfo | None] = Kept("facts")
    start_reason: Kept[StartReason | None] = Kept("facts")
    next_start_at: Kept[float | None] = Kept("facts")
    paths: Kept[BotPaths] = Kept("processes")
    repairs: Kept[AutoInstaller] = Kept("processes")
    marker: Kept[str] = Kept("processes")
    joined_cgroup: Kept[Path | None] = Kept("processes")
    """The cgroup that holds the live process's whole tree, or None."""

    def __init__(self, host: RunnerHost, record: BotRecord) -> None:
        self.host = host
        self.spec: BotSpec = record.spec
        self.facts = BotFacts(record, host.redact)
        self.processes = BotProcesses(host, BotPaths(host.home.bot_dir(record.spec.name)),
                                      lambda: self.spec, record.signalled)
        self.watch = LiveWatch(record.spec.name, self.paths.stderr_log, self.paths.logs, host.events,
                               host.clock)
        self.journal = Journal(record.spec.name, self.facts, host, self.processes.mark)
        self.watcher: SourceWatcher | None = None  # --watch's, made on first need (issue 29)
        self.retired = False  # being removed: no start (a racing restart: a process no registry knows)
        self.reload_error: str | None = None
        self.tasks = RunTasks(record.spec.name)
        self._live: LiveProcess | None = None

    @property
    def active(self) -> bool:
        return self.tasks.active

    @property
    def live_ident(self) -> ProcessIdentity | None:
        """The bot's process while it runs or recovers (not stopping): what the sampler reads."""
        return self._live.ident if self._live and self.state in _WATCHED else None

    @property
    def process_ident(self) -> ProcessIdentity | None:
        """The bot's process while it lives, stopping included (may read the bot's secrets)."""
        return self._live.ident if self._live else None

    @property
    def live_run_id(self) -> str | None:
        """The current process's run id (its trading-mode acknowledgement names it)."""
        return self._live.run.run_id if self._live else None

    # ----------------------------------------------------------------- commands
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
        self.facts.asked_to_start()
        first_spawn = self.tasks.expect_spawn()
        self.tasks.launch(self._lifecycle(reason, adopted=None))
        self._ensure_watching()
        await asyncio.shield(first_spawn)

    def resume(self, found: list[Marked], *, service: bool = False) -> None:
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
        adopted, strays = self.processes.choose(self.facts.saved_run, self.facts.pending, found)
        self.facts.resume_holds(service)
        self.processes.sigterms.forget_the_gone()
        if adopted:
            if self.state is BotState.BACKOFF:
                self.state = BotState.STOPPED  # restored from disk: it runs after all
            self.tasks.launch(self._lifecycle(StartReason.SUPERVISOR_RESTART, adopted=adopted, strays=strays))
            if not self.should_run:
                self.tasks.stop.set()
        elif self.should_run:
            reason, wait_s = StartReason.SUPERVISOR_RESTART, None
            if self.state is BotState.BACKOFF and self.facts.backoff_deadline is not None:
                wait_s = self.facts.backoff_deadline.remaining_now()
                reason = start_reason_after(self.last_exit.reason if self.last_exit else None)
            self.tasks.launch(self._lifecycle(reason, adopted=None, strays=strays, wait_s=wait_s))
        elif self.processes.needs_sweep(strays):
            self.tasks.sweep(self.processes.finish_stop(strays))
        if self.should_run or self.state in (BotState.ERRORED, BotState.EXITED):
            self._ensure_watching()  # --watch: a fix saved later starts it again

    async def spawned(self) -> None:
        """Wait until a start in progress has spawned (or failed): a second ``start`` of the
        same bot then answers with the real pid, not ``None, starting``."""
        await self.tasks.wait_spawned(StartFailed)

    async def settle(self) -> None:
        """Wait for a stop in progress to finish (a start asked meanwhile comes after it)."""
        await self.tasks.settle()

    def hold(self, why: Hold) -> None:
        """A shutdown of the supervisor (``why``) is about to stop this bot: a bot meant to
        run is held. A deliberate hold is never weakened: a bot ``wdbot shutdown`` held stays
        so when a signal later stops a supervisor that left it down."""
        self.facts.hold(why)

    async def stop(self, keep_held: bool = False) -> None:
        """Stop gracefully (SIGTERM to the group, SIGKILL after the stop timeout) and wait.
        ``keep_held``: a shutdown's stop, which leaves the hold :meth:`hold` set."""
        self.should_run = False
        self.held = self.held and keep_held
        if self.watcher is not None:
            await self.watcher.stop()
        if self.active:
            await self.tasks.stop_and_wait()
        elif self.state in (BotState.EXITED, BotState.ERRORED):
            self.journal.stopped_idle()

    async def check_file(self) -> None:
        """Before a restart stops the running bot: its file is there and compiles (under the
        venv's Python); raises ``BotFileError``, the bot left running."""
        await asyncio.to_thread(self.processes.check_file)

    async def detach(self) -> None:
        """Let go of the bot without touching its process (``shutdown --keep-bots``)."""
        if self.watcher is not None:
            await self.watcher.stop()
        await self.tasks.cancel()

    def record(self) -> BotRecord:
        """What the registry keeps of this bot now."""
        return self.facts.record(self.spec, self._live.run if self._live else None,
                                 self.processes.sigterms.signalled)

    def status(self) -> dict[str, Any]:
        """This bot's entry of ``status --json`` (CONTRACT section 4)."""
        live = self._live
        return status_document(self.spec, self.paths, self.facts, self.watch, Seen(
            now=self.host.clock(), pid=live.ident.pid if live else None,
            started=live.started_mono if live else None, containment=self.processes.containment(),
            auto_installed=[i.to_json() for i in self.repairs.recorded], reload_error=self.reload_error),
        ) | self.processes.spare_status()  # a warm spare is no copy: its own key

    def near_limit(self) -> bool:
        """The last reading is past half of a limit: read this bot more often."""
        return self.watch.near_limit()

    def on_message(self, run_id: str, kind: str) -> bool:
        """A message from the bot (``notify``); False when it is not from the live process."""
        live = self._live
        if live is None or live.run.run_id != run_id:
            return False
        if kind == "heartbeat":
            self.watch.beat()
        elif kind == "recovering" and self.state is BotState.RUNNING:
            self.watch.recovery_started = self.host.clock()
            self.facts.to(Event.RECOVERY_STARTED)
        elif kind == "running" and self.state is BotState.RECOVERING:
            self.journal.recovered(live.ident.pid, self.host.clock() - self.watch.recovery_started)
        return True

    def observe(self, ident: ProcessIdentity, sample: TreeSample, settings: WatchSettings) -> None:
        """Take one resource sample of the live process; restart the bot past a limit."""
        if self._live is None or self._live.ident != ident or self.state not in _WATCHED:
            return  # a sample of a process that is gone or going
        self.watch.observe(ident.pid, sample, settings, lambda: self.processes.limits(ident))

    # ---------------------------------------------------------------- lifecycle
    async def _lifecycle(self, reason: StartReason, adopted: tuple[ProcessIdentity, RunRecord] | None,
                         strays: list[Marked] | None = None, wait_s: float | None = None) -> None:
        try:
            if adopted:
                self._adopt(*adopted)
                if strays:
                    self.tasks.sweep(self.processes.stop_strays(strays))
            elif not await self._first_start(reason, strays or [], wait_s):
                return
            while True:
                exited = await self._supervise()
                if exited is None or not await self._after_exit(*exited):
                    return
        finally:
            self.processes.drop_spares()  # no warm spare outlives the lifecycle
            self.tasks.spawned(StartFailed(self._failure_text()))

    async def _first_start(self, reason: StartReason, strays: list[Marked], wait_s: float | None) -> bool:
        # Before anything new starts; together, so SIGTERM-deaf leftovers cost one stop
        # timeout, not two.
        await asyncio.gather(self.processes.stop_strays(strays), self.processes.empty_cgroup())
        if wait_s is not None and not await self._wait_backoff(wait_s):
            return False
        return await self._start_once(reason)

    def _failure_text(self) -> str:
        if self.last_exit and self.last_exit.error:
            return self.last_exit.error
        return f"{self.spec.name} did not start (state {self.state.value})"

    async def _start_once(self, reason: StartReason) -> bool:
        """Prepare and spawn; False when the bot must not (or cannot) run now. A failure that
        may heal backs off and tries again, like a crash (``lifecycle``)."""
        while True:
            self.journal.begin(reason)
            try:
                await self.processes.ahead.quietly(asyncio.to_thread(  # issue 29: no write on the way
                    self.processes.prepare, reason, self.facts.budget, self.facts.keep_budget), reason)
                if not self.tasks.stop.is_set():
                    self._spawn(reason)
            except Exception as exc:  # noqa: BLE001 - any set-up failure is said, then retried or not
                delay = self._fail_start(exc)
                if delay is None or not await self._wait_backoff(delay):
                    return False
                self.facts.count_restart()
                continue
            if self.tasks.stop.is_set():
                self.journal.stopped_idle()
                return False
            await self.processes.settle(self._live)  # issue 28: a scoped bot in its scope first
            self.tasks.spawned(None)  # a stop asked meanwhile is _supervise's: the bot runs now
            return True

    def _fail_start(self, exc: Exception) -> float | None:
        """Record a failed preparation; the delay before the next try, or None (``errored``)."""
        failure = setup_failure(self.spec.name, exc)
        decision = decide_after_setup_failure(self.spec, failure, self.failures, self.host.uniform01,
                                              wall_iso())
        self.journal.setup_failed(decision, failure.error)
        self.tasks.spawned(StartFailed(decision.answer))
        return decision.delay_s

    async def _wait_backoff(self, delay_s: float) -> bool:
        """Wait ``delay_s`` in ``backoff`` (a reload ends it early); False when stopped meanwhile."""
        self.facts.waiting(delay_s, self.host.clock())
        self.journal.save()
        await self.tasks.wait_backoff(delay_s)
        self.facts.waited()
        if self.tasks.stop.is_set():
            self.journal.stopped_idle()
            return False
        return True

    def _spawn(self, reason: StartReason) -> None:
        """Write ahead, then fork: the run (its id, carried in the bot's environment) is on
        disk before the process exists, and its pid right after; a failed first write spawns
        nothing."""
        run_id = uuid4_hex()
        launch = self.facts.launch(run_id, reason)
        self.facts.pending = pending = self.processes.new_run(run_id)
        try:
            self.processes.ahead.before_spawn(pending, reason)
        except RegistryWriteError as exc:  # said to the user
            self.facts.pending = None
            raise RegistryUnwritable(f"{exc}; {self.spec.name} was not started") from None
        self._live = live = self.processes.spawn(pending, reason, launch)
        self.facts.saved_run = self.facts.pending = None
        try:
            self.processes.ahead.after_spawn()
        except RegistryWriteError:  # the run id written ahead still finds this process
            log.warning("%s: its pid could not be recorded; the next supervisor finds it by its "
                        "run id", self.spec.name)
        self.watch.new_process()
        self.journal.started(live.ident.pid, reason, self.processes.has_recover)

    def _adopt(self, ident: ProcessIdentity, run: RunRecord) -> None:
        self._live = self.processes.adopt(ident, run)
        self.facts.saved_run = self.facts.pending = None
        self.watch.new_process()
        self.journal.adopted(ident.pid)

    async def _supervise(self) -> tuple[ExitInfo, float, MissingModule | None] | None:
        """Wait for the exit or a stop request; None when stopped on request."""
        live, breach = self._live, self.watch.breach
        assert live is not None and breach is not None
        self.processes.go(live, next_spare=not self.tasks.stop.is_set())  # its pid is on disk by now
        exit_task = asyncio.ensure_future(self.processes.wait_exit(live))
        stop_task = self.tasks.stop.future()  # a future, no task (issue 29: a bot's cost)
        self.watch.watch_heartbeat(self.spec.heartbeat_timeout_s)  # a timer, no task (issue 29)
        self.tasks.start_jobs(self.processes.later_jobs)  # issue 26; a timer, then tasks
        try:
            await first_done(exit_task, stop_task, breach)  # no asyncio.wait: its sets, its frame
            if not exit_task.done() and stop_task.done():
                await self._terminate(live, exit_task)
                return None
            if not exit_task.done() and breach.done():
                return await self._planned_restart(live, exit_task, breach.result()), \
                    self.host.clock() - live.started_mono, None
            context = Context(self.host.slept_recently(), self.processes.oom_killed())
            info, missing = read_exit(self.spec, self.paths, live.run, exit_task.result(),
                                      self.state is BotState.RECOVERING, self.watch, context)
            await self.processes.kill_leftovers(live)  # nothing it started outlives it
            return info, self.host.clock() - live.started_mono, missing
        finally:
            stop_task.cancel()
            self.watch.stop_heartbeat_watch()
            await self.tasks.end_jobs()  # their children killed, reaped
            if not exit_task.done():
                exit_task.cancel()

    async def _after_exit(self, info: ExitInfo, uptime_s: float, missing: MissingModule | None) -> bool:
        """Record the exit and wait out the backoff; True when the bot must start again now."""
        self._live = None
        if uptime_s >= self.spec.min_uptime_s:
            self.facts.budget = self.facts.budget.healthy()  # auto-install has its three rounds again
        if missing is not None and self.spec.restart is not RestartPolicy.NEVER:
            return await self._repair(info, uptime_s, missing)
        decision = decide_after_exit(self.spec, info, uptime_s, self.failures, self.host.uniform01,
                                     self.recovery_failures)
        self.journal.decided(info, uptime_s, decision)
        if decision.delay_s is None or not await self._wait_backoff(decision.delay_s):
            return False
        self.facts.count_restart()
        woken = self.tasks.wake.is_set()
        return await self._start_once(StartReason.RELOAD if woken else start_reason_after(info.reason))

    async def _repair(self, info: ExitInfo, uptime_s: float, missing: MissingModule) -> bool:
        """The bot died of a missing module: install it (if the policy allows) and start the
        bot again at once, or leave it ``errored`` saying why. True when it must start now."""
        previous, before = self.facts.last_exit, list(self.repairs.recorded)
        self.journal.exited(info, uptime_s, Event.EXIT_REPAIR, None, mark=False)
        self.journal.save()
        outcome = await asyncio.to_thread(self.repairs.after_missing, self.spec, missing, self.facts.budget)
        self.facts.budget = outcome.budget
        # The mark says where the exit led (issue 24: '; starting' for a bot that ended errored).
        self.journal.mark_exit(info, "errored" if outcome.refused is not None else self.state.value)
        if outcome.refused is not None:
            self.journal.repair_refused(info, outcome.refused, outcome.detail)
            return False
        self.facts.repaired_by(missing.name, previous, before, self.repairs.recorded)
        self.journal.save()
        if self.tasks.stop.is_set():
            self.journal.stopped_idle()
            return False
        return await self._start_once(StartReason.REPAIRED)

    async def _terminate(self, live: LiveProcess, exit_task: asyncio.Future[int | None]) -> None:
        """Stop on request: the whole tree, gracefully; the bot ends ``stopped``."""
        self.journal.stopping(live.ident.pid)
        code, sig = await self.processes.stop_tree(live, exit_task)
        self._live = None
        self.journal.stopped(live.ident.pid, ExitInfo(code, sig, ExitReason.STOPPED, None, wall_iso()))

    async def _planned_restart(self, live: LiveProcess, exit_task: asyncio.Future[int | None],
                               breach: Breach) -> ExitInfo:
        """Stop the tree gracefully because of a limit; the exit then goes the usual way."""
        self.journal.stopping(live.ident.pid, breach)
        if breach.reason is ExitReason.HANG:
            await self.processes.dump_stacks(live)
        code, sig = await self.processes.stop_tree(live, exit_task)
        from .diagnosis import diagnose  # its tables only once an exit is explained (issue 29)
        return ExitInfo(code, sig, breach.reason, breach.detail, wall_iso(),
                        diagnose(breach.reason, code, sig, None, bot=self.spec.name))

    # -------------------------------------------------------------- --watch
    def _ensure_watching(self) -> None:
        if self.spec.watch:
            from .reload import SourceWatcher  # --watch's module only then (issue 29)
            self.watcher = self.watcher or SourceWatcher(self.spec.name)
            self.watcher.start(Path(self.spec.path).parent, [self.host.home.root], self._reload)

    async def _reload(self, changed: list[Path]) -> None:
        """Files changed: check the new code and its dependencies, then restart the bot
        (reason ``reload``); a broken edit leaves the running bot alone and says why."""
        from .reload import check_edit  # --watch's module only then (issue 29)
        names, self.reload_error = await check_edit(self.spec.path, changed, self.processes.install_declared)
        if self.reload_error:
            self.host.events.write("reload_failed", self.spec.name, files=names, error=self.reload_error)
            return
        self.host.events.write("reload", self.spec.name, files=names, state=self.state.value)
        breach = self.watch.breach
        if self.state in _WATCHED and breach is not None and not breach.done():
            self.watch.restart_for(Breach(ExitReason.RELOAD, f"files changed: {', '.join(names)}"))
        elif self.state is BotState.BACKOFF:
            self.tasks.wake.set()
        elif self.state in (BotState.ERRORED, BotState.EXITED) and not self.active:
            try:
                await self.start(StartReason.RELOAD)
            except StartFailed as exc:
                self.reload_error = f"reloaded, but it did not start: {exc}"
