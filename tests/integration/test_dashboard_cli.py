"""``wdbot status`` (dashboard, one bot in detail, live in a real pseudo-terminal) and
``wdbot events`` through the real CLI and supervisor."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import Wdbot, wait_for_line, write_bot

CRASHER = """
import sys
print("about to read the order book", file=sys.stderr)
book = {"asks": []}
best = book["bids"][0]
"""


def test_dashboard_and_detail_show_why_a_bot_died(wd: Wdbot, bots: Path) -> None:
    wd("start", str(write_bot(bots, "crasher.py", CRASHER)), "--restart", "never")
    wd("start", str(write_bot(bots, "steady.py", "import time\ntime.sleep(600)\n")))
    wd.wait_state("crasher", "errored")
    text = wd("status").out
    assert "\x1b[" not in text, "plain text off a terminal"
    assert "1/2 running" in text
    assert "crash (exit 1) [payload] KeyError: 'bids'" in " ".join(text.split())
    assert "crasher: payload: read fields with wd.num/wd.get" in " ".join(text.split())
    assert "latest events" in text and "crasher  exit crash (exit 1)" in text
    detail = wd("status", "crasher").out
    assert "recent exits" in detail and "about to read the order book" in detail
    assert f"venv            {wd.home / 'bots' / 'crasher' / 'venv'}" in detail


def test_events_lists_filters_and_follows(wd: Wdbot, bots: Path) -> None:
    wd("start", str(write_bot(bots, "one.py", "import time\ntime.sleep(600)\n")))
    lines = wd("events").out.splitlines()
    assert any(" supervisor_start " in f" {line} " for line in lines)
    assert any(line.split()[1:3] == ["one", "start"] for line in lines)
    raw = [json.loads(line) for line in wd("events", "one", "--json").out.splitlines()]
    assert raw and {e["bot"] for e in raw} == {"one"}
    bad = wd("events", "nosuch", check=False)
    assert bad.code == 2 and bad.err.count("\n") == 1 and "no bot named 'nosuch'" in bad.err
    with subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "events", "-f", "-n", "1"],
                          env=wd.env, stdout=subprocess.PIPE, text=True) as follower:
        assert follower.stdout is not None
        try:
            wait_for_line(follower.stdout, " ")  # the last event so far: it now follows the log
            wd("start", str(write_bot(bots, "two.py", "import time\ntime.sleep(600)\n")))
            line = wait_for_line(follower.stdout, " start pid")
            assert line.split()[1] == "two"
        finally:
            follower.send_signal(signal.SIGINT)
            follower.wait(timeout=20)


def test_watch_redraws_in_a_terminal_until_ctrl_c(wd: Wdbot, bots: Path) -> None:
    wd("start", str(write_bot(bots, "watched.py", "import time\ntime.sleep(600)\n")))
    main, child = pty.openpty()
    watcher = subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "status", "--watch"],
                               env={**wd.env, "COLUMNS": "160", "LINES": "40", "TERM": "xterm"},
                               stdin=child, stdout=child, stderr=child, start_new_session=True)
    os.close(child)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        # Each redraw moves the cursor up over the previous frame: count the frames drawn.
        while seen.count(b"watched") < 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 1.0)
            if ready:
                seen += os.read(main, 65536)
        assert seen.count(b"watched") >= 3, seen[-2000:]
        assert b"\x1b[" in seen  # colours and cursor moves: a real terminal
        os.killpg(watcher.pid, signal.SIGINT)
        assert watcher.wait(timeout=20) == 0
    finally:
        if watcher.poll() is None:
            os.killpg(watcher.pid, signal.SIGKILL)
        os.close(main)
    assert b"Traceback" not in seen
