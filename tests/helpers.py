"""Test helpers: run the real ``wdbot`` command against a private home, wait with a bound,
clean up by pid, and build tiny wheels so no test needs a package index."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import psutil

WAIT_S = 30.0
T = TypeVar("T")


def wait_until(check: Callable[[], T], what: str, timeout_s: float = WAIT_S) -> T:
    """Return ``check()``'s first truthy value; fail after ``timeout_s`` naming ``what``.

    A bounded handshake on an observable condition (a file, a log line, a state), never a
    blind sleep.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


def wait_for_line(stream: IO[str], text: str, timeout_s: float = WAIT_S) -> str:
    """Read ``stream`` (a child's pipe) until a line containing ``text``; bounded.

    A reader thread, not ``select``: a buffered stream may already hold the line in its own
    buffer, where ``select`` on the descriptor cannot see it.
    """
    found: list[str] = []

    def read() -> None:
        for line in stream:
            if text in line:
                found.append(line)
                return
        found.append("")  # end of stream

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not found:
        raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for a line with {text!r}")
    if not found[0]:
        raise AssertionError(f"stream closed before a line with {text!r}")
    return found[0]


@dataclass
class Result:
    code: int
    out: str
    err: str


class Wdbot:
    """The real CLI in a subprocess, bound to one home."""

    def __init__(self, home: Path, uv_cache: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        # No inherited terminal size either: what the CLI prints must not depend on the runner.
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("WDBOT_", "UV_")) and k not in ("COLUMNS", "LINES")}
        # UV_OFFLINE: no test ever reaches a package index; installs come from local wheels.
        self.env.update({"WDBOT_HOME": str(home), "UV_CACHE_DIR": str(uv_cache),
                         "UV_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"})
        self.env.update(extra_env or {})
        self.prefix: list[str] = []
        """Run every command through this (``nsenter -t PID -m`` for a private mount namespace)."""

    def __call__(self, *args: str, timeout_s: float = 120.0, check: bool = True,
                 input: str | None = None) -> Result:
        done = subprocess.run([*self.prefix, sys.executable, "-m", "watchdog_runtime", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout_s, input=input)
        result = Result(done.returncode, done.stdout, done.stderr)
        if check and done.returncode != 0:
            raise AssertionError(f"wdbot {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return result

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self("status", "--json").out)
        return doc

    def bot(self, name: str) -> dict[str, Any]:
        return next(b for b in self.status()["bots"] if b["name"] == name)

    def wait_state(self, name: str, *states: str, timeout_s: float = WAIT_S) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            bot = self.bot(name)
            return bot if bot["state"] in states else None

        return wait_until(check, f"{name} to reach {'/'.join(states)}", timeout_s)

    def events(self, kind: str, bot: str | None = None) -> list[dict[str, Any]]:
        """The supervisor's events of ``kind`` (for ``bot``), oldest first."""
        path = self.home / "events.jsonl"
        found = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        return [e for e in found if e["kind"] == kind and (bot is None or e["bot"] == bot)]

    def stdout(self, name: str) -> str:
        """What bot ``name`` has written to its stdout log so far."""
        path = self.home / "bots" / name / "logs" / "stdout.log"
        return path.read_text() if path.exists() else ""

    def own_lines(self, name: str) -> list[str]:
        """The lines bot ``name`` wrote itself: its stdout log without the supervisor's marks
        (the start mark is there before the bot's first line)."""
        return [line for line in self.stdout(name).splitlines() if not line.startswith("--- wdbot ")]

    @contextlib.contextmanager
    def daemon(self, log: Path, *args: str, prefix: tuple[str, ...] = (), stdout: Any = None,
               stderr: Any = None) -> Any:
        """``wdbot daemon ARGS`` in the foreground (what a service manager runs), until the
        block ends; yields its Popen once it serves (a handshake on its socket). ``prefix``: a
        command that execs it (``unshare -m``: a private mount namespace). Its output goes to
        ``log`` unless ``stdout``/``stderr`` say otherwise. At the end it is woken (a test may
        have frozen it), then SIGTERM, SIGKILL past a bound."""
        with open(log, "ab") as out:
            proc = subprocess.Popen([*prefix, sys.executable, "-m", "watchdog_runtime", "daemon", *args],
                                    env=self.env, stdout=out if stdout is None else stdout,
                                    stderr=out if stderr is None else stderr, start_new_session=True)
        try:
            wait_until(lambda: proc.poll() is not None or self.serving(), "the foreground daemon to serve")
            assert proc.poll() is None, log.read_text()
            yield proc
        finally:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGCONT)
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)

    def serving(self) -> bool:
        """A supervisor answers on this home's socket (asked without launching one)."""
        if not self.prefix:
            return _answers(self.home)
        probe = ("import sys; from watchdog_runtime.common.control import is_running; "
                 "from watchdog_runtime.common.home import Home; "
                 "sys.exit(0 if is_running(Home.from_env()) else 1)")
        return subprocess.run([*self.prefix, sys.executable, "-c", probe], env=self.env,
                              timeout=60).returncode == 0

    def supervisor_pid(self) -> int | None:
        try:
            text = (self.home / "supervisor.lock").read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text else None

    def teardown(self) -> None:
        """Stop everything this home started, by pid and process group, never by name."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self("shutdown", check=False, timeout_s=60)
        pid = self.supervisor_pid()
        if pid and _is_ours(pid, "watchdog_runtime"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError, ValueError, KeyError):
            reg = json.loads((self.home / "registry.json").read_text())
            for bot in reg["bots"]:
                if bot.get("run"):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(bot["run"]["pid"], signal.SIGKILL)
        kill_marked(self.home)
        remove_cgroups(self.home)


def remove_cgroups(home: Path) -> None:
    """The home's ``wdbot/<home id>`` cgroup folders (a test that killed its supervisor
    leaves them, empty, under the machine's cgroup mount); best effort, never a delegated
    cgroup of someone else's."""
    from watchdog_runtime.common.home import Home
    from watchdog_runtime.supervisor import cgroups

    home_id = Home(home).id
    containment = cgroups.detect(home_id)
    if containment is None or containment.base.name != home_id or not containment.base.is_dir():
        return
    for bot in containment.base.iterdir():
        if bot.is_dir():
            cgroups.kill(bot)  # what the home started and nothing else found (no marker)
    wait_until(lambda: cgroups.remove(containment.base), "the home's cgroups to empty",
               timeout_s=10.0)


