"""The install machinery's scratch folders (drift probes unpack whole wheels and sdists) are
named after the process that made them; a supervisor killed mid-probe left its folder in
/tmp for good (``wdbot-drift-*``, tens of MB each). The next supervisor removes those of
processes that no longer run, and only those."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import Wdbot, wait_until, write_bot
from watchdog_runtime.installs.scratch import PREFIX, scratch


def dead_pid() -> int:
    """The pid of a process that has ended (reaped: nothing runs under it any more)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    return int(done.stdout)


def test_the_next_supervisor_removes_the_scratch_a_killed_one_left(wd: Wdbot, bots: Path,
                                                                   tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    wd.env["TMPDIR"] = str(tmp)
    left = tmp / f"{PREFIX}{dead_pid()}-drift-abc123"
    (left / "unpacked" / "pkg").mkdir(parents=True)
    (left / "unpacked" / "pkg" / "__init__.py").write_text("x = 1\n")
    alive = tmp / f"{PREFIX}{os.getpid()}-drift-def456"  # a probe still running: this process
    alive.mkdir()
    other = tmp / "wdbot-scratch-notapid-drift"  # not of the form: not ours to judge
    other.mkdir()
    wd("start", str(write_bot(bots, "idle.py", "import time\ntime.sleep(600)\n")))
    wait_until(lambda: not left.exists(), "the left folder removed")
    assert alive.is_dir() and other.is_dir()
    log = (wd.home / "supervisor.log").read_text()
    assert f"removed {left}, left by a process that no longer runs" in log


def test_a_scratch_folder_is_named_after_its_process_and_gone_after_the_block(tmp_path: Path,
                                                                              monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    with scratch("drift") as folder:
        assert folder.parent == tmp_path and folder.name.startswith(f"{PREFIX}{os.getpid()}-drift-")
        (folder / "x").write_text("x")
    assert not folder.exists()
