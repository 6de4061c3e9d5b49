"""Bots start with the default signal dispositions, whatever the shell that ran ``wdbot``
left ignored (a real daemon, real signals).

An ignored signal stays ignored across ``fork`` and ``exec``: ``nohup wdbot start`` leaves
SIGHUP ignored, and a command in a script's background job (``wdbot start bot.py &``)
SIGINT and SIGQUIT. Every bot started by that daemon inherited them: a bot stopped with
SIGHUP or SIGQUIT (or a helper it runs) would wait out its timeout, and a bot's
``KeyboardInterrupt`` never came. systemd resets them for its services; the daemon now does
for its bots, and goes on ignoring them itself.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.helpers import Wdbot, read_or_empty, wait_until, write_bot

REPORTER = """
import os, time
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "status.tmp"), "w") as out:
    out.write(open("/proc/self/status").read())
os.rename(os.path.join(here, "status.tmp"), os.path.join(here, "status"))
while True:
    time.sleep(1)
"""

SHELL_IGNORED = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)


def _ignored(status: str) -> set[signal.Signals]:
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
    return {sig for sig in SHELL_IGNORED if mask >> (sig - 1) & 1}



def test_a_bot_starts_with_the_defaults_when_wdbot_was_started_with_signals_ignored(
        wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "reporter.py", REPORTER)
    before = {sig: signal.signal(sig, signal.SIG_IGN) for sig in SHELL_IGNORED}  # as nohup and `&` do
    try:
        wd("start", str(bot))  # the client, and the daemon it spawns, inherit them
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    status = wait_until(lambda: read_or_empty(bots / "status"), "the bot's own /proc/self/status")
    assert _ignored(status) == set(), "the bot inherited what the shell ignored"
    daemon = wd.supervisor_pid()
    assert daemon is not None
    assert _ignored(Path(f"/proc/{daemon}/status").read_text()) == set()  # handled, not ignored
    os.kill(daemon, signal.SIGHUP)  # what nohup was for: the daemon lives on
    os.kill(daemon, signal.SIGQUIT)
    assert wd.bot("reporter")["state"] == "running" and wd.supervisor_pid() == daemon
