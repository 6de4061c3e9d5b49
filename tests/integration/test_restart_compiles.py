"""``restart`` and ``up`` compile the bot's new file before stopping anything (issue 24,
point 4), through the real ``wdbot``: a typo leaves the running bot running, with one line."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Wdbot, wait_until, write_bot

RUNNING = "import time\nprint('up', flush=True)\nwhile True:\n    time.sleep(1)\n"
TYPO = "import time\nprint('up', flush=True\nwhile True:\n    time.sleep(1)\n"


def test_a_restart_after_a_typo_leaves_the_running_bot_running(wd: Wdbot, bots: Path) -> None:
    """Regression (issue 24): 'wdbot restart' stopped the live bot first, then found the
    syntax error, and the bot ended errored."""
    bot = write_bot(bots, "typo.py", RUNNING)
    wd("start", str(bot))
    pid = wd.wait_state("typo", "running")["pid"]
    bot.write_text(TYPO)
    done = wd("restart", "typo", check=False)
    assert done.code == 1
    [line] = done.err.strip().splitlines()
    assert "typo still runs its old code" in line and f"{bot}:2: SyntaxError" in line
    assert line.endswith("fix it, then 'wdbot restart typo'")
    after = wd.bot("typo")
    assert after["state"] == "running" and after["pid"] == pid
    bot.write_text(RUNNING)
    wd("restart", "typo")
    wait_until(lambda: wd.bot("typo")["pid"] not in (None, pid), "the fixed bot's restart")


def test_up_with_new_options_and_a_typo_leaves_the_running_bot_running(wd: Wdbot, bots: Path) -> None:
    """Regression (issue 24): 'wdbot up' with changed options restarted a bot whose file no
    longer compiled, and took it down."""
    bot = write_bot(bots, "upped.py", RUNNING)
    upfile = bots / "wdbot.toml"
    upfile.write_text('[bots.upped]\npath = "upped.py"\n')
    wd("up", str(upfile))
    pid = wd.wait_state("upped", "running")["pid"]
    bot.write_text(TYPO)
    upfile.write_text('[bots.upped]\npath = "upped.py"\nstop_timeout = 4\n')
    done = wd("up", str(upfile), check=False)
    assert done.code == 1
    assert "upped still runs its old code" in done.err and "SyntaxError" in done.err
    after = wd.bot("upped")
    assert after["state"] == "running" and after["pid"] == pid
