"""Issue 28's steps of the real-systemd scenario (``systemd_scenario``): the unit holds only
keys the host's systemd knows, and a bot's ``--max-memory`` is a transient systemd scope of
its own where the unit's cgroup has no memory controller (systemd < 254, a hybrid layout).
Standard library only, run inside the container."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from systemd_scenario_tools import (
    BOTS,
    WDBOT,
    bot_of,
    bot_pids,
    cgroup_of,
    run,
    running_under_service,
    said,
    status,
    unit_show,
    verdict,
    wait_for,
)


def scope_show(scope: str) -> dict[str, str]:
    done = run("systemctl", "show", scope, "-p", "MemoryMax,After,ControlGroup,ActiveState")
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def scoped_limit(scope: str, shown: dict[str, str], stopped: bool, evidence: str) -> None:
    """Issue 28: the bot runs in a scope of its own with MemoryMax= set by systemd; whether
    the kernel applies it here depends on where the memory controller is writable."""
    asked = shown.get("MemoryMax") == str(96 << 20)
    v2_max = Path("/sys/fs/cgroup/unified" if Path("/sys/fs/cgroup/unified").is_dir() else "/sys/fs/cgroup")
    kernel = v2_max / shown.get("ControlGroup", "/").lstrip("/") / "memory.max"
    v1 = Path("/sys/fs/cgroup/memory")
    if kernel.exists():
        applied = kernel.read_text().strip() == str(96 << 20)
        verdict("max_memory", "--max-memory through a transient systemd scope (MemoryMax=, kernel)",
                "pass" if asked and applied and stopped else "fail",
                f"{kernel}: applied {applied}; {evidence}")
    elif v1.is_dir() and not os.access(v1, os.W_OK):
        held = "it held" if stopped else "IT DID NOT HOLD"
        verdict("max_memory", "--max-memory through a transient systemd scope (MemoryMax=)",
                "pass" if asked and stopped else "fail",
                f"systemd made {scope} with MemoryMax={shown.get('MemoryMax')} (asked: 96M: {asked}); the "
                "kernel cannot apply it HERE: the memory controller is on cgroup v1, mounted read-only "
                f"inside systemd-nspawn on this hybrid host, so the RSS watch stopped the bot, and {held}; "
                f"{evidence}")
    else:
        verdict("max_memory", "--max-memory through a transient systemd scope (MemoryMax=)",
                "pass" if asked and stopped else "fail", f"no memory.max at {kernel}; {evidence}")


def scope_adopted(unit: str) -> None:
    """Issue 28: a bot in a scope of its own outlives a supervisor killed by systemd, is
    adopted by the next one (same pid, still in its scope), and stops when asked."""
    run(WDBOT, "start", str(BOTS / "ticker.py"), "--name", "capped", "--max-memory", "200M", timeout=120)
    before = running_under_service(unit, "capped", 60)
    scope = cgroup_of(before[0]).rsplit("/", 1)[-1] if before else ""
    old_main = int(unit_show(unit).get("MainPID") or 0)
    run("systemctl", "kill", "-s", "KILL", "--kill-who=main", unit)
    after = wait_for(lambda: (f := running_under_service(unit, "capped", 5)) and f[1] != old_main and f, 40)
    still = cgroup_of(after[0]).rsplit("/", 1)[-1] if after else ""
    stopped = run(WDBOT, "stop", "capped", timeout=120)
    gone = wait_for(lambda: not run("systemctl", "list-units", "--no-legend", scope).stdout.strip(), 20)
    ok = bool(before and after) and before[0] == after[0] and scope.endswith(".scope") and still == scope \
        and stopped.returncode == 0 and bool(gone)
    verdict("scope_adopted", "a bot in its scope is adopted after systemctl kill, and stops when asked",
            "pass" if ok else "fail",
            f"bot {before[0] if before else '-'} in {scope or 'no scope'}; supervisor {old_main} -> "
            f"{after[1] if after else '-'}, bot now {after[0] if after else '-'} in {still or '-'}; "
            f"{said(stopped)}; scope gone after the stop: {bool(gone)}")
    run(WDBOT, "remove", "capped", timeout=60)


def unit_keys(unit: str) -> None:
    """Issue 28: the unit holds no key the host's systemd does not know (systemd < 254 warned
    "Unknown key name 'DelegateSubgroup'" at every daemon-reload)."""
    text = Path(f"/etc/systemd/system/{unit}").read_text()
    version = run("systemctl", "--version").stdout.split()[1]
    run("systemctl", "daemon-reload", timeout=60)
    journal = run("journalctl", "-b", "--no-pager", "-o", "cat", timeout=30).stdout.splitlines()
    warned = [line for line in journal if "Unknown key" in line or "DelegateSubgroup" in line]
    has_key = "DelegateSubgroup=" in text
    ok = not warned and has_key == (int(version) >= 254)
    verdict("unit_keys", f"the unit carries only keys systemd {version} knows", "pass" if ok else "fail",
            f"DelegateSubgroup= in the unit: {has_key}; daemon-reload warnings: {warned or 'none'}")


def scope_kernel(unit: str, hog: str) -> None:
    """Issue 28: the kernel enforcing a scope's MemoryMax=. nspawn mounts the cgroup v1
    hierarchies read-only here (a hybrid host: memory stays on v1), so the container's systemd
    cannot write the limit. Made writable (a bind remount inside the container) and systemd
    re-executed to see it, systemd 252 writes MemoryMax= as memory.limit_in_bytes of the bot's
    scope, and the kernel kills the bot when it outgrows it, before the RSS watch does."""
    memory = Path("/sys/fs/cgroup/memory")
    done = run("mount", "-o", "remount,bind,rw", str(memory))
    run("systemctl", "daemon-reexec", timeout=60)
    if done.returncode != 0 or not wait_for(lambda: unit_show(unit).get("ActiveState") == "active", 30):
        verdict("scope_kernel", "the kernel enforces the scope's MemoryMax=", "skip",
                f"the v1 memory hierarchy could not be made writable here: {said(done)}")
        return
    (BOTS / "hog2.py").write_text(hog)
    started = run(WDBOT, "start", str(BOTS / "hog2.py"), "--name", "hog2", "--max-memory", "96M",
                  "--restart", "never", timeout=120)
    limits: set[str] = set()

    def exited() -> Any:
        for pid in bot_pids("hog2"):
            line = next((x for x in cgroup_of(pid).split() if ":memory:" in x), "")
            path = memory / line.split(":memory:", 1)[-1].lstrip("/") / "memory.limit_in_bytes"
            with contextlib.suppress(OSError):
                limits.add(f"{path.parent.name}={path.read_text().strip()}")
        return (b := bot_of(status(), "hog2")) and b.get("last_exit")

    last = wait_for(exited, 60, 0.02) or {}
    killed = last.get("signal") in (9, "SIGKILL") and last.get("reason") != "memory_limit"
    applied = any(v.endswith(f"={96 << 20}") and ".scope=" in v for v in limits)
    verdict("scope_kernel", "the kernel enforces the scope's MemoryMax= (memory.limit_in_bytes, v1)",
            "pass" if applied and killed else "fail",
            f"v1 memory remounted rw, systemd re-executed; {said(started)} | the bot's memory cgroup "
            f"limits seen: {sorted(limits) or 'none'}; last exit: {json.dumps(last)}")
    run(WDBOT, "remove", "hog2", timeout=60)
