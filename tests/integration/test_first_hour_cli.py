"""Issue 24, point 7's smaller items and point 8's habits, through the real ``wdbot``: hints
name the bot, ``logs -f`` headers, ``status --watch`` off a terminal, ``status`` saying it
started a supervisor, the exit mark of a bot that ends errored, one backoff figure, ``secret
set`` for a typo, ``secret rm BOT CONNECTION``, ``logs`` with no name, ``ls``, ``flush``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_for_line, wait_until, write_bot
from watchdog_runtime.common.units import duration

WAITER = """\
import sys, time
from pathlib import Path
print("{name} err-line", file=sys.stderr, flush=True)
print("{name} first-out", flush=True)
while not Path({go!r}).exists():
    time.sleep(0.05)
print("{name} followed-out", flush=True)
time.sleep(600)
"""


def _popen(wd: Wdbot, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "watchdog_runtime", *args], env=wd.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _end(proc: subprocess.Popen[str]) -> str:
    """Ctrl-C the follower; what it printed after the lines already read."""
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    return out


def test_hints_and_events_name_the_bot(wd: Wdbot, bots: Path) -> None:
    """Issue 24 point 7: hints, events and alerts said 'wdbot logs NAME --stderr', NAME literal."""
    wd("start", str(write_bot(bots, "exiter.py", "import sys\nsys.exit(3)\n")), "--restart", "never")
    bot = wd.wait_state("exiter", "errored", "exited")
    hint = bot["last_exit"]["diagnosis"]["hint"]
    assert "wdbot logs exiter --stderr" in hint and "NAME" not in hint, hint
    assert all("NAME" not in str(e.get("diagnosis")) for e in wd.events("exit", "exiter"))


def test_logs_follow_puts_each_line_under_its_own_header(wd: Wdbot, bots: Path) -> None:
    """Issue 24 point 7: 'logs -f' printed followed stdout lines under the '==> stderr <==' header."""
    go = bots / "go"
    wd("start", str(write_bot(bots, "hdr.py", WAITER.format(name="hdr", go=str(go)))))
    wait_until(lambda: "first-out" in wd.stdout("hdr"), "the bot's first lines")
    follower = _popen(wd, "logs", "hdr", "-f", "-n", "5")
    seen: list[str] = []
    assert follower.stdout is not None
    try:
        seen.append(wait_for_line(follower.stdout, "err-line"))
        go.touch()
        while "followed-out" not in seen[-1]:
            seen.append(wait_for_line(follower.stdout, ""))
    finally:
        _end(follower)
    headers = [line for line in seen if "==>" in line]
    assert headers and "==> stdout" in headers[-1], seen
    assert seen[-1] == "hdr followed-out\n", "no prefix: the header says whose it is"


def test_status_watch_off_a_terminal_prints_snapshots(wd: Wdbot, bots: Path) -> None:
    """Issue 24 point 7: 'status --watch' printed nothing when its stdout was not a terminal."""
    wd("start", str(write_bot(bots, "watched.py", "import time\ntime.sleep(600)\n")))
    watcher = _popen(wd, "status", "--watch")
    try:
        assert watcher.stdout is not None
        assert "watched" in wait_for_line(watcher.stdout, "watched", timeout_s=20)
        assert "watched" in wait_for_line(watcher.stdout, "watched", timeout_s=20), "a second snapshot"
    finally:
        _end(watcher)


def test_status_says_when_it_started_a_supervisor(wd: Wdbot, bots: Path) -> None:
    """Issue 24 point 5: 'status' started a supervisor, even right after 'shutdown', silently."""
    wd("start", str(write_bot(bots, "held.py", "import time\ntime.sleep(600)\n")))
    assert "started a supervisor" not in wd("status").err
    wd("shutdown")
    again = wd("status")
    assert again.err.count("started a supervisor") == 1 and len(again.err.strip().splitlines()) == 1


def test_exit_mark_says_errored_for_a_bot_that_ends_errored(wd: Wdbot, bots: Path) -> None:
    """Issue 24 point 7: the exit mark said '…; starting' for a bot that then ended errored."""
    wd("start", str(write_bot(bots, "lacks.py", "import time\nimport no_such_module_zq\n")),
       "--no-auto-install", check=False)
    wd.wait_state("lacks", "errored")
    marks = [x for x in wd.stdout("lacks").splitlines() if x.startswith("--- wdbot") and "exited" in x]
    assert marks and marks[-1].endswith("; errored ---"), marks


def test_one_backoff_one_figure(wd: Wdbot, bots: Path) -> None:
    """Issue 24 point 7: one backoff was '0.8s' in the events and '1s' in the log mark."""
    wd("start", str(write_bot(bots, "looper.py", "raise SystemExit(1)\n")),
       "--backoff-initial", "0.9", "--backoff-max", "0.9")
    event = wait_until(lambda: [e for e in wd.events("exit", "looper") if e.get("delay_s")], "a backoff")[0]
    figure = duration(event["delay_s"])
    wait_until(lambda: "backoff" in wd.stdout("looper"), "the exit mark")
    first = next(x for x in wd.stdout("looper").splitlines() if "backoff" in x)
    assert first.endswith(f"; backoff {figure} ---"), (first, event["delay_s"])
    wd("stop", "looper")


def test_secret_set_for_an_unknown_bot_is_refused_unless_forced(wd: Wdbot, bots: Path) -> None:
    """Issue 24 point 7: 'secret set' for a bot name not registered (a typo) stored silently."""
    wd("start", str(write_bot(bots, "alpha.py", "import time\ntime.sleep(600)\n")))
    typo = wd("secret", "set", "alpah", "binance.apiKey", input="k\n", check=False)
    assert typo.code == 2 and "'alpah'" in typo.err and "alpha" in typo.err and "--force" in typo.err
    assert len(typo.err.strip().splitlines()) == 1
    assert wd("secret", "list").out == ""
    wd("secret", "set", "alpha", "binance.apiKey", input="k\n")
    wd("secret", "set", "later", "binance.apiKey", "--force", input="k\n")  # before a first start
    assert wd("secret", "list").out.split() == ["alpha", "binance.apiKey", "later", "binance.apiKey"]


def test_secret_rm_of_a_connection_removes_its_fields(wd: Wdbot, bots: Path) -> None:
    """Issue 24 point 7: 'secret rm BOT CONNECTION' said there was no such secret while
    CONNECTION.KEY existed."""
    wd("start", str(write_bot(bots, "trader.py", "import time\ntime.sleep(600)\n")))
    wd("secret", "set", "trader", "binance", input="apiKey=a1\nsecret=s1\n")
    wd("secret", "set", "trader", "kraken.apiKey", input="k\n")
    done = wd("secret", "rm", "trader", "binance")
    assert "binance.apiKey" in done.out and "binance.secret" in done.out
    assert wd("secret", "list", "trader").out.split() == ["trader", "kraken.apiKey"]
    assert wd("secret", "rm", "trader", "bin", check=False).code == 2, "a prefix is not a connection"


def test_logs_without_a_name_ls_and_flush(wd: Wdbot, bots: Path) -> None:
    """Issue 24 point 8: 'wdbot logs' with no name, 'wdbot ls' and 'wdbot flush [NAME]'."""
    go = bots / "go"
    for name in ("aa", "bb"):
        wd("start", str(write_bot(bots, f"{name}.py", WAITER.format(name=name, go=str(go)))))
        wait_until(lambda n=name: "first-out" in wd.stdout(n), f"{name}'s first lines")  # type: ignore[misc]
    every = wd("logs", "-n", "5").out.splitlines()
    assert "aa | aa first-out" in every and "bb | bb err-line" in every
    assert all(re.match(r"^(aa|bb) \| ", line) for line in every), every
    follower = _popen(wd, "logs", "-f", "-n", "1", "--stdout")
    try:
        assert follower.stdout is not None
        wait_for_line(follower.stdout, "first-out")  # printed once the follow's start is taken
        go.touch()
        assert wait_for_line(follower.stdout, "followed-out").startswith(("aa | ", "bb | "))
    finally:
        _end(follower)
    assert [b["name"] for b in json.loads(wd("ls", "--json").out)["bots"]] == ["aa", "bb"]
    log = wd.home / "bots" / "aa" / "logs" / "stdout.log"
    old = wd.home / "bots" / "aa" / "logs" / "stdout.log.1"
    old.write_text("rotated\n" * 100)
    inode = os.stat(log).st_ino
    flushed = wd("flush", "aa").out
    assert flushed.startswith("aa: logs emptied")
    assert (os.stat(log).st_ino, log.stat().st_size, old.stat().st_size) == (inode, 0, 0), "in place"
    assert wd.stdout("bb") != "", "only the bot named"
    assert wd("flush", "ghost", check=False).code == 2


def test_the_hint_after_allow_says_restart(wd: Wdbot, bots: Path) -> None:
    """Issue 24 point 7: a stale hint ('run wdbot allow ...') stayed on the page after 'allow'."""
    wd("start", str(write_bot(bots, "needs.py", "import frobzq_notreal\n")), check=False)
    before = wd.wait_state("needs", "errored")["last_exit"]["diagnosis"]["hint"]
    assert "wdbot allow frobzq_notreal=DIST" in before, before
    wd("allow", "frobzq_notreal=frobzq-dist")
    after = wd.bot("needs")["last_exit"]["diagnosis"]["hint"]
    assert "wdbot allow" not in after and "'wdbot restart needs'" in after, after
    shown = wd("status", "needs").out
    assert "wdbot allow" not in shown and "wdbot restart needs" in shown


@pytest.mark.parametrize("command", ["halt", "reduce", "resume"])
def test_a_mode_command_that_starts_a_supervisor_names_itself(wd: Wdbot, command: str) -> None:
    """'wdbot halt --all' on a home without a supervisor said 'wdbot mode: started a
    supervisor …', the control operation's name, not the command the user typed."""
    done = wd(command, "--all")
    assert done.err.startswith(f"wdbot {command}: started a supervisor for "), done.err
    assert len(done.err.strip().splitlines()) == 1
