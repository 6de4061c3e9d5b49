"""Issue 29 (supervisor RSS): on Linux the running supervisor reads the process table from
``/proc`` and never imports psutil (five modules and a C extension, ~1.3 MiB of its RSS),
whatever it does: starting bots, watching them, a crash and its restart, a restart at a
limit, stopping a tree, adopting bots after a kill -9 of the supervisor."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_until, write_bot
from watchdog_runtime.common.control import request
from watchdog_runtime.common.home import Home

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc readers: Linux")

# A bot with a child (a tree to walk, sample and stop), idle after printing its line.
TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("up", child.pid, flush=True)
time.sleep(600)
"""
# Crashes on its first start, idles after its restart.
CRASHY = """
import os, sys, time
print("started", os.environ["WDBOT_START_REASON"], flush=True)
if os.environ["WDBOT_START_REASON"] == "first_start":
    sys.exit(3)
time.sleep(600)
"""
# Leaks descriptors on its first start: the watch restarts it at its --max-fds.
LEAKY = """
import os, time
print("started", os.environ["WDBOT_START_REASON"], flush=True)
kept = []
while os.environ["WDBOT_START_REASON"] == "first_start":
    kept.append(open(os.devnull))
    time.sleep(0.01)
time.sleep(600)
"""


def psutil_loaded(wd: Wdbot) -> list[str]:
    modules = request(Home(wd.home), "debug_modules", timeout_s=10)["modules"]
    return [m for m in modules if m == "psutil" or m.startswith("psutil.")]


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2:][:1] in (b"Z", b"X")


@pytest.mark.slow
def test_the_daemon_never_imports_psutil(wd: Wdbot, bots: Path) -> None:
    """Regression (issue 29): ``procs``, ``identity`` and the stop's walks read the process
    table with psutil, loaded by every running supervisor for its whole life."""
    wd.home.mkdir(exist_ok=True)
    (wd.home / "config.toml").write_text("[resources]\ninterval = 0.2\nconsecutive = 2\n")
    wd("start", str(write_bot(bots, "tree.py", TREE)), "--max-memory", "500M")
    wd("start", str(write_bot(bots, "crashy.py", CRASHY)), "--restart", "always")
    wd("start", str(write_bot(bots, "leaky.py", LEAKY)), "--max-fds", "64")
    wait_until(lambda: "started on_failure" in wd.stdout("crashy") or
               wd.stdout("crashy").count("started") >= 2, "crashy's restart")
    wait_until(lambda: "started fd_limit" in wd.stdout("leaky"), "leaky's restart at its fd limit")
    tree = wd.wait_state("tree", "running")
    wait_until(lambda: "\nup " in wd.stdout("tree"), "the tree bot's line")
    wd("stop", "crashy")
    assert psutil_loaded(wd) == []

    supervisor = wd.status()["supervisor"]["pid"]
    os.kill(supervisor, signal.SIGKILL)
    wait_until(lambda: gone(supervisor), "the supervisor's death")
    adopted = wd.bot("tree")  # a new supervisor adopts the tree
    assert wd.status()["supervisor"]["pid"] != supervisor and adopted["pid"] == tree["pid"]
    child = int(re.findall(r"^up (\d+)$", wd.stdout("tree"), re.M)[0])
    os.kill(tree["pid"], signal.SIGKILL)  # an adopted bot's crash: its child is a leftover
    wait_until(lambda: wd.bot("tree")["pid"] not in (None, tree["pid"]), "the adopted bot's restart")
    wait_until(lambda: gone(child), "the leftover child stopped")
    wd("stop", "tree")
    assert psutil_loaded(wd) == []
