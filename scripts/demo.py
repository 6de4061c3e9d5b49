"""``make demo``: start the supervisor on the demo home with the bots of ``bots/`` and show
the status. Safe to run again: running bots are left as they are."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOTS = ["heartbeat.py", "flaky.py"]


def wdbot(*args: str) -> int:
    return subprocess.call([sys.executable, "-m", "watchdog_runtime", *args], cwd=ROOT)


def main() -> int:
    for bot in BOTS:
        if wdbot("start", str(ROOT / "bots" / bot)) != 0:
            return 1
    status = wdbot("status")
    print("\nNext: 'wdbot status --watch' (live), 'wdbot logs flaky -f', 'make demo-stop' to end.")
    print("The demo uses its own home: run the commands with WDBOT_HOME set as make did,")
    print("for example: WDBOT_HOME=.demo-home .venv/bin/wdbot status --watch")
    return status


if __name__ == "__main__":
    sys.exit(main())
