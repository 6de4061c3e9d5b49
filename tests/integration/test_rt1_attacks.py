"""Red-team regressions (rt1) for issue 23's claims: the disk bound for every writer, redaction
of everything the supervisor writes, the web's bounded bodies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_until, write_bot
from tests.integration.test_log_rotation import _bytes_held

IDLE_HELPER = """
import os, subprocess, sys, time
HELPER = '''
import os, time
while not os.path.exists({go!r}):
    time.sleep(0.01)
chunk = b"helper " + b"h" * 65528 + b"\\\\n"
for _ in range({chunks}):
    os.write(1, chunk)
open({flag!r}, "w").close()
time.sleep(600)
'''
helper = subprocess.Popen([sys.executable, "-c", HELPER])  # stdout inherited: stdout.log as it is now
open({pid_file!r}, "w").write(str(helper.pid))
seen, ino = 0, os.fstat(1).st_ino
line = ("bot " + "b" * 1019 + "\\n") * 64
while seen < {rotations}:  # the bot's own output: a rotation every few checks
    sys.stdout.write(line)
    sys.stdout.flush()
    time.sleep(0.01)
    if os.fstat(1).st_ino != ino:
        seen, ino = seen + 1, os.fstat(1).st_ino
open({go!r}, "w").close()  # only now the helper, quiet until here, writes
time.sleep(600)
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_quiet_helper_outlived_by_five_rotations_still_cannot_grow_a_deleted_log(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (rt1, claim 1): the rotation keeps a descriptor of only the last 4 files it
    left behind, and drops first one that has not grown. A helper that inherited stdout and
    stayed quiet while the bot's own output rotated the log 6 times lost its watcher; when it
    then wrote, its writes went into a deleted file nobody emptied (unbounded, unseen)."""
    max_bytes, backups, total_chunks = 256 * 1024, 2, 480  # the helper: 30 MB
    wd.home.mkdir(parents=True, exist_ok=True)
    (wd.home / "config.toml").write_text(f'[logs]\nmax_size = "256K"\nbackups = {backups}\n')
    go, flag, pid_file = tmp_path / "go", tmp_path / "helper-done", tmp_path / "helper.pid"
    source = IDLE_HELPER.format(go=str(go), flag=str(flag), pid_file=str(pid_file), chunks=total_chunks,
                                rotations=6)
    wd("start", str(write_bot(bots, "quiet.py", source)))
    pid = wd.bot("quiet")["pid"]
    helper = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), "the helper's pid"))
    logs = wd.home / "bots" / "quiet" / "logs"
    wait_until(go.exists, "the bot to see six rotations of its log", 120)
    wait_until(flag.exists, "the helper to write its 30 MB", 120)
    bound = max_bytes * (backups + 2) + 1024 * 1024
    held = 0

    def within() -> bool:
        nonlocal held
        held = _bytes_held(logs, [pid, helper])
        return held <= bound

    try:
        wait_until(within, f"the logs within {bound} bytes, deleted files included", 20)
    except AssertionError as exc:
        raise AssertionError(f"{held} bytes held under {logs}") from exc
