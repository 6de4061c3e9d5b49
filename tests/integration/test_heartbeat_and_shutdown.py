"""``wd.heartbeat()`` against ``--heartbeat-timeout``, and graceful shutdown through
``wdbot stop``: real bots, real signals, the bots' own files as handshakes."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Wdbot, wait_until, write_bot


def test_a_silent_bot_is_restarted_as_hung_with_its_stacks_dumped(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "stuck.py", """
        import os, threading, time
        import watchdog_runtime as wd
        HERE = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(HERE, "starts"), "a") as fh:
            fh.write(os.environ["WDBOT_START_REASON"] + "\\n")
        for _ in range(3):
            wd.heartbeat()
            time.sleep(0.3)
        open(os.path.join(HERE, "silent"), "w").close()
        threading.Event().wait()  # stuck: a websocket read that never returns
    """)
    wd("start", str(bot), "--heartbeat-timeout", "1", "--backoff-initial", "0.01")
    wait_until(lambda: (bots / "silent").exists(), "the bot to beat and then fall silent")
    wait_until(lambda: (bots / "starts").read_text().split()[1:] == ["hang"], "a restart as hung")
    exit_event = wd.events("exit", "stuck")[0]
    assert exit_event["reason"] == "hang" and "no heartbeat for" in exit_event["error"]
    assert wd.events("limit_restart", "stuck")[0]["reason"] == "hang"
    status = wd.bot("stuck")
    assert status["last_exit"]["reason"] == "hang"
    # A planned restart: not one more crash for the backoff.
    registry = (wd.home / "registry.json").read_text()
    assert '"failures": 0' in registry
    stderr = (wd.home / "bots" / "stuck" / "logs" / "stderr.log").read_text()
    assert "most recent call first" in stderr and "stuck.py" in stderr  # faulthandler's dump


def test_a_beating_bot_is_left_alone_and_its_heartbeat_age_shows(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "alive.py", """
        import os, time
        import watchdog_runtime as wd
        HERE = os.path.dirname(os.path.abspath(__file__))
        for beat in range(1, 100000):
            wd.heartbeat()
            with open(os.path.join(HERE, "beats"), "w") as fh:
                fh.write(str(beat))
            time.sleep(0.1)
    """)
    wd("start", str(bot), "--heartbeat-timeout", "1")

    def beats() -> int:
        text = (bots / "beats").read_text() if (bots / "beats").exists() else ""
        return int(text) if text.isdigit() else 0

    wait_until(lambda: beats() >= 30, "three seconds of beats (three timeouts)")
    status = wd.bot("alive")
    assert status["state"] == "running" and status["restarts"] == 0
    assert status["heartbeat_age_s"] is not None and status["heartbeat_age_s"] < 1


def test_a_bot_that_never_beats_counts_from_its_start(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "mute.py", "import time\ntime.sleep(600)\n")
    wd("start", str(bot), "--heartbeat-timeout", "1", "--backoff-initial", "0.01")
    wait_until(lambda: wd.events("exit", "mute"), "a hang restart")
    assert "no heartbeat since the start" in wd.events("exit", "mute")[0]["error"]
    assert wd.bot("mute")["heartbeat_age_s"] is None


COOPERATIVE = """
import os
import watchdog_runtime as wd
HERE = os.path.dirname(os.path.abspath(__file__))

@wd.on_shutdown
def save():
    with open(os.path.join(HERE, "saved"), "w") as fh:
        fh.write("stopping" if wd.stopping() else "not stopping")

wd.stopping()  # cooperative from here on
open(os.path.join(HERE, "looping"), "w").close()
steps = 0
while not wd.wait(0.05):
    steps += 1
with open(os.path.join(HERE, "finished-step"), "w") as fh:
    fh.write(str(steps))
"""

BLOCKED = """
import os, time
import watchdog_runtime as wd
HERE = os.path.dirname(os.path.abspath(__file__))
wd.on_shutdown(lambda: open(os.path.join(HERE, "saved"), "w").close())
try:
    open(os.path.join(HERE, "looping"), "w").close()
    time.sleep(600)  # blocked in a call that never checks wd.stopping()
finally:
    open(os.path.join(HERE, "unwound"), "w").close()
"""


def test_stop_runs_the_shutdown_callbacks_of_a_cooperative_bot(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots / "coop", "coop.py", COOPERATIVE)
    wd("start", str(bot))
    wait_until(lambda: (bots / "coop" / "looping").exists(), "the bot's loop")
    wd("stop", "coop")
    status = wd.bot("coop")
    assert status["state"] == "stopped"
    assert status["last_exit"]["reason"] == "stopped" and status["last_exit"]["code"] == 0
    assert (bots / "coop" / "saved").read_text() == "stopping"
    assert (bots / "coop" / "finished-step").exists()  # its loop ended the step and returned
    assert '"failures": 0' in (wd.home / "registry.json").read_text()


def test_stop_unwinds_a_blocked_bot_and_runs_its_callbacks(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots / "blocked", "blocked.py", BLOCKED)
    wd("start", str(bot), "--stop-timeout", "60")
    wait_until(lambda: (bots / "blocked" / "looping").exists(), "the bot to block")
    wd("stop", "blocked")
    status = wd.bot("blocked")
    assert status["last_exit"]["code"] == 0 and status["last_exit"]["signal"] is None
    assert (bots / "blocked" / "unwound").exists() and (bots / "blocked" / "saved").exists()
    assert not wd.events("killed_leftovers", "blocked")


def test_stop_sends_a_bot_one_sigterm_not_two(wd: Wdbot, bots: Path) -> None:
    """Regression: the group signal and the per-member signal both reached the bot, and the
    second SIGTERM cut its graceful unwinding short (the SDK reads it as "stop now")."""
    bot = write_bot(bots, "counter.py", """
        import os, signal, time
        HERE = os.path.dirname(os.path.abspath(__file__))
        got = []
        def on_term(signum, frame):
            got.append(signum)
        signal.signal(signal.SIGTERM, on_term)
        open(os.path.join(HERE, "ready"), "w").close()
        while not got:
            time.sleep(0.01)
        time.sleep(0.5)  # long enough for a second SIGTERM to land
        with open(os.path.join(HERE, "count"), "w") as fh:
            fh.write(str(len(got)))
    """)
    wd("start", str(bot))
    wait_until(lambda: (bots / "ready").exists(), "the bot's handler")
    wd("stop", "counter")
    assert (bots / "count").read_text() == "1"
