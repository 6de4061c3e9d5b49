"""The scenario of ``make systemd-check``, run as root INSIDE a container booted with a real
systemd (Debian 12's systemd 252), by the oneshot unit ``wdbot-check.service`` that
``systemd_rootfs`` bakes into the root file system. Standard library only: it runs on the
container's own python3, and drives the real ``wdbot`` installed in /opt/wdbot.

Each step is a verdict (pass, fail or skip) with its evidence, appended to
``CHECK/results.json`` as soon as it is known (read from outside, see ``systemd_check``), so a
step that hangs still leaves the ones before it. Every wait has a bound.

Between steps no ``wdbot status`` is asked while the supervisor may be down: that command
launches a supervisor when none runs, which would hide the very thing point 1 is about. A
bot's processes are found in /proc by the marker wdbot puts in their environment.
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
OUTSIDE = "a supervisor already runs for this home outside the service"
TICKER = "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.5)\n"
# Grows by 8 MB every 50 ms up to 400 MB (a bound, should the limit not hold), then waits.
HOG = ("import time\nheap = []\nfor _ in range(50):\n    heap.append(bytearray(8 << 20))\n"
       "    time.sleep(0.05)\nwhile True:\n    time.sleep(1)\n")

steps: list[dict[str, str]] = []


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


def running_under_service(unit: str, name: str, bound_s: float) -> tuple[int, int] | None:
    """(bot pid, supervisor pid) once the service's own supervisor reports the bot running."""
    def probe() -> tuple[int, int] | None:
        main = int(unit_show(unit).get("MainPID") or 0)
        doc = status() if main else None  # never the command that launches a supervisor itself
        bot = bot_of(doc, name)
        if doc and doc["supervisor"]["pid"] == main and bot.get("state") == "running":
            return int(bot["pid"]), main
        return None
    return wait_for(probe, bound_s, 0.5)  # type: ignore[no-any-return]


# ------------------------------------------------------------------ the steps
def install_wdbot() -> bool:
    done = run(str(VENV / "bin" / "pip"), "install", "--quiet", "--no-deps", "--no-index",
               "--no-build-isolation", str(CHECK / "src"), timeout=240)
    version = run(WDBOT, "--version").stdout.strip()
    systemd = run("systemctl", "--version").stdout.splitlines()[:1]
    return verdict("install", "install wdbot from the worktree",
                   "pass" if done.returncode == 0 else "fail",
                   f"{version or said(done)} in {VENV}, under {' '.join(systemd)}")


def service_install() -> str | None:
    """Point 11: the unit installed and started, without a word about an outside supervisor."""
    done = run(WDBOT, "service", "install", "--system", timeout=120)
    unit = next((Path(w.split()[1]).name for w in done.stdout.splitlines() if w.startswith("wrote ")), "")
    active = unit and wait_for(lambda: unit_show(unit).get("ActiveState") == "active", 30)
    ok = done.returncode == 0 and bool(active) and OUTSIDE not in done.stdout + done.stderr
    verdict("service_install", "point 11: service install --system says nothing of an outside supervisor",
            "pass" if ok else "fail", f"{said(done)} | {unit}: {unit_show(unit) if unit else '-'}")
    return unit if done.returncode == 0 and active else None


def start_bot(unit: str) -> tuple[int, int] | None:
    BOTS.mkdir(parents=True, exist_ok=True)
    (BOTS / "ticker.py").write_text(TICKER)
    done = run(WDBOT, "start", str(BOTS / "ticker.py"), "--name", "ticker", timeout=120)
    found = running_under_service(unit, "ticker", 60)
    verdict("start", "wdbot start: the bot runs under the service's supervisor",
            "pass" if found else "fail",
            f"{said(done)} | bot pid, supervisor pid: {found}; {unit}: {unit_show(unit)}")
    return found


def kill_supervisor(unit: str, bot_pid: int, old_main: int) -> None:
    done = run("systemctl", "kill", "-s", "KILL", "--kill-who=main", unit)
    anew = wait_for(lambda: int(unit_show(unit).get("MainPID") or 0) not in (0, old_main)
                    and unit_show(unit).get("ActiveState") == "active", 30)
    found = running_under_service(unit, "ticker", 30) if anew else None
    ok = bool(found) and found is not None and found[0] == bot_pid and bot_pids("ticker") == [bot_pid]
    verdict("kill_supervisor",
            "systemctl kill -s KILL of the supervisor: the restarted one adopts the bot",
            "pass" if ok else "fail",
            f"{said(done)} | supervisor {old_main} -> {found[1] if found else '?'}, bot pid {bot_pid} -> "
            f"{found[0] if found else '?'}, marked processes {bot_pids('ticker')}; {unit_show(unit)}")


