"""``--watch``: an edit restarts the bot (reason ``reload``) after its code compiled and its new
dependencies were installed; a broken edit leaves the running bot alone and says why. The
bots write their start reasons to a file beside them: the handshake the tests wait on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Wdbot, build_wheel, wait_until, write_bot

pytestmark = pytest.mark.slow

BOT = """
import os, time
HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = {version}
with open(os.path.join(HERE, "starts.txt"), "a") as fh:
    fh.write(f"{{os.environ['WDBOT_START_REASON']}} v{{VERSION}}\\n")
while True:
    with open(os.path.join(HERE, "trades.csv"), "a") as fh:  # its own output: never a reload
        fh.write("tick\\n")
    time.sleep(0.2)
"""


def starts(folder: Path) -> list[str]:
    path = folder / "starts.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_an_edit_restarts_the_bot_and_a_broken_one_does_not(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "edited.py", BOT.format(version=1))
    wd("start", str(bot), "--watch")
    wait_until(lambda: (bots / "trades.csv").exists() and starts(bots) == ["first_start v1"],
               "the first start, and the bot writing its own files")
    first_pid = wd.bot("edited")["pid"]

    bot.write_text(BOT.format(version=1).replace("VERSION = 1", "VERSION = (1"))  # a broken edit
    failed = wait_until(lambda: wd.events("reload_failed", "edited"), "the broken edit to be refused")
    assert "SyntaxError" in failed[0]["error"] and failed[0]["files"] == ["edited.py"]
    status = wd.bot("edited")
    assert status["pid"] == first_pid and status["state"] == "running"
    assert "not reloaded, the running code stays" in status["reload_error"]

    bot.write_text(BOT.format(version=2))
    wait_until(lambda: starts(bots)[-1:] == ["reload v2"], "the reload with the new code")
    status = wd.wait_state("edited", "running")
    assert status["pid"] != first_pid and status["reload_error"] is None
    assert status["last_exit"]["reason"] == "reload" and status["last_exit"]["diagnosis"] is None
    assert starts(bots) == ["first_start v1", "reload v2"], "the bot's own files never reloaded it"
    assert '"failures": 0' in (wd.home / "registry.json").read_text()


def test_new_dependencies_are_installed_before_the_restart(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "wdtest-reloaddep", "1.0", {"wdtest_reloaddep.py": "VALUE = 'from the wheel'\n"})
    wd.env.update({"UV_FIND_LINKS": str(wheels), "UV_NO_INDEX": "1"})
    bot = write_bot(bots, "growing.py", BOT.format(version=1))
    wd("start", str(bot), "--watch")
    wait_until(lambda: starts(bots) == ["first_start v1"], "the first start")
    bot.write_text('# /// script\n# dependencies = ["wdtest-reloaddep"]\n# ///\n'
                   "import wdtest_reloaddep\nprint(wdtest_reloaddep.VALUE, flush=True)\n"
                   + BOT.format(version=2))
    wait_until(lambda: starts(bots)[-1:] == ["reload v2"], "the reload")
    wait_until(lambda: "from the wheel" in wd.stdout("growing"), "the new dependency in use")
    assert wd.bot("growing")["restarts"] == 1


def test_a_dependency_that_cannot_be_installed_keeps_the_old_code(wd: Wdbot, bots: Path,
                                                                  tmp_path: Path) -> None:
    wd.env.update({"UV_FIND_LINKS": str(tmp_path), "UV_NO_INDEX": "1"})
    bot = write_bot(bots, "stuck.py", BOT.format(version=1))
    wd("start", str(bot), "--watch")
    wait_until(lambda: starts(bots) == ["first_start v1"], "the first start")
    pid = wd.bot("stuck")["pid"]
    bot.write_text('# /// script\n# dependencies = ["wdtest-nowhere-to-be-found"]\n# ///\n'
                   + BOT.format(version=2))
    failed = wait_until(lambda: wd.events("reload_failed", "stuck"), "the install to fail")
    assert "wdtest-nowhere-to-be-found" in failed[0]["error"]
    assert wd.bot("stuck")["pid"] == pid and starts(bots) == ["first_start v1"]


def test_a_fix_saved_while_errored_starts_the_bot(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "broken.py", "def main(:\n    pass\n")
    wd("start", str(bot), "--watch", check=False)
    wd.wait_state("broken", "errored")
    bot.write_text(BOT.format(version=3))
    wait_until(lambda: starts(bots) == ["reload v3"], "the fixed bot to start")
    wd.wait_state("broken", "running")
