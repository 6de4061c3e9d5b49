"""Scripted histories of one bot's lifecycle, through the real ``BotRunner`` (issue 25, step 1).

The runner runs as it does in the supervisor; only the host around it is fake, replaced at
the boundary modules the runner (or the process layer it may delegate to) calls: ``procs``
(spawn, wait for exit, identity), ``identity``, ``treestop`` (stop the tree, kill leftovers,
stop strays), the installs (venv, bot file check, auto-install, reload check) and the clock.
The event loop runs on a manual clock that jumps to the next timer whenever nothing is ready,
so a 30 s backoff takes no time, and ``asyncio.to_thread`` runs the preparation inline.

Each history: a script of processes (how long each lives, how it ends, what it says) and of
commands (start, stop, a reload, a resource sample), in; the (state, event) sequence that
``states.transition`` saw, out. Together they take every edge of ``TRANSITIONS``
(``test_every_edge_is_taken``). No subprocess is ever started: ``subprocess`` and
``os.fork`` raise, and each history asserts that nothing tried.

Names are patched wherever a ``watchdog_runtime`` module bound them (``_patch_everywhere``),
so this file holds, unchanged, for a runner split into modules that import them directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from watchdog_runtime import states
from watchdog_runtime.bot import codecache, entry
from watchdog_runtime.common.home import Home
from watchdog_runtime.config import Config
from watchdog_runtime.installs import repair, venvs
from watchdog_runtime.registry import BotRecord, RunRecord
from watchdog_runtime.spec import BotSpec, RestartPolicy
from watchdog_runtime.states import TRANSITIONS, BotState, Event, ExitReason, StartReason
from watchdog_runtime.supervisor import botfile, exitwatch, identity, procs, reload, treestop
from watchdog_runtime.supervisor.graces import Signalled
from watchdog_runtime.supervisor.lifecycle import ExitInfo
from watchdog_runtime.supervisor.resources import TreeSample
from watchdog_runtime.supervisor.runner import BotRunner, StartFailed

NOT_TAKEN: dict[tuple[BotState, Event], str] = {}
"""Edges of ``TRANSITIONS`` no history takes, each with the reason (none today)."""

FIRST_PID = 4_500_000
"""Above Linux's largest pid (4194304): a fake pid never names a real process."""

START_S = 1000.0
"""The manual clock's reading when a history begins."""


# ------------------------------------------------------------------ the manual clock
class _Clock:
    def __init__(self) -> None:
        self.now = START_S

    def __call__(self) -> float:
        return self.now


class _JumpingSelector:
    """The loop's selector: never blocks; when nothing is ready, the clock jumps to the next
    timer (the timeout the loop asks for). Waiting for nothing at all is a stuck history."""

    def __init__(self, clock: _Clock) -> None:
        self._inner = selectors.DefaultSelector()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = self._inner.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise AssertionError("the history is stuck: nothing ready and no timer left")
        self._clock.now += timeout
        if self._clock.now > START_S + 100_000:
            raise AssertionError("the history runs on and on (100000 s of manual clock)")
        return ready

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Loop(asyncio.SelectorEventLoop):
    def __init__(self, clock: _Clock) -> None:
        self._manual = clock
        super().__init__(_JumpingSelector(clock))  # type: ignore[arg-type]  # a selector by duck typing

    def time(self) -> float:
        return self._manual.now


# ------------------------------------------------------------------ fake processes
@dataclass(frozen=True)
class Run:
    """One scripted process: when and how it ends, what it tells the supervisor meanwhile."""

    exit_s: float | None = None
    """Seconds after the spawn at which it exits on its own; None: it runs until stopped."""
    code: int = 1
    record: dict[str, Any] | None = None
    """The bootstrap's exit record (its ``run_id`` is added), written just before the exit."""
    stderr: str = ""
    says: tuple[tuple[float, str], ...] = ()
    """(seconds after the spawn, ``notify`` kind): heartbeat, recovering, running."""
    deaf: bool = False
    """Ignores the stop signal: only the SIGKILL at the grace's end ends it."""


class FakeProcess:
    def __init__(self, pid: int, script: Run, run_id: str | None) -> None:
        self.pid = pid
        self.ident = identity.ProcessIdentity(pid, 1_700_000_000.0 + pid)
        self.script = script
        self.run_id = run_id
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @property
    def alive(self) -> bool:
        return not self.exited.done()

    def end(self, returncode: int) -> None:
        if not self.exited.done():
            self.exited.set_result(returncode)


class Events:
    def __init__(self) -> None:
        self.written: list[tuple[str, dict[str, Any]]] = []

    def write(self, kind: str, name: str, **fields: Any) -> None:
        self.written.append((kind, fields))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.written]