def shutdown_holds(unit: str) -> None:
    """Point 1: after ``wdbot shutdown`` the bot stays down whatever systemd restarts."""
    before = unit_show(unit)
    done = run(WDBOT, "shutdown", timeout=150)
    restart_s = seconds(before.get("RestartUSec", ""), 2.0)
    window = max(6 * restart_s, 10.0)
    seen, states = [], set()
    end = time.monotonic() + window
    while time.monotonic() < end:
        now = unit_show(unit)
        states.add(f"{now.get('ActiveState')}/{now.get('SubState')}")
        pids = bot_pids("ticker")
        if pids and not seen:
            seen = [round(window - (end - time.monotonic()), 1), pids]
        time.sleep(0.5)
    restarts = int(unit_show(unit).get("NRestarts") or 0) - int(before.get("NRestarts") or 0)
    bot = f"running again {seen[0]} s after shutdown: pids {seen[1]}" if seen else "never ran again"
    verdict("shutdown", "point 1: wdbot shutdown stays a shutdown under systemd",
            "fail" if seen or done.returncode else "pass",
            f"{said(done)} | sampled {window} s (RestartSec {restart_s} s): unit states {sorted(states)}, "
            f"{restarts} restart(s) by systemd, bot {bot}")


def start_again(unit: str) -> None:
    """The bot runs again, under the unit's supervisor: a command that finds none starts the
    installed unit (not a supervisor outside it, beside which the unit could not start)."""
    done = run(WDBOT, "start", "ticker", timeout=120)
    pids = wait_for(lambda: bot_pids("ticker"), 60)
    main = int(unit_show(unit).get("MainPID") or 0)
    sup = (status() or {}).get("supervisor", {}).get("pid") if pids else None
    whose = "the unit's" if sup == main else f"NOT the unit's (its main pid: {main or 'none'})"
    verdict("start_again", "wdbot start BOT brings it back, under the unit's supervisor",
            "pass" if pids and sup == main else "fail",
            f"{said(done)} | bot pids {pids}; supervisor {sup}, {whose}; {unit_show(unit)}")


def systemctl_restart(unit: str) -> None:
    before = bot_pids("ticker")
    done = run("systemctl", "restart", unit, timeout=200)
    found = running_under_service(unit, "ticker", 60)
    how = "-" if not found else ("adopted (same pid)" if [found[0]] == before else "restarted (new pid)")
    tail = "" if found else " | the unit's last lines: " + run(
        "journalctl", "-u", unit, "-n", "6", "--no-pager", "-o", "cat").stdout.replace("\n", " / ")
    verdict("systemctl_restart", "systemctl restart: the bot runs again under the new supervisor",
            "pass" if found else "fail",
            f"{said(done)} | bot {before} -> {found[0] if found else 'not under the unit'}: {how}; "
            f"marked processes now {bot_pids('ticker')}; {unit_show(unit)}{tail}")


def memory_limit(unit: str) -> None:
    """``--max-memory`` on a bot that outgrows it; the cgroup's part only where the memory
    controller is in the delegated cgroup v2 (on a hybrid host it stays on v1)."""
    (BOTS / "hog.py").write_text(HOG)
    done = run(WDBOT, "start", str(BOTS / "hog.py"), "--name", "hog", "--max-memory", "96M",
               "--restart", "never", timeout=120)
    cgroups = wait_for(lambda: [cgroup_of(pid) for pid in bot_pids("hog")], 30, 0.05)
    hog = wait_for(lambda: (b := bot_of(status(), "hog")) and b.get("last_exit") and b, 60, 0.5) or {}
    last = json.dumps(hog.get("last_exit"))
    containment = str(hog.get("containment") or bot_of(status(), "hog").get("containment"))
    stopped = "memory_limit" in last
    evidence = f"{said(done)} | containment: {containment}; its cgroups {cgroups}; last exit: {last}"
    if "memory controller: yes" in containment:
        verdict("max_memory", "--max-memory through the delegated cgroup", "pass" if stopped else "fail",
                evidence)
    else:
        held = "it held" if stopped else "IT DID NOT HOLD"
        why = ("a hybrid layout: it stays on cgroup v1" if Path("/sys/fs/cgroup/unified").is_dir()
               else "systemd < 254 starts the supervisor in the unit's cgroup itself, no leaf")
        verdict("max_memory", "--max-memory through the delegated cgroup", "skip" if stopped else "fail",
                f"no memory controller on the bot's cgroup v2 ({why}), so the limit is the RSS sum "
                f"of the cgroup's members, and {held}; {evidence}")
    run(WDBOT, "remove", "hog", timeout=60)


def journal(unit: str) -> None:
    done = run("journalctl", "-u", unit, "--no-pager", "-o", "json", timeout=30)
    mine = []
    for line in done.stdout.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("_PID") != "1" and isinstance(entry.get("MESSAGE"), str):
            mine.append(entry["MESSAGE"])
    verdict("journal", f"journalctl -u {unit} shows the supervisor's lines", "pass" if mine else "fail",
            f"{len(mine)} line(s) from the supervisor, e.g. {mine[:3]}")


def main() -> int:
    save()
    try:
        scenario()
    except Exception:  # the host waits for "done": say what broke instead of letting it wait
        import traceback

        verdict("scenario", "the scenario ran to its end", "fail", traceback.format_exc())
    save(done=True)
    return 0


def scenario() -> None:
    if install_wdbot() and (unit := service_install()) is not None:
        found = start_bot(unit)
        if found:
            kill_supervisor(unit, *found)
            shutdown_holds(unit)
            start_again(unit)
            systemctl_restart(unit)
            memory_limit(unit)
        journal(unit)


if __name__ == "__main__":
    sys.exit(main())
