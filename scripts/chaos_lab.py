"""The place a chaos run happens: its temp folders, its home (on a small tmpfs when it can),
the bots, the ``wdbot`` commands, and the clean-up that runs whatever happened.

Every ``wdbot`` command runs the real CLI against the run's own ``WDBOT_HOME``, offline
(``UV_OFFLINE``, a private uv cache): the bots declare no dependencies.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import chaos_bots
import chaos_world as world
from chaos_invariants import BotPlan, Ident, Snapshot

from watchdog_runtime.common.control import is_running
from watchdog_runtime.common.home import Home

COMMAND_TIMEOUT_S = 120.0
SHUTDOWN_WAIT_S = 10.0
DISK_MB = 64


class Lab:
    """Use as a context manager: leaving it kills what the run started and removes it all."""

    SLEEPER = "sleeper"
    """The healthy bot the run stops and starts again on purpose."""
    CRASHERS = ("crash-a", "crash-b", "crash-c")

    def __init__(self, life_s: float, warm_spare: bool = False) -> None:
        self.life_s = life_s
        self.warm_spare = warm_spare
        """Every bot started with ``--warm-spare`` (issue 29: zero duplicates with spares on)."""
        self.tag = uuid.uuid4().hex[:12]
        self.tmp = Path(tempfile.mkdtemp(prefix="wdchaos-"))
        self.skipped: list[str] = []
        self.notes: list[str] = []
        self.failed_commands = 0
        self.clock: world.Clock | None = None
        self.disk: world.Disk | None = None
        self.clients: list[subprocess.Popen[bytes]] = []
        self.wanted: set[str] = set()
        self.plans: list[BotPlan] = []
        self.reaper: subprocess.Popen[bytes] | None = None
        self.registry_broken = False

    # ------------------------------------------------------------------ set-up, clean-up
    def __enter__(self) -> Lab:
        try:
            self._set_up()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _set_up(self) -> None:
        for folder in ("bots", "helpers", "beats", "uv-cache", "clock"):
            (self.tmp / folder).mkdir()
        why = world.enter_private_mounts()
        if why is None:
            self.clock = world.Clock(self.tmp / "clock")
            self.disk = world.Disk(self.tmp / "disk", DISK_MB)
            self.home = self.disk.mountpoint / "h"
        else:
            self.skipped += [f"clock steps: {why}", f"full disk: {why}"]
            self.home = self.tmp / "h"
        self.home_id = Home(self.home).id
        self.registry = self.home / "registry.json"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("WDBOT_", "UV_")) and k not in ("COLUMNS", "LINES")}
        self.env.update({"WDBOT_HOME": str(self.home), "UV_CACHE_DIR": str(self.tmp / "uv-cache"),
                         "UV_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"})
        self._start_reaper()

    def close(self) -> None:
        """Kill by pid everything the run started, undo the mounts, remove the folders."""
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not strand it
        try:
            self.reap_clients(wait_s=0.0)
            if hasattr(self, "home_id"):
                world.sweep(self.home, self.home_id, self.tmp, self._spare())
            if self.clock is not None:
                self.clock.restore()
            if self.disk is not None:
                self.disk.unmount()
            shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            if self.reaper is not None and self.reaper.stdin is not None:
                self.reaper.stdin.close()  # the folder is gone: it finds nothing to do
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.reaper.wait(30)
            signal.signal(signal.SIGINT, old)

    def _spare(self) -> set[int]:
        return {os.getpid()} | ({self.reaper.pid} if self.reaper is not None else set())

    def _leftovers(self) -> list[Ident]:
        return world.leftovers(self.home_id, self.tmp, self._spare())

    def _start_reaper(self) -> None:
        """A process that cleans up if this one dies without doing so (``kill -9``): it
        waits for the end of its stdin, which only this process holds open."""
        env = dict(self.env, CHAOS_TMP=str(self.tmp))
        self.reaper = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                                       env=env, start_new_session=True)

    # ------------------------------------------------------------------ commands
    def wdbot(self, *args: str, timeout_s: float = COMMAND_TIMEOUT_S) -> bool:
        """Run one ``wdbot`` command; False (and counted) when it fails or times out."""
        try:
            done = subprocess.run([sys.executable, "-m", "watchdog_runtime", *args], env=self.env,
                                  capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.failed_commands += 1
            return False
        if done.returncode != 0:
            self.failed_commands += 1
        return done.returncode == 0

    def background(self, *args: str) -> None:
        """A ``wdbot`` command left running (reaped by :meth:`reap_clients`)."""
        self.clients.append(subprocess.Popen(
            [sys.executable, "-m", "watchdog_runtime", *args], env=self.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True))

    def reap_clients(self, wait_s: float = 30.0) -> None:
        for client in self.clients:
            try:
                client.wait(wait_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(client.pid, signal.SIGKILL)
                client.wait()
        self.clients.clear()

    # ------------------------------------------------------------------ the bots
    def register(self) -> None:
        """Write the bot files, start every bot, and wait (bounded) until each has run."""
        life = f"{self.life_s:.0f}"
        helper = self._write("chaos_helper.py", chaos_bots.HELPER)
        bots: list[tuple[str, str, list[str], list[str], BotPlan]] = []
        for name in ("healthy-a", "healthy-b", self.SLEEPER):
            beat = str(self.tmp / "beats" / name)
            bots.append((name, chaos_bots.HEALTHY, [], [beat, life], BotPlan(name, True, 0.0)))
        quick = ["--backoff-initial", "0.3", "--backoff-max", "2", "--min-uptime", "30"]
        for name in self.CRASHERS:
            bots.append((name, chaos_bots.CRASHER, quick, ["0.3", "1.5"], BotPlan(name, False, 3.0)))
        bots.append(("escaper", chaos_bots.ESCAPER, [*quick, "--stop-timeout", "2"],
                     [str(helper), str(self.tmp / "helpers"), self.tag, life, "4", "8"],
                     BotPlan("escaper", False, 3.0)))
        for name, source, options, args, bot_plan in bots:
            path = self._write(f"{name}.py", source)
            spare = ["--warm-spare"] if self.warm_spare else []
            if not self.wdbot("start", str(path), "--name", name, *options, *spare, "--", *args):
                raise RuntimeError(f"could not start bot {name}; see {self.home}/supervisor.log")
            self.plans.append(bot_plan)
            self.wanted.add(name)
        self._wait_all_ran()

    def _write(self, name: str, source: str) -> Path:
        path = self.tmp / "bots" / name
        path.write_text(source)
        return path

    def _wait_all_ran(self, timeout_s: float = 120.0) -> None:
        seen: set[str] = set()
        deadline = time.monotonic() + timeout_s
        while seen != self.wanted:
            if time.monotonic() > deadline:
                raise RuntimeError(f"bots never ran: {', '.join(sorted(self.wanted - seen))}")
            seen |= {p.bot for p in world.scan_marked(self.home_id) if p.main}
            time.sleep(0.05)

    def toggle_sleeper(self, run: bool) -> None:
        """``wdbot start`` or ``stop`` the sleeper, retried once after bringing a supervisor up."""
        verb = "start" if run else "stop"
        if not self.wdbot(verb, self.SLEEPER):
            self.supervisor_up()
            if not self.wdbot(verb, self.SLEEPER):
                self.notes.append(f"wdbot {verb} {self.SLEEPER} failed twice")
        (self.wanted.add if run else self.wanted.discard)(self.SLEEPER)

    def stop_sleeper_midway(self, wait_s: float) -> bool:
        """``wdbot stop`` the sleeper and kill the supervisor while the sleeper cleans up
        after its SIGTERM; the next supervisor must finish the stop without a second one.
        True when the kill landed mid-stop (else the stop is finished as a plain one)."""
        before = len(self.terms())
        self.background("stop", self.SLEEPER)
        deadline = time.monotonic() + wait_s
        while len(self.terms()) == before and time.monotonic() < deadline:
            time.sleep(0.01)
        sup = world.supervisor(self.home)
        landed = len(self.terms()) > before and sup is not None and self.kill(sup)
        self.reap_clients()
        self.toggle_sleeper(run=False)  # waits for the new supervisor to finish the stop
        return landed

    def terms(self) -> list[int]:
        """Every SIGTERM the healthy bots had, as the pid that had it, in order."""
        pids: list[int] = []
        for path in sorted((self.tmp / "beats").glob("*.terms")):
            pids += [int(word) for word in path.read_text().split()]
        return pids

    def second_sigterms(self) -> list[str]:
        """A line for each process that had more than one SIGTERM."""
        counts = collections.Counter(self.terms())
        return [f"pid {pid} had {n} SIGTERMs" for pid, n in sorted(counts.items()) if n > 1]

    # ------------------------------------------------------------------ the supervisor
    def supervisor_up(self) -> Ident | None:
        """The live supervisor; a read-only command brings one up after an unclean death."""
        sup = world.supervisor(self.home)
        if sup is None:
            self.wdbot("status", "--json", timeout_s=60.0)
            sup = world.supervisor(self.home)
        return sup

    def kill(self, sup: Ident) -> bool:
        return world.alive(sup) and world.kill_and_wait(sup)

    def kill_at_spawn(self, sup: Ident, provoke_after_s: float, wait_s: float,
                      index: int) -> bool | None:
        """Kill ``sup`` as it spawns a bot; None when no spawn came within ``wait_s`` (a
        ``wdbot restart`` of a crash looper is asked for after ``provoke_after_s``)."""
        start = time.monotonic()
        asked = False
        while time.monotonic() - start < wait_s and world.alive(sup):
            child = world.fresh_child(sup, self.registry)
            if child is not None:
                return world.kill_in_spawn_window(sup, self.registry, child)
            if not asked and time.monotonic() - start >= provoke_after_s:
                self.background("restart", self.CRASHERS[index % len(self.CRASHERS)])
                asked = True
            time.sleep(0.001)
        return None

    # ------------------------------------------------------------------ looking
    def snapshot(self) -> Snapshot:
        return Snapshot(time.monotonic(), tuple(world.scan_marked(self.home_id)),
                        tuple(world.scan_helpers(self.tmp / "helpers")),
                        world.read_registry(self.registry), frozenset(self.wanted))

    # ------------------------------------------------------------------ the registry
    def break_registry(self) -> bool:
        """A stray comma in ``registry.json``, written in place as an editor does; False when
        there is no file to break."""
        try:
            text = self.registry.read_text()
        except OSError:
            return False
        if self.registry_broken or '"bots": [' not in text:
            return False
        self.registry.write_text(text.replace('"bots": [', '"bots": [,', 1))
        self.registry_broken = True
        return True

    def restore_registry(self) -> bool:
        """``cp registry.json.last-good registry.json``, as the status says; False when the
        registry was not broken (or the copy failed: tried again at the end of the run)."""
        if not self.registry_broken:
            return False
        try:
            shutil.copyfile(self.registry.with_name("registry.json.last-good"), self.registry)
        except OSError as exc:
            self.notes.append(f"restoring the registry failed: {exc}")
            return False
        self.registry_broken = False
        return True

    def undo_faults(self) -> bool:
        """Free the disk and put the clock back if the run ended early; True when the clock
        was stepped back."""
        if self.disk is not None:
            self.disk.free()
        if self.clock is not None and self.clock.offset_s:
            self.clock.step_to(0)
            return True
        return False

    def shutdown(self) -> list[str]:
        """``wdbot shutdown``, then what of the home is still alive (killed by pid)."""
        self.supervisor_up()
        if not self.wdbot("shutdown"):
            self.notes.append("wdbot shutdown failed")
        deadline = time.monotonic() + SHUTDOWN_WAIT_S
        left = self._leftovers()
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = self._leftovers()
        sup = world.supervisor(self.home)
        out = [f"pid {i.pid}: {_describe(i.pid)}" for i in left]
        if sup is not None:
            out.append(f"the supervisor pid {sup.pid} still runs")
        for ident in left + ([sup] if sup else []):
            world.kill_and_wait(ident, timeout_s=2.0)
        return out


    def restart_as_a_service(self, watch_s: float, look: Callable[[Snapshot, list[str]], None]) -> None:
        """Right after ``wdbot shutdown``: ``wdbot daemon`` at once, as a service manager's
        ``Restart=always``, a container restart policy or a reboot runs it. ``look`` gets a
        snapshot and the bots the event log says were started, every 0.2 s from its start
        until ``watch_s`` after it serves; then it is shut down again (exit 0)."""
        events = self.home / "events.jsonl"
        mark = events.stat().st_size if events.exists() else 0
        with open(self.tmp / "service-daemon.log", "ab") as out:
            daemon = subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "daemon"], env=self.env,
                                      stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                      start_new_session=True)
        self.clients.append(daemon)  # reaped (killed by its group if it lingers) by reap_clients
        served_at, deadline = None, time.monotonic() + COMMAND_TIMEOUT_S
        while time.monotonic() < deadline and daemon.poll() is None:
            look(self.snapshot(), _started_since(events, mark))
            if served_at is None and is_running(Home(self.home)):
                served_at = time.monotonic()
            if served_at is not None and time.monotonic() - served_at >= watch_s:
                break
            time.sleep(0.2)
        look(self.snapshot(), _started_since(events, mark))
        if served_at is None:
            self.notes.append(f"the supervisor restarted after the shutdown did not serve (exit "
                              f"{daemon.poll()}); see service-daemon.log")
        elif not self.wdbot("shutdown"):
            self.notes.append("wdbot shutdown of the restarted supervisor failed")
        self.reap_clients()

    def keep(self, folder: Path) -> None:
        """Copy what explains the run's findings (the supervisor's log, the event log, the
        registry and the bots' logs; no venvs, no sockets) to ``folder``."""
        skip = shutil.ignore_patterns("venv", "venv.*", "*.sock", "sdk", "*.lock")
        shutil.copytree(self.home, folder, ignore=skip, dirs_exist_ok=True)
        self.notes.append(f"the home's logs were kept in {folder}")


def _started_since(events: Path, offset: int) -> list[str]:
    """The bots of the ``start`` events written past ``offset`` of the event log."""
    import json

    try:
        with open(events, "rb") as fh:
            fh.seek(offset)
            lines = fh.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict) and event.get("kind") == "start":
                found.append(str(event.get("bot")))
    return found


def _describe(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0")
    except OSError:
        return "gone"
    return raw.replace(b"\0", b" ").decode(errors="replace")[:120]


def reap() -> None:
    """The reaper's main (see :meth:`Lab._start_reaper`)."""
    sys.stdin.buffer.read()
    tmp = Path(os.environ["CHAOS_TMP"])
    if not tmp.exists():
        return
    home = Path(os.environ["WDBOT_HOME"])
    killed = world.sweep(home, Home(home).id, tmp, {os.getpid()})
    for _ in range(100):  # the clock's stacked bind mounts hold their files busy
        if not world.umount(Path("/proc/stat")):
            break
    with contextlib.suppress(OSError):
        if (tmp / "disk").is_mount():
            world.umount(tmp / "disk", lazy=True)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"chaos reaper: the run died; killed {len(killed)} of its processes, removed {tmp}",
          file=sys.stderr)


if __name__ == "__main__":
    reap()
