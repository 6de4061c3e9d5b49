"""Trading modes (issue 27, point 1) through the real ``wdbot``: ``halt``/``reduce``/``resume``
reach a running bot's ``wd.mode()`` (a handshake: the bot writes what it sees to a file),
outlive a kill -9 of the bot and of the supervisor and a reboot, show in the status, and a
bot that does not listen is said so (or stopped under ``--on-halt stop``)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.helpers import Wdbot, wait_until, write_bot

LISTENER = """\
import os, time
import watchdog_runtime as wd

SEEN = os.environ["SEEN"]

def say(text):
    with open(SEEN, "a") as f:
        f.write(text + "\\n")

def recover(ctx):
    say(f"recover {ctx.mode} {ctx.reason}")

def main():
    last = None
    while not wd.wait(0.05):
        now = wd.mode()
        if now != last:
            say(f"seen {now} may_open={wd.may_open()}")
            last = now
"""

DEAF = """\
import time
import watchdog_runtime as wd
while not wd.wait(0.1):
    pass
"""


def seen(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_seen(path: Path, line: str) -> None:
    wait_until(lambda: line in seen(path), f"the bot to write {line!r} (it wrote {seen(path)[-3:]})")


def start_listener(wd: Wdbot, bots: Path, tmp_path: Path, name: str, *options: str) -> Path:
    out = tmp_path / f"{name}.seen"
    wd("start", str(write_bot(bots, f"{name}.py", LISTENER)), "--env", f"SEEN={out}", *options)
    wait_seen(out, "seen active may_open=True")
    return out


def kill_supervisor(wd: Wdbot) -> None:
    pid = wd.supervisor_pid()
    assert pid
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
               "the supervisor's death")


def test_halt_reaches_the_bot_and_outlives_kill_9_and_a_reboot(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 27): there was no trading mode; freqtrade's /stopentry is lost on a
    restart. The mode set by 'wdbot halt' is now read by the bot and kept through everything."""
    out = start_listener(wd, bots, tmp_path, "grid")
    done = wd("halt", "grid", "--reason", "exchange maintenance")
    assert done.out.strip() == "grid: halted"
    wait_seen(out, "seen halted may_open=False")
    bot = wait_until(lambda: (b := wd.bot("grid"))["mode_acknowledged"] and b, "the acknowledgement")
    assert bot["mode"] == "halted" and bot["mode_reason"] == "exchange maintenance"
    assert bot["mode_since"] and bot["mode_note"] is None
    event = wd.events("mode", "grid")[-1]
    assert (event["mode"], event["reason"], event["source"]) == ("halted", "exchange maintenance", "cli")
    table = wd("status").out
    assert "MODE" in table and "halted" in table
    assert wd("halt", "grid").out.strip() == "grid: halted (already halted)"

    os.killpg(bot["pid"], signal.SIGKILL)  # the bot dies: restarted, halted from recover's first line
    wait_seen(out, "recover halted crash")

    kill_supervisor(wd)  # and the supervisor: the next one still says halted
    assert wd.bot("grid")["mode"] == "halted"

    # A reboot: nothing runs, and the registry's run is from another boot.
    pid = wd.bot("grid")["pid"]
    kill_supervisor(wd)
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
               "the bot's death")
    reg_path = wd.home / "registry.json"
    reg = json.loads(reg_path.read_text())
    reg["bots"][0]["run"]["boot_id"] = "not-this-boot"
    reg_path.write_text(json.dumps(reg))
    wd("status")
    wait_seen(out, "recover halted supervisor_restart")
    assert wd.bot("grid")["mode"] == "halted"

    wd("resume", "grid")
    wait_seen(out, "seen active may_open=True")
    assert wd.bot("grid")["mode"] == "active" and "MODE" not in wd("status").out


