"""The control operations (``wdbot start``, ``stop``, ``restart``, ``remove``, ``status``,
``shutdown``, ``ping``): coroutines taking the request's arguments, one per operation name of
the control protocol (``op_NAME``). They raise :class:`RequestError` for anything the user
must correct, which the control server turns into an error reply.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..common.home import BOT_NAME_RE
from ..config import ConfigError
from ..registry import BotRecord
from ..secretstore import SecretStore
from ..spec import BotSpec, SpecError
from ..states import ExitReason, Hold, StartReason
from . import procs
from .botfile import BotFileError
from .registrywriter import RegistryWriteError
from .request_error import RequestError
from .runner import BotRunner, StartFailed

if TYPE_CHECKING:
    from .supervisor import Supervisor

_KEPT_AFTER_FAILED_START = (ExitReason.SYNTAX_ERROR, ExitReason.MISSING_MODULE)

Operation = Callable[..., Awaitable[Any]]


class Operations:
    """The operations on one supervisor; :meth:`table` names them as the protocol does."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup

    def table(self) -> dict[str, Operation]:
        """Operation name (``start``) to its coroutine function (``op_start``)."""
        return {name[3:]: getattr(self, name) for name in dir(self) if name.startswith("op_")}

    async def op_ping(self) -> dict[str, Any]:
        sup = self.sup
        return {"pid": os.getpid(), "version": __version__, "manager": sup.manager.describe(),
                "boot": sup.boot}

    # ------------------------------------------------------------------ start
    async def op_start(self, spec: dict[str, Any] | None = None, name: str | None = None,
                       update: bool = False) -> dict[str, Any]:
        """Start a bot (registering it first), or a registered one by ``name``. With ``update``
        a running bot with other options is stopped and started again with the new ones."""
        self._refuse_while_shutting_down()
        self.sup.refuse_while_unreadable()
        if spec is None:
            return await self._start_registered(self.runner(name))
        try:
            new = BotSpec.from_json(spec)
        except (SpecError, TypeError, ValueError) as exc:
            raise RequestError(f"bad bot spec: {exc}", usage=True) from None
        _check_spec(new)
        self._refuse_quarantined(new.name)
        runner = self.sup.runners.get(new.name)
        if runner is not None:
            await runner.settle()
        if runner is None:
            runner = self.sup.runners[new.name] = BotRunner(self.sup, BotRecord(spec=new))
            return await self._first_start(runner)
        if runner.spec.path != new.path:
            raise RequestError(
                f"a bot named {new.name!r} is already registered for {runner.spec.path}; "
                f"choose another name with --name", usage=True)
        if runner.active:
            return await self._start_running(runner, new, update)
        runner.spec = new
        return await self._start_registered(runner)

    async def _start_running(self, runner: BotRunner, new: BotSpec, update: bool) -> dict[str, Any]:
        """``start`` of a bot that runs: nothing to do, or (``update``) its new options applied."""
        await runner.spawned()
        if runner.spec == new:
            return {**brief(runner), "already": True}
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
        return {**brief(runner), "updated": True}

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
            if self.sup.runners.get(name) is runner:
                if not kept:
                    del self.sup.runners[name]
                    self.sup.persist()
            elif name not in self.sup.runners:
                raise RequestError(f"{name} was removed while it was starting") from None
            raise RequestError(str(exc)) from None
        return brief(runner)

    async def _start_registered(self, runner: BotRunner) -> dict[str, Any]:
        await runner.settle()  # a stop in progress ends first, then this start
        if runner.active:
            await runner.spawned()
            return {**brief(runner), "already": True}
        try:
            await runner.start(StartReason.FIRST_START)
        except StartFailed as exc:
            raise RequestError(str(exc)) from None
        return brief(runner)

    # ------------------------------------------------------------ stop, restart
    async def op_stop(self, names: list[str] | None = None, all: bool = False) -> list[dict[str, Any]]:
        self.sup.refuse_while_unreadable()
        targets = self.targets(names, all)
        await asyncio.gather(*(r.stop() for r in targets))
        return [brief(r) for r in targets]

    async def op_restart(self, names: list[str] | None = None, all: bool = False) -> list[dict[str, Any]]:
        self._refuse_while_shutting_down()
        self.sup.refuse_while_unreadable()
        targets = self.targets(names, all)
        await asyncio.gather(*(self._restart(r) for r in targets))
        return [brief(r) for r in targets]

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

    # ------------------------------------------------------------------ remove
    async def op_mode(self, mode: str, names: list[str] | None = None, all: bool = False,
                      reason: str | None = None, source: str = "cli") -> list[dict[str, Any]]:
        """``wdbot halt``/``reduce``/``resume``: the trading mode (``modes``)."""
        return self.sup.modes.set(names, all, mode, reason, source)

    async def op_remove(self, name: str, purge: bool = False) -> dict[str, Any]:
        sup = self.sup
        sup.refuse_while_unreadable()
        if name not in sup.runners and any(q.name == name for q in sup.quarantined):
            return await self._remove_quarantined(name, purge)
        runner = self.runner(name)
        runner.retired = True  # a racing start or restart is refused from here on
        await runner.stop()
        while runner.active:  # started before the flag was seen: stopped again
            await runner.stop()
        if sup.runners.get(name) is not runner:
            return {"name": name, "purged": False}  # removed meanwhile by another request
        del sup.runners[name]
        sup.persist()
        sup.notes.forget(name)  # a bot added again under the name starts with no figures
        sup.events.write("removed", name, purge=purge)
        runner.processes.release_cgroup()
        if purge:
            await self._purge(runner.paths.root, name)
        return {"name": name, "purged": purge}

    async def _remove_quarantined(self, name: str, purge: bool) -> dict[str, Any]:
        """Forget an unreadable entry: stop whatever still runs under its name, then drop it."""
        from .treestop import stop_processes

        sup = self.sup
        marker = f"{sup.home.id}:{name}"
        strays = procs.marked_processes(f"{sup.home.id}:").get(marker, [])
        await stop_processes(procs.as_processes(strays), 10.0)
        sup.quarantined = tuple(q for q in sup.quarantined if q.name != name)
        sup.warnings = [w for w in sup.warnings if f"{name!r}" not in w]
        sup.persist()
        sup.events.write("removed", name, purge=purge, quarantined=True)
        if purge:
            await self._purge(sup.home.bot_dir(name), name)
        return {"name": name, "purged": purge}

    async def _purge(self, folder: Path, name: str) -> None:
        await asyncio.to_thread(shutil.rmtree, folder, True)
        await asyncio.to_thread(SecretStore(self.sup.home.secrets).purge, name)

    # ------------------------------------------------------------------ status
    async def op_status(self, name: str | None = None) -> dict[str, Any]:
        sup = self.sup
        runners = [self.runner(name)] if name else [sup.runners[n] for n in sorted(sup.runners)]
        bots = [self.sup.notes.add_to(self.sup.modes.annotate(self._fresh_hint(r.status()))) for r in runners]
        return {"supervisor": self._about(), "bots": bots}

    def _about(self) -> dict[str, Any]:
        sup = self.sup
        unreadable, where = sup.unreadable, sup.home.registry
        write_error = sup.write_error
        return {
            "pid": os.getpid(), "version": __version__, "home": str(sup.home.root),
            "uptime_s": round(sup.clock() - sup.started_mono, 3),
            "registry_unreadable": unreadable.to_json() if unreadable else None,
            "warnings": [*([unreadable.message] if unreadable else []),
                         *sup.warnings, *(q.describe(where) for q in sup.quarantined),
                         *([write_error] if write_error else [])],
            "quarantined": [{"name": q.name, "error": q.error, "fix": q.describe(where)}
                            for q in sup.quarantined],
            "last_sleep": ({k: v for k, v in sup.last_sleep.items() if k != "noticed_mono"}
                           if sup.last_sleep else None),
        }

    def _fresh_hint(self, bot: dict[str, Any]) -> dict[str, Any]:
        """A hint advising 'wdbot allow' for a module allowed since then advises the restart:
        computed at each look, so the page never keeps the stale advice (issue 24)."""
        diagnosis = (bot.get("last_exit") or {}).get("diagnosis")
        if not diagnosis or "wdbot allow" not in diagnosis.get("hint", ""):
            return bot
        try:
            pairs = self.sup.allowed_pairs()
        except ConfigError:
            return bot
        from .diagnosis import after_allow  # its tables only for a hint to refresh (issue 29)

        hint = after_allow(diagnosis["hint"], bot["name"], pairs)
        if hint != diagnosis["hint"]:
            last = bot["last_exit"]
            error = last.get("error")  # it quotes the refusal too
            if isinstance(error, str):
                error = error.replace(diagnosis["hint"], hint)
            bot["last_exit"] = {**last, "error": error, "diagnosis": {**diagnosis, "hint": hint}}
        return bot

    # ---------------------------------------------------------------- shutdown
    async def op_shutdown(self, keep_bots: bool = False) -> dict[str, Any]:
        """``wdbot shutdown``: a deliberate stop (its holds outlast any supervisor restart), or
        with ``keep_bots`` a hand-over: the daemon exits ``HANDOVER_EXIT``, which the container
        init and the rendered units answer by starting the next supervisor at once."""
        sup = self.sup
        under_way = sup.shutdown_requested.is_set()  # a shutdown under way keeps its own kind
        if not keep_bots and not (under_way and sup.keep_bots):
            self._hold_now()  # before the reply: a kill -9, a reboot or a full disk loses nothing
        if not keep_bots:
            sup.hold_reason = Hold.SHUTDOWN  # also during a signal's stop: deliberate wins
        if not under_way:
            sup.keep_bots = keep_bots
            sup.handover = keep_bots
        sup.shutdown_requested.set()
        reply: dict[str, Any] = {"pid": os.getpid(), "keep_bots": sup.keep_bots,
                                 "successor": sup.manager.successor if sup.keep_bots else None,
                                 "manager": sup.manager.describe()}
        if not sup.loaded and sup.unreadable is not None:
            reply["left_running"] = sup.unreadable.message  # it knows no bot to stop
        return reply

    def _hold_now(self) -> None:
        """Hold every bot meant to run as ``wdbot shutdown``'s, on disk at once. When the
        registry cannot be written (a full disk) nothing is held and the shutdown fails, so it
        never says "the bots stay stopped" while the next supervisor would start them."""
        runners = self.sup.runners
        before = {name: (r.should_run, r.held, r.held_by) for name, r in runners.items()}
        for runner in runners.values():
            runner.hold(Hold.SHUTDOWN)
        try:
            self.sup.persist_now()
        except RegistryWriteError as exc:
            for name, runner in runners.items():
                runner.should_run, runner.held, runner.held_by = before[name]
            raise RegistryWriteError(f"{exc}; nothing was stopped") from None

    # ----------------------------------------------------------------- helpers
    def _refuse_while_shutting_down(self) -> None:
        if self.sup.shutdown_requested.is_set():
            raise RequestError("the supervisor is shutting down: run the command again once "
                               "'wdbot shutdown' has returned (it starts a new supervisor)")

    def _refuse_quarantined(self, name: str) -> None:
        for bad in self.sup.quarantined:
            if bad.name == name:
                raise RequestError(bad.describe(self.sup.home.registry))

    def runner(self, name: str | None) -> BotRunner:
        """The runner of the bot ``name``, or the error the user reads."""
        runners = self.sup.runners
        if isinstance(name, str) and name not in runners:
            if not self.sup.loaded:
                self.sup.refuse_while_unreadable()  # unknown because unread, not because absent
            self._refuse_quarantined(name)
        if not isinstance(name, str) or name not in runners:
            known = ", ".join(sorted(runners)) or "none"
            raise RequestError(f"no bot named {name!r} (registered: {known}); see 'wdbot status'",
                               usage=True)
        return runners[name]

    def targets(self, names: list[str] | None, all: bool) -> list[BotRunner]:
        if all:
            return list(self.sup.runners.values())
        if not names or not isinstance(names, list):
            raise RequestError("name a bot, or use --all", usage=True)
        return [self.runner(n) for n in names]


def brief(runner: BotRunner) -> dict[str, Any]:
    """The reply's few facts about one bot."""
    status = runner.status()
    return {k: status[k] for k in ("name", "pid", "state", "last_exit")}


def _check_spec(spec: BotSpec) -> None:
    if not BOT_NAME_RE.fullmatch(spec.name):
        raise RequestError(f"bad bot name {spec.name!r}: use letters, digits, '.', '_' or '-'",
                           usage=True)
    path = Path(spec.path)
    if not path.is_absolute() or not path.is_file():
        raise RequestError(f"bot file {spec.path} does not exist", usage=True)