def _answers(home: Path) -> bool:
    from watchdog_runtime.common.control import is_running
    from watchdog_runtime.common.home import Home

    return is_running(Home(home))


def roots(home: Path, name: str) -> list[int]:
    """The live copies of bot ``name``: processes carrying its marker whose parent does not
    (a bot's own process and any copy of it; its helpers have a marked parent or are
    orphans of a dead copy, which count too)."""
    marked: dict[int, int] = {}
    for proc in psutil.process_iter(["environ", "ppid", "status"]):
        env = proc.info.get("environ") or {}
        if (env.get("WDBOT_HOME") == str(home) and env.get("WDBOT_BOT_NAME") == name
                and proc.info.get("status") != psutil.STATUS_ZOMBIE):
            marked[proc.pid] = proc.info["ppid"]
    return sorted(pid for pid, parent in marked.items() if parent not in marked)


def _is_ours(pid: int, word: str) -> bool:
    try:
        return any(word in part for part in psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def kill_marked(home: Path) -> None:
    """SIGKILL every process carrying this home's bot marker (escaped grandchildren too)."""
    for proc in psutil.process_iter(["environ"]):
        env = proc.info.get("environ") or {}
        if env.get("WDBOT_HOME") == str(home) and "WDBOT_BOT_ID" in env:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                proc.kill()


def read_or_empty(path: Path) -> str:
    """A file's text, or "" while it is not there yet (what a handshake polls)."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def write_bot(folder: Path, name: str, source: str) -> Path:
    """Write a bot file (dedented) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def build_wheel(folder: Path, dist: str, version: str, files: dict[str, str], metadata: str = "") -> Path:
    """A minimal, valid pure-Python wheel, built without any build backend; ``metadata``:
    more METADATA lines (``Requires-Dist: x\n``, ``Requires-Python: >=3.12\n``)."""
    folder.mkdir(parents=True, exist_ok=True)
    norm = dist.replace("-", "_")
    info = f"{norm}-{version}.dist-info"
    contents = dict(files)
    contents[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n{metadata}"
    contents[f"{info}/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: wdbot-tests\n"
                                 "Root-Is-Purelib: true\nTag: py3-none-any\n")
    records = []
    for name, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        records.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    records.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = "\n".join(records) + "\n"
    path = folder / f"{norm}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in contents.items():
            zf.writestr(name, text)
    return path


_BACKEND = '''
import base64, hashlib, os, zipfile

NAME, VERSION, MODULE = {name!r}, {version!r}, {module!r}


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    norm = NAME.replace("-", "_")
    info = f"{{norm}}-{{VERSION}}.dist-info"
    with open(os.path.join(MODULE, "__init__.py")) as source:
        files = {{f"{{MODULE}}/__init__.py": source.read()}}
    files[f"{{info}}/METADATA"] = f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n"
    files[f"{{info}}/WHEEL"] = ("Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\n"
                               "Tag: py3-none-any\\n")
    rows = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        rows.append(f"{{path}},sha256={{digest.decode()}},{{len(text.encode())}}")
    files[f"{{info}}/RECORD"] = "\\n".join(rows + [f"{{info}}/RECORD,,"]) + "\\n"
    wheel = f"{{norm}}-{{VERSION}}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel
'''


def build_sdist(folder: Path, dist: str, version: str, module: str, source: str = "") -> Path:
    """A source-only distribution whose build needs nothing from an index: an in-tree build
    backend (PEP 517 ``backend-path``) that zips the module into a wheel."""
    import tarfile

    norm = dist.replace("-", "_")
    root = folder / "src" / f"{norm}-{version}"
    (root / module).mkdir(parents=True)
    (root / module / "__init__.py").write_text(source or f"WHERE = {dist!r}\n")
    (root / "PKG-INFO").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{dist}"\nversion = "{version}"\n\n[build-system]\nrequires = []\n'
        f'build-backend = "backend"\nbackend-path = ["."]\n')
    (root / "backend.py").write_text(_BACKEND.format(name=dist, version=version, module=module))
    path = folder / f"{norm}-{version}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(root, arcname=root.name)
    return path


def free_port() -> int:
    """A loopback port no one listens on right now (for a daemon's --metrics)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> str:
    """The text of a daemon's ``/metrics`` on ``port``, or "" while nothing answers."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            return str(response.read().decode())
    except OSError:
        return ""
