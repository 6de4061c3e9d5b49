"""``wdbot restart NAME [start options]`` changes a bot's options (PM2's --update-env); ``start
NAME`` says which stored options it reuses, and applies options given with it (issue 24)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import Wdbot, wait_until, write_bot

ENV_BOT = """\
import os, time
print("COLOR=" + os.environ.get("COLOR", "-"), flush=True)
time.sleep(600)
"""


def test_restart_with_an_option_changes_it_and_keeps_the_others(wd: Wdbot, bots: Path) -> None:
    """Issue 24 point 6: 'restart' took no options; a bot's --env could only change by a stop
    and a start by path."""
    wd("start", str(write_bot(bots, "envbot.py", ENV_BOT)), "--env", "COLOR=red", "--max-fds", "200")
    wait_until(lambda: "COLOR=red" in wd.stdout("envbot"), "the first run's line")
    pid = wd.bot("envbot")["pid"]
    done = wd("restart", "envbot", "--env", "COLOR=blue")
    assert "with the new options" in done.out
    wait_until(lambda: "COLOR=blue" in wd.stdout("envbot"), "the restarted bot's new env")
    assert wd.bot("envbot")["pid"] != pid
    stored = wd.bot("envbot")
    assert stored["state"] == "running"
    # The other stored option stays; the registry holds the new env.
    bots = json.loads((wd.home / "registry.json").read_text())["bots"]
    spec = next(b["spec"] for b in bots if b["spec"]["name"] == "envbot")
    assert (spec["max_fds"], spec["env"]) == (200, [["COLOR", "blue"]])
    # The same options again: a plain restart, not refused, not 'unchanged'.
    pid = wd.bot("envbot")["pid"]
    wd("restart", "envbot", "--env", "COLOR=blue")
    assert wd.wait_state("envbot", "running")["pid"] != pid


def test_restart_options_are_for_one_bot_and_checked_first(wd: Wdbot, bots: Path) -> None:
    wd("start", str(write_bot(bots, "one.py", "import time\ntime.sleep(600)\n")))
    before = (wd.home / "registry.json").read_bytes()
    for args, message in ((["restart", "--all", "--env", "A=1"], "exactly one"),
                          (["restart", "one", "--max-memory", "lots"], "bad size"),
                          (["restart", "ghost", "--env", "A=1"], "no bot named 'ghost'")):
        result = wd(*args, check=False)
        assert result.code == 2 and message in result.err, (args, result.err)
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert (wd.home / "registry.json").read_bytes() == before


def test_start_name_says_which_stored_options_it_reuses(wd: Wdbot, bots: Path) -> None:
    """Issue 24 point 6: 'start NAME' after a stop silently reused the old --env."""
    wd("start", str(write_bot(bots, "quiet.py", ENV_BOT)), "--env", "COLOR=secretish",
       "--restart", "always")
    wd("stop", "quiet")
    again = wd("start", "quiet")
    line = [x for x in again.err.splitlines() if "stored options" in x]
    assert len(line) == 1, again.err
    assert "--env COLOR=" in line[0] and "--restart always" in line[0]
    assert "secretish" not in again.err + again.out  # an env value may be a secret
    wd.wait_state("quiet", "running")


def test_start_name_with_options_applies_them(wd: Wdbot, bots: Path) -> None:
    """Issue 24 point 6: 'start NAME --env ...' ignored the options given."""
    wd("start", str(write_bot(bots, "later.py", ENV_BOT)), "--env", "COLOR=red")
    wd("stop", "later")
    wd("start", "later", "--env", "COLOR=green")
    wait_until(lambda: "COLOR=green" in wd.stdout("later"), "the new env applied by start NAME")
    # Running with other options: refused with the command that applies them.
    refused = wd("start", "later", "--env", "COLOR=pink", check=False)
    assert refused.code == 1 and "wdbot restart later" in refused.err
