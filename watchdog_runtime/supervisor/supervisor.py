"""The supervisor of one home: its bots' runners, what it knows of the registry file, its
settings, and its alerts. The control operations are in ``operations``, the periodic work (the
sampler, the uptime pings, the sleep and registry watches) in ``housekeeping``, and the one
registry writer in ``registrywriter``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from .. import registry
from ..common.home import Home
from ..common.manager import Manager
from ..common.randomid import uniform01 as urandom01
from ..config import Config, ConfigError, load_config, operator_pairs
from ..events import EventLog, read_events
from ..redaction import Redactor, clean_record, clean_run_files
from ..registry import BotRecord, Quarantined
from ..secretstore import SecretError, SecretStore
from ..states import BotState, Hold
from . import alerts, cgroupplan, cgroups, procs, runahead
from .alerts import AlertPolicy
from .botnotes import BotNotes
from .cgroupplan import Containment
from .housekeeping import FAST_SAMPLE_S, RECENT_SLEEP_S, SleepWatch
from .modes import ModeKeeper
from .operations import Operations
from .registryguard import RegistryGuard
from .registrywriter import RegistryWriteError, RegistryWriter
from .request_error import RequestError
from .resources import WatchSettings
from .runner import BotRunner
from .sleepwatch import Clock, SleepDetector, system_clocks

__all__ = ["FAST_SAMPLE_S", "RECENT_SLEEP_S", "RegistryWriteError", "RequestError", "Supervisor"]

log = logging.getLogger(__name__)


class Supervisor:
    """All bots of one home. Single-threaded (asyncio): operations never interleave between
    a check and the change it guards."""

    def __init__(self, home: Home, clock: Callable[[], float] = time.monotonic,
                 uniform01: Callable[[], float] = urandom01,
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
        self.writer = RegistryWriter(home.registry, home.root, self.events, self._guard, self)
        """The registry's one writer (``registrywriter``)."""
        self.ops = Operations(self)
        """The control operations (``operations``)."""
        self._service = False
        self.sleep_watch = SleepWatch(SleepDetector(*sleep_clocks) if sleep_clocks else None, self.events)
        self._alerts: AlertPolicy | None = None
        self.metrics: Any = None
        """The Prometheus collector (``--metrics``), refreshed after every sampling pass."""
        self.events.listeners.append(self._alert)
        self.events.listeners.append(lambda event: clean_run_files(event, home, self.redact))

    @property
    def last_sleep(self) -> dict[str, Any] | None:
        """The machine's last sleep while this supervisor ran: when, and how long."""
        return self.sleep_watch.last

    @property
    def write_error(self) -> str | None:
        """Why the last registry write failed, until one succeeds (shown in the status)."""
        return self.writer.error

    @functools.cached_property
    def modes(self) -> ModeKeeper:
        """Trading modes (issue 27, ``modes``); made by the daemon before any bot can exit."""
        return ModeKeeper(self)

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
            self.writer.copy_last_good(self.records())

    def records(self) -> dict[str, BotRecord]:
        """Every bot's record as the registry keeps it (secret values hidden)."""
        return {n: clean_record(r.record(), self.redact) for n, r in self.runners.items()}

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
        return runahead.merge(registry.with_newer_runs(found, good, procs.is_alive), self.home)

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
        self.writer.mark()  # written with the next flush (the watch's, or the command's)
        if self.loaded:
            message = "the registry is readable again; it is written from what the supervisor knows"
        else:
            message = "the registry is readable again; its bots are adopted as they run"
            self._take(self._with_newer_runs(found))
            self.resume_all(service=self._service)
        log.info("%s", message)
        self.events.write("registry_readable", path=str(self.home.registry), message=message)

    def refuse_while_unreadable(self) -> None:
        """No command starts, stops or forgets a bot on the strength of a file it cannot read."""
        if self.unreadable is not None:
            raise RequestError(self.unreadable.message)

    def persist(self) -> None:
        """Write the registry soon: changes made in one turn of the event loop share one write
        (``RegistryWriter.soon``); replies to commands flush first (:meth:`flush`)."""
        self.writer.soon()

    def persist_now(self) -> None:
        """Write the registry now; raise :class:`RegistryWriteError` when it cannot be."""
        self.writer.now()

    def hold_soon(self) -> Callable[[], None]:
        """Hold back the writes :meth:`persist` asks for (``RegistryWriter.hold``, issue 29)."""
        return self.writer.hold()

    def flush(self) -> None:
        """Write the registry now if a change is pending; raise :class:`RegistryWriteError`
        when the write fails (the change stays pending and is retried every second)."""
        self.writer.flush()

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
        self.sleep_watch.check()

    def slept_recently(self, within_s: float = RECENT_SLEEP_S) -> float | None:
        """Seconds the machine slept, if it woke less than ``within_s`` ago: the clocks are
        compared here too, so an exit just after a wake is put down to it before the watch's
        next look (which comes seldom: ``housekeeping.watch_sleep``)."""
        self.sleep_watch.check()
        return self.sleep_watch.recent(self.clock(), within_s)

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
            self.writer.mark()
            self.writer.flush_quietly()
            holds = {r.spec.name: (r.held, r.held_by) for r in runners}
            await asyncio.gather(*(r.stop(keep_held=True) for r in runners))
            for r in runners:
                r.held, r.held_by = holds[r.spec.name]
                r.hold(self.hold_reason)  # a 'wdbot shutdown' that came during a signal's stop
                r.processes.release_cgroup()
            self._release_containment()
        self.persist()
        self.flush()
