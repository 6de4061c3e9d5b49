"""Issue 23 point 9, through the real ``wdbot``: a name with a trailing newline is refused,
a tail of one endless line is cut (not read whole), and a reader that closes the pipe early
ends ``logs``/``events``/``status`` quietly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import Wdbot, wait_until, write_bot

CUT_MARK = "[wdbot: line cut, its newest 16 KB shown] "  # what logfiles.CUT_MARK says

SLEEPER = "import time\ntime.sleep(600)\n"


def test_a_name_with_a_trailing_newline_is_refused_and_registers_nothing(wd: Wdbot, bots: Path) -> None:
    """Regression: ``^...$`` with ``re.match`` let ``'trader\\n'`` pass, a second bot of the
    same file that ``stop trader`` did not stop."""
    bot = write_bot(bots, "trader.py", SLEEPER)
    wd("start", str(bot))
    registry = wd.home / "registry.json"
    before = registry.read_bytes()
    for name in ("trader\n", "other\n", "x\r"):
        result = wd("start", str(bot), "--name", name, check=False)
        assert result.code == 2, (name, result.err)
        assert len(result.err.strip().splitlines()) == 1 and "bad bot name" in result.err, result.err
        assert "Traceback" not in result.err
    assert registry.read_bytes() == before
    assert [b["name"] for b in wd.status()["bots"]] == ["trader"]
    assert not (wd.home / "bots" / "trader\n").exists()


def test_status_of_a_bot_with_a_38_mb_line_shows_it_cut_with_the_mark(wd: Wdbot, bots: Path) -> None:
    """Regression: the tail read was quadratic on one long line (a tqdm bar), 12.5 s for
    ``status NAME`` on 38 MB, and showed all of it."""
    wd.home.mkdir(parents=True, exist_ok=True)
    (wd.home / "config.toml").write_text('[logs]\nmax_size = "64M"\n')
    flag = bots / "written"
    bot = write_bot(bots, "bar.py", f"""
        import sys, time
        sys.stderr.write("\\r" + "#" * (38 << 20))
        sys.stderr.flush()
        open({str(flag)!r}, "w").close()
        time.sleep(600)
        """)
    wd("start", str(bot))
    wait_until(flag.exists, "the bot to write its long line")
    shown = wd("status", "bar", timeout_s=60).out
    assert CUT_MARK.strip() in shown
    assert len(shown) < 200_000
    logs = wd("logs", "bar", "--stderr", "-n", "5", timeout_s=60).out
    assert logs.startswith(CUT_MARK) and len(logs) < 20_000


def _closed_early(wd: Wdbot, *args: str, read_first: bool) -> tuple[int, str]:
    """Run ``wdbot ARGS`` into a real pipe that the reader closes: after one line
    (``read_first``), or before anything is written."""
    with subprocess.Popen([sys.executable, "-m", "watchdog_runtime", *args], env=wd.env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        if read_first:
            assert proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        return proc.wait(timeout=60), err


def test_a_reader_that_closes_the_pipe_ends_logs_events_and_status_quietly(wd: Wdbot, bots: Path) -> None:
    """Regression: ``wdbot logs NAME | head`` printed a BrokenPipeError traceback, exit 1."""
    flag = bots / "written"
    bot = write_bot(bots, "talker.py", f"""
        import time
        for i in range(50_000):
            print("line", i, "x" * 40)
        open({str(flag)!r}, "w").close()
        time.sleep(600)
        """)
    wd("start", str(bot))
    wait_until(flag.exists, "the bot to write its lines")
    for args, read_first in ((("logs", "talker", "-n", "50000"), True),
                             (("logs", "talker", "-f", "-n", "50000"), True),
                             (("events", "-n", "100"), False),
                             (("status",), False),
                             (("status", "talker"), False)):
        code, err = _closed_early(wd, *args, read_first=read_first)
        assert (code, err) == (0, ""), (args, code, err)
