"""``make demo``: start the supervisor on the demo home with the bots of ``bots/`` and show
the status. Safe to run again: running bots are left as they are.

The paper-trading pair shows recovery: the exchange answers 5 % of requests with 503 or 429
(``wd.retry`` absorbs them), and the bot is set to crash once right after its first entry,
before placing the stop-loss; its ``recover(ctx)`` re-places the stop on the restart
(``wdbot logs paper_bot``). The exchange listens on ``$DEMO_PAPER_PORT`` (8765).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = os.environ.get("DEMO_PAPER_PORT", "8765")
BOTS = [
    ["heartbeat.py"],
    ["flaky.py"],
    ["paper_exchange.py", "--env", f"PAPER_EXCHANGE_PORT={PORT}", "--env", "PAPER_FAIL_RATE=0.05"],
    ["paper_bot.py", "--env", f"PAPER_EXCHANGE_URL=http://127.0.0.1:{PORT}",
     "--env", "WDBOT_CRASH_AT=after_entry", "--heartbeat-timeout", "60"],
]


def wdbot(*args: str) -> int:
    return subprocess.call([sys.executable, "-m", "watchdog_runtime", *args], cwd=ROOT)


def main() -> int:
    for bot, *options in BOTS:
        if wdbot("start", str(ROOT / "bots" / bot), *options) != 0:
            return 1
    status = wdbot("status")
    print("\nNext: 'wdbot status --watch' (live), 'wdbot logs flaky -f', 'wdbot logs paper_bot'")
    print("(the crash after its first entry, and the recovery that re-placed the stop),")
    print("'make demo-stop' to end.")
    print("The demo uses its own home: run the commands with WDBOT_HOME set as make did,")
    print("for example: WDBOT_HOME=.demo-home .venv/bin/wdbot status --watch")
    return status


if __name__ == "__main__":
    sys.exit(main())
