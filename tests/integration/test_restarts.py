"""Exits and what follows: backoff, policies, syntax errors. The bots count their own starts
in a file, which is the handshake the tests wait on."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.helpers import Wdbot, wait_until, write_bot

COUNTING = """
import os, sys
with open(os.path.join(os.path.dirname(__file__), "{name}.starts"), "a") as fh:
    fh.write(os.environ["WDBOT_START_REASON"] + "\\n")
{tail}
"""


def counting_bot(folder: Path, name: str, tail: str) -> tuple[Path, Path]:
    bot = write_bot(folder, f"{name}.py", COUNTING.format(name=name, tail=tail))
    return bot, folder / f"{name}.starts"


def starts(counter: Path) -> list[str]:
    return counter.read_text().split() if counter.exists() else []


def test_a_crashing_bot_restarts_with_backoff(wd: Wdbot, bots: Path) -> None:
    bot, counter = counting_bot(bots, "crasher", 'raise RuntimeError("exchange said no")')
    wd("start", str(bot), "--backoff-initial", "0.05", "--backoff-max", "0.2")
    wait_until(lambda: len(starts(counter)) >= 4, "four starts")
    assert starts(counter)[:2] == ["first_start", "crash"]
    status = wd.bot("crasher")
    assert status["restarts"] >= 3
    assert status["last_exit"]["reason"] == "crash" and status["last_exit"]["code"] == 1
    assert status["last_exit"]["error"] == "RuntimeError: exchange said no"


def test_the_backoff_wait_is_visible(wd: Wdbot, bots: Path) -> None:
    bot, _ = counting_bot(bots, "slowback", "raise SystemExit(3)")
    wd("start", str(bot), "--backoff-initial", "1000", "--backoff-max", "1000")
    bot_status = wait_until(
        lambda: (b := wd.bot("slowback"))["state"] == "backoff" and (b["next_start_in_s"] or 0) > 0.5 and b,
        "a visible backoff")
    assert 0.5 < bot_status["next_start_in_s"] <= 1000
    assert bot_status["last_exit"]["code"] == 3 and bot_status["pid"] is None
    wd("stop", "slowback")  # a stop cancels the wait at once
    assert wd.bot("slowback")["state"] == "stopped"


def test_clean_exit_under_on_failure_is_not_restarted(wd: Wdbot, bots: Path) -> None:
    bot, counter = counting_bot(bots, "done", "print('finished')")
    wd("start", str(bot))
    status = wd.wait_state("done", "exited")
    assert status["last_exit"]["reason"] == "clean_exit" and status["restarts"] == 0
    assert starts(counter) == ["first_start"]


def test_always_restarts_a_clean_exit(wd: Wdbot, bots: Path) -> None:
    bot, counter = counting_bot(bots, "again", "print('once more')")
    wd("start", str(bot), "--restart", "always", "--backoff-initial", "0.05", "--backoff-max", "0.1")
    wait_until(lambda: len(starts(counter)) >= 3, "three starts")
    assert starts(counter)[1] == "restart"


def test_never_leaves_a_crashed_bot_errored(wd: Wdbot, bots: Path) -> None:
    bot, counter = counting_bot(bots, "once", "raise ValueError('bad payload')")
    wd("start", str(bot), "--restart", "never")
    status = wd.wait_state("once", "errored")
    assert status["last_exit"]["reason"] == "crash" and starts(counter) == ["first_start"]


def test_a_syntax_error_fails_the_start_at_once_and_leaves_the_bot_errored(wd: Wdbot, bots: Path) -> None:
    # Regression (issue 14): 'wdbot start' said "running" (exit 0) before the bot turned errored.
    bot = write_bot(bots, "broken.py", "x = 1\nprint('hello'\n")
    result = wd("start", str(bot), check=False)
    assert result.code == 1
    [line] = result.err.strip().splitlines()
    assert f"{bot}:2: SyntaxError: " in line and line.endswith("fix it, then 'wdbot start broken'")
    status = wd.bot("broken")
    assert status["state"] == "errored" and status["last_exit"]["reason"] == "syntax_error"
    assert status["restarts"] == 0 and status["pid"] is None
    stderr = wd.home / "bots" / "broken" / "logs" / "stderr.log"
    assert not stderr.exists() or not stderr.read_text(), "it never ran"
    assert wd("status", "--check", check=False).code == 1
    # The fix and a start are all it takes.
    bot.write_text("print('fixed', flush=True)\nimport time\ntime.sleep(600)\n")
    wd("start", "broken")
    wait_until(lambda: "fixed" in wd.stdout("broken"), "the fixed bot")


def test_a_syntax_error_saved_while_it_runs_is_errored_without_retries(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "later.py", "import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    wd("start", str(bot), "--backoff-initial", "0.01", "--backoff-max", "0.01")
    wait_until(lambda: "up" in wd.stdout("later"), "the bot to run")
    bot.write_text("print('hello'\n")
    os.kill(wd.bot("later")["pid"], signal.SIGKILL)
    status = wd.wait_state("later", "errored")
    assert status["last_exit"]["reason"] == "syntax_error"
    assert "SyntaxError" in status["last_exit"]["error"]
    stderr = (wd.home / "bots" / "later" / "logs" / "stderr.log").read_text()
    assert stderr.count("SyntaxError") == 1, "it ran exactly once with the broken file"


def test_a_deleted_bot_file_is_one_line_that_says_which_and_what_to_do(wd: Wdbot, bots: Path) -> None:
    # Regression (issue 14): status showed "unknown (?) [Errno 2] ..." and restart a bare errno.
    bot = write_bot(bots, "gone.py", "import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    wd("start", str(bot))
    wait_until(lambda: "up" in wd.stdout("gone"), "the bot to run")
    wd("stop", "gone")
    bot.unlink()
    result = wd("restart", "gone", check=False)
    assert result.code == 1
    [line] = result.err.strip().splitlines()
    assert f"{bot}: the bot's file is gone" in line and "'wdbot remove gone'" in line
    assert "Errno" not in line
    assert "the bot's file is gone" in wd.bot("gone")["last_exit"]["error"]


def test_restart_command_starts_a_new_process_with_reason_restart(wd: Wdbot, bots: Path) -> None:
    bot, counter = counting_bot(bots, "rs", "import time\ntime.sleep(600)")
    wd("start", str(bot))
    old = wd.bot("rs")["pid"]
    out = wd("restart", "rs").out
    new = wd.bot("rs")
    assert "rs: pid" in out and new["pid"] != old and new["restarts"] == 1
    assert starts(counter) == ["first_start", "restart"]
    assert new["last_exit"]["reason"] == "stopped"