class World:
    """The fake host of one runner (``RunnerHost``) and the fake OS beneath it."""

    def __init__(self, root: Path, clock: _Clock) -> None:
        self.home = Home(root / "home")
        self.clock = clock
        self.events = Events()
        self.uniform01 = lambda: 0.5
        self.containment = None
        self.shutdown_requested = asyncio.Event()
        self.bot_file = root / "bots" / "bot.py"
        self.bot_file.parent.mkdir(parents=True)
        self.bot_file.write_text("print('trading')\n")
        self.runner: BotRunner | None = None
        self.history: list[tuple[BotState, Event]] = []
        self.scripts: list[Run] = []
        self.procs: dict[int, FakeProcess] = {}
        self.signals: list[tuple[int, int]] = []
        self.spawn_attempts: list[str] = []
        self.prepare_s = 0.0
        """How long a preparation (anything run in a thread) takes on the manual clock."""
        self.venv_errors: list[Exception] = []
        self.file_errors: list[Exception] = []
        self.recover = False
        self.repair_refusal: str | None = None
        self.reload_refusal: str | None = None
        self.leftovers: list[int] = []
        self.on_change: Callable[[list[Path]], Awaitable[None]] | None = None
        self.saved: BotRecord | None = None
        self._next_pid = FIRST_PID

    # -- the host
    def redact(self, value: Any) -> Any:
        return value

    def persist(self) -> None:
        assert self.runner is not None
        self.saved = self.runner.record()

    def persist_now(self) -> None:
        self.persist()

    def hold_soon(self) -> Callable[[], None]:
        return lambda: None  # every persist() here is at once

    def slept_recently(self) -> float | None:
        return None

    def settings(self) -> Config:
        return Config()

    def allowed_pairs(self) -> dict[str, str]:
        return {}

    # -- building
    def spec(self, **changes: Any) -> BotSpec:
        return BotSpec(name="bot", path=str(self.bot_file), **changes)

    def make(self, spec: BotSpec, **record: Any) -> BotRunner:
        self.runner = BotRunner(self, BotRecord(spec=spec, **record))  # type: ignore[arg-type]
        return self.runner

    def process(self, script: Run, run_id: str | None = None) -> FakeProcess:
        """A process that exists now (spawned by the runner, or before the history began)."""
        self._next_pid += 1
        proc = FakeProcess(self._next_pid, script, run_id)
        self.procs[proc.pid] = proc
        loop = asyncio.get_running_loop()
        for after_s, kind in script.says:
            loop.call_later(after_s, self._say, proc, kind)
        if script.exit_s is not None:
            loop.call_later(script.exit_s, self._exit, proc)
        return proc

    def run_record(self, proc: FakeProcess) -> RunRecord:
        return RunRecord(proc.pid, proc.ident.create_time, proc.run_id or "r", "2026-01-01T00:00:00Z")

    def _say(self, proc: FakeProcess, kind: str) -> None:
        if proc.alive and self.runner is not None and proc.run_id is not None:
            self.runner.on_message(proc.run_id, kind)

    def _exit(self, proc: FakeProcess) -> None:
        if not proc.alive or self.runner is None:
            return
        paths = self.runner.paths
        paths.exit_record.parent.mkdir(parents=True, exist_ok=True)
        paths.stderr_log.parent.mkdir(parents=True, exist_ok=True)
        if proc.script.record is not None:
            paths.exit_record.write_text(json.dumps({**proc.script.record, "run_id": proc.run_id}))
        if proc.script.stderr:
            with open(paths.stderr_log, "a") as fh:
                fh.write(proc.script.stderr)
        proc.end(proc.script.code)

    def kill(self, proc: FakeProcess, signum: int) -> None:
        self.signals.append((proc.pid, signum))
        if not proc.script.deaf:
            asyncio.get_running_loop().call_later(0.1, proc.end, -signum)

    # -- procs / identity
    def spawn(self, argv: Iterable[str], *, cwd: Path, env: dict[str, str], stdout: Path,
              stderr: Path) -> Any:
        assert self.scripts, "the runner spawned more processes than the history scripted"
        proc = self.process(self.scripts.pop(0), env["WDBOT_RUN_ID"])
        return SimpleNamespace(pid=proc.pid)

    async def wait_exit(self, ident: identity.ProcessIdentity, popen: Any) -> int | None:
        code = await asyncio.shield(self.procs[ident.pid].exited)
        return code if popen is not None else None

    def is_alive(self, ident: identity.ProcessIdentity) -> bool:
        proc = self.procs.get(ident.pid)
        return proc is not None and proc.ident == ident and proc.alive

    def identify(self, pid: int) -> identity.ProcessIdentity | None:
        proc = self.procs.get(pid)
        return proc.ident if proc is not None and proc.alive else None

    def signal_pid(self, ident: identity.ProcessIdentity, sig: int) -> None:
        self.signals.append((ident.pid, int(sig)))

    def handles(self, idents: Iterable[identity.ProcessIdentity]) -> list[FakeProcess]:
        return [self.procs[i.pid] for i in idents if self.is_alive(i)]

    def as_processes(self, found: Iterable[procs.Marked]) -> list[FakeProcess]:
        return self.handles(m.ident for m in found)

    # -- treestop
    async def stop_tree(self, ident: identity.ProcessIdentity, marker: str,
                        exit_task: asyncio.Future[int | None], grace: treestop.Graces, *,
                        cgroup: Path | None = None) -> tuple[int | None, int | None, list[int]]:
        proc = self.procs[ident.pid]
        term = grace.before([proc.pid])
        grace.sent([proc.pid])
        self.kill(proc, term.signum)
        killed = []
        try:
            await asyncio.wait_for(asyncio.shield(proc.exited), term.seconds)
        except TimeoutError:
            proc.end(-9)
            killed = [proc.pid]
        await exit_task
        code = proc.exited.result()
        return (None, -code, killed) if code < 0 else (code, None, killed)

    async def kill_leftovers(self, pgid: int | None, known: list[Any], marker: str, wait_s: Any,
                             since: Any = None, *, cgroup: Path | None = None) -> list[int]:
        found, self.leftovers = self.leftovers, []
        return found

    async def stop_processes(self, found: list[FakeProcess], wait_s: treestop.Graces) -> list[int]:
        alive = [p for p in found if p.alive]
        if not alive:
            return []
        term = wait_s.before([p.pid for p in alive])
        wait_s.sent([p.pid for p in alive])
        for proc in alive:
            self.kill(proc, term.signum)
        await asyncio.sleep(term.seconds)
        deaf = [p for p in alive if p.alive]
        for proc in deaf:
            proc.end(-9)
        return [p.pid for p in deaf]

    # -- installs, the bot file, reload
    def ensure_venv(self, *args: Any, **kwargs: Any) -> bool:
        if self.venv_errors:
            raise self.venv_errors.pop(0)
        return False

    def check_bot_file(self, *args: Any, **kwargs: Any) -> None:
        if self.file_errors:
            raise self.file_errors.pop(0)

    def check_and_install(self, *args: Any, **kwargs: Any) -> str | None:
        return self.reload_refusal

    # -- the recorder
    def recorder(self, original: Callable[[BotState, Event], BotState]) -> Callable[..., BotState]:
        def transition(state: BotState, event: Event) -> BotState:
            self.history.append((state, event))
            return original(state, event)
        return transition


