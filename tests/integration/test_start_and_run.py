"""`wdbot start` end to end: supervisor launched once, the bot in its own session and venv,
its output written by itself to the home's log files."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import psutil

from tests.helpers import Wdbot, wait_until, write_bot

REPORTER = """
import json, os, sys, time
print(json.dumps({"pid": os.getpid(), "sid": os.getsid(0), "cwd": os.getcwd(),
                  "exe": sys.executable, "unbuffered": os.environ.get("PYTHONUNBUFFERED"),
                  "argv": sys.argv[1:], "env": os.environ.get("GREETING"),
                  "reason": os.environ.get("WDBOT_START_REASON")}))
print("to stderr", file=sys.stderr)
while True:
    time.sleep(0.2)
"""


def first_json_line(path: Path) -> dict[str, object]:
    def report() -> list[str]:  # the bot's own line, not the supervisor's start mark
        return [x for x in path.read_text().splitlines() if x.startswith("{")] if path.exists() else []

    return json.loads(wait_until(report, "the bot's report")[-1])


def test_start_runs_the_bot_in_its_own_session_venv_and_logs(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "reporter.py", REPORTER)
    result = wd("start", str(bot), "--env", "GREETING=gm", "--", "--symbol", "BTC/USDT")
    assert result.out.startswith("reporter: pid ") and "running" in result.out
    status = wd.bot("reporter")
    assert status["state"] == "running" and status["restarts"] == 0

    stdout_log = wd.home / "bots" / "reporter" / "logs" / "stdout.log"
    report = first_json_line(stdout_log)
    assert report["pid"] == status["pid"]
    assert report["sid"] == report["pid"], "the bot leads its own session"
    assert report["cwd"] == str(bots)
    assert str(report["exe"]).startswith(str(wd.home / "bots" / "reporter" / "venv"))
    assert report["unbuffered"] == "1"
    assert report["argv"] == ["--symbol", "BTC/USDT"]
    assert report["env"] == "gm" and report["reason"] == "first_start"
    # The bot writes its own log files: no pipe through the supervisor.
    fd1 = os.readlink(f"/proc/{status['pid']}/fd/1")
    fd2 = os.readlink(f"/proc/{status['pid']}/fd/2")
    assert (fd1, fd2) == (str(stdout_log), str(stdout_log.with_name("stderr.log")))
    assert "to stderr" in wait_until(lambda: stdout_log.with_name("stderr.log").read_text(), "stderr")


def test_home_and_socket_are_private(wd: Wdbot, bots: Path) -> None:
    wd("start", str(write_bot(bots, "idle.py", "import time\ntime.sleep(600)\n")))
    sock = wd.home / "wdbot.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(wd.home.stat().st_mode) == 0o700


def daemons_of(home: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        cmd = proc.info.get("cmdline") or []
        env = proc.info.get("environ") or {}
        if "daemon" in cmd and "watchdog_runtime" in cmd and env.get("WDBOT_HOME") == str(home):
            found.append(proc.pid)
    return found


def test_racing_starts_launch_exactly_one_supervisor(wd: Wdbot, bots: Path) -> None:
    paths = [write_bot(bots, f"racer{i}.py", "import time\ntime.sleep(600)\n") for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "start", str(p)], env=wd.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in paths]
    outcomes = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert all(code == 0 for _, _, code in outcomes), outcomes
    assert daemons_of(wd.home) == [wd.status()["supervisor"]["pid"]]
    assert sorted(b["name"] for b in wd.status()["bots"]) == [f"racer{i}" for i in range(4)]


def test_start_of_a_running_bot_is_idempotent_and_a_name_restarts_a_stopped_one(
        wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "idem.py", "import time\ntime.sleep(600)\n")
    wd("start", str(bot))
    pid = wd.bot("idem")["pid"]
    again = wd("start", str(bot))
    assert "already running" in again.out and wd.bot("idem")["pid"] == pid
    other = wd("start", str(bot), "--max-fds", "100", check=False)
    assert other.code == 1 and "other options" in other.err
    wd("stop", "idem")
    wd("start", "idem")
    assert wd.bot("idem")["state"] == "running" and wd.bot("idem")["pid"] != pid


def test_deep_home_still_gets_working_sockets(home: Path, uv_cache: Path, bots: Path) -> None:
    deep = home.joinpath(*["a-deep-temporary-folder"] * 6)
    cli = Wdbot(deep, uv_cache)
    try:
        cli("start", str(write_bot(bots, "deep.py", "import time\ntime.sleep(600)\n")))
        assert cli.bot("deep")["state"] == "running"
        assert len(str(deep / "wdbot.sock")) > 108
        # The notify socket too: a recovery ends only when its "running" message arrives.
        cli("start", str(write_bot(bots, "deeprecover.py", """
            import time
            import watchdog_runtime as wd
            def recover(ctx):
                pass
            def main():
                while True:
                    wd.heartbeat()
                    time.sleep(0.1)
        """)))
        cli.wait_state("deeprecover", "running")
        wait_until(lambda: cli.bot("deeprecover")["heartbeat_age_s"] is not None, "a heartbeat")
    finally:
        cli.teardown()
