"""What ``wdbot start`` and the status say about auto-install (issue 26): a start its own
up-front scan refused fails at once, and a repaired bot looks repaired, not crashed."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Wdbot, build_wheel, wait_until, write_bot

RUN_FOREVER = "import time\nprint('ok', flush=True)\ntime.sleep(600)\n"


def test_start_reports_what_its_up_front_scan_refused(wd: Wdbot, bots: Path) -> None:
    """Regression (issue 26): a bot importing a name off the allowlist at its top level was
    reported 'running' (exit 0) by 'wdbot start', then 'errored' half a second later."""
    bot = write_bot(bots, "unlisted.py", "import wdtest_off_the_list\n" + RUN_FOREVER)
    done = wd("start", str(bot), check=False)
    assert done.code == 1, done.out
    [line] = done.err.strip().splitlines()
    assert "'wdtest_off_the_list' is not in the auto-install allowlist" in line
    assert "'wdbot allow wdtest_off_the_list=DIST'" in line and "Traceback" not in line
    assert "running" not in done.out
    status = wd.bot("unlisted")  # kept, errored: the allow and a restart are all it takes
    assert status["state"] == "errored" and status["last_exit"]["reason"] == "missing_module"
    assert status["restarts"] == 0 and not wd.events("start", "unlisted"), "never spawned"

    # Imports a run may find where the scan cannot (a path the bot adds itself) still run.
    (bots / "vendor").mkdir()
    (bots / "vendor" / "wdtest_vendored.py").write_text("")
    tweak = write_bot(bots, "tweak.py", "import sys\nsys.path.insert(0, __file__.rsplit('/', 1)[0]"
                      " + '/vendor')\nimport wdtest_vendored\n" + RUN_FOREVER)
    wd("start", str(tweak))
    wait_until(lambda: "ok" in wd.stdout("tweak"), "the bot with its own path")


def test_a_repaired_bot_shows_what_was_installed_and_no_crash(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 26): after a successful repair the table still showed the old
    'No module named ...' as LAST EXIT and counted a restart, on a healthy bot."""
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "wdtest-late", "1.0", {"wdtest_late/__init__.py": ""})
    wd.env.update({"UV_FIND_LINKS": str(wheels), "UV_NO_INDEX": "1"})
    wd("allow", "wdtest_late=wdtest-late")
    # Only the crash path can see this import: the repair after a missing module.
    bot = write_bot(bots, "late.py", "import importlib\nimportlib.import_module('wdtest_late')\n"
                    + RUN_FOREVER)
    wd("start", str(bot))
    wait_until(lambda: "ok" in wd.stdout("late"), "the repaired bot past its import")
    status = wd.wait_state("late", "running")
    assert status["start_reason"] == "repaired"
    assert status["restarts"] == 0, "a repair is not a restart"
    assert status["last_exit"] is None, "the missing module is not the bot's last exit"
    assert status["repaired"]["module"] == "wdtest_late"
    assert status["repaired"]["installed"] == ["wdtest-late 1.0"]
    [row] = [line for line in wd("status").out.splitlines() if line.startswith("late ")]
    assert "repaired: installed wdtest-late 1.0" in row and "No module named" not in row
    assert "repaired: installed wdtest-late 1.0 for 'wdtest_late'" in wd("status", "late").out
    assert wd.events("exit", "late")[0]["reason"] == "missing_module", "the event log keeps it"