def _patch_everywhere(mp: pytest.MonkeyPatch, owner: Any, name: str, fake: Any) -> None:
    """Replace ``owner.name`` in ``owner`` and in every ``watchdog_runtime`` module that bound
    it (``from .procs import spawn``), however the runner is split."""
    original = getattr(owner, name)
    mp.setattr(owner, name, fake)
    for module in list(sys.modules.values()):
        if not getattr(module, "__name__", "").startswith("watchdog_runtime"):
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                mp.setattr(module, attr, fake)


def _install(mp: pytest.MonkeyPatch, world: World) -> None:
    for owner, name, fake in (
        (procs, "spawn", world.spawn), (procs, "wait_exit", world.wait_exit),
        (exitwatch, "exit_future", lambda ident, popen: asyncio.ensure_future(world.wait_exit(ident, popen))),
        (procs, "is_alive", world.is_alive), (identity, "identify", world.identify),
        (identity, "age_s", lambda ident: 30.0), (procs, "signal_pid", world.signal_pid),
        (procs, "fd_soft_limit", lambda ident: 1024), (procs, "machine_memory", lambda: 8 << 30),
        (procs, "handles", world.handles), (procs, "as_processes", world.as_processes),
        (treestop, "stop_tree", world.stop_tree), (treestop, "kill_leftovers", world.kill_leftovers),
        (treestop, "stop_processes", world.stop_processes),
        (venvs, "ensure_venv", world.ensure_venv), (venvs, "install_in_place", lambda *a, **k: False),
        (botfile, "check_bot_file", world.check_bot_file),
        (entry, "defines_recover", lambda path: world.recover),
        (codecache.RecoverMemo, "__call__", lambda memo, path: world.recover),  # no real file edit
        (reload, "check_and_install", world.check_and_install),
        (states, "transition", world.recorder(states.transition)),
    ):
        _patch_everywhere(mp, owner, name, fake)

    def before_start(installer: Any, spec: BotSpec, budget: Any) -> repair.Outcome:
        return repair.Outcome(budget)

    def after_missing(installer: Any, spec: BotSpec, missing: Any, budget: Any) -> repair.Outcome:
        return repair.Outcome(budget, refused=world.repair_refusal, module=missing.name)

    def watch(watcher: Any, folder: Path, ignored: Any, on_change: Any) -> None:
        world.on_change = on_change

    async def unwatch(watcher: Any) -> None:
        return None

    async def inline(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        await asyncio.sleep(world.prepare_s)
        return result

    mp.setattr(repair.AutoInstaller, "before_start", before_start)
    mp.setattr(repair.AutoInstaller, "after_missing", after_missing)
    mp.setattr(reload.SourceWatcher, "start", watch)
    mp.setattr(reload.SourceWatcher, "stop", unwatch)
    mp.setattr(asyncio, "to_thread", inline)

    def no_process(*args: Any, **kwargs: Any) -> Any:
        world.spawn_attempts.append(repr(args)[:200])
        raise AssertionError("a history started a real process")

    mp.setattr(subprocess.Popen, "_execute_child", no_process)
    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system", "execv", "execve"):
        if hasattr(os, name):
            mp.setattr(os, name, no_process)


Story = Callable[[World], Awaitable[None]]


def play(root: Path, story: Story) -> World:
    """Run ``story`` against a fresh world; its (state, event) history is ``world.history``."""
    clock = _Clock()
    loop = _Loop(clock)
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda loop, context: errors.append(context))
    with pytest.MonkeyPatch.context() as mp:
        world = loop.run_until_complete(_world(root, clock))
        _install(mp, world)
        try:
            loop.run_until_complete(story(world))
            loop.run_until_complete(_quiet(world))
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
    assert world.spawn_attempts == []
    assert errors == [], "the loop saw an exception no one handled"
    return world


