"""``make demo``'s script: starts the example bots and shows them, and can run again."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

from tests.helpers import Wdbot, wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_twice(wd: Wdbot) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    env = {**wd.env, "DEMO_PAPER_PORT": port, "DEMO_WEB_LISTEN": "127.0.0.1:0"}
    links = set()
    try:
        for _ in range(2):
            done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], env=env,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
            assert "heartbeat" in done.stdout and "flaky" in done.stdout
            links |= set(re.findall(r"login link: (http://127\.0\.0\.1:\d+/login#\S+)", done.stdout))
        assert len(links) == 1, "the second run finds the dashboard the first one started"
    finally:
        stopped = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--stop"], env=env,
                                 capture_output=True, text=True, timeout=120)
    assert "dashboard" in stopped.stdout and "stopped" in stopped.stdout
    wd("start", str(ROOT / "bots" / "heartbeat.py"))  # --stop shut the supervisor down
    # ... and held its bots: a start brings back that bot only; the others, by name.
    assert {b["name"]: b["state"] for b in wd.status()["bots"]}["paper_bot"] == "stopped"
    for name in ("paper_exchange", "paper_bot", "flaky"):
        wd("start", name)
    states = {b["name"]: b["state"] for b in wd.status()["bots"]}
    assert set(states) == {"heartbeat", "flaky", "paper_exchange", "paper_bot"}
    assert states["heartbeat"] == "running"
    # The paper bot crashes once after its first entry; its recovery re-places the stop.
    wait_until(lambda: "re-placed the missing stop" in wd.stdout("paper_bot"),
               "the paper bot's recovery", timeout_s=90)
