"""The command line: bad input is one clear line and changes nothing; logs; the foreground
daemon; and a light ``--help``."""

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


@pytest.fixture
def registered(wd: Wdbot, bots: Path) -> Path:
    """A home with one running bot, so 'nothing changed' is observable."""
    wd("start", str(write_bot(bots, "base.py", "import time\ntime.sleep(600)\n")))
    return wd.home / "registry.json"


def case_args(bots: Path) -> list[tuple[list[str], int, str]]:
    text = bots / "notes.txt"
    text.write_text("hi")
    good = write_bot(bots, "good.py", "import time\ntime.sleep(600)\n")
    other = write_bot(bots / "sub", "base.py", "import time\ntime.sleep(600)\n")
    return [
        (["start", str(bots / "missing.py")], 2, "no such file"),
        (["start", str(bots)], 2, "is a folder"),
        (["start", str(text)], 2, "not a Python file"),
        (["start", str(other)], 2, "already registered"),
        (["start", str(good), "--name", "base"], 2, "already registered"),
        (["start", str(good), "--name", "bad/name"], 2, "bad bot name"),
        (["start", str(good), "--max-memory", "lots"], 2, "bad size 'lots'"),
        (["start", str(good), "--restart", "sometimes"], 2, "on-failure"),
        (["start", str(good), "--requirements", str(bots / "nope.txt")], 2, "no such file"),
        (["start", str(good), "--bogus"], 2, "unrecognized arguments: --bogus"),
        (["stop", "ghost"], 2, "no bot named 'ghost'"),
        (["restart", "ghost"], 2, "no bot named 'ghost'"),
        (["remove", "ghost"], 2, "no bot named 'ghost'"),
        (["logs", "ghost"], 2, "no bot named 'ghost'"),
        (["status", "ghost"], 2, "no bot named 'ghost'"),
        (["stop"], 2, "--all"),
        (["frobnicate"], 2, "invalid choice"),
        (["status", "--", "x"], 2, "only for 'wdbot start'"),
    ]


def test_bad_input_is_one_clear_line_and_changes_nothing(wd: Wdbot, bots: Path, registered: Path) -> None:
    before = registered.read_bytes()
    for args, code, message in case_args(bots):
        result = wd(*args, check=False)
        assert (result.code, message in result.err) == (code, True), (args, result.err)
        assert len(result.err.strip().splitlines()) == 1, (args, result.err)
        assert "Traceback" not in result.err
        assert registered.read_bytes() == before, args
    assert [b["name"] for b in wd.status()["bots"]] == ["base"]
    assert wd.bot("base")["state"] == "running"


def test_logs_last_lines_and_follow(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "talker.py", """
        import sys, time
        for i in range(30):
            print(f"line {i}")
        print("oops", file=sys.stderr)
        i = 100
        while True:
            i += 1
            print(f"line {i}")
            time.sleep(0.1)
    """)
    wd("start", str(bot))
    log = wd.home / "bots" / "talker" / "logs" / "stdout.log"
    wait_until(lambda: "line 29" in log.read_text(), "the first lines")
    out = wd("logs", "talker", "-n", "3", "--stdout").out.splitlines()
    assert len(out) == 3 and all(line.startswith("line ") for line in out)
    both = wd("logs", "talker", "-n", "1").out
    assert "==> stdout" in both and "==> stderr" in both and "oops" in both
    follower = subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "logs", "talker", "-f",
                                 "-n", "0", "--stdout"], env=wd.env, stdout=subprocess.PIPE, text=True)
    try:
        assert follower.stdout is not None
        first = wait_for_line(follower.stdout, "line ")
        second = wait_for_line(follower.stdout, "line ")
        assert first.startswith("line ") and second.startswith("line ")
        assert int(second.split()[1]) == int(first.split()[1]) + 1
    finally:
        follower.send_signal(signal.SIGINT)
        code = follower.wait(10)
        follower.stdout.close()  # type: ignore[union-attr]
    assert code == 0


def test_remove_forgets_and_purge_deletes(wd: Wdbot, bots: Path) -> None:
    for name in ("keepfiles", "purged"):
        wd("start", str(write_bot(bots, f"{name}.py", "print('hi')\n")))
    wd("remove", "keepfiles")
    wd("remove", "purged", "--purge")
    assert wd.status()["bots"] == []
    assert (wd.home / "bots" / "keepfiles" / "logs" / "stdout.log").exists()
    assert not (wd.home / "bots" / "purged").exists()


def test_foreground_daemon_serves_and_stops_its_bots_on_sigterm(wd: Wdbot, bots: Path) -> None:
    daemon = subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "daemon"], env=wd.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert daemon.stderr is not None
        wait_for_line(daemon.stderr, "serving")
        wd("start", str(write_bot(bots, "fg.py", "import time\ntime.sleep(600)\n")))
        assert wd.status()["supervisor"]["pid"] == daemon.pid
        bot_pid = wd.bot("fg")["pid"]
        second = wd("daemon", check=False)
        assert second.code == 1 and "already runs" in second.err
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)
        daemon.stdout.close()  # type: ignore[union-attr]
        daemon.stderr.close()  # type: ignore[union-attr]
    import psutil

    assert not psutil.pid_exists(bot_pid) or psutil.Process(bot_pid).status() == psutil.STATUS_ZOMBIE