async def _world(root: Path, clock: _Clock) -> World:
    return World(root, clock)


async def _quiet(world: World) -> None:
    """Let what the runner still does settle (a sweep it started), then let go of the bot."""
    await asyncio.sleep(60)
    if world.runner is not None:
        await world.runner.detach()


async def at(seconds: float) -> None:
    """Sleep until ``seconds`` after the start of the history (manual clock)."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, START_S + seconds - loop.time()))


def crash(after_s: float = 2.0) -> Run:
    return Run(exit_s=after_s, code=1, stderr="Traceback (most recent call last):\nValueError: boom\n",
               record={"code": 1, "type": "ValueError", "message": "boom", "phase": "run"})


MISSING = Run(exit_s=1.0, code=1,
              stderr=("Traceback (most recent call last):\n  File \"bot.py\", line 1, in <module>\n"
                      "    import ccxt\nModuleNotFoundError: No module named 'ccxt'\n"),
              record={"code": 1, "type": "ModuleNotFoundError", "message": "No module named 'ccxt'",
                      "name": "ccxt", "phase": "run", "line": "import ccxt"})

SYNTAX = Run(exit_s=0.5, code=1, record={"code": 1, "type": "SyntaxError", "message": "invalid syntax",
                                         "phase": "compile"})

STAYS = Run()

BEATING = Run(says=tuple((float(t), "heartbeat") for t in range(1, 100)))


def sample(rss_bytes: int, at_s: float) -> TreeSample:
    return TreeSample(at=at_s, rss_bytes=rss_bytes, num_fds=10, threads=1, cpu_seconds=0.0, procs=1)


# ------------------------------------------------------------------ the histories
S, E = BotState, Event
START = [(S.STOPPED, E.START), (S.STARTING, E.SPAWNED)]
STOP_RUNNING = [(S.RUNNING, E.STOP), (S.STOPPING, E.STOPPED)]
RESTART = [(S.BACKOFF, E.BACKOFF_ELAPSED), (S.STARTING, E.SPAWNED)]


async def crash_backoff(w: World) -> None:
    """Two crashes, each followed by a backoff and a restart; then a stop."""
    w.scripts = [crash(), crash(), STAYS]
    r = w.make(w.spec())
    await r.start(StartReason.FIRST_START)
    await at(30)
    assert r.state is S.RUNNING and r.restarts == 2 and r.failures == 2
    assert r.start_reason is StartReason.CRASH
    assert r.last_exit is not None and r.last_exit.error == "ValueError: boom"
    await r.stop()
    assert r.state is S.STOPPED and not r.should_run
    assert w.events.kinds().count("exit") == 2


async def clean_exit_always(w: World) -> None:
    """``--restart always``: a clean exit restarts."""
    w.scripts = [Run(exit_s=2.0, code=0), STAYS]
    r = w.make(w.spec(restart=RestartPolicy.ALWAYS))
    await r.start(StartReason.FIRST_START)
    await at(30)
    assert r.state is S.RUNNING and r.start_reason is StartReason.RESTART and r.restarts == 1
    await r.stop()


async def clean_exit_on_failure(w: World) -> None:
    """``--restart on-failure``: a clean exit ends ``exited``; started again, then stopped."""
    w.scripts = [Run(exit_s=2.0, code=0), Run(exit_s=2.0, code=0)]
    r = w.make(w.spec(restart=RestartPolicy.ON_FAILURE))
    await r.start(StartReason.FIRST_START)
    await at(10)
    assert r.state is S.EXITED and not r.should_run
    await r.start(StartReason.RESTART)
    await at(20)
    assert r.state is S.EXITED
    await r.stop()
    assert r.state is S.STOPPED


async def clean_exit_never(w: World) -> None:
    """``--restart never``: a clean exit ends ``exited``, a crash ``errored``."""
    w.scripts = [Run(exit_s=2.0, code=0), crash()]
    r = w.make(w.spec(restart=RestartPolicy.NEVER))
    await r.start(StartReason.FIRST_START)
    await at(10)
    assert r.state is S.EXITED
    await r.start(StartReason.RESTART)
    await at(20)
    assert r.state is S.ERRORED and r.restarts == 0


async def syntax_error(w: World) -> None:
    """A syntax error found before the spawn fails the start (``errored``, no process); the
    fixed file starts; a run whose bootstrap reports a syntax error ends ``errored`` too."""
    w.file_errors = [botfile.BotFileError("bot.py line 1: invalid syntax", syntax=True)]
    w.scripts = [SYNTAX]
    r = w.make(w.spec(restart=RestartPolicy.ALWAYS))
    with pytest.raises(StartFailed, match="invalid syntax"):
        await r.start(StartReason.FIRST_START)
    assert r.state is S.ERRORED and r.last_exit is not None
    assert r.last_exit.reason.value == "syntax_error" and w.procs == {}
    await r.start(StartReason.RESTART)
    await at(10)
    assert r.state is S.ERRORED and r.last_exit is not None
    assert r.last_exit.reason.value == "syntax_error" and len(w.procs) == 1
    await r.stop()
    assert r.state is S.STOPPED


async def prepare_heals(w: World) -> None:
    """The venv cannot be built (an index that is down): backoff, a retry, then it runs."""
    w.venv_errors = [venvs.VenvError("cannot reach the index"), OSError("disk full")]
    w.scripts = [STAYS]
    r = w.make(w.spec())
    with pytest.raises(StartFailed, match="cannot reach the index"):
        await r.start(StartReason.FIRST_START)
    assert r.state is S.BACKOFF and r.status()["next_start_in_s"] is not None
    await at(30)
    assert r.state is S.RUNNING and r.restarts == 2
    assert w.events.kinds().count("prepare_failed") == 2
    await r.stop()


async def prepare_needs_a_person(w: World) -> None:
    """A venv that no retry can build (no such Python): ``errored`` at once."""
    w.venv_errors = [venvs.VenvError("no python 3.99", permanent=True)]
    r = w.make(w.spec())
    with pytest.raises(StartFailed, match="no python 3.99"):
        await r.start(StartReason.FIRST_START)
    assert r.state is S.ERRORED and not r.should_run


async def missing_module(w: World) -> None:
    """The bot dies of a missing module, while running and then while recovering: each time
    its venv is repaired and it starts again at once (``repaired``: issue 26, no restart
    counted for a repair)."""
    w.scripts = [MISSING, MISSING, MISSING, STAYS]
    r = w.make(w.spec())
    await r.start(StartReason.FIRST_START)
    await at(1.5)
    assert r.state is S.RUNNING and r.start_reason is StartReason.REPAIRED
    w.recover = True  # the bot file gained recover() (read while preparing)
    await at(10)
    assert r.state is S.RECOVERING and r.restarts == 0
    await r.stop()


async def missing_module_refused(w: World) -> None:
    """A missing module auto-install may not install: ``errored``, saying why."""
    w.scripts = [MISSING]
    w.repair_refusal = "ccxt is not on the allowlist: wdbot allow ccxt"
    r = w.make(w.spec())
    await r.start(StartReason.FIRST_START)
    await at(10)
    assert r.state is S.ERRORED and not r.should_run
    assert r.last_exit is not None and "allowlist" in (r.last_exit.error or "")


async def stop_during_prepare(w: World) -> None:
    """A stop while the venv is being prepared: nothing is spawned."""
    w.prepare_s = 5.0
    r = w.make(w.spec())
    starting = asyncio.ensure_future(r.start(StartReason.FIRST_START))
    await at(1)
    assert r.state is S.STARTING
    await r.stop()
    with pytest.raises(StartFailed):
        await starting
    assert r.state is S.STOPPED and w.procs == {}


async def stop_during_backoff(w: World) -> None:
    """A stop while waiting out a backoff: no restart."""
    w.scripts = [crash()]
    r = w.make(w.spec(backoff_initial_s=60.0))
    await r.start(StartReason.FIRST_START)
    await at(5)
    assert r.state is S.BACKOFF
    await r.stop()
    assert r.state is S.STOPPED and len(w.procs) == 1


async def stop_during_repair(w: World) -> None:
    """A stop while a missing module is being installed: no restart after the install."""
    w.scripts = [MISSING]
    r = w.make(w.spec())
    await r.start(StartReason.FIRST_START)
    w.prepare_s = 5.0
    await at(2)
    assert r.state is S.STARTING
    await r.stop()
    assert r.state is S.STOPPED and len(w.procs) == 1


async def reload_during_backoff(w: World) -> None:
    """``--watch``: a saved file ends a backoff at once (reason ``reload``); a later edit
    restarts the running bot; a broken edit leaves it alone."""
    w.scripts = [crash(), STAYS, STAYS]
    r = w.make(w.spec(watch=True, backoff_initial_s=300.0))
    await r.start(StartReason.FIRST_START)
    await at(5)
    assert r.state is S.BACKOFF and w.on_change is not None
    await w.on_change([w.bot_file])
    await at(6)
    assert r.state is S.RUNNING and r.start_reason is StartReason.RELOAD
    await w.on_change([w.bot_file])
    await at(10)
    assert r.state is S.RUNNING and len(w.procs) == 3 and r.start_reason is StartReason.RELOAD
    w.reload_refusal = "bot.py line 2: invalid syntax"
    await w.on_change([w.bot_file])
    assert r.reload_error == "bot.py line 2: invalid syntax" and len(w.procs) == 3
    await r.stop()


async def limit_breach(w: World) -> None:
    """Over ``--max-memory`` for two samples in a row: stopped and started again."""
    w.scripts = [STAYS, STAYS]
    r = w.make(w.spec(max_memory_bytes=100 << 20, min_uptime_s=5.0))
    await r.start(StartReason.FIRST_START)
    settings = Config().resources
    await at(10)
    ident = r.live_ident
    assert ident is not None
    r.observe(ident, sample(50 << 20, START_S + 10), settings)
    assert r.near_limit()
    r.observe(ident, sample(200 << 20, START_S + 12), settings)
    r.observe(ident, sample(200 << 20, START_S + 14), settings)
    await at(20)
    assert r.state is S.RUNNING and r.start_reason is StartReason.MEMORY_LIMIT
    assert "limit_restart" in w.events.kinds() and r.last_exit is not None
    assert r.last_exit.reason.value == "memory_limit"
    await r.stop()


async def limit_breach_never(w: World) -> None:
    """``--restart never``: a limit breach ends ``errored``."""
    w.scripts = [STAYS]
    r = w.make(w.spec(max_fds=20, restart=RestartPolicy.NEVER))
    await r.start(StartReason.FIRST_START)
    await at(10)
    ident = r.live_ident
    assert ident is not None
    for t in (10, 12):
        r.observe(ident, TreeSample(at=START_S + t, rss_bytes=1, num_fds=50, threads=1,
                                    cpu_seconds=0.0, procs=1), Config().resources)
    await at(20)
    assert r.state is S.ERRORED and r.last_exit is not None and r.last_exit.reason.value == "fd_limit"


async def hang(w: World) -> None:
    """Heartbeats stop: the stacks are dumped (SIGUSR1), the bot is stopped and restarted."""
    w.scripts = [Run(says=((1.0, "heartbeat"), (2.0, "heartbeat")), deaf=True), BEATING]
    r = w.make(w.spec(heartbeat_timeout_s=5.0, stop_timeout_s=3.0))
    await r.start(StartReason.FIRST_START)
    await at(1.5)
    assert r.status()["heartbeat_age_s"] == 0.5
    await at(30)
    assert r.state is S.RUNNING and r.start_reason is StartReason.HANG
    assert r.last_exit is not None and r.last_exit.reason.value == "hang"
    first = min(w.procs)
    assert (first, 10) in w.signals  # SIGUSR1: the stack dump
    assert ("killed_leftovers", {"pids": [first]}) in w.events.written  # deaf: SIGKILL
    await r.stop()


async def recover_success(w: World) -> None:
    """A bot with ``recover(ctx)``: recovering until it reports running; it may recover
    again later; a clean exit during a recovery ends ``exited``."""
    w.recover = True
    w.scripts = [Run(says=((1.0, "running"), (5.0, "recovering"), (6.0, "running"),
                           (8.0, "recovering")), exit_s=9.0, code=0), Run(says=((1.0, "running"),))]
    r = w.make(w.spec())
    await r.start(StartReason.FIRST_START)
    assert r.state is S.RECOVERING
    await at(3)
    assert r.state is S.RUNNING
    await at(20)
    assert r.state is S.EXITED
    assert w.events.kinds().count("recovered") == 2
    await r.start(StartReason.RESTART)
    assert r.state is S.RECOVERING
    await r.stop()


async def recover_failure(w: World) -> None:
    """``recover(ctx)`` raises: backoff and a new try, until ``max_recovery_failures``."""
    w.recover = True
    failed = Run(exit_s=1.0, code=1, record={"code": 1, "type": "RuntimeError", "message": "no book",
                                             "phase": "recover"})
    r = w.make(w.spec(max_recovery_failures=2))
    w.scripts = [failed, failed]
    await r.start(StartReason.FIRST_START)
    await at(30)
    assert r.state is S.ERRORED and r.recovery_failures == 2
    assert w.events.kinds().count("recovery_failed") == 2


async def adoption_with_strays(w: World) -> None:
    """A new supervisor finds the bot's process alive beside a copy of an older run: it
    adopts its own, stops the copy, and supervises the adopted process as its own."""
    own = w.process(crash(5.0), "run-own")
    stray = w.process(STAYS, "run-old")
    w.scripts = [STAYS]
    r = w.make(w.spec(), state=S.RUNNING, should_run=True, run=w.run_record(own))
    w.leftovers = []
    r.resume([procs.Marked(own.ident, "run-own", True), procs.Marked(stray.ident, "run-old", True)])
    await at(1)
    assert r.state is S.RUNNING and r.process_ident == own.ident
    assert not stray.alive and "orphans_stopped" in w.events.kinds()
    await at(30)
    assert r.state is S.RUNNING and r.restarts == 1 and len(w.procs) == 3
    await r.stop()


async def adopt_resting(w: World) -> None:
    """A live process of a bot recorded at rest (exited, errored, stopped) and not meant to
    run: adopted, then stopped."""
    for i, rest in enumerate((S.EXITED, S.ERRORED, S.STOPPED)):
        proc = w.process(STAYS, f"run-{i}")
        r = w.make(w.spec(), state=rest, should_run=False, run=w.run_record(proc))
        r.resume([procs.Marked(proc.ident, proc.run_id, True)])
        await at(5 * (i + 1))
        assert r.state is S.STOPPED and not proc.alive


async def resume_mid_backoff(w: World) -> None:
    """A supervisor restarted while the bot waited out a backoff: it starts at the deadline
    it had, for the reason it had."""
    w.scripts = [STAYS]
    last = ExitInfo(None, 9, ExitReason.HANG, None, "2026-01-01T00:00:00Z")
    r = w.make(w.spec(), state=S.BACKOFF, should_run=True, backoff=identity.Deadline.after(20.0),
               last_exit=last, restarts=3)
    r.resume([])
    await at(5)
    assert r.state is S.BACKOFF and w.procs == {}
    await at(30)
    assert r.state is S.RUNNING and r.start_reason is StartReason.HANG


async def resume_mid_stop(w: World) -> None:
    """A supervisor died while stopping the bot: the next one adopts it and finishes the
    stop; a helper it had signalled is stopped once the bot is gone."""
    proc = w.process(Run(deaf=True), "run-1")
    helper = w.process(Run(deaf=True), None)
    signalled = (Signalled(helper.ident, identity.Deadline.after(2.0)),)
    r = w.make(w.spec(stop_timeout_s=4.0), state=S.STOPPING, should_run=False, run=w.run_record(proc),
               signalled=signalled)
    r.resume([procs.Marked(proc.ident, "run-1", True)])
    await at(10)
    assert r.state is S.STOPPED and not proc.alive
    assert r.last_exit is not None and r.last_exit.signal == 9
    r2 = w.make(w.spec(stop_timeout_s=4.0), state=S.STOPPING, should_run=False, signalled=signalled)
    r2.resume([])
    await at(20)
    assert not helper.alive and r2.state is S.STOPPED
    assert ("killed_leftovers", {"pids": [helper.pid]}) in w.events.written


HISTORIES: dict[str, tuple[Story, list[tuple[BotState, Event]]]] = {
    "crash_backoff": (crash_backoff, [
        *START, (S.RUNNING, E.EXIT_RESTART), *RESTART, (S.RUNNING, E.EXIT_RESTART), *RESTART,
        *STOP_RUNNING]),
    "clean_exit_always": (clean_exit_always, [
        *START, (S.RUNNING, E.EXIT_RESTART), *RESTART, *STOP_RUNNING]),
    "clean_exit_on_failure": (clean_exit_on_failure, [
        *START, (S.RUNNING, E.EXIT_DONE), (S.EXITED, E.START), (S.STARTING, E.SPAWNED),
        (S.RUNNING, E.EXIT_DONE), (S.EXITED, E.STOP), (S.STOPPING, E.STOPPED)]),
    "clean_exit_never": (clean_exit_never, [
        *START, (S.RUNNING, E.EXIT_DONE), (S.EXITED, E.START), (S.STARTING, E.SPAWNED),
        (S.RUNNING, E.EXIT_FATAL)]),
    "syntax_error": (syntax_error, [
        (S.STOPPED, E.START), (S.STARTING, E.PREPARE_FAILED), (S.ERRORED, E.START),
        (S.STARTING, E.SPAWNED), (S.RUNNING, E.EXIT_FATAL), (S.ERRORED, E.STOP),
        (S.STOPPING, E.STOPPED)]),
    "prepare_heals": (prepare_heals, [
        (S.STOPPED, E.START), (S.STARTING, E.PREPARE_RETRY), (S.BACKOFF, E.BACKOFF_ELAPSED),
        (S.STARTING, E.PREPARE_RETRY), *RESTART, *STOP_RUNNING]),
    "prepare_needs_a_person": (prepare_needs_a_person, [
        (S.STOPPED, E.START), (S.STARTING, E.PREPARE_FAILED)]),
    "missing_module": (missing_module, [
        *START, (S.RUNNING, E.EXIT_REPAIR), (S.STARTING, E.SPAWNED), (S.RUNNING, E.EXIT_REPAIR),
        (S.STARTING, E.RECOVERY_STARTED), (S.RECOVERING, E.EXIT_REPAIR),
        (S.STARTING, E.RECOVERY_STARTED), (S.RECOVERING, E.STOP), (S.STOPPING, E.STOPPED)]),
    "missing_module_refused": (missing_module_refused, [
        *START, (S.RUNNING, E.EXIT_REPAIR), (S.STARTING, E.PREPARE_FAILED)]),
    "stop_during_prepare": (stop_during_prepare, [
        (S.STOPPED, E.START), (S.STARTING, E.STOP), (S.STOPPING, E.STOPPED)]),
    "stop_during_backoff": (stop_during_backoff, [
        *START, (S.RUNNING, E.EXIT_RESTART), (S.BACKOFF, E.STOP), (S.STOPPING, E.STOPPED)]),
    "stop_during_repair": (stop_during_repair, [
        *START, (S.RUNNING, E.EXIT_REPAIR), (S.STARTING, E.STOP), (S.STOPPING, E.STOPPED)]),
    "reload_during_backoff": (reload_during_backoff, [
        *START, (S.RUNNING, E.EXIT_RESTART), *RESTART, (S.RUNNING, E.STOP),
        (S.STOPPING, E.EXIT_RESTART), *RESTART, *STOP_RUNNING]),
    "limit_breach": (limit_breach, [
        *START, (S.RUNNING, E.STOP), (S.STOPPING, E.EXIT_RESTART), *RESTART, *STOP_RUNNING]),
    "limit_breach_never": (limit_breach_never, [
        *START, (S.RUNNING, E.STOP), (S.STOPPING, E.EXIT_FATAL)]),
    "hang": (hang, [
        *START, (S.RUNNING, E.STOP), (S.STOPPING, E.EXIT_RESTART), *RESTART, *STOP_RUNNING]),
    "recover_success": (recover_success, [
        (S.STOPPED, E.START), (S.STARTING, E.RECOVERY_STARTED), (S.RECOVERING, E.RECOVERED),
        (S.RUNNING, E.RECOVERY_STARTED), (S.RECOVERING, E.RECOVERED),
        (S.RUNNING, E.RECOVERY_STARTED), (S.RECOVERING, E.EXIT_DONE), (S.EXITED, E.START),
        (S.STARTING, E.RECOVERY_STARTED), (S.RECOVERING, E.STOP), (S.STOPPING, E.STOPPED)]),
    "recover_failure": (recover_failure, [
        (S.STOPPED, E.START), (S.STARTING, E.RECOVERY_STARTED), (S.RECOVERING, E.EXIT_RESTART),
        (S.BACKOFF, E.BACKOFF_ELAPSED), (S.STARTING, E.RECOVERY_STARTED),
        (S.RECOVERING, E.EXIT_FATAL)]),
    "adoption_with_strays": (adoption_with_strays, [
        (S.STOPPED, E.ADOPTED), (S.RUNNING, E.EXIT_RESTART), *RESTART, *STOP_RUNNING]),
    "adopt_resting": (adopt_resting, [
        (S.EXITED, E.ADOPTED), *STOP_RUNNING, (S.ERRORED, E.ADOPTED), *STOP_RUNNING,
        (S.STOPPED, E.ADOPTED), *STOP_RUNNING]),
    "resume_mid_backoff": (resume_mid_backoff, [*RESTART]),
    "resume_mid_stop": (resume_mid_stop, [(S.STOPPED, E.ADOPTED), *STOP_RUNNING]),
}


@pytest.mark.parametrize("name", list(HISTORIES))
def test_history(name: str, tmp_path: Path) -> None:
    """One scripted history: the (state, event) pairs ``transition`` saw, in order."""
    story, expected = HISTORIES[name]
    world = play(tmp_path, story)
    assert [(s.value, e.value) for s, e in world.history] == [(s.value, e.value) for s, e in expected]


def test_every_edge_is_taken(tmp_path: Path) -> None:
    """The histories together take every edge of ``TRANSITIONS`` but the few listed."""
    taken: set[tuple[BotState, Event]] = set()
    for name, (story, _) in HISTORIES.items():
        taken |= set(play(tmp_path / name, story).history)
    assert set(NOT_TAKEN) <= set(TRANSITIONS)
    missing = set(TRANSITIONS) - set(NOT_TAKEN) - taken
    assert not missing, sorted(f"{s.value} --{e.value}-->" for s, e in missing)
    assert taken <= set(TRANSITIONS)


def test_no_process_can_start(tmp_path: Path) -> None:
    """The fake host really is one: inside a history, a real process cannot start."""
    async def story(w: World) -> None:
        with pytest.raises(AssertionError, match="real process"):
            subprocess.Popen(["true"])  # noqa: ASYNC220 - it must raise before anything blocks
        with pytest.raises(AssertionError, match="real process"):
            os.fork()
        w.spawn_attempts.clear()

    play(tmp_path, story)
