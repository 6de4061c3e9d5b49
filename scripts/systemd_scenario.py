"""The scenario of ``make systemd-check``, run as root INSIDE a container booted with a real
systemd (Debian 12's systemd 252), by the oneshot unit ``wdbot-check.service`` that
``systemd_rootfs`` bakes into the root file system, at every boot. Standard library only: it
runs on the container's own python3, and drives the real ``wdbot`` installed in /opt/wdbot.

Each step is a verdict (pass, fail or skip) with its evidence, appended to
``CHECK/results.json`` as soon as it is known (read from outside, see ``systemd_check``), so a
step that hangs still leaves the ones before it. Every wait has a bound. The first boot runs
the steps below, then ``systemd_reboot`` reboots the container twice (its later boots).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from systemd_reboot import after_reboot, prepare_reboot
from systemd_scenario_scopes import scope_adopted, scope_kernel, scope_show, scoped_limit, unit_keys
from systemd_scenario_tools import (
    BOTS,
    CHECK,
    OUTSIDE,
    PHASE,
    TICKER,
    VENV,
    WDBOT,
    bot_of,
    bot_pids,
    cgroup_of,
    journal_tail,
    run,
    running_under_service,
    said,
    save,
    seconds,
    serving_main,
    status,
    unit_show,
    verdict,
    wait_for,
)

# Grows by 8 MB every 50 ms up to 400 MB (a bound, should the limit not hold), then waits.
HOG = ("import time\nheap = []\nfor _ in range(50):\n    heap.append(bytearray(8 << 20))\n"
       "    time.sleep(0.05)\nwhile True:\n    time.sleep(1)\n")


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
    tail = "" if found else journal_tail(unit)
    verdict("systemctl_restart", "systemctl restart: the bot runs again under the new supervisor",
            "pass" if found else "fail",
            f"{said(done)} | bot {before} -> {found[0] if found else 'not under the unit'}: {how}; "
            f"marked processes now {bot_pids('ticker')}; {unit_show(unit)}{tail}")


def keep_bots(unit: str) -> None:
    """``shutdown --keep-bots`` (the upgrade step) under the unit: systemd starts the next
    supervisor, which adopts the bot (same pid), and the unit stays up."""
    before = bot_pids("ticker")
    old_main = int(unit_show(unit).get("MainPID") or 0)
    done = run(WDBOT, "shutdown", "--keep-bots", timeout=150)
    found = wait_for(lambda: (f := running_under_service(unit, "ticker", 5)) and f[1] != old_main and f, 30)
    ok = done.returncode == 0 and bool(found) and [found[0]] == before == bot_pids("ticker")
    verdict("keep_bots", "shutdown --keep-bots: the unit's next supervisor adopts the bot",
            "pass" if ok else "fail",
            f"{said(done)} | supervisor {old_main} -> {found[1] if found else '-'}, bot {before} -> "
            f"{found[0] if found else 'not under the unit'}; {unit_show(unit)}"
            + ("" if ok else journal_tail(unit)))


def memory_limit(unit: str) -> None:
    """``--max-memory`` on a bot that outgrows it: through the delegated cgroup where its
    memory controller is there, else (systemd < 254, a hybrid layout) through a transient
    systemd scope of the bot's own; the RSS watch holds it in any case."""
    if not wait_for(lambda: serving_main(unit), 30):
        verdict("max_memory", "--max-memory", "fail", f"the unit does not serve: {unit_show(unit)}")
        return
    (BOTS / "hog.py").write_text(HOG)
    done = run(WDBOT, "start", str(BOTS / "hog.py"), "--name", "hog", "--max-memory", "96M",
               "--restart", "never", timeout=120)
    cgroups = wait_for(lambda: [cgroup_of(pid) for pid in bot_pids("hog")], 30, 0.05) or []
    scope = next((c.rsplit("/", 1)[-1] for c in cgroups if c.endswith(".scope")), None)
    shown = scope_show(scope) if scope else {}
    hog = wait_for(lambda: (b := bot_of(status(), "hog")) and b.get("last_exit") and b, 60, 0.5) or {}
    last = json.dumps(hog.get("last_exit"))
    containment = str(bot_of(status(), "hog").get("containment") or hog.get("containment"))
    stopped = "memory_limit" in last or "SIGKILL" in last or "oom" in last.lower()
    evidence = (f"{said(done)} | containment: {containment}; its cgroups {cgroups}; scope {scope}: "
                f"{shown}; last exit: {last}")
    if "memory controller: yes" in containment:
        verdict("max_memory", "--max-memory through the delegated cgroup", "pass" if stopped else "fail",
                evidence)
    elif scope:
        scoped_limit(scope, shown, stopped, evidence)
    else:
        held = "it held" if stopped else "IT DID NOT HOLD"
        verdict("max_memory", "--max-memory through the kernel", "fail", "neither the delegated "
                f"cgroup's memory controller nor a systemd scope ({held}); {evidence}")
    run(WDBOT, "remove", "hog", timeout=60)
    left = run("systemctl", "list-units", "--all", "--no-legend", "wdbot-*-hog-*.scope").stdout.strip()
    verdict("scope_gone", "the bot's scope goes with the bot (--collect)", "fail" if left else "pass",
            f"scopes left after 'wdbot remove hog': {left or 'none'}")


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
    """One boot's part; ``done`` once the last boot's is over (or something broke)."""
    try:
        state = json.loads(PHASE.read_text()) if PHASE.exists() else None
        rebooting = first_boot() if state is None else after_reboot(state)
    except Exception:  # the host waits for "done": say what broke instead of letting it wait
        import traceback

        verdict("scenario", "the scenario ran to its end", "fail", traceback.format_exc())
        rebooting = False
    save(done=not rebooting)
    return 0


def first_boot() -> bool:
    """The steps of the first boot; True when it ends by rebooting the container."""
    save()
    if not install_wdbot() or (unit := service_install()) is None:
        return False
    found = start_bot(unit)
    if found:
        kill_supervisor(unit, *found)
        shutdown_holds(unit)
        start_again(unit)
        systemctl_restart(unit)
        keep_bots(unit)
        unit_keys(unit)
        memory_limit(unit)
        scope_adopted(unit)
    journal(unit)
    if found:
        scope_kernel(unit, HOG)  # last: it remounts the v1 memory hierarchy and re-executes systemd
    return bool(found) and prepare_reboot(unit)


if __name__ == "__main__":
    sys.exit(main())
