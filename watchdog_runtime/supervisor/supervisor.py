"""The supervisor of one home: its bots' runners, the registry, and the control operations.

Operations are coroutines taking the request's arguments; they raise :class:`RequestError`
for anything the user must correct, which the control server turns into an error reply.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__, registry
from ..common.home import BOT_NAME_RE, Home
from ..common.manager import Manager
from ..common.units import duration
from ..config import Config, ConfigError, load_config, operator_pairs
from ..events import EventLog, read_events, wall_iso
from ..redaction import Redactor, clean_record, clean_run_files
from ..registry import BotRecord, Quarantined
from ..secretstore import SecretError, SecretStore
from ..spec import BotSpec, SpecError
from ..states import BotState, ExitReason, Hold, StartReason
from . import alerts, cgroupplan, cgroups, procs
from .alerts import AlertPolicy
from .botfile import BotFileError
from .botnotes import BotNotes
from .cgroupplan import Containment
from .diagnosis import after_allow
from .registryguard import RegistryGuard
from .resources import TreeSample, WatchSettings
from .runner import BotRunner, StartFailed
from .sleepwatch import Clock, SleepDetector, system_clocks

log = logging.getLogger(__name__)

FAST_SAMPLE_S = 0.1
"""How often a bot past half of its memory or open-files limit is read."""

RECENT_SLEEP_S = 120.0
"""An exit this soon after the machine woke is put down to the sleep."""


class RequestError(Exception):
    """A request that cannot be carried out; ``usage`` marks the user's mistake (exit 2)."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


_KEPT_AFTER_FAILED_START = (ExitReason.SYNTAX_ERROR, ExitReason.MISSING_MODULE)


class RegistryWriteError(RequestError):
    """The registry could not be written (a full disk, say): the change it records is not
    made, or, when it already happened, the command that made it fails."""


