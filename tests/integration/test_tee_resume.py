"""Issue 28: ``wdbot daemon --tee-logs`` (the container's stdout, ``podman logs``) across a
supervisor that dies: the next one tees the lines the bots wrote while none ran.

Regression (``make fleet-check``, podman step ``podman_logs``: 17/20 bots' lines): a new
supervisor followed every adopted bot from its files' ends, so whatever the bots wrote between
the kill and the new tee (PID 1's restart backoff, a second and more) never reached the
container's stdout; bots that had been up only a few seconds had no line there at all. Now
the tee keeps, in the home, how far it has written each file, and the next one goes on from
there (a line may come twice after a ``kill -9``, none is lost).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_until, write_bot
from tests.integration.test_daemon_options import Lines, daemon

COUNTER = """
import itertools, time
for i in itertools.count():
    print(f"said {i}", flush=True)
    time.sleep(0.05)
"""


def _said(lines: list[str]) -> set[int]:
    return {int(m.group(1)) for x in lines if (m := re.fullmatch(r"counter \| said (\d+)", x))}


@pytest.mark.slow
def test_the_lines_written_while_no_supervisor_ran_reach_the_next_ones_stdout(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    stdout_log = wd.home / "bots" / "counter" / "logs" / "stdout.log"
    with daemon(wd, "--tee-logs", stdout=subprocess.PIPE, log=log) as first:
        assert first.stdout is not None
        out1 = Lines(first.stdout)
        wd("start", str(write_bot(bots, "counter.py", COUNTER)))
        out1.wait(lambda x: x == "counter | said 5", "the bot's lines on the first daemon's stdout")
        first.kill()
        first.wait(10)
    # The bot goes on writing with no supervisor: ten more lines, by its own file.
    written = lambda: _said(f"counter | {x}" for x in stdout_log.read_text().splitlines())  # noqa: E731
    wait_until(lambda: max(written()) >= max(_said(out1.lines)) + 10, "ten lines with no supervisor")
    gap = set(range(max(_said(out1.lines)) + 1, max(written()) + 1))
    with daemon(wd, "--tee-logs", stdout=subprocess.PIPE, log=log) as second:
        assert second.stdout is not None
        out2 = Lines(second.stdout)
        wait_until(lambda: _said(out2.lines) and max(_said(out2.lines)) > max(gap) + 2,
                   "the adopted bot's new lines on the second daemon's stdout")
        missing = gap - _said(out2.lines)
        assert not missing, f"{len(missing)} of the {len(gap)} lines written with no supervisor never " \
            f"reached stdout: {sorted(missing)[:10]}"
        everything = set(range(0, max(_said(out2.lines)) + 1))
        assert everything - _said(out1.lines) - _said(out2.lines) == set()
