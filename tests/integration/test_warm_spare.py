"""``--warm-spare`` (issue 29) through the real wdbot: a crash is back through the spare (the
released pid is the spare's, its top-level imports already loaded, none of the bot's own code
run before), the spare is never a copy, it dies with its supervisor (kill -9) and is never
adopted, no spare is left after a stop or a shutdown, and the released process gets the
environment and secrets of its release, not those of the spare's start."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.helpers import Wdbot, roots, wait_until, write_bot

BOT = """
import json, os, sys
PRELOADED = "fractions" in sys.modules  # before its own imports: loaded by the spare?
import fractions  # a top-level import the spare loads
import localmod  # the bot's own module: only ever imported by the bot's code
import watchdog_runtime as wd
HERE = os.path.dirname(os.path.abspath(__file__))
try:
    secret = wd.connection("binance").get("apiKey")
except wd.ConnectionUnavailable:
    secret = None
line = {"pid": os.getpid(), "preloaded": PRELOADED, "reason": os.environ["WDBOT_START_REASON"],
        "run_id": os.environ["WDBOT_RUN_ID"], "backups": os.environ["WDBOT_LOG_BACKUPS"],
        "secret": secret, "cwd": os.getcwd()}
with open(os.path.join(HERE, "starts.jsonl"), "a") as fh:
    fh.write(json.dumps(line) + "\\n")
import time
while True:
    time.sleep(1)
"""

LOCAL = """
import os
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "localmod.log"), "a") as fh:
    fh.write(f"{os.getpid()}\\n")
"""


def starts(folder: Path) -> list[dict[str, Any]]:
    path = folder / "starts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def start_bot(wd: Wdbot, bots: Path, *options: str) -> Path:
    write_bot(bots, "localmod.py", LOCAL)
    bot = write_bot(bots, "spared.py", BOT)
    wd("start", str(bot), "--warm-spare", "--backoff-initial", "0.01", *options)
    wait_until(lambda: len(starts(bots)) == 1, "the first start")
    return bot


def ready_spare(wd: Wdbot) -> int:
    """The pid of the bot's spare once it has loaded everything and waits."""
    def check() -> int | None:
        spare = wd.bot("spared").get("warm_spare")
        return spare["pid"] if spare and spare["ready"] else None

    return wait_until(check, "a ready warm spare")


def crash(wd: Wdbot, bots: Path) -> dict[str, Any]:
    """SIGKILL the bot's process; the start that follows, as the bot wrote it."""
    before = len(starts(bots))
    os.kill(wd.bot("spared")["pid"], signal.SIGKILL)
    wait_until(lambda: len(starts(bots)) > before, "the restart after the crash")
    return starts(bots)[-1]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def test_a_crash_is_back_through_the_spare_with_its_imports_loaded(wd: Wdbot, bots: Path) -> None:
    start_bot(wd, bots)
    first = starts(bots)[0]
    assert first["preloaded"] is False  # a cold start imports it itself
    spare = ready_spare(wd)
    assert spare != first["pid"]
    assert (bots / "localmod.log").read_text().split() == [str(first["pid"])]  # not by the spare
    after = crash(wd, bots)
    assert after["pid"] == spare and after["preloaded"] is True and after["reason"] == "crash"
    assert after["cwd"] == str(bots)
    status = wd.bot("spared")
    assert status["pid"] == spare and status["state"] == "running"
    def recorded() -> dict[str, Any] | None:
        registry = json.loads((wd.home / "registry.json").read_text())
        return next(b for b in registry["bots"] if b["spec"]["name"] == "spared")["run"]

    run = wait_until(recorded, "the run recorded")
    assert run["pid"] == spare and run["run_id"] == after["run_id"]  # recorded as a spawn is
    assert (bots / "localmod.log").read_text().split() == [str(first["pid"]), str(spare)]
    assert f"started pid {spare} (crash)" in wd.stdout("spared")
    assert ready_spare(wd) not in (spare, first["pid"])  # replaced after the release


@pytest.mark.slow
def test_the_spare_is_no_copy(wd: Wdbot, bots: Path) -> None:
    start_bot(wd, bots)
    spare = ready_spare(wd)
    bot = wd.bot("spared")
    assert roots(wd.home, "spared") == [bot["pid"]]  # no marker, home or name while it waits
    assert spare not in (b["pid"] for b in wd.status()["bots"])
    sampled = wait_until(lambda: wd.bot("spared").get("procs"),
                         "a resource sample")
    assert sampled == 1  # the bot's tree, without the spare
    crash(wd, bots)
    assert roots(wd.home, "spared") == [spare]  # the released spare names the bot, as a spawn


@pytest.mark.slow
def test_the_spare_dies_with_its_supervisor_and_is_never_adopted(wd: Wdbot, bots: Path) -> None:
    start_bot(wd, bots)
    spare = ready_spare(wd)
    bot = wd.bot("spared")["pid"]
    supervisor = wd.supervisor_pid()
    assert supervisor is not None
    os.kill(supervisor, signal.SIGKILL)
    wait_until(lambda: gone(spare), "the spare to read its end of file and exit")
    assert len(starts(bots)) == 1  # it ran no bot code on the way out
    after = wd.bot("spared")  # a new supervisor adopts the bot, and only the bot
    assert after["pid"] == bot and after["state"] == "running"
    assert roots(wd.home, "spared") == [bot]
    assert ready_spare(wd) not in (spare, bot)  # the new supervisor's own spare


@pytest.mark.slow
def test_no_spare_is_left_after_a_stop_a_halt_or_a_shutdown(wd: Wdbot, bots: Path) -> None:
    start_bot(wd, bots, "--on-halt", "stop")
    spare = ready_spare(wd)
    wd("stop", "spared")
    wait_until(lambda: gone(spare), "the spare to go with the stop")
    assert "warm_spare" not in wd.bot("spared")
    wd("start", "spared")
    spare = ready_spare(wd)
    wd("halt", "spared")  # it never reads wd.mode(): --on-halt stop stops it
    wd.wait_state("spared", "stopped")
    wait_until(lambda: gone(spare), "the spare to go with the halt's stop")
    assert "warm_spare" not in wd.bot("spared")
    wd("resume", "spared")
    wd("start", "spared")
    spare = ready_spare(wd)
    wd("shutdown")
    wait_until(lambda: gone(spare), "the spare to go with the shutdown")
    assert len(starts(bots)) == 3


@pytest.mark.slow
def test_the_released_process_gets_the_environment_and_secrets_of_its_release(
        wd: Wdbot, bots: Path) -> None:
    start_bot(wd, bots)
    first = starts(bots)[0]
    assert first["secret"] is None and first["backups"] == "5"
    spare = ready_spare(wd)
    (wd.home / "config.toml").write_text("[logs]\nbackups = 3\n")  # after the spare started
    wd("secret", "set", "spared", "binance.apiKey", "--force", input="sk-fresh\n")
    after = crash(wd, bots)
    assert after["pid"] == spare
    assert after["backups"] == "3" and after["secret"] == "sk-fresh" and after["run_id"] != first["run_id"]
