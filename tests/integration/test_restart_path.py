"""Crash to restart (issue 29): the bot file's compiled plan cached by the file's identity and
used again only for that very file; the exit record written without the durable writer's
imports; a restart's run written ahead alone, and still adopted after a supervisor kill -9.

The bots say what they see in files beside them (the handshakes the tests wait on); the
test makes them crash by creating a file they look for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.helpers import Wdbot, roots, wait_until, write_bot
from tests.integration.test_trust import edit_registry, kill_supervisor

FAST = ("--backoff-initial", "0", "--backoff-max", "0")

# One line per start: its version, whether the bootstrap had to parse the file (its parser,
# ``common.syntax``, loaded: ``ast`` itself no longer is), and whether recover ran; at the
# exit, which of the durable writer's imports the process had loaded by then (after the exit
# record was written).
CRASHER = '''
import atexit, os, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
PARSED = "watchdog_runtime.common.syntax" in sys.modules
RECOVERED = []

def note(line):
    with open(os.path.join(HERE, "seen.txt"), "a") as fh:
        fh.write(line + "\\n")

@atexit.register
def loaded():
    heavy = sorted(m for m in ("json", "pathlib", "tempfile", "typing") if m in sys.modules)
    note("exit " + (",".join(heavy) or "-"))
{recover}
if __name__ == "__main__":  # after recover(ctx), where there is one
    note(f"{version} parsed={{PARSED}} recovered={{bool(RECOVERED)}} pid={{os.getpid()}}")
    crash = os.path.join(HERE, "crash")
    while not os.path.exists(crash):
        time.sleep(0.02)
    os.unlink(crash)
    sys.exit(3)
'''
RECOVER = "def recover(ctx):\n    RECOVERED.append(1)\n"


def source(version: str, recover: bool) -> str:
    return CRASHER.format(version=version, recover=RECOVER if recover else "")


def starts(bots: Path) -> list[str]:
    path = bots / "seen.txt"
    return [x for x in path.read_text().splitlines() if not x.startswith("exit")] if path.exists() else []


def crash_and_wait(bots: Path, count: int) -> str:
    """Make the running bot crash; the line of the start that follows (the ``count``-th)."""
    (bots / "crash").touch()
    return wait_until(lambda: starts(bots)[count - 1] if len(starts(bots)) >= count else None,
                      f"start {count}")


def replace_file(path: Path, text: str, like: os.stat_result) -> None:
    """A new file renamed over ``path``, with the old one's size and times: only its inode says
    it changed (the hardest edit a cache keyed on less would miss)."""
    assert len(text.encode()) == like.st_size
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    os.utime(tmp, ns=(like.st_atime_ns, like.st_mtime_ns))
    os.replace(tmp, path)


def test_the_parse_cache_is_used_for_the_same_file_and_never_for_an_edited_one(
        wd: Wdbot, bots: Path) -> None:
    """Issue 29: the bootstrap parsed the bot's file for ``recover`` at every start; it now
    keeps the compiled plan keyed by the file's identity (path, device, inode, size, mtime).
    An edit that adds ``recover`` and one that removes it are each run as written, even one
    that keeps the size and the modification time (a file renamed over it)."""
    bot = write_bot(bots, "cached.py", source("v1", recover=False))
    wd("start", str(bot), *FAST)
    wait_until(lambda: starts(bots), "the first start")
    assert starts(bots)[0].startswith("v1 parsed=True recovered=False")
    assert crash_and_wait(bots, 2).startswith("v1 parsed=False recovered=False"), "the cache unused"

    bot.write_text(source("v2", recover=True))  # recover appears
    assert crash_and_wait(bots, 3).startswith("v2 parsed=True recovered=True")
    assert crash_and_wait(bots, 4).startswith("v2 parsed=False recovered=True")

    same_size = source("v3", recover=True).replace("RECOVERED.append(1)", "RECOVERED.clear()  ")
    replace_file(bot, same_size, bot.stat())  # recover is a no-op now: nothing recovered
    assert crash_and_wait(bots, 5).startswith("v3 parsed=True recovered=False")

    bot.write_text(source("v4", recover=False))  # recover disappears
    assert crash_and_wait(bots, 6).startswith("v4 parsed=True recovered=False")
    bot_status = wd.wait_state("cached", "running")
    assert bot_status["restarts"] == 5


def test_a_crash_is_recorded_without_the_durable_writers_imports(wd: Wdbot, bots: Path) -> None:
    """Issue 29: the exit record was written with ``common.durable``, whose imports (json,
    tempfile, pathlib, typing) cost every crash about 20 ms before its restart; the record
    is still there, read as before (the exit's code), and those modules are not loaded."""
    bot = write_bot(bots, "lean.py", source("v1", recover=False))
    wd("start", str(bot), *FAST)
    wait_until(lambda: starts(bots), "the first start")
    crash_and_wait(bots, 2)
    exits = [x for x in (bots / "seen.txt").read_text().splitlines() if x.startswith("exit")]
    assert exits == ["exit -"]
    record = json.loads((wd.home / "bots" / "lean" / "run" / "exit.json").read_text())
    assert record["code"] == 3 and record["phase"] == "run"
    assert wd.events("exit", "lean")[0]["code"] == 3


def _run_of(wd: Wdbot, name: str) -> dict[str, Any]:
    doc = json.loads((wd.home / "registry.json").read_text())
    return next(e["run"] for e in doc["bots"] if e["spec"]["name"] == name)


def test_a_restart_written_ahead_alone_is_adopted_after_a_supervisor_kill(wd: Wdbot, bots: Path) -> None:
    """Issue 29: a crash restart writes its run id ahead in the bot's own file, the registry
    after it. A supervisor killed before the registry caught up leaves it naming the run
    before (its process gone): the next supervisor adopts the live process by the run id
    written ahead, and starts no second copy."""
    bot = write_bot(bots, "ahead.py", source("v1", recover=False))
    wd("start", str(bot), *FAST)
    wait_until(lambda: starts(bots), "the first start")
    before = _run_of(wd, "ahead")
    crash_and_wait(bots, 2)
    pid = wd.wait_state("ahead", "running")["pid"]
    assert pid != before["pid"]
    kill_supervisor(wd)

    def lagging(entry: dict[str, Any]) -> None:  # as if the kill came before the registry's write
        entry["run"], entry["pending_run"] = before, None
    edit_registry(wd, "ahead", lagging)
    good = wd.home / "registry.json.last-good"  # written after the registry: it lags as well
    good.write_text((wd.home / "registry.json").read_text())

    bot_status = wd.wait_state("ahead", "running")
    assert bot_status["pid"] == pid and roots(wd.home, "ahead") == [pid]
    assert wd.events("adopt", "ahead") and len(starts(bots)) == 2


def test_a_first_crash_after_a_healthy_run_restarts_at_once(wd: Wdbot, bots: Path) -> None:
    """Issue 29: a crash after a run that lasted ``--min-uptime`` waited a jittered part of
    ``--backoff-initial`` (here up to an hour); it now restarts at once, and a crash soon
    after that one waits as the backoff says."""
    bot = write_bot(bots, "steady.py", source("v1", recover=False))
    wd("start", str(bot), "--min-uptime", "2", "--backoff-initial", "3600", "--backoff-max", "3600")
    wait_until(lambda: starts(bots), "the first start")
    wait_until(lambda: wd.bot("steady")["uptime_s"] >= 2.2, "a healthy run")
    (bots / "crash").touch()
    exit_ = wait_until(lambda: wd.events("exit", "steady"), "the crash")[0]
    assert exit_["delay_s"] == 0.0
    wait_until(lambda: len(starts(bots)) >= 2, "the restart")
    (bots / "crash").touch()  # a crash soon after (up less than --min-uptime): the backoff again
    wait_until(lambda: wd.bot("steady")["state"] == "backoff", "the backoff")
    assert wd.events("exit", "steady")[1]["delay_s"] > 0