def test_halt_all_reaches_every_bot_and_bots_added_later(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 27): 'halt --all' is one kill switch for the home, new bots included."""
    first = start_listener(wd, bots, tmp_path, "one")
    second = start_listener(wd, bots, tmp_path, "two")
    assert sorted(wd("halt", "--all").out.split("\n")[:2]) == ["one: halted", "two: halted"]
    wait_seen(first, "seen halted may_open=False")
    wait_seen(second, "seen halted may_open=False")
    late = tmp_path / "late.seen"
    wd("start", str(write_bot(bots, "late.py", LISTENER)), "--env", f"SEEN={late}")
    wait_seen(late, "recover halted first_start")

    wd("reduce", "two", "--reason", "drawdown")
    wait_seen(second, "seen reducing may_open=False")
    wd("resume", "one")
    wait_seen(first, "seen active may_open=True")
    modes = {b["name"]: b["mode"] for b in wd.status()["bots"]}
    assert modes == {"one": "active", "two": "reducing", "late": "halted"}
    home_event = [e for e in wd.events("mode") if e["bot"] is None][-1]
    assert home_event["all"] and home_event["mode"] == "halted"


def test_bad_input_changes_nothing(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    start_listener(wd, bots, tmp_path, "calm")
    for args, code, words in ((("halt",), 2, "name a bot, or use --all"),
                              (("halt", "nosuch"), 2, "no bot named 'nosuch'"),
                              (("halt", "calm", "nosuch"), 2, "no bot named 'nosuch'"),
                              (("reduce", "calm", "--all"), 2, "not both")):
        done = wd(*args, check=False)
        assert done.code == code, done
        assert words in done.err and "Traceback" not in done.err and len(done.err.strip().splitlines()) == 1
    assert wd.bot("calm")["mode"] == "active" and not wd.events("mode")


def test_a_bot_that_does_not_listen_is_said_so_and_stopped_under_on_halt_stop(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 27): wdbot cannot see orders, so it must say when a halted bot never
    read its mode, and '--on-halt stop' stops such a bot instead."""
    wd("start", str(write_bot(bots, "deaf.py", DEAF)))
    wd("start", str(write_bot(bots, "strict.py", DEAF)), "--on-halt", "stop")
    out = start_listener(wd, bots, tmp_path, "good", "--on-halt", "stop")
    wd("halt", "--all")
    wait_seen(out, "seen halted may_open=False")
    def unheard() -> dict[str, Any] | None:
        bot = wd.bot("deaf")
        return bot if str(bot["mode_note"]).startswith("not acknowledged") else None

    deaf = wait_until(unheard, "deaf to be shown as not acknowledged")
    assert deaf["state"] == "running" and deaf["mode_acknowledged"] is False
    assert "halted (not acknowledged: this bot does not read wd.mode(); `wdbot stop` it to be sure)" \
        in wd("status").out.replace("\n  ", " ")
    wd.wait_state("strict", "stopped")
    assert wd.events("mode_stop", "strict")
    good = wd.bot("good")
    assert good["state"] == "running" and good["mode_acknowledged"] is True
    assert wd.bot("deaf")["state"] == "running"  # warn (the default) never stops


CRASHER = """\
import os, sys
import watchdog_runtime as wd

def recover(ctx):
    with open(os.environ["SEEN"], "a") as f:
        f.write(f"start {ctx.mode}\\n")

def main():
    sys.exit("boom")
"""


@pytest.mark.slow
def test_the_circuit_breaker_keeps_a_crash_looper_reducing(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 27): a bot that crashed N times within the window restarted as if
    nothing happened; with --reduce-after it restarts in reducing and stays so."""
    out = tmp_path / "loop.seen"
    wd("start", str(write_bot(bots, "loop.py", CRASHER)), "--env", f"SEEN={out}", "--reduce-after", "3/10",
       "--backoff-initial", "0.2", "--backoff-max", "0.4")
    wait_until(lambda: seen(out).count("start reducing") >= 3, f"three starts in reducing ({seen(out)})")
    lines = seen(out)
    assert lines[:3] == ["start active"] * 3 and set(lines[3:]) == {"start reducing"}
    event = wd.events("mode", "loop")[0]
    assert event["source"] == "circuit-breaker" and "crashed 3 times within 10 min" in event["reason"]
    assert len(wd.events("mode", "loop")) == 1
    assert wd.bot("loop")["mode"] == "reducing"


def test_the_on_halt_and_reduce_after_options(wd: Wdbot, bots: Path) -> None:
    """The two start options: a bad value is one line naming the fix and registers nothing;
    good ones are kept (a restart, an up-file, the next supervisor use them)."""
    path = str(write_bot(bots, "x.py", DEAF))
    for option, fix in ((("--on-halt", "maybe"), "use warn or stop"), (("--reduce-after", "3"), "N/MINUTES"),
                        (("--reduce-after", "0/5"), "N/MINUTES")):
        done = wd("start", path, *option, check=False)
        assert done.code == 2 and fix in done.err and len(done.err.strip().splitlines()) == 1, done
    assert not (wd.home / "registry.json").exists() or "x" not in (wd.home / "registry.json").read_text()
    wd("start", path, "--on-halt", "stop", "--reduce-after", " 3 / 10 ")
    spec = json.loads((wd.home / "registry.json").read_text())["bots"][0]["spec"]
    assert (spec["on_halt"], spec["reduce_after"]) == ("stop", "3/10")


CRASHES_THEN_RUNS = """\
import os, sys, time
count = int(open(os.environ["COUNT"]).read() or 0) + 1 if os.path.exists(os.environ["COUNT"]) else 1
open(os.environ["COUNT"], "w").write(str(count))
if count <= int(os.environ["CRASHES"]):
    sys.exit("boom")
print("steady", count, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_bot_removed_and_added_again_is_not_held_to_the_old_crashes(wd: Wdbot, bots: Path,
                                                                      tmp_path: Path) -> None:
    """The circuit breaker's crash times outlived 'wdbot remove': a new bot added under the
    same name was put in reducing at its first crash, for the removed bot's two."""
    path = str(write_bot(bots, "loop.py", CRASHES_THEN_RUNS))
    log = wd.home / "bots" / "loop" / "logs" / "stdout.log"
    for run, crashes in (("first", 2), ("second", 1)):
        count = tmp_path / f"{run}.count"
        wd("start", path, "--env", f"COUNT={count}", "--env", f"CRASHES={crashes}", "--reduce-after", "3/10",
           "--backoff-initial", "0.1", "--backoff-max", "0.2")
        up = f"steady {crashes + 1}"
        wait_until(lambda: log.exists() and up in log.read_text(), f"the {run} bot up")  # noqa: B023
        assert wd.bot("loop")["mode"] == "active", run
        wd("remove", "loop")
        log.unlink()
    assert not wd.events("mode", "loop")