class Supervisor:
    """All bots of one home. Single-threaded (asyncio): operations never interleave between
    a check and the change it guards."""

    def __init__(self, home: Home, clock: Callable[[], float] = time.monotonic,
                 uniform01: Callable[[], float] = random.random,
                 sleep_clocks: tuple[Clock, Clock] | None = system_clocks()) -> None:
        self.home = home
        self.events = EventLog(home.events)
        self.redact = Redactor(home.secrets)
        """Hides the home's secret values in all the supervisor writes or shows (``redaction``)."""
        self.events.redact = self.redact
        self.clock = clock
        self.uniform01 = uniform01
        self.runners: dict[str, BotRunner] = {}
        self.notes = BotNotes(self.events.write, clock)  # wd.notify, wd.report (issue 27)
        self.warnings: list[str] = []
        self.started_mono = clock()
        self.shutdown_requested = asyncio.Event()
        self.keep_bots = False
        self.handover = False
        """``shutdown --keep-bots``: the daemon exits ``HANDOVER_EXIT`` for the next one."""
        self.hold_reason = Hold.SIGNAL
        """What a shutdown holds its bots as: a signal's, unless ``wdbot shutdown`` asked."""
        self.manager = Manager()
        """What starts this supervisor again when it exits (``common.manager``)."""
        self.boot = False
        """Started as ``wdbot daemon``, not launched by a command (which the boot's daemon
        takes the home over from: ``daemon._take_over``)."""
        self._config: tuple[tuple[int, int] | None, Config] | None = None
        self._dirty = False
        self._retry_write: asyncio.TimerHandle | None = None
        self.write_error: str | None = None
        """Why the last registry write failed, until one succeeds (shown in the status)."""
        self.containment: Containment | None = None
        """The cgroup v2 tree the bots get (``contain``), or None: the marker walk."""
        self.quarantined: tuple[Quarantined, ...] = ()
        """Registry entries that could not be read, kept verbatim (``registry``)."""
        self.unreadable: registry.Unreadable | None = None
        """Why the registry file cannot be read, while it cannot: commands that start, stop or
        forget a bot are refused, and the file is left as it is (``check_registry``)."""
        self.loaded = False
        """The runners hold the registry's bots (it was read once); False while a supervisor
        that found the file unreadable waits for it: it then adopts nothing and writes nothing."""
        self._guard = RegistryGuard(home.registry)
        self._last_good_failed = False
        self._service = False
        self._sleep = SleepDetector(*sleep_clocks) if sleep_clocks else None
        self._alerts: AlertPolicy | None = None
        self.metrics: Any = None
        """The Prometheus collector (``--metrics``), refreshed after every sampling pass."""
        self.events.listeners.append(self._alert)
        self.events.listeners.append(lambda event: clean_run_files(event, home, self.redact))
        self.last_sleep: dict[str, Any] | None = None
        """The machine's last sleep while this supervisor ran: when, and how long."""

    # ------------------------------------------------------------ persistence
    def load(self) -> None:
        """Read the registry into runners; a file that cannot be read is left as it is and
        this supervisor waits for a person to fix it (:meth:`check_registry`)."""
        try:
            loaded = registry.load(self.home.registry)
        except registry.RegistryUnreadable as exc:
            self._guard.written()
            self._went_unreadable(exc.unreadable)
            return
        self._guard.written()
        self._take(self._with_newer_runs(loaded))
        # What was just read is good: kept at once (a home from before the copy existed, or
        # one whose copy was lost, has it before anyone can break the registry). A new home
        # has no registry yet: a copy beside none would read as a registry lost.
        if self._guard.seen is not None:
            self._copy_last_good({n: clean_record(r.record(), self.redact) for n, r in self.runners.items()})

    def _take(self, loaded: registry.Registry) -> None:
        self.loaded = True
        self.quarantined = loaded.quarantined
        for bad in self.quarantined:
            message = bad.describe(self.home.registry)
            log.error("%s", message)
            self.events.write("registry_quarantined", bad.name, error=bad.error)
        self.runners = {name: BotRunner(self, rec) for name, rec in loaded.bots.items()}

    def contain(self) -> None:
        """Find and prepare kernel containment (one cgroup v2 per bot) where the platform
        gives it; without it the bots' trees are found by the process marker walk."""
        found = cgroups.detect(self.home.id)
        if found is None:
            log.info("containment: %s", cgroupplan.describe(None))
            return
        try:
            self.containment = cgroups.prepare(found)
        except OSError as exc:
            log.warning("cgroups unavailable (%s): bots are found by the process marker walk", exc)
            return
        log.info("containment: %s", self.containment.description)

    def _release_containment(self) -> None:
        """After a full shutdown: this home's cgroup folder goes when it holds nothing more (a
        bot cgroup still populated keeps it, and it is reused by the next supervisor)."""
        containment = self.containment
        if containment is None or containment.layout is not cgroupplan.Layout.ROOT:
            return  # a delegated cgroup belongs to the service manager
        for folder in (containment.base, containment.base.parent):
            try:
                folder.rmdir()
            except OSError:
                return  # still in use (another home's bots, or a bot's leftovers)

    def _with_newer_runs(self, found: registry.Registry) -> registry.Registry:
        good = registry.read(registry.last_good(self.home.registry))
        return registry.with_newer_runs(found, good, procs.is_alive)

    def check_registry(self) -> None:
        """Read the registry file again if someone changed it: one that cannot be read puts
        the supervisor in the loud, safe state; one readable again ends it (the bots adopted as
        they run when this supervisor never read the file). A readable file changed by hand
        while the supervisor runs is overwritten, as ever: it is the file's only writer."""
        found = self._guard.look()
        if isinstance(found, registry.Unreadable):
            if self.unreadable is None or found.message != self.unreadable.message:
                self._went_unreadable(found)
        elif found is not None and self.unreadable is not None:
            if not self.loaded and self.shutdown_requested.is_set():
                return  # going away: the next supervisor adopts them, none is started now
            self._readable_again(found)

    def _went_unreadable(self, why: registry.Unreadable) -> None:
        self.unreadable = why
        log.error("%s", why.message)
        self.events.write("registry_unreadable", path=str(why.path), line=why.line, error=why.error,
                          message=why.message)

    def _readable_again(self, found: registry.Registry) -> None:
        """The file was fixed or restored. A supervisor that has supervised all along keeps
        what it knows (it is newer than any copy) and writes it; one that never read the file
        takes it and adopts the running bots as a restarted supervisor does, none restarted."""
        self.unreadable = None
        self._dirty = True  # written with the next flush (the watch's, or the command's)
        if self.loaded:
            message = "the registry is readable again; it is written from what the supervisor knows"
        else:
            message = "the registry is readable again; its bots are adopted as they run"
            self._take(self._with_newer_runs(found))
            self.resume_all(service=self._service)
        log.info("%s", message)
        self.events.write("registry_readable", path=str(self.home.registry), message=message)

    async def watch_registry(self, interval_s: float = 1.0) -> None:
        """:meth:`check_registry` every ``interval_s`` until cancelled: a broken file is said at
        once (an alert), a fixed one taken up without waiting for a command."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.check_registry()
            except Exception:  # noqa: BLE001 - the watch must outlive a surprise
                log.exception("checking the registry failed")
            if self._dirty:
                self._flush_quietly()

    def refuse_while_unreadable(self) -> None:
        """No command starts, stops or forgets a bot on the strength of a file it cannot read."""
        if self.unreadable is not None:
            raise RequestError(self.unreadable.message)

    def persist(self) -> None:
        """Write the registry soon: changes made in one turn of the event loop (an exit, its
        backoff and the next spawn) share one atomic, fsynced write. Replies to commands
        flush first (:meth:`flush`), so a command never returns before its change is on disk.
        A spawn writes at once (:meth:`persist_now`): the run is on disk before the process."""
        if self._dirty:
            return
        self._dirty = True
        try:
            asyncio.get_running_loop().call_soon(self._flush_quietly)
        except RuntimeError:
            self.flush()  # no loop (tests, start-up): at once

    def persist_now(self) -> None:
        """Write the registry now; raise :class:`RegistryWriteError` when it cannot be."""
        self._dirty = True
        self.flush()

    def flush(self) -> None:
        """Write the registry now if a change is pending; raise :class:`RegistryWriteError`
        when the write fails (the change stays pending and is retried every second)."""
        if not self._dirty:
            return
        if not self.loaded:
            self._dirty = False  # nothing read, so nothing to write: the file stays as it is
            return
        self.check_registry()  # a file broken since the last write is not overwritten
        records = {n: clean_record(r.record(), self.redact) for n, r in self.runners.items()}
        try:
            if self.unreadable is None:
                registry.save(self.home.registry, records, self.quarantined)
                self._guard.written()
            else:  # the broken file is left to the person; the copy keeps what a restore needs
                registry.save_last_good(self.home.registry, records, self.quarantined, ahead=True)
        except OSError as exc:
            first = self.write_error is None
            self.write_error = (f"cannot write the registry {self.home.registry}: {exc.strerror or exc}; "
                                f"free space (or fix the permissions) in {self.home.root}")
            if first:
                log.error("%s", self.write_error)
                self.events.write("registry_write_failed", error=str(exc))
            self._schedule_retry()
            raise RegistryWriteError(self.write_error) from None
        self._dirty = False
        if self.write_error is not None:
            log.info("the registry is written again")
            self.write_error = None
        if self.unreadable is None:
            self._copy_last_good(records)

    def _copy_last_good(self, records: dict[str, BotRecord]) -> None:
        """The registry's last good copy, after the registry itself: a failure does not fail
        the change (the registry holds it); it is said once and retried with the next write."""
        try:
            registry.save_last_good(self.home.registry, records, self.quarantined)
        except OSError as exc:
            if not self._last_good_failed:
                log.warning("cannot write %s: %s; retried every second", registry.last_good(
                    self.home.registry), exc.strerror or exc)
            self._last_good_failed = True
            self._dirty = True
            self._schedule_retry()
            return
        self._last_good_failed = False

    def _flush_quietly_now(self) -> None:
        self._dirty = True
        self._flush_quietly()

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except RegistryWriteError:
            pass  # said once in the log and the status; retried by the timer

    def _schedule_retry(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._retry_write is None or self._retry_write.cancelled() or \
                self._retry_write.when() <= loop.time():
            self._retry_write = loop.call_later(1.0, self._flush_quietly)

    def settings(self) -> Config:
        """The home's ``config.toml`` as it is now (an edit needs no supervisor restart);
        parsed again only when the file changed."""
        try:
            st = self.home.config.stat()
            key: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        if self._config is None or self._config[0] != key:
            self._config = (key, load_config(self.home.config))
        return self._config[1]

    def watch_settings(self) -> WatchSettings:
        """The resource watch's settings; the defaults while the config is unreadable (the
        error is reported where installs and venvs need the config)."""
        try:
            return self.settings().resources
        except ConfigError:
            return WatchSettings()

    async def sample_forever(self) -> None:
        """Every ``interval``: one reading of every running bot's process tree, handed to
        its runner (which may restart it past a limit). A bot past half of a limit is read
        every ``FAST_SAMPLE_S`` as well, so a fast leak is caught near its limit, not a few
        hundred megabytes past it. Runs until cancelled."""
        next_full = self.clock()
        while True:
            settings = self.watch_settings()
            full = self.clock() >= next_full
            if full:
                next_full = self.clock() + settings.interval_s
            live = {n: ident for n, r in self.runners.items()
                    if (ident := r.live_ident) and (full or r.near_limit())}
            if live:
                try:
                    samples = await asyncio.to_thread(self._sample, live)
                except Exception:  # noqa: BLE001 - a failed reading must not end the watch
                    log.exception("sampling the bots failed")
                    samples = {}
                for name, sample in samples.items():
                    runner = self.runners.get(name)
                    if runner is not None:
                        runner.observe(live[name], sample, settings)
            if full and self.metrics is not None:
                self.metrics.snapshot = self.redact(await self.op_status())
            near = any(r.live_ident and r.near_limit() for r in self.runners.values())
            wait = FAST_SAMPLE_S if near else next_full - self.clock()
            await asyncio.sleep(max(0.0, min(wait, next_full - self.clock())))

    def _sample(self, live: dict[str, procs.ProcessIdentity]) -> dict[str, TreeSample]:
        """One reading of each bot: from its cgroup when it has joined one (its own files, no
        walk of the process table), else from the walk; a recycled pid is never read."""
        contained = {n: cg for n in live if (cg := self.runners[n].joined_cgroup) is not None}
        walked = {n: ident for n, ident in live.items() if n not in contained}
        now = self.clock()
        samples = procs.sample_trees(walked, now) if walked else {}
        if contained:
            alive = {n: cg for n, cg in contained.items() if procs.is_alive(live[n])}
            samples.update(cgroups.sample_all(alive, now))
        return samples

    def deliver(self, run_id: str, kind: str, payload: dict[str, Any] | None = None) -> None:
        """A bot's message from the notify socket, handed to the runner whose live run it is."""
        for runner in self.runners.values():
            if runner.on_message(run_id, kind):
                if payload is not None:
                    self.notes.take(runner.spec.name, kind, payload)
                return

    # ------------------------------------------------------------ telling people
    def _alert(self, event: dict[str, Any]) -> None:
        """Every event passes here: the alert policy decides, a worker thread sends."""
        try:
            settings = self.settings().alerts
        except ConfigError:
            return  # a broken config: no alert settings to go by (the error is reported elsewhere)
        if self._alerts is None or self._alerts.settings != settings:
            self._alerts = AlertPolicy(settings, bot_urls=self._bot_urls)
        alert = self._alerts.on_event(event, self.clock())
        if alert is not None:
            alerts.send(alert)

    def _bot_urls(self, bot: str) -> tuple[str, ...]:
        runner = self.runners.get(bot)
        return runner.spec.notify if runner else ()

    def note_previous_stop(self) -> None:
        """At start: if the last supervisor of this home never logged its exit, it was killed
        or crashed (or the machine lost power): say so, in an event that alerts."""
        last = read_events(self.home.events, 1, kinds=frozenset({"supervisor_start", "supervisor_exit"}))
        if last and last[-1]["kind"] == "supervisor_start":
            self.events.write("supervisor_unclean", previous_pid=last[-1].get("pid"),
                              message=f"the previous supervisor (pid {last[-1].get('pid')}, started "
                                      f"{last[-1].get('at')}) stopped without shutting down: killed, "
                                      f"crashed, or the machine lost power; its bots were adopted"
                                      + ("" if self.loaded else " once the registry is readable"))

    async def ping_forever(self) -> None:
        """``[uptime]``: request the URL every interval while all is well (the supervisor runs
        and no bot has given up), so a silent machine is noticed by the service watching it."""
        while True:
            try:
                config = self.settings()
            except ConfigError:
                config = None
            interval = config.uptime_interval_s if config else 60.0
            if config and config.uptime_url and self.healthy():
                await asyncio.to_thread(_ping, config.uptime_url)
            await asyncio.sleep(interval)

    def healthy(self) -> bool:
        """No bot has given up."""
        return not any(r.state is BotState.ERRORED for r in self.runners.values())

    async def answer_secret(self, pid: int | None, connection: str) -> dict[str, Any]:
        """``wd.connection``: the secrets of ``connection`` for the bot whose process tree
        ``pid`` belongs to, and only for it, in whatever state it is while its process lives
        (stopping included: ``on_shutdown`` cancels orders with them); values never reach a
        log or an event. A value that cannot be decrypted is named, the others still given."""
        live = {r.process_ident.pid: r for r in self.runners.values() if r.process_ident}
        owner = next((live[p] for p in procs.lineage(pid) if p in live), None) if pid else None
        if owner is None:
            return {"ok": False, "error": "secrets go to wdbot's bots only, from their own processes"}
        store = SecretStore(self.home.secrets)
        try:
            opened = await asyncio.to_thread(store.connection, owner.spec.name, connection)
        except SecretError as exc:
            return {"ok": False, "error": str(exc)}
        for problem in opened.unreadable.values():
            log.warning("%s", problem)
        return {"ok": True, "values": opened.values, "unreadable": opened.unreadable}

    def check_sleep(self) -> None:
        """Notice a sleep of the machine since the last check: an event and the status say so."""
        slept = self._sleep.check() if self._sleep else None
        if slept is None:
            return
        message = (f"the machine was asleep for {duration(slept.seconds)}: no bot was watched "
                   f"meanwhile; run wdbot as a service on a machine that does not sleep")
        self.last_sleep = {"at": wall_iso(), "asleep_s": slept.seconds, "message": message,
                           "noticed_mono": slept.noticed_mono}
        self.events.write("sleep", asleep_s=slept.seconds, message=message)
        log.warning("%s", message)

    def slept_recently(self, within_s: float = RECENT_SLEEP_S) -> float | None:
        """Seconds the machine slept, if it woke less than ``within_s`` ago."""
        if self.last_sleep and self.clock() - self.last_sleep["noticed_mono"] <= within_s:
            return float(self.last_sleep["asleep_s"])
        return None

    async def watch_sleep(self, interval_s: float = 5.0) -> None:
        """:meth:`check_sleep` every ``interval_s`` until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            self.check_sleep()

    def allowed_pairs(self) -> dict[str, str]:
        """Import-name pairs the operator allowed: ``config.toml``'s, then ``wdbot allow``'s."""
        return operator_pairs(self.settings(), self.home.allowed)

    def resume_all(self, *, service: bool = False) -> None:
        """After a supervisor (re)start: one sweep of the process table for every process that
        carries one of this home's markers, whatever its age; each runner adopts its own live
        process (by the recorded identity, or by the write-ahead run id) and stops any other
        copy; bots that should run but died meanwhile start (reason ``supervisor_restart``),
        those in backoff start when their deadline passes. Processes of bots the registry does
        not know are stopped; those of quarantined entries are left alone (and said so).

        ``service``: this is ``wdbot daemon`` (a person, a service manager or the container
        init started the supervisor), which also starts the bots held because a signal
        stopped the last supervisor (a reboot); a supervisor launched by a command leaves
        them stopped. Bots held by ``wdbot shutdown`` stay stopped either way.
        """
        self._service = service
        if not self.loaded:
            return  # the registry cannot be read: no process is adopted, stopped or started
        prefix = f"{self.home.id}:"
        found = procs.marked_processes(prefix)
        for runner in self.runners.values():
            runner.resume(found.pop(runner.marker, []), service=service)
        for bad in self.quarantined:
            left = found.pop(f"{prefix}{bad.name}", []) if bad.name else []
            if left:
                self.warnings.append(f"{len(left)} process(es) of the quarantined bot {bad.name!r} "
                                     f"are left running unsupervised: {[m.ident.pid for m in left]}")
        for marker, strays in found.items():
            asyncio.get_running_loop().create_task(self._stop_strays(marker, strays))

    async def _stop_strays(self, marker: str, strays: list[procs.Marked]) -> None:
        """Processes of a bot this home does not know (its entry was lost): never left
        running beside a new copy that a person may start."""
        from .treestop import stop_processes

        name = marker.split(":", 1)[1]
        pids = [m.ident.pid for m in strays]
        self.events.write("orphans_stopped", name, pids=pids,
                          message=f"processes of {name!r}, which the registry does not know, "
                                  f"were stopped")
        await stop_processes(procs.as_processes(strays), 10.0)

    # ------------------------------------------------------------- operations
    async def op_ping(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "version": __version__, "manager": self.manager.describe(),
                "boot": self.boot}

    async def op_start(self, spec: dict[str, Any] | None = None, name: str | None = None,
                       update: bool = False) -> dict[str, Any]:
        """Start a bot (registering it first), or a registered one by ``name``. With ``update``
        a running bot with other options is stopped and started again with the new ones."""
        self._refuse_while_shutting_down()
        self.refuse_while_unreadable()
        if spec is None:
            return await self._start_registered(self._runner(name))
        try:
            new = BotSpec.from_json(spec)
        except (SpecError, TypeError, ValueError) as exc:
            raise RequestError(f"bad bot spec: {exc}", usage=True) from None
        _check_spec(new)
        self._refuse_quarantined(new.name)
        runner = self.runners.get(new.name)
        if runner is not None:
            await runner.settle()
        if runner is None:
            runner = self.runners[new.name] = BotRunner(self, BotRecord(spec=new))
            return await self._first_start(runner)
        if runner.spec.path != new.path:
            raise RequestError(
                f"a bot named {new.name!r} is already registered for {runner.spec.path}; "
                f"choose another name with --name", usage=True)
        if runner.active:
            await runner.spawned()
            if runner.spec == new:
                return {**self._brief(runner), "already": True}
            if not update:
                raise RequestError(f"{new.name} is running with other options; 'wdbot restart "
                                   f"{new.name}' with the new options applies them")
            await self._compiles(runner)
            await runner.stop()
            runner.spec = new
            runner.restarts += 1
            try:
                await runner.start(StartReason.RESTART)
            except StartFailed as exc:
                raise RequestError(f"{new.name}: {exc}") from None
            return {**self._brief(runner), "updated": True}
        runner.spec = new
        return await self._start_registered(runner)

    async def _first_start(self, runner: BotRunner) -> dict[str, Any]:
        name = runner.spec.name
        try:
            await runner.start(StartReason.FIRST_START)
        except StartFailed as exc:
            # A failed first start registers nothing (and retries nothing), except a file with
            # a syntax error or an import that cannot be installed: it stays, errored, so that
            # the fix and a 'wdbot start NAME' (or restart) are all it takes.
            kept = runner.last_exit and runner.last_exit.reason in _KEPT_AFTER_FAILED_START
            if not kept:
                await runner.stop()
            if self.runners.get(name) is runner:
                if not kept:
                    del self.runners[name]
                    self.persist()
            elif name not in self.runners:
                raise RequestError(f"{name} was removed while it was starting") from None
            raise RequestError(str(exc)) from None
        return self._brief(runner)

    async def _start_registered(self, runner: BotRunner) -> dict[str, Any]:
        await runner.settle()  # a stop in progress ends first, then this start
        if runner.active:
            await runner.spawned()
            return {**self._brief(runner), "already": True}
        try:
            await runner.start(StartReason.FIRST_START)
        except StartFailed as exc:
            raise RequestError(str(exc)) from None
        return self._brief(runner)

    async def op_stop(self, names: list[str] | None = None, all: bool = False) -> list[dict[str, Any]]:
        self.refuse_while_unreadable()
        targets = self._targets(names, all)
        await asyncio.gather(*(r.stop() for r in targets))
        return [self._brief(r) for r in targets]

    async def op_restart(self, names: list[str] | None = None, all: bool = False) -> list[dict[str, Any]]:
        self._refuse_while_shutting_down()
        self.refuse_while_unreadable()
        targets = self._targets(names, all)
        await asyncio.gather(*(self._restart(r) for r in targets))
        return [self._brief(r) for r in targets]

    async def _restart(self, runner: BotRunner) -> None:
        if runner.active:
            await self._compiles(runner)
        await runner.stop()
        runner.restarts += 1
        try:
            await runner.start(StartReason.RESTART)
        except StartFailed as exc:
            raise RequestError(f"{runner.spec.name}: {exc}") from None

    async def _compiles(self, runner: BotRunner) -> None:
        """Compile the bot's file before stopping it: a typo leaves the running bot running."""
        try:
            await runner.check_file()
        except BotFileError as exc:
            raise RequestError(f"{runner.spec.name} still runs its old code: {exc}") from None

    async def op_remove(self, name: str, purge: bool = False) -> dict[str, Any]:
        self.refuse_while_unreadable()
        if name not in self.runners and any(q.name == name for q in self.quarantined):
            return await self._remove_quarantined(name, purge)
        runner = self._runner(name)
        runner.retired = True  # a racing start or restart is refused from here on
        await runner.stop()
        while runner.active:  # started before the flag was seen: stopped again
            await runner.stop()
        if self.runners.get(name) is not runner:
            return {"name": name, "purged": False}  # removed meanwhile by another request
        del self.runners[name]
        self.persist()
        self.events.write("removed", name, purge=purge)
        runner.release_cgroup()
        if purge:
            await asyncio.to_thread(shutil.rmtree, runner.paths.root, True)
            await asyncio.to_thread(SecretStore(self.home.secrets).purge, name)
        return {"name": name, "purged": purge}

    async def _remove_quarantined(self, name: str, purge: bool) -> dict[str, Any]:
        """Forget an unreadable entry: stop whatever still runs under its name, then drop it."""
        from .treestop import stop_processes

        marker = f"{self.home.id}:{name}"
        strays = procs.marked_processes(f"{self.home.id}:").get(marker, [])
        await stop_processes(procs.as_processes(strays), 10.0)
        self.quarantined = tuple(q for q in self.quarantined if q.name != name)
        self.warnings = [w for w in self.warnings if f"{name!r}" not in w]
        self.persist()
        self.events.write("removed", name, purge=purge, quarantined=True)
        if purge:
            await asyncio.to_thread(shutil.rmtree, self.home.bot_dir(name), True)
            await asyncio.to_thread(SecretStore(self.home.secrets).purge, name)
        return {"name": name, "purged": purge}

    def _refuse_while_shutting_down(self) -> None:
        if self.shutdown_requested.is_set():
            raise RequestError("the supervisor is shutting down: run the command again once "
                               "'wdbot shutdown' has returned (it starts a new supervisor)")

    def _refuse_quarantined(self, name: str) -> None:
        for bad in self.quarantined:
            if bad.name == name:
                raise RequestError(bad.describe(self.home.registry))

    async def op_status(self, name: str | None = None) -> dict[str, Any]:
        runners = [self._runner(name)] if name else [self.runners[n] for n in sorted(self.runners)]
        return {
            "supervisor": {
                "pid": os.getpid(), "version": __version__, "home": str(self.home.root),
                "uptime_s": round(self.clock() - self.started_mono, 3),
                "registry_unreadable": self.unreadable.to_json() if self.unreadable else None,
                "warnings": [*([self.unreadable.message] if self.unreadable else []),
                             *self.warnings, *(q.describe(self.home.registry) for q in self.quarantined),
                             *([self.write_error] if self.write_error else [])],
                "quarantined": [{"name": q.name, "error": q.error,
                                 "fix": q.describe(self.home.registry)} for q in self.quarantined],
                "last_sleep": ({k: v for k, v in self.last_sleep.items() if k != "noticed_mono"}
                               if self.last_sleep else None),
            },
            "bots": [self.notes.add_to(self._fresh_hint(r.status())) for r in runners],
        }

    def _fresh_hint(self, bot: dict[str, Any]) -> dict[str, Any]:
        """A hint advising 'wdbot allow' for a module allowed since then advises the restart:
        computed at each look, so the page never keeps the stale advice (issue 24)."""
        diagnosis = (bot.get("last_exit") or {}).get("diagnosis")
        if not diagnosis or "wdbot allow" not in diagnosis.get("hint", ""):
            return bot
        try:
            pairs = self.allowed_pairs()
        except ConfigError:
            return bot
        hint = after_allow(diagnosis["hint"], bot["name"], pairs)
        if hint != diagnosis["hint"]:
            last = bot["last_exit"]
            error = last.get("error")  # it quotes the refusal too
            if isinstance(error, str):
                error = error.replace(diagnosis["hint"], hint)
            bot["last_exit"] = {**last, "error": error, "diagnosis": {**diagnosis, "hint": hint}}
        return bot

    async def op_shutdown(self, keep_bots: bool = False) -> dict[str, Any]:
        """``wdbot shutdown``: a deliberate stop (its holds outlast any supervisor restart), or
        with ``keep_bots`` a hand-over: the daemon exits ``HANDOVER_EXIT``, which the container
        init and the rendered units answer by starting the next supervisor at once."""
        under_way = self.shutdown_requested.is_set()  # a shutdown under way keeps its own kind
        if not keep_bots and not (under_way and self.keep_bots):
            self._hold_now()  # before the reply: a kill -9, a reboot or a full disk loses nothing
        if not keep_bots:
            self.hold_reason = Hold.SHUTDOWN  # also during a signal's stop: deliberate wins
        if not under_way:
            self.keep_bots = keep_bots
            self.handover = keep_bots
        self.shutdown_requested.set()
        reply: dict[str, Any] = {"pid": os.getpid(), "keep_bots": self.keep_bots,
                                 "successor": self.manager.successor if self.keep_bots else None,
                                 "manager": self.manager.describe()}
        if not self.loaded and self.unreadable is not None:
            reply["left_running"] = self.unreadable.message  # it knows no bot to stop
        return reply

    def _hold_now(self) -> None:
        """Hold every bot meant to run as ``wdbot shutdown``'s, on disk at once. When the
        registry cannot be written (a full disk) nothing is held and the shutdown fails, so it
        never says "the bots stay stopped" while the next supervisor would start them."""
        before = {name: (r.should_run, r.held, r.held_by) for name, r in self.runners.items()}
        for runner in self.runners.values():
            runner.hold(Hold.SHUTDOWN)
        try:
            self.persist_now()
        except RegistryWriteError as exc:
            for name, runner in self.runners.items():
                runner.should_run, runner.held, runner.held_by = before[name]
            raise RegistryWriteError(f"{exc}; nothing was stopped") from None

    async def shutdown(self) -> None:
        """Stop every bot (or let go of them with ``keep_bots``); those that were meant to run
        stay marked so, and the next supervisor starts or adopts them."""
        self.events.write("shutdown", keep_bots=self.keep_bots)
        runners = list(self.runners.values())
        if self.keep_bots:
            await asyncio.gather(*(r.detach() for r in runners))
        else:
            # Held, not forgotten. Held by 'wdbot shutdown': only start/restart/up run them
            # again, whatever restarts the supervisor (a service manager, a reboot). Held by
            # a signal (the machine going down, 'systemctl stop'): the next 'wdbot daemon'
            # starts them, as after a boot; a supervisor a command launched does not.
            for r in runners:  # on disk first: a supervisor killed mid-shutdown loses nothing
                r.hold(self.hold_reason)
            self._flush_quietly_now()
            holds = {r.spec.name: (r.held, r.held_by) for r in runners}
            await asyncio.gather(*(r.stop(keep_held=True) for r in runners))
            for r in runners:
                r.held, r.held_by = holds[r.spec.name]
                r.hold(self.hold_reason)  # a 'wdbot shutdown' that came during a signal's stop
                r.release_cgroup()
            self._release_containment()
        self.persist()
        self.flush()

    # ---------------------------------------------------------------- helpers
    def _runner(self, name: str | None) -> BotRunner:
        if isinstance(name, str) and name not in self.runners:
            if not self.loaded:
                self.refuse_while_unreadable()  # unknown because unread, not because absent
            self._refuse_quarantined(name)
        if not isinstance(name, str) or name not in self.runners:
            known = ", ".join(sorted(self.runners)) or "none"
            raise RequestError(f"no bot named {name!r} (registered: {known}); see 'wdbot status'",
                               usage=True)
        return self.runners[name]

    def _targets(self, names: list[str] | None, all: bool) -> list[BotRunner]:
        if all:
            return list(self.runners.values())
        if not names or not isinstance(names, list):
            raise RequestError("name a bot, or use --all", usage=True)
        return [self._runner(n) for n in names]

    @staticmethod
    def _brief(runner: BotRunner) -> dict[str, Any]:
        status = runner.status()
        return {k: status[k] for k in ("name", "pid", "state", "last_exit")}


def _check_spec(spec: BotSpec) -> None:
    if not BOT_NAME_RE.fullmatch(spec.name):
        raise RequestError(f"bad bot name {spec.name!r}: use letters, digits, '.', '_' or '-'",
                           usage=True)
    path = Path(spec.path)
    if not path.is_absolute() or not path.is_file():
        raise RequestError(f"bot file {spec.path} does not exist", usage=True)


def _ping(url: str) -> None:
    """One uptime ping; a failure is logged, never raised (the service will notice)."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read(1024)
    except (OSError, ValueError) as exc:
        log.warning("uptime ping to %s failed: %s", url.split("?")[0], exc)
