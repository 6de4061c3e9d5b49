"""A bot writing fast, its logs rotated by size while it runs: the total on disk stays
within the configured budget, the newest lines are whole, and ``wdbot logs -f`` follows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.helpers import Wdbot, wait_for_line, wait_until, write_bot

MAX, BACKUPS = 256 * 1024, 3
BURST_LINES, LINE_BYTES = 1000, 100  # 100 KB a burst, 20 bursts a second: 2 MB/s

WRITER = f"""
import sys, time
n = 0
for burst in range(60):
    for _ in range({BURST_LINES}):
        n += 1
        sys.stdout.write(f"{{n:09d}} " + "x" * {LINE_BYTES - 11} + "\\n")
    sys.stdout.flush()
    time.sleep(0.05)
print(f"done {{n}}", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_fast_writer_stays_within_the_budget_and_keeps_its_newest_lines(wd: Wdbot, bots: Path) -> None:
    wd.home.mkdir(parents=True, exist_ok=True)
    (wd.home / "config.toml").write_text(f'[logs]\nmax_size = "{MAX // 1024}K"\nbackups = {BACKUPS}\n')
    bot = write_bot(bots, "chatty.py", WRITER)
    wd("start", str(bot))
    pid = wd.bot("chatty")["pid"]
    logs = wd.home / "bots" / "chatty" / "logs"
    with subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "logs", "chatty", "-f", "--stdout",
                           "-n", "0"], env=wd.env, stdout=subprocess.PIPE, text=True) as follower:
        assert follower.stdout is not None
        try:
            line = wait_for_line(follower.stdout, "done ", timeout_s=60)  # across many rotations
        finally:
            follower.terminate()
            follower.wait(timeout=20)
    total_lines = int(line.split()[1])
    files = sorted(logs.glob("stdout.log*"))
    total = sum(f.stat().st_size for f in files)
    # The budget, plus what one check interval (0.1 s) lets through at this rate.
    slack = 2 * BURST_LINES * LINE_BYTES
    assert total <= MAX * (BACKUPS + 1) + slack, (total, [f.name for f in files])
    assert len(files) <= BACKUPS + 1 and total_lines * LINE_BYTES > 5 * MAX * (BACKUPS + 1)
    # The newest lines: the current file and its copies, newest last, end with every line up
    # to the last one, none missing and none torn.
    newest = []
    for path in [logs / f"stdout.log.{i}" for i in range(BACKUPS, 0, -1)] + [logs / "stdout.log"]:
        if path.exists():
            newest += path.read_text().splitlines()
    assert newest[-1] == f"done {total_lines}"
    numbers = [int(x.split()[0]) for x in newest[:-1]]
    assert numbers == list(range(numbers[0], total_lines + 1))
    assert all(len(x) == LINE_BYTES - 1 for x in newest[:-1])
    status = wd.bot("chatty")
    assert status["pid"] == pid and status["restarts"] == 0 and status["state"] == "running"


FLOOD = """
import sys
line = "flood " + "y" * 94 + "\\n"
chunk = line * 40_000  # 4 MB a write: more than two copies' worth between any two checks,
for _ in range(25):    # however slow a loaded machine makes the writing (100 MB in all)
    sys.stdout.write(chunk)
    sys.stdout.flush()
print("flood done", flush=True)
open({flag!r}, "w").close()
import time
time.sleep(600)
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_100_mb_burst_is_cut_to_the_budget_and_the_cut_is_said(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    # Regression (issue 14): a 90 MB burst left one 90 MB stdout.log.1 beside a 10 MB x 5
    # setting, because rotation always kept the newest copy whole.
    max_bytes, backups = 1024 * 1024, 2
    wd.home.mkdir(parents=True, exist_ok=True)
    (wd.home / "config.toml").write_text(f'[logs]\nmax_size = "1M"\nbackups = {backups}\n')
    flag = tmp_path / "flooded"
    wd("start", str(write_bot(bots, "flood.py", FLOOD.format(flag=str(flag)))))
    logs = wd.home / "bots" / "flood" / "logs"

    def total() -> int:
        return sum(f.stat().st_size for f in logs.glob("stdout.log*") if f.exists())

    budget = max_bytes * (backups + 1)
    wait_until(flag.exists, "the end of the flood", 240)
    # The bot's own watcher rotates what the last interval let through, then cuts it.
    wait_until(lambda: total() <= budget + max_bytes, f"the logs back within {budget} bytes", 30)
    copies = sorted(logs.glob("stdout.log.*"))
    assert len(copies) <= backups
    notes = [c for c in copies if c.read_text(errors="replace").startswith("[wdbot: ")]
    assert notes and "were cut here; the newest" in notes[0].read_text().splitlines()[0]
    assert wd.bot("flood")["state"] == "running"


def test_the_supervisor_rotates_its_own_log(wd: Wdbot, bots: Path) -> None:
    wd.home.mkdir(parents=True, exist_ok=True)
    (wd.home / "config.toml").write_text('[logs]\nmax_size = "1K"\nbackups = 2\n')
    log = wd.home / "supervisor.log"
    log.write_text("an old line of the supervisor log\n" * 100)  # 3.4 KB: due at once
    wd("start", str(write_bot(bots, "idle.py", "import time\ntime.sleep(600)\n")))
    wait_until(lambda: (wd.home / "supervisor.log.1").exists(), "the supervisor to rotate its log")
    # 3.4 KB is more than the whole 2 KB budget of copies: cut to its newest part, said so.
    rotated = (wd.home / "supervisor.log.1").read_text()
    assert rotated.startswith("[wdbot: ") and "an old line" in rotated
    pid = wd.supervisor_pid()
    assert pid is not None
    os.kill(pid, signal.SIGTERM)  # it logs the signal: the line must land in the fresh file
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
               "the supervisor to exit")
    assert "received SIGTERM: shutting down" in log.read_text()
    assert "received SIGTERM" not in (wd.home / "supervisor.log.1").read_text()
