"""``make demo``: start the supervisor on the demo home with the bots of ``bots/``, show the
status, and start the web dashboard (``wdbot web``), printing its URL and login link. Safe to
run again: running bots and a running dashboard are left as they are. ``--stop`` ends the
dashboard and the supervisor (``make demo-stop``).

The paper-trading pair shows recovery: the exchange answers 5 % of requests with 503 or 429
(``wd.retry`` absorbs them), and the bot is set to crash once right after its first entry,
before placing the stop-loss; its ``recover(ctx)`` re-places the stop on the restart
(``wdbot logs paper_bot``). The exchange listens on ``$DEMO_PAPER_PORT`` (8765), the
dashboard on ``$DEMO_WEB_LISTEN`` (127.0.0.1:8377; port 0 takes a free one).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watchdog_runtime.common.home import Home  # noqa: E402 - after the path is set: runs from a clone too

PORT = os.environ.get("DEMO_PAPER_PORT", "8765")
WEB_LISTEN = os.environ.get("DEMO_WEB_LISTEN", "127.0.0.1:8377")
WEB_READY_S = 20.0
BOTS = [
    ["heartbeat.py"],
    ["flaky.py"],
    ["paper_exchange.py", "--env", f"PAPER_EXCHANGE_PORT={PORT}", "--env", "PAPER_FAIL_RATE=0.05"],
    ["paper_bot.py", "--env", f"PAPER_EXCHANGE_URL=http://127.0.0.1:{PORT}",
     "--env", "WDBOT_CRASH_AT=after_entry", "--heartbeat-timeout", "60",
     "--reduce-after", "3/10"],  # the circuit breaker: 3 crashes in 10 min and it only reduces
]


def wdbot(*args: str) -> int:
    return subprocess.call([sys.executable, "-m", "watchdog_runtime", *args], cwd=ROOT)


def web_pid(home: Home) -> int | None:
    """The demo's dashboard process, when it still runs (checked by its command line)."""
    import psutil

    try:
        pid = int((home.root / "web" / "demo.pid").read_text())
        cmdline = psutil.Process(pid).cmdline()
    except (OSError, ValueError, psutil.Error):
        return None
    return pid if "web" in cmdline and "watchdog_runtime" in cmdline else None


def start_web(home: Home) -> str | None:
    """Start ``wdbot web`` in the background once; its URL from its ready line, or None."""
    folder = home.root / "web"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = folder / "demo-web.log"
    if web_pid(home) is None:
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "web", "--listen", WEB_LISTEN],
                                    cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        (folder / "demo.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + WEB_READY_S
    while time.monotonic() < deadline:
        found = re.search(r"serving (\S+) for", log.read_text())
        if found:
            return found.group(1)
        if web_pid(home) is None:
            break
        time.sleep(0.1)
    print(f"the dashboard did not start: {log.read_text().strip() or 'no output'}", file=sys.stderr)
    return None


def stop(home: Home) -> int:
    pid = web_pid(home)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        print(f"dashboard {pid} stopped")
    return wdbot("shutdown")


def main() -> int:
    home = Home.from_env()
    if sys.argv[1:] == ["--stop"]:
        return stop(home)
    for bot, *options in BOTS:
        if wdbot("start", str(ROOT / "bots" / bot), *options) != 0:
            return 1
    status = wdbot("status")
    url = start_web(home)
    if url is None:
        return 1
    from watchdog_runtime.web.auth import load_secret

    print(f"\nThe dashboard: {url} (log in with the link below; 'wdbot web --login-link' prints it)")
    print(f"login link: {url}/login#{load_secret(home.root)}")
    print("\nNext: 'wdbot status --watch' (live), 'wdbot logs flaky -f', 'wdbot logs paper_bot'")
    print("(the crash after its first entry, and the recovery that re-placed the stop),")
    print("'make demo-stop' to end.")
    print("\nTrading controls: 'wdbot halt paper_bot --reason \"why\"' and the bot opens nothing and")
    print("sends no trading order (its stops stay), 'wdbot reduce paper_bot' closes only,")
    print("'wdbot resume paper_bot' trades again; '--all' for every bot. It persists across")
    print("restarts and reboots; 'wdbot status' shows the MODE, the web page has the buttons.")
    print("The paper bot reports its balance, equity and positions ('wdbot status paper_bot') and")
    print("notifies each fill ('wdbot events paper_bot'). To get them, and control it, in Telegram:")
    print("  pip install 'wdbot[telegram]'; wdbot secret set wdbot-telegram telegram.token --force")
    print("  (the token from @BotFather), [telegram] allow = [YOUR_CHAT_ID] in the home's config.toml,")
    print("  then 'wdbot telegram' (README: Trading controls).")
    print("The demo uses its own home: run the commands with WDBOT_HOME set as make did,")
    print("for example: WDBOT_HOME=.demo-home .venv/bin/wdbot status --watch")
    return status


if __name__ == "__main__":
    sys.exit(main())
