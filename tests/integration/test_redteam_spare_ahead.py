"""Red team on issue 29 (warm spare, run written ahead), through the real wdbot: what a hostile
world can do to a bot's ``run/ahead.json`` or its waiting spare, and what must still hold."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import uuid
from pathlib import Path

import psutil
import pytest

from tests.helpers import Wdbot, wait_until, write_bot
from tests.integration.test_trust import kill_supervisor

SLEEPER = """
import time
while True:
    time.sleep(1)
"""


def _identity(pid: int) -> dict[str, object]:
    """What a run record names a process by (pid, create time, start ticks, boot id)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    ticks = int(stat.rsplit(")", 1)[1].split()[19])
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return {"pid": pid, "create_time": psutil.Process(pid).create_time(), "start_ticks": ticks,
            "boot_id": boot}


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def test_a_foreign_ahead_json_naming_an_unrelated_process_is_never_adopted(wd: Wdbot, bots: Path) -> None:
    """Red team rt29, bug: ``choose_own`` adopted the pid of a write-ahead record (meant for a
    warm spare's run) whenever that process was alive, without asking whether it was the
    bot's: an ahead.json naming any other process (copied from another bot, or garbage with a
    live pid) made the supervisor adopt it as the bot (the bot itself lost, and a ``wdbot
    stop`` then killed that unrelated process)."""
    wd("start", str(write_bot(bots, "victim.py", SLEEPER)))
    bot = wd.wait_state("victim", "running")["pid"]
    kill_supervisor(wd)
    os.kill(bot, signal.SIGKILL)
    wait_until(lambda: _gone(bot), "the bot's death")
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        record = {**_identity(other.pid), "run_id": uuid.uuid4().hex, "started_at": ""}
        (wd.home / "bots" / "victim" / "run" / "ahead.json").write_text(json.dumps(record))
        status = wd.wait_state("victim", "running")
        assert status["pid"] != other.pid
        wd("stop", "victim")
        assert other.poll() is None  # the unrelated process was never signalled
    finally:
        other.kill()
        other.wait()


@pytest.mark.slow
def test_a_garbage_ahead_json_never_crashes_the_supervisor(wd: Wdbot, bots: Path) -> None:
    """Red team rt29: an ahead.json with impossible values (a negative or huge pid, a NaN
    time) is read as a run written ahead: the supervisor must neither crash on it nor adopt
    anything by it; the bot is started again."""
    wd("start", str(write_bot(bots, "victim.py", SLEEPER)))
    bot = wd.wait_state("victim", "running")["pid"]
    kill_supervisor(wd)
    os.kill(bot, signal.SIGKILL)
    wait_until(lambda: _gone(bot), "the bot's death")
    record = {"pid": -1, "create_time": 0, "run_id": "x"}  # psutil.Process(-1) raised ValueError
    (wd.home / "bots" / "victim" / "run" / "ahead.json").write_text(json.dumps(record))
    status = wd.wait_state("victim", "running")
    assert status["pid"] not in (bot, 1)


HELPERLIB = """
import os, subprocess
child = subprocess.Popen(["sleep", "300"])
with open(os.environ["RT29_LOG"], "a") as fh:
    fh.write(f"{os.getpid()} {child.pid}\\n")
"""

HELPED = """
import time
import rt29helperlib
while True:
    time.sleep(1)
"""


@pytest.mark.slow
def test_a_helper_started_by_a_preloaded_import_dies_with_the_spare(wd: Wdbot, bots: Path,
                                                                      tmp_path: Path) -> None:
    """Red team rt29, bug: a spare whose preload started a process (a library that starts a
    helper as it is imported) left that helper behind for ever when its supervisor was killed
    -9: the spare read its end of file and ``_exit``-ed alone, and the helper carries no marker
    (only the spare's placeholders), so no sweep ever finds it."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "rt29helperlib.py").write_text(HELPERLIB)
    log = tmp_path / "helpers.log"
    wd("start", str(write_bot(bots, "helped.py", HELPED)), "--warm-spare", "--no-auto-install",
       "--env", f"PYTHONPATH={lib}", "--env", f"RT29_LOG={log}")
    spare = wait_until(lambda: (wd.bot("helped").get("warm_spare") or {}).get("pid"), "a warm spare")

    def spare_helper() -> int | None:
        lines = log.read_text().split("\n") if log.exists() else []
        return next((int(c) for p, _, c in (x.partition(" ") for x in lines) if p == str(spare)), None)

    helper = wait_until(spare_helper, "the spare's preload to start its helper")
    kill_supervisor(wd)
    wait_until(lambda: _gone(spare), "the spare to read its end of file and exit")
    try:
        wait_until(lambda: _gone(helper), "the spare's helper to go with it", timeout_s=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(helper, signal.SIGKILL)


SHADOWED = """
import os, time
import colorsys
HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "colorsys.log"), "a") as fh:
    fh.write(f"{os.getpid()} {colorsys.__file__}\\n")
if os.path.exists(os.path.join(HERE, "crash")):
    os.unlink(os.path.join(HERE, "crash"))
while not os.path.exists(os.path.join(HERE, "crash")):
    time.sleep(0.01)
raise SystemExit(3)
"""


@pytest.mark.slow
def test_a_module_saved_beside_the_bot_while_its_spare_waits_is_the_one_imported(
        wd: Wdbot, bots: Path) -> None:
    """Red team rt29, bug: the spare preloads the bot's top-level imports that are not of its
    folder; a module of that name saved in the bot's folder while the spare waited (the bot's
    own ``colorsys.py``) was never imported after the release: the preloaded library stood in
    for it, where a fresh spawn imports the bot's own file."""
    wd("start", str(write_bot(bots, "shadow.py", SHADOWED)), "--warm-spare", "--backoff-initial", "0")
    log = bots / "colorsys.log"
    wait_until(lambda: log.exists() and log.read_text().count("\n") == 1, "the first start")
    wait_until(lambda: (wd.bot("shadow").get("warm_spare") or {}).get("ready"), "a ready warm spare")
    write_bot(bots, "colorsys.py", "WHO = 'the bot'\n")
    (bots / "crash").touch()
    wait_until(lambda: log.read_text().count("\n") == 2, "the restart")
    assert log.read_text().splitlines()[1].split(" ", 1)[1] == str(bots / "colorsys.py")


STARTER = """
import os, time
HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "starts.log"), "a") as fh:
    fh.write(f"{os.getpid()}\\n")
while not os.path.exists(os.path.join(HERE, "crash")):
    time.sleep(0.01)
os.unlink(os.path.join(HERE, "crash"))
raise SystemExit(3)
"""


@pytest.mark.slow
def test_an_entry_cache_that_is_a_fifo_never_keeps_the_bot_from_starting(wd: Wdbot, bots: Path) -> None:
    """Red team rt29, bug: the bootstrap opened ``run/entry.cache`` as it found it: a FIFO
    there blocked the open for ever (the restarted bot hung before its first line, shown
    running)."""
    wd("start", str(write_bot(bots, "cached.py", STARTER)), "--backoff-initial", "0")
    log = bots / "starts.log"
    wait_until(lambda: log.exists() and log.read_text().count("\n") == 1, "the first start")
    cache = wd.home / "bots" / "cached" / "run" / "entry.cache"
    cache.unlink(missing_ok=True)
    os.mkfifo(cache)
    (bots / "crash").touch()
    wait_until(lambda: log.read_text().count("\n") == 2, "the restart's first line", timeout_s=15)
