"""Stopping reaches every process a bot started, even those that ignore SIGTERM or left the
bot's process group with setsid()."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psutil

from tests.helpers import Wdbot, wait_until, write_bot

STUBBORN = r'''
import json, os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
here = os.path.dirname(os.path.abspath(__file__))
IGNORE = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
child = subprocess.Popen([sys.executable, "-c", IGNORE + "time.sleep(600)"])
# A child that starts a grandchild leaving the group with setsid(), then exits: the
# grandchild is orphaned and is no descendant of the bot any more.
ESCAPE = (IGNORE + "import os, sys\n"
          "if os.fork() == 0:\n"
          "    os.setsid()\n"
          "    open(sys.argv[1], 'w').write(str(os.getpid()))\n"
          "    time.sleep(600)\n")
escape_file = os.path.join(here, "escaped.pid")
subprocess.Popen([sys.executable, "-c", ESCAPE, escape_file]).wait()
# And a grandchild in a new session whose parent stays alive.
nested = subprocess.Popen([sys.executable, "-c", IGNORE + "import subprocess, sys, time, os\n"
    "g = subprocess.Popen([sys.executable, '-c', 'import os, signal, time; os.setsid(); "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
    "open(sys.argv[1], 'w').write(str(g.pid))\n"
    "time.sleep(600)\n", os.path.join(here, "nested.pid")])
while not (os.path.exists(escape_file) and os.path.exists(os.path.join(here, "nested.pid"))):
    time.sleep(0.02)
pids = [os.getpid(), child.pid, nested.pid, int(open(escape_file).read()),
        int(open(os.path.join(here, "nested.pid")).read())]
tmp = os.path.join(here, "pids.tmp")
open(tmp, "w").write(json.dumps(pids))
os.replace(tmp, os.path.join(here, "pids.json"))
while True:
    time.sleep(1)
'''


def alive(pid: int, created: float) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_stop_kills_the_whole_tree_including_escapees(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "stubborn.py", STUBBORN)
    wd("start", str(bot), "--stop-timeout", "1")
    pids_file = bots / "pids.json"
    pids = json.loads(wait_until(lambda: pids_file.exists() and pids_file.read_text(), "the tree"))
    assert len(set(pids)) == 5
    created = {pid: psutil.Process(pid).create_time() for pid in pids}
    escaped = psutil.Process(pids[3])
    assert escaped.ppid() != pids[0] and os.getsid(pids[3]) != pids[0], "it really escaped"

    wd("stop", "stubborn")

    survivors = [pid for pid in pids if alive(pid, created[pid])]
    assert survivors == []
    status = wd.bot("stubborn")
    assert status["state"] == "stopped" and status["pid"] is None
    assert status["last_exit"]["reason"] == "stopped"
    assert status["last_exit"]["signal"] == signal.SIGKILL, "it ignored SIGTERM"


def test_a_graceful_bot_exits_on_sigterm(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "polite.py", """
        import signal, sys, time
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        print("ready", flush=True)
        while True:
            time.sleep(1)
    """)
    wd("start", str(bot), "--stop-timeout", "60")
    log = wd.home / "bots" / "polite" / "logs" / "stdout.log"
    wait_until(lambda: "ready" in log.read_text(), "ready line")
    wd("stop", "polite")
    last = wd.bot("polite")["last_exit"]
    assert (last["code"], last["signal"], last["reason"]) == (0, None, "stopped")


def test_leftover_children_of_a_crashed_bot_are_killed_before_the_restart(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "leaky.py", """
        import os, subprocess, sys
        here = os.path.dirname(os.path.abspath(__file__))
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(os.path.join(here, "children.txt"), "a") as fh:
            fh.write(f"{child.pid}\\n")
        raise SystemExit(1)
    """)
    wd("start", str(bot), "--backoff-initial", "5", "--backoff-max", "5", "--stop-timeout", "1")
    wd.wait_state("leaky", "backoff")
    children = [int(x) for x in (bots / "children.txt").read_text().split()]
    assert children and not any(psutil.pid_exists(c) and psutil.Process(c).status() != "zombie"
                                for c in children)
