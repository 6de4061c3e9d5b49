"""``make demo``'s script: starts the example bots and shows them, and can run again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import Wdbot

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_twice(wd: Wdbot) -> None:
    for _ in range(2):
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], env=wd.env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "heartbeat" in done.stdout and "flaky" in done.stdout
    states = {b["name"]: b["state"] for b in wd.status()["bots"]}
    assert set(states) == {"heartbeat", "flaky"}
    assert states["heartbeat"] == "running"
