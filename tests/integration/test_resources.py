"""The resource watch through the real CLI: real processes that leak memory and files, real
psutil readings, real SIGTERMs. The home's config samples every 0.2 s to keep tests short."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from tests.helpers import Wdbot, wait_until, write_bot

FAST = "[resources]\ninterval = 0.2\nconsecutive = 2\n"


def registry_failures(wd: Wdbot, name: str) -> int:
    doc = json.loads((wd.home / "registry.json").read_text())
    return int(next(b for b in doc["bots"] if b["spec"]["name"] == name)["failures"])


@pytest.fixture
def fast(wd: Wdbot) -> Wdbot:
    wd.home.mkdir(exist_ok=True)
    (wd.home / "config.toml").write_text(FAST)
    return wd


# Each bot leaks only on its first start: after a limit restart it reports why it started.
ONCE = """
import os, sys, time
reason = os.environ["WDBOT_START_REASON"]
print("started", reason, flush=True)
if reason != "first_start":
    time.sleep(600)
"""


def test_a_bot_leaking_memory_is_restarted_at_its_limit(fast: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "memleak.py", ONCE + """
blocks = []
while True:
    blocks.append(b"\\x01" * (8 << 20))
    time.sleep(0.05)
""")
    fast("start", str(bot), "--max-memory", "120M")
    wait_until(lambda: "started memory_limit" in fast.stdout("memleak"), "a memory_limit restart")
    status = fast.wait_state("memleak", "running")
    assert status["last_exit"]["reason"] == "memory_limit"
    assert "over the limit of 120M for 2 samples in a row" in status["last_exit"]["error"]
    assert status["last_exit"]["signal"] == 15 or status["last_exit"]["code"] is not None
    assert status["start_reason"] == "memory_limit" and status["restarts"] == 1
    assert registry_failures(fast, "memleak") == 0, "a planned restart is not a crash"
    [restart] = fast.events("limit_restart", "memleak")
    assert restart["reason"] == "memory_limit"


def test_a_bot_leaking_files_is_restarted_at_its_fd_limit(fast: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "fdleak.py", ONCE + """
kept = []
while True:
    kept.append(open(os.devnull))
    time.sleep(0.01)
""")
    fast("start", str(bot), "--max-fds", "64")
    wait_until(lambda: "started fd_limit" in fast.stdout("fdleak"), "an fd_limit restart")
    status = fast.wait_state("fdleak", "running")
    assert status["last_exit"]["reason"] == "fd_limit"
    assert "open files" in status["last_exit"]["error"] and "limit of 64" in status["last_exit"]["error"]
    assert status["limits"]["max_fds"] == 64


def test_a_leaking_child_counts_toward_the_bots_tree(fast: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "kidleak.py", ONCE + """
import subprocess
code = "import time\\nb = []\\nwhile True:\\n    b.append(b'x' * (8 << 20))\\n    time.sleep(0.05)\\n"
child = subprocess.Popen([sys.executable, "-c", code])
print("child", child.pid, flush=True)
time.sleep(600)
""")
    fast("start", str(bot), "--max-memory", "120M")
    wait_until(lambda: "child " in fast.stdout("kidleak"), "the leaking child")
    child = int(fast.stdout("kidleak").split("child ")[1].split()[0])
    wait_until(lambda: "started memory_limit" in fast.stdout("kidleak"), "a memory_limit restart")
    assert fast.bot("kidleak")["last_exit"]["reason"] == "memory_limit"
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_status_fills_the_resource_fields_and_reports_a_leak_once(wd: Wdbot, bots: Path) -> None:
    wd.home.mkdir(exist_ok=True)
    (wd.home / "config.toml").write_text("[resources]\ninterval = 0.2\nwindow = 6\nmin_span = 2\n")
    bot = write_bot(bots, "grower.py", """
import time
blocks = []
print("growing", flush=True)
for _ in range(40):                      # 2 MB every 0.1 s for 4 s, then steady
    blocks.append(b"\\x01" * (2 << 20))
    time.sleep(0.1)
print("steady", flush=True)
time.sleep(600)
""")
    wd("start", str(bot))
    wait_until(lambda: wd.events("leak_suspected", "grower"), "the leak to be suspected")
    leaking = wd.bot("grower")
    assert leaking["leak"] is None or leaking["leak"]["resource"] == "memory"
    wait_until(lambda: wd.events("leak_cleared", "grower"), "the leak to be cleared once steady", 40)
    [event] = wd.events("leak_suspected", "grower")
    assert event["resource"] == "memory" and "RSS rising" in event["detail"]
    assert "the machine's memory" in event["detail"], "no --max-memory: projected to the machine"
    status = wd.bot("grower")
    assert status["rss_bytes"] > 80 * 1024 * 1024
    assert status["num_fds"] >= 3 and status["threads"] >= 1
    assert status["cpu_percent"] is not None and status["cpu_percent"] < 50
    assert status["rss_trend_bytes_per_hour"] is not None and status["fds_trend_per_hour"] is not None
    # the default fd limit: 90 % of the bot's own soft RLIMIT_NOFILE
    soft = psutil.Process(status["pid"]).rlimit(psutil.RLIMIT_NOFILE)[0]
    assert status["limits"]["max_fds"] == int(soft * 0.9)
    table = wd("status").out
    assert "RSS" in table and "FDS" in table
