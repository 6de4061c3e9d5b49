"""``wdbot run BOT.py``: a bot in the foreground, in its venv, with recover and the SDK wired as
under the supervisor; Ctrl-C is a stop (its clean-up runs); never a second copy (issue 24)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers import Wdbot, wait_for_line, write_bot

TRIED = """\
import sys
import watchdog_runtime as wd

def recover(ctx):
    print(f"recovering {ctx.reason} in {sys.prefix}", flush=True)

def main():
    wd.on_shutdown(lambda: print("on_shutdown ran", flush=True))
    try:
        print("ready", sys.argv[1:], flush=True)
        while not wd.wait(60):
            pass
    finally:
        print("finally ran", flush=True)

if __name__ == "__main__":
    main()
"""


def test_run_is_the_bot_in_the_foreground_and_ctrl_c_is_a_stop(wd: Wdbot, bots: Path) -> None:
    """Issue 24 point 7: no way to run a bot in the foreground (the README's minimal bot did
    nothing under plain python)."""
    bot = write_bot(bots, "tried.py", TRIED)
    proc = subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "run", str(bot), "--", "--paper"],
                            env=wd.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        recovering = wait_for_line(proc.stdout, "recovering", timeout_s=60)
        assert recovering.startswith("recovering first_start in ") and "/bots/tried/venv" in recovering
        assert "['--paper']" in wait_for_line(proc.stdout, "ready")
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert "on_shutdown ran" in out and "finally ran" in out, (out, err)
    assert "Traceback" not in err
    assert wd.status()["bots"] == [], "a run registers nothing"


def test_run_refuses_a_bot_the_supervisor_runs(wd: Wdbot, bots: Path) -> None:
    """A bot registered and running under the supervisor is never run twice."""
    bot = write_bot(bots, "twice.py", "import time\ntime.sleep(600)\n")
    wd("start", str(bot))
    pid = wd.bot("twice")["pid"]
    refused = wd("run", str(bot), check=False)
    assert refused.code == 1 and "runs under the supervisor" in refused.err, refused.err
    assert len(refused.err.strip().splitlines()) == 1 and "Traceback" not in refused.err
    assert wd.bot("twice")["pid"] == pid and wd.bot("twice")["state"] == "running"
    missing = wd("run", str(bots / "nope.py"), check=False)
    assert missing.code == 2 and "no such file" in missing.err
