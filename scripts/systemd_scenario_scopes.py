"""Issue 28's steps of the real-systemd scenario (``systemd_scenario``): the unit holds only
keys the host's systemd knows, and a bot's ``--max-memory`` is a transient systemd scope of
its own where the unit's cgroup has no memory controller (systemd < 254, a hybrid layout).
Standard library only, run inside the container."""

from __future__ import annotations

import os
from pathlib import Path

from systemd_scenario_tools import (
    BOTS,
    WDBOT,
    cgroup_of,
    run,
    running_under_service,
    said,
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
