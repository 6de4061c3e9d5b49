"""A supervisor started from a bot's folder imports the standard library's modules, not the
folder's own: a trading bot's ``signal.py`` (or ``queue.py``) stood in for the standard
library's and crashed the supervisor at its start ('the supervisor did not start')."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_until, write_bot
from watchdog_runtime.common.leanbytecode import FILL_AFTER_ENV, READY

SHADOWS = ("signal", "queue", "json", "selectors")
IDLE = "import time\nprint('idle', flush=True)\ntime.sleep(600)\n"


def shadowed_folder(folder: Path) -> Path:
    """A bot's folder holding modules named as the standard library's, each failing loudly."""
    for name in SHADOWS:
        (folder / f"{name}.py").write_text(f"raise SystemExit('{name}.py of the bot folder imported')\n")
    return write_bot(folder, "trader.py", IDLE)


def run_in(wd: Wdbot, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``wdbot ARGS`` from ``folder`` (the console script: no folder on its own path)."""
    wdbot = Path(sys.executable).parent / "wdbot"
    return subprocess.run([str(wdbot), *args], cwd=folder, env=wd.env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow
def test_started_from_a_bot_folder_that_shadows_the_standard_library(wd: Wdbot, bots: Path) -> None:
    shadowed_folder(bots)
    wd.env[FILL_AFTER_ENV] = "0"
    done = run_in(wd, bots, "start", "trader.py")
    assert done.returncode == 0, done.stderr + (wd.home / "supervisor.log").read_text()
    wait_until(lambda: "idle" in wd.stdout("trader"), "the bot's line")
    # The next supervisor runs lean (no site, its own search path): started from there too.
    wait_until(lambda: next(iter((wd.home / "cache" / "bytecode").glob(f"*/{READY}")), None),
               "the lean bytecode cache", 120)
    run_in(wd, bots, "shutdown")
    done = run_in(wd, bots, "start", "trader")
    assert done.returncode == 0, done.stderr + (wd.home / "supervisor.log").read_text()
    wd.wait_state("trader", "running")
    assert "bot folder imported" not in (wd.home / "supervisor.log").read_text()


@pytest.mark.slow
def test_a_foreground_daemon_run_from_that_folder_serves(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """What a person (or a user unit whose working directory is the bot's folder) runs."""
    bot = shadowed_folder(bots)
    log = tmp_path / "daemon.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "daemon"], cwd=bots,
                                env=wd.env, stdout=out, stderr=out, start_new_session=True)
    try:
        wait_until(lambda: proc.poll() is not None or wd.serving(), "the foreground daemon to serve")
        assert proc.poll() is None, log.read_text()
        wd("start", str(bot))
        wd.wait_state("trader", "running")
    finally:
        proc.terminate()
        proc.wait(60)
