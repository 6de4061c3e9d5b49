"""Trading modes under attack (issue 27, red team): ways a halt did not reach a bot, through
the real ``wdbot``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_until, write_bot
from tests.integration.test_trading_modes import DEAF, seen, start_listener
from watchdog_runtime.supervisor.modes import ACK_GRACE_S


def test_halt_all_binds_a_bot_removed_and_started_again(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 27, red team): 'wdbot remove' keeps the bot's folder, and with it its
    own mode record. 'halt --all' numbered the home's record only above the bots registered
    then, so a bot resumed by name, removed, and started again after 'halt --all' came back
    *active*: its stale record outranked the emergency halt."""
    start_listener(wd, bots, tmp_path, "grid")
    wd("halt", "--all")
    wd("resume", "grid")
    wd("remove", "grid")
    wd("halt", "--all", "--reason", "exchange down")
    out = tmp_path / "grid.seen"
    out.unlink()
    wd("start", str(bots / "grid.py"), "--env", f"SEEN={out}")
    wait_until(lambda: seen(out), "the bot's first look at its mode")
    assert seen(out)[0].startswith("recover halted"), seen(out)
    assert wd.bot("grid")["mode"] == "halted"


def test_a_garbage_mode_file_reads_halted_and_raises_nowhere(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 27, red team): a mode file of deeply nested brackets (a damaged disk,
    a stray write) made json raise RecursionError, which no one caught: ``wd.mode()`` raised
    into the bot's order loop and ``wdbot status`` failed. A damaged file now reads as halted,
    as the design says; and a bot's own garbage acknowledgement is simply no acknowledgement."""
    out = start_listener(wd, bots, tmp_path, "grid")
    (wd.home / "bots" / "grid" / "mode.ack").write_text("[" * 5000)
    assert wd.bot("grid")["mode"] == "active"  # the status is still answered
    (wd.home / "mode.json").write_text("[" * 5000)
    wait_until(lambda: "seen halted may_open=False" in seen(out), f"the bot to read halted ({seen(out)})")
    bot = wd.bot("grid")
    assert bot["mode"] == "halted" and "damaged" in bot["mode_reason"]
    assert bot["state"] == "running" and bot["restarts"] == 0


def test_a_failed_acknowledgement_is_written_again_once_it_can_be(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 27, red team): the SDK marked a mode acknowledged before writing the
    acknowledgement, so one failed write (a full disk for a moment; here its temporary file's
    name taken by a folder) was never tried again: a bot that does read wd.mode() stayed 'not
    acknowledged' for good, and under --on-halt stop was stopped."""
    out = start_listener(wd, bots, tmp_path, "grid", "--on-halt", "stop")
    pid = wd.bot("grid")["pid"]
    blocker = wd.home / "bots" / "grid" / f".mode.ack.{pid}.tmp"
    blocker.mkdir()
    wd("halt", "grid")
    wait_until(lambda: "seen halted may_open=False" in seen(out), "the bot to read halted")
    assert wd.bot("grid")["mode_acknowledged"] is False  # it could not say so yet
    blocker.rmdir()
    bot = wait_until(lambda: (b := wd.bot("grid"))["mode_acknowledged"] and b, "the acknowledgement")
    assert bot["state"] == "running" and bot["pid"] == pid and not wd.events("mode_stop", "grid")


@pytest.mark.slow
def test_not_acknowledged_counts_from_the_change_not_from_the_first_look(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 27, red team): the 5 s grace before 'not acknowledged' began when
    'wdbot status' first looked, not when the mode changed: a trader who halted a deaf bot and
    looked a minute later was told it was 'waiting for the bot to read it'."""
    wd("start", str(write_bot(bots, "deaf.py", DEAF)))
    wd("halt", "deaf")
    time.sleep(ACK_GRACE_S + 0.5)  # the grace itself passing, no status asked meanwhile
    bot = wd.bot("deaf")
    assert bot["mode_acknowledged"] is False and str(bot["mode_note"]).startswith("not acknowledged")


def test_resume_by_name_under_a_damaged_home_file_says_what_to_do(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 27, red team): with HOME/mode.json damaged every bot reads halted (the
    safe side), and 'wdbot resume grid' could not change that, yet exited 0 with 'grid: halted
    (already halted)'. It now fails with one line saying which file and the command that
    writes it anew, and changes nothing."""
    start_listener(wd, bots, tmp_path, "grid")
    (wd.home / "mode.json").write_text("{torn")
    failed = wd("resume", "grid", check=False)
    assert failed.code == 1 and "resume --all" in failed.err and "mode.json" in failed.err
    assert len(failed.err.strip().splitlines()) == 1 and "Traceback" not in failed.err
    assert not (wd.home / "bots" / "grid" / "mode.json").exists()
    assert wd.bot("grid")["mode"] == "halted"
    wd("resume", "--all")
    assert wd.bot("grid")["mode"] == "active"


def test_on_halt_stop_stops_a_deaf_bot_while_the_registry_is_unreadable(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 27, red team): --on-halt stop went through the 'stop' command, which
    is refused while registry.json cannot be read; so a deaf bot kept running halted, and an
    event (and alert) saying it was 'stopped' was written twice a second, each time a lie."""
    wd("start", str(write_bot(bots, "strict.py", DEAF)), "--on-halt", "stop")
    (wd.home / "registry.json").write_text("{torn")
    wait_until(lambda: wd.events("registry_unreadable"), "the supervisor to see the registry unreadable")
    wd("halt", "strict")
    wd.wait_state("strict", "stopped")
    assert len(wd.events("mode_stop", "strict")) == 1


def test_an_acknowledgement_of_an_earlier_run_with_the_same_pid_is_none(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 27, red team): an acknowledgement was matched by record and pid only.
    After a reboot (or a container's restart) the pids come out the same, so the acknowledgement
    left by the earlier boot's process named the new, deaf one: shown 'acknowledged', and
    never stopped under --on-halt stop. It must name the live run too. (Here the earlier boot's
    file is written as it was left: same record, same pid, another run.)"""
    wd("start", str(write_bot(bots, "deaf.py", DEAF)), "--on-halt", "stop")
    pid = wd.bot("deaf")["pid"]
    wd("halt", "deaf")
    record = json.loads((wd.home / "bots" / "deaf" / "mode.json").read_text())
    (wd.home / "bots" / "deaf" / "mode.ack").write_text(
        json.dumps({"id": record["id"], "run": "an-earlier-boots-run", "pid": pid}))
    wd.wait_state("deaf", "stopped")
    assert len(wd.events("mode_stop", "deaf")) == 1
