"""The supervisor can die without harming the bots, and the next one adopts them."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psutil

from tests.helpers import Wdbot, wait_until, write_bot

TICKER = """
import os, time
print("up", os.environ["WDBOT_START_REASON"], flush=True)
while True:
    print("tick", time.monotonic(), flush=True)
    time.sleep(0.1)
"""


def marked(home: Path, name: str) -> list[int]:
    found = []
    for proc in psutil.process_iter(["environ"]):
        env = proc.info.get("environ") or {}
        if env.get("WDBOT_HOME") == str(home) and env.get("WDBOT_BOT_NAME") == name:
            found.append(proc.pid)
    return found


def test_kill_9_of_the_supervisor_then_adoption(wd: Wdbot, bots: Path) -> None:
    wd("start", str(write_bot(bots, "keeper.py", TICKER)))
    wd("start", str(write_bot(bots, "victim.py", TICKER)))
    before = {b["name"]: b for b in wd.status()["bots"]}
    supervisor = wd.status()["supervisor"]["pid"]

    os.kill(supervisor, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(supervisor) or
               psutil.Process(supervisor).status() == psutil.STATUS_ZOMBIE, "the supervisor's death")

    # The bots keep running and logging with nobody watching.
    log = wd.home / "bots" / "keeper" / "logs" / "stdout.log"
    size = log.stat().st_size
    wait_until(lambda: log.stat().st_size > size + 100, "the keeper to go on logging")
    # One bot dies while no supervisor runs.
    os.killpg(before["victim"]["pid"], signal.SIGKILL)
    wait_until(lambda: not marked(wd.home, "victim"), "the victim's death")

    after = {b["name"]: b for b in wd.status()["bots"]}  # starts a new supervisor
    assert wd.status()["supervisor"]["pid"] != supervisor
    keeper = after["keeper"]
    assert keeper["state"] == "running" and keeper["pid"] == before["keeper"]["pid"]
    assert keeper["restarts"] == 0 and keeper["uptime_s"] >= before["keeper"]["uptime_s"]
    victim = wd.wait_state("victim", "running")
    assert victim["pid"] != before["victim"]["pid"]
    assert victim["start_reason"] == "supervisor_restart"
    victim_log = wd.home / "bots" / "victim" / "logs" / "stdout.log"
    wait_until(lambda: "up supervisor_restart" in victim_log.read_text(), "the victim's new start")
    assert marked(wd.home, "keeper") == [keeper["pid"]], "never a second copy"
    assert marked(wd.home, "victim") == [victim["pid"]]

    # The adopted bot is still supervised: a stop reaches it.
    wd("stop", "keeper")
    assert not marked(wd.home, "keeper")


def test_a_recycled_pid_is_not_adopted(wd: Wdbot, bots: Path) -> None:
    """Regression guard: identity is pid plus start; a different process on the pid is
    not the bot (here: the registry is pointed at this very test process, as a supervisor
    that died uncleanly would have left it)."""
    import json

    wd("start", str(write_bot(bots, "ghost.py", TICKER)))
    wd("shutdown")
    reg_path = wd.home / "registry.json"
    reg = json.loads(reg_path.read_text())
    me = os.getpid()
    reg["bots"][0].update(should_run=True, held=False, state="running")
    reg["bots"][0]["run"] = {"pid": me, "create_time": 1.0, "run_id": "x", "started_at": "",
                             "start_ticks": 1, "boot_id": "not-this-boot"}
    reg_path.write_text(json.dumps(reg))
    wd("status")
    bot = wd.wait_state("ghost", "running")
    assert bot["pid"] != me and bot["start_reason"] == "supervisor_restart"


def test_shutdown_keep_bots_then_adopt(wd: Wdbot, bots: Path) -> None:
    wd("start", str(write_bot(bots, "stays.py", TICKER)))
    pid = wd.bot("stays")["pid"]
    assert "left running" in wd("shutdown", "--keep-bots").out
    assert psutil.pid_exists(pid)
    assert wd("status", "--check", check=False).code == 1  # no supervisor: unhealthy
    assert wd.bot("stays")["pid"] == pid  # adopted by the next supervisor


def test_shutdown_holds_bots_until_a_person_starts_them(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 13, point 6): 'wdbot shutdown' then 'wdbot status' restarted
    trading. Read-only commands now leave a deliberately stopped bot stopped; 'wdbot start'
    starts it. Since issue 23 (point 1), 'wdbot daemon' (a person, the service) does not
    either: it used to start every bot the shutdown held."""
    wd("start", str(write_bot(bots, "cycle.py", TICKER)))
    wd("start", str(write_bot(bots, "other.py", TICKER)))
    pid = wd.bot("cycle")["pid"]
    wd("shutdown")
    assert not marked(wd.home, "cycle") and (not psutil.pid_exists(pid) or
                                             psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    for command in (("status",), ("status", "--json"), ("logs", "cycle"), ("events",),
                    ("secret", "list")):
        wd(*command)
    states = {b["name"]: b for b in wd.status()["bots"]}  # this launched a supervisor
    assert {n: (b["state"], b["held"], b["held_by"]) for n, b in states.items()} == {
        "cycle": ("stopped", True, "shutdown"), "other": ("stopped", True, "shutdown")}
    assert not marked(wd.home, "cycle") and not marked(wd.home, "other")
    assert not wd.events("start", "cycle")[1:], "started again by a read-only command"

    wd("start", "cycle")  # a person: that bot only
    assert wd.bot("cycle")["state"] == "running" and wd.bot("other")["state"] == "stopped"
    wd("shutdown")
    with wd.daemon(tmp_path / "daemon.log"):  # the service's supervisor starts neither
        states = {b["name"]: (b["state"], b["held"]) for b in wd.status()["bots"]}
        assert states == {"cycle": ("stopped", True), "other": ("stopped", True)}
        assert len(wd.events("start", "cycle")) == 2 and len(wd.events("start", "other")) == 1
    # A signal's stop (systemctl stop, the machine going down, Ctrl-C) holds them too, but
    # the next 'wdbot daemon' (the boot) starts those that ran.
    with wd.daemon(tmp_path / "daemon.log") as daemon:
        wd("start", "cycle")
        pid = wd.wait_state("cycle", "running")["pid"]
        daemon.send_signal(signal.SIGTERM)  # what systemd sends (at a reboot, say)
        assert daemon.wait(60) == 0
    held = {b["spec"]["name"]: b.get("held_by") for b in
            json.loads((wd.home / "registry.json").read_text())["bots"] if b["held"]}
    assert held == {"cycle": "signal", "other": "shutdown"}
    with wd.daemon(tmp_path / "daemon.log"):
        bot = wd.wait_state("cycle", "running")
        assert bot["pid"] != pid and bot["start_reason"] == "supervisor_restart" and not bot["held"]
        assert wd.bot("other")["state"] == "stopped"


def test_a_stop_cut_short_by_the_supervisors_death_is_finished_by_the_next(
        wd: Wdbot, bots: Path) -> None:
    """Regression: the next supervisor used to adopt such a bot as running again."""
    import subprocess
    import sys

    bot = write_bot(bots, "deaf.py", """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        while True:
            time.sleep(1)
    """)
    wd("start", str(bot), "--stop-timeout", "5")
    log = wd.home / "bots" / "deaf" / "logs" / "stdout.log"
    wait_until(lambda: "ready" in log.read_text(), "the ready line")
    pid = wd.bot("deaf")["pid"]
    supervisor = wd.status()["supervisor"]["pid"]
    with subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "stop", "deaf"], env=wd.env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as stopper:
        wd.wait_state("deaf", "stopping")
        os.kill(supervisor, signal.SIGKILL)
        stopper.wait(30)
    assert psutil.pid_exists(pid), "SIGTERM was ignored: the bot outlived its supervisor"
    wd("status")  # the next supervisor
    status = wd.wait_state("deaf", "stopped", timeout_s=30)
    assert status["pid"] is None and not marked(wd.home, "deaf")
