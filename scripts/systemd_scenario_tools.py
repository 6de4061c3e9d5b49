"""What the scenario of ``make systemd-check`` (``systemd_scenario``, ``systemd_reboot``)
does with, inside the container: the verdicts file, bounded waits, the unit's state, a bot's
processes. Standard library only (the container's own python3).

No ``wdbot status`` is asked while the supervisor may be down: that command launches a
supervisor when none runs, which would hide the very thing point 1 is about. A bot's
processes are found in /proc by the marker wdbot puts in their environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHECK = Path(sys.argv[1] if len(sys.argv) > 1 else "/wdbot-check")
VENV = Path("/opt/wdbot")
WDBOT = str(VENV / "bin" / "wdbot")
HOME = Path("/var/lib/wdbot-check/home")
BOTS = Path("/var/lib/wdbot-check/bots")
ENV = {**os.environ, "WDBOT_HOME": str(HOME), "PATH": f"{VENV}/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
OUTSIDE = "outside the service"  # main said: "a supervisor already runs for this home outside the service"
TICKER = "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.5)\n"

PHASE = CHECK / "phase"
"""Which boot of the container this is (the reboot steps): written before each reboot."""


def _earlier_steps() -> list[dict[str, str]]:
    """The verdicts of the boots before this one (a reboot keeps the run folder)."""
    try:
        return list(json.loads((CHECK / "results.json").read_text())["steps"])
    except (OSError, ValueError, KeyError):
        return []


steps: list[dict[str, str]] = _earlier_steps()


def save(done: bool = False) -> None:
    """The results so far, replaced atomically (the host may read at any instant)."""
    tmp = CHECK / "results.json.tmp"
    tmp.write_text(json.dumps({"steps": steps, "done": done}, indent=1))
    os.replace(tmp, CHECK / "results.json")


def verdict(key: str, step: str, status: str, evidence: str) -> bool:
    """One step's outcome; ``key`` is what tests/integration/test_real_systemd.py asks for."""
    steps.append({"key": key, "step": step, "status": status, "evidence": evidence})
    print(f"[{status}] {step}: {evidence}", flush=True)
    save()
    return status != "fail"


def run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, env=ENV, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(argv, 124, str(exc.stdout or ""), f"timed out after {timeout} s")


def said(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}: {(done.stdout + done.stderr).strip()}"


def wait_for(probe: Callable[[], Any], bound_s: float, every_s: float = 0.2) -> Any:
    """The first truthy answer of ``probe`` within ``bound_s``, else None."""
    deadline = time.monotonic() + bound_s
    while True:
        answer = probe()
        if answer or time.monotonic() > deadline:
            return answer or None
        time.sleep(every_s)


def unit_show(unit: str) -> dict[str, str]:
    done = run("systemctl", "show", unit, "-p", "ActiveState,SubState,MainPID,NRestarts,RestartUSec")
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def journal_tail(unit: str, lines: int = 8) -> str:
    """The unit's last journal lines, one string (evidence when a step fails)."""
    done = run("journalctl", "-u", unit, "-n", str(lines), "--no-pager", "-o", "cat", timeout=30)
    return " | the unit's last lines: " + done.stdout.strip().replace("\n", " / ")


def seconds(span: str, default: float) -> float:
    """systemd's time span as ``systemctl show`` prints it (``2s``, ``100ms``, ``1min 30s``)."""
    units = {"min": 60.0, "ms": 0.001, "us": 1e-6, "s": 1.0}
    total, found = 0.0, False
    for number, unit in re.findall(r"([0-9.]+)\s*(min|ms|us|s)", span):
        total, found = total + float(number) * units[unit], True
    return total if found else default


def bot_pids(name: str) -> list[int]:
    """Live processes carrying the bot's marker (``WDBOT_BOT_ID=HOMEID:NAME``), zombies left out."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(v.startswith(b"WDBOT_BOT_ID=") and v.endswith(f":{name}".encode())
                                for v in env):
            found.append(int(entry.name))
    return sorted(found)


def cgroup_of(pid: int) -> str:
    """A process's cgroup v2 path and its v1 memory cgroup, from /proc/PID/cgroup."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return "gone"
    return " ".join(line for line in lines if line.startswith("0::") or ":memory:" in line)


def status() -> dict[str, Any] | None:
    """``wdbot status --json``; only where a supervisor is known to run (see the docstring)."""
    done = run(WDBOT, "status", "--json", timeout=30)
    try:
        return json.loads(done.stdout) if done.returncode == 0 else None
    except ValueError:
        return None


def bot_of(doc: dict[str, Any] | None, name: str) -> dict[str, Any]:
    return next((b for b in (doc or {}).get("bots", []) if b["name"] == name), {})


def serving_main(unit: str) -> int:
    """The unit's main pid once it is active (``Type=notify``: its supervisor said READY, so
    it holds the home), else 0. Only then is ``status`` asked: while the unit starts, the
    command would find no supervisor answering and launch one outside the unit, beside
    which the unit's own then fails ("a supervisor already runs") in a restart loop."""
    shown = unit_show(unit)
    return int(shown.get("MainPID") or 0) if shown.get("ActiveState") == "active" else 0


def running_under_service(unit: str, name: str, bound_s: float) -> tuple[int, int] | None:
    """(bot pid, supervisor pid) once the service's own supervisor reports the bot running."""
    def probe() -> tuple[int, int] | None:
        main = serving_main(unit)
        doc = status() if main else None  # never the command that launches a supervisor itself
        bot = bot_of(doc, name)
        if doc and doc["supervisor"]["pid"] == main and bot.get("state") == "running":
            return int(bot["pid"]), main
        return None
    return wait_for(probe, bound_s, 0.5)  # type: ignore[no-any-return]