def test_help_imports_no_heavy_module() -> None:
    code = ("import sys\nfrom watchdog_runtime.cli.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "for cmd in ('start', 'status', 'logs'):\n"
            "    try:\n        main([cmd, '--help'])\n    except SystemExit:\n        pass\n"
            "heavy = {'asyncio', 'rich', 'psutil', 'watchfiles', 'platformdirs'}\n"
            "print('LOADED', sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "LOADED []"


def test_status_without_bots_or_supervisor(wd: Wdbot) -> None:
    assert "no bots registered" in wd("status").out
    assert json.loads(wd("status", "--json").out) == {"supervisor": None, "bots": []}
    assert wd("status", "--check", check=False).code == 1
    assert not (wd.home / "supervisor.lock").exists(), "status alone starts no supervisor"


def test_stop_all_and_restart_all(wd: Wdbot, bots: Path) -> None:
    for name in ("one", "two"):
        wd("start", str(write_bot(bots, f"{name}.py", "import time\ntime.sleep(600)\n")))
    out = wd("stop", "--all").out
    assert "one: stopped" in out and "two: stopped" in out
    assert {b["state"] for b in wd.status()["bots"]} == {"stopped"}
    wd("restart", "--all")
    bots_now = wd.status()["bots"]
    assert {b["state"] for b in bots_now} == {"running"}
    assert {b["start_reason"] for b in bots_now} == {"restart"}


def test_status_watch_refreshes_until_ctrl_c(wd: Wdbot, bots: Path) -> None:
    """Ctrl-C ends ``status --watch`` with 0. The interrupt is sent once the watcher has drawn
    its second snapshot (off a terminal: one plain snapshot per refresh), not after a wait on
    the bot's uptime, which on a busy machine could land while the watcher was still loading
    rich, before its loop: exit 130 (the flaky failure this handshake fixes)."""
    wd("start", str(write_bot(bots, "watched.py", "import time\ntime.sleep(600)\n")))
    with subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "status", "--watch"], env=wd.env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) as watcher:
        assert watcher.stdout is not None
        wait_for_line(watcher.stdout, "supervisor pid")  # each snapshot's header
        wait_for_line(watcher.stdout, "supervisor pid")  # a refresh
        row = wait_for_line(watcher.stdout, "watched")  # the table comes before the events
        watcher.send_signal(signal.SIGINT)
        _, err = watcher.communicate(timeout=20)
    assert watcher.returncode == 0 and "Traceback" not in err
    assert "running" in row


def test_logs_show_when_the_supervisor_started_and_saw_the_bot_die(wd: Wdbot, bots: Path) -> None:
    # "It died at 2:34 AM with no logs after that line": the marks say when, and how.
    bot = write_bot(bots, "dies.py", "print('last words', flush=True)\nraise SystemExit(3)\n")
    wd("start", str(bot), "--restart", "never")
    wd.wait_state("dies", "errored")
    out = wd("logs", "dies", "--stdout", "-n", "10").out.splitlines()
    starts = [i for i, line in enumerate(out) if line.startswith("--- wdbot ") and " started pid " in line]
    exits = [i for i, line in enumerate(out) if line.startswith("--- wdbot ") and " exited: " in line]
    assert len(starts) == 1 and len(exits) == 1
    assert starts[0] < out.index("last words") < exits[0], "the marks where they happened"
    assert "(first_start)" in out[starts[0]] and "crash (exit 3)" in out[exits[0]]
    assert out[exits[0]].endswith("; errored ---")


def test_the_start_mark_is_written_by_the_bootstrap_before_the_bots_first_line(tmp_path: Path) -> None:
    """CI saw ``last words`` above the start mark: the supervisor wrote it after the spawn, and
    a bot printing at once can be quicker. The bootstrap writes it now, before the bot's code,
    with its own pid, and its children never see it."""
    source = "import os\nprint('first', os.environ.get('WDBOT_START_MARK'), flush=True)\n"
    bot = write_bot(tmp_path, "first.py", source)
    log = tmp_path / "stdout.log"
    env = {**os.environ, "WDBOT_START_MARK": "--- wdbot T started pid {pid} (first_start) ---"}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", "import watchdog_runtime.bot.bootstrap as b; b.main()",
                                 str(bot)], stdout=out, env=env)
    assert proc.wait(60) == 0
    mark = f"--- wdbot T started pid {proc.pid} (first_start) ---"
    assert log.read_text().splitlines() == [mark, "first None"]


def test_timestamps_prefix_every_line_the_bot_writes(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "stamped.py", """
        import sys, time
        print("one\\ntwo", flush=True)
        sys.stdout.write("three, ")
        sys.stdout.write("still three\\n")
        print("to stderr", file=sys.stderr, flush=True)
        time.sleep(600)
    """)
    plain = write_bot(bots, "plain.py", "print('bare', flush=True)\nimport time\ntime.sleep(600)\n")
    wd("start", str(bot), "--timestamps")
    wd("start", str(plain))
    wait_until(lambda: "still three" in wd.stdout("stamped"), "the stamped lines")
    wait_until(lambda: "bare" in wd.stdout("plain"), "the plain line")
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} "
    lines = [x for x in wd.stdout("stamped").splitlines() if not x.startswith("--- wdbot")]
    assert len(lines) == 3 and all(re.match(stamp + r"(one|two|three, still three)$", x) for x in lines)
    err = (wd.home / "bots" / "stamped" / "logs" / "stderr.log").read_text()
    assert re.search(stamp + "to stderr", err)
    assert "bare" in [x for x in wd.stdout("plain").splitlines()], "off by default"
