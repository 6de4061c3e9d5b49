"""``wdbot daemon --up FILE`` and ``wdbot daemon --tee-logs`` through the real daemon: what a
container runs as its command, with no second command racing it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.helpers import Wdbot, wait_for_line, wait_until, write_bot

SLEEPER = "import time\ntime.sleep(600)\n"
SECRET = "SK-tee-0123456789abcdef"
TALKER = """
import itertools, sys, time
print("key SK-tee-0123456789abcdef", flush=True)
for i in itertools.count():
    print(f"said {i}", flush=True)
    print(f"complained {i}", file=sys.stderr, flush=True)
    time.sleep(0.1)
"""
FLOOD = """
import sys
line = "flood " + "x" * 200 + "\\n"
while True:
    sys.stdout.write(line * 500)
    sys.stdout.flush()
"""


@contextlib.contextmanager
def daemon(wd: Wdbot, *args: str, stdout: Any, log: Path,
           stderr: Any = None) -> Iterator[subprocess.Popen[bytes]]:
    """The real ``wdbot daemon ARGS`` (its stdout, and stderr, where the test says), once it
    serves; its stdout pipe closed once it has exited."""
    proc = None
    try:
        with wd.daemon(log, *args, stdout=stdout, stderr=stderr) as proc:
            yield proc
    finally:
        if proc is not None and proc.stdout is not None:
            with contextlib.suppress(OSError, ValueError, RuntimeError):  # its reader may be at EOF yet
                proc.stdout.close()


class Lines:
    """A pipe's lines, read by a thread into a list (a test waits on it with a bound)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def wait(self, predicate: Any, what: str) -> str:
        return wait_until(lambda: next((x for x in list(self.lines) if predicate(x)), None), what)


@pytest.mark.slow
def test_daemon_up_starts_the_file_once_serving_and_a_restart_keeps_what_runs_and_what_a_person_stopped(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """``daemon --up``: the bots run once the daemon is ready, with no other command; the
    container restarted (the supervisor killed, a new ``daemon --up``) restarts nothing that
    runs with the same options, and leaves stopped the bot a person stopped."""
    write_bot(bots, "alpha.py", SLEEPER)
    write_bot(bots, "beta.py", SLEEPER)
    upfile = bots / "wdbot.toml"
    upfile.write_text('[bots.alpha]\npath = "alpha.py"\n\n[bots.beta]\npath = "beta.py"\nstop_timeout = 3\n')
    log = tmp_path / "daemon.log"
    with daemon(wd, "--up", str(upfile), stdout=subprocess.DEVNULL, log=log) as first:
        wd.wait_state("alpha", "running")
        beta = wd.wait_state("beta", "running")
        wd("stop", "alpha")  # a person's decision
        first.kill()  # the container dies; its bots do not (they are adopted)
        first.wait(10)
    with daemon(wd, "--up", str(upfile), stdout=subprocess.DEVNULL, log=log):
        wait_until(lambda: "beta: unchanged" in log.read_text(), "the up-file applied again")
        assert wd.bot("beta")["pid"] == beta["pid"], "a bot running with the same options is kept"
        assert wd.bot("alpha")["state"] == "stopped", "a person's stop outlives the restart"
        assert "alpha left as it is (stopped)" in log.read_text()


def test_a_bad_up_file_is_refused_before_anything_runs(wd: Wdbot, bots: Path) -> None:
    write_bot(bots, "alpha.py", SLEEPER)
    upfile = bots / "wdbot.toml"
    upfile.write_text('[bots.alpha]\npath = "alpha.py"\nrestart = "sometimes"\n')
    bad = wd("daemon", "--up", str(upfile), check=False)
    assert bad.code == 2 and bad.err.count("\n") == 1, bad.err
    assert bad.err.startswith(f"wdbot daemon: error: {upfile}:3: bots.alpha.restart")
    missing = wd("daemon", "--up", str(bots / "nope.toml"), check=False)
    assert missing.code == 2 and "no such file" in missing.err and missing.err.count("\n") == 1
    (bots / "binary.toml").write_bytes(b"[bots.a]\npath = \"\xff\xfe\"\n")
    binary = wd("daemon", "--up", str(bots / "binary.toml"), check=False)
    assert binary.code == 2 and "not UTF-8 text" in binary.err and binary.err.count("\n") == 1, binary.err
    empty = wd("daemon", "--up", "", check=False)
    assert empty.code == 2 and "--up needs a file" in empty.err and empty.err.count("\n") == 1
    assert not (wd.home / "registry.json").exists() and not wd.serving()


@pytest.mark.slow
def test_tee_logs_prefixes_every_line_and_follows_an_adopted_bot(wd: Wdbot, bots: Path,
                                                                 tmp_path: Path) -> None:
    """``daemon --tee-logs``: each line of stdout and stderr, as ``NAME | line``, on the
    daemon's stdout, redacted as ``wdbot logs`` shows them; a new supervisor tees the lines
    of the bot it adopted."""
    log = tmp_path / "daemon.log"
    wd("secret", "set", "talker", "exchange.apiKey", "--force", input=SECRET)
    with daemon(wd, "--tee-logs", stdout=subprocess.PIPE, log=log) as first:
        assert first.stdout is not None
        out = Lines(first.stdout)
        wd("start", str(write_bot(bots, "talker.py", TALKER)))
        keyed = out.wait(lambda x: x.startswith("talker | key "), "the line with the key")
        assert keyed == "talker | key ***"
        out.wait(lambda x: x == "talker | said 0", "the bot's first stdout line, prefixed")
        out.wait(lambda x: x == "talker | complained 0", "its stderr line, prefixed")
        pid = wd.bot("talker")["pid"]
        first.kill()
        first.wait(10)
    with daemon(wd, "--tee-logs", stdout=subprocess.PIPE, log=log) as second:
        assert second.stdout is not None
        out = Lines(second.stdout)
        wd.wait_state("talker", "running")
        assert wd.bot("talker")["pid"] == pid, "adopted, not restarted"
        out.wait(lambda x: x.startswith("talker | said "), "the adopted bot's lines")


@pytest.mark.slow
def test_a_stdout_nobody_reads_stalls_neither_the_supervisor_nor_the_bot(wd: Wdbot, bots: Path,
                                                                         tmp_path: Path) -> None:
    """A flooding bot and a daemon stdout that nobody reads (a stuck log shipper, and the
    daemon's stderr the same pipe, as ``2>&1`` makes it): the supervisor answers, logging
    included, the bot's file keeps growing, the lines that did not fit are dropped and
    counted, and the daemon still stops when asked."""
    read, write = os.pipe()
    log = tmp_path / "daemon.log"
    try:
        with daemon(wd, "--tee-logs", stdout=write, stderr=write, log=log) as proc:
            os.close(write)
            write = -1
            wd("start", str(write_bot(bots, "flood.py", FLOOD)))
            stdout_log = wd.home / "bots" / "flood" / "logs" / "stdout.log"
            grown = wait_until(lambda: stdout_log.stat().st_size > 4_000_000 and stdout_log.stat().st_size,
                               "the bot to write while its tee is blocked")
            for n in range(3):  # answers, never stuck; and logs (a start, a stop) without blocking
                wd("start", str(write_bot(bots, f"quiet{n}.py", "import time\ntime.sleep(600)\n")))
                wd("stop", f"quiet{n}", timeout_s=30)
                assert wd("status", "--json", timeout_s=30).code == 0
            wait_until(lambda: stdout_log.stat().st_size != grown, "the bot to keep writing")
            with os.fdopen(read, "r", errors="replace") as pipe:
                read = -1
                # Read up to the note, no further (a flood also makes notes of bytes skipped).
                note = wait_for_line(pipe, " line(s) dropped: the daemon's stdout was not read fast enough")
                assert note.startswith("wdbot | --tee-logs: ")
                wait_for_line(pipe, "flood | flood xxx")
                # Not read any more: blocked again at once, and the daemon still stops.
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(60) == 0
    finally:
        for fd in (read, write):
            if fd >= 0:
                os.close(fd)


def test_a_daemon_started_with_stdout_closed_tees_into_no_file_of_its_own(wd: Wdbot, bots: Path,
                                                                           tmp_path: Path) -> None:
    """``wdbot daemon --tee-logs >&-``: the first file the daemon opened (the home's lock) got
    descriptor 1, and the tee wrote the bots' lines into it."""
    log = tmp_path / "daemon.log"
    command = f'exec "{sys.executable}" -m watchdog_runtime daemon --tee-logs >&-'
    with open(log, "ab") as err:
        proc = subprocess.Popen(["sh", "-c", command], env=wd.env, stderr=err, start_new_session=True)
    try:
        wait_until(lambda: proc.poll() is not None or wd.serving(), "the daemon to serve")
        wd("start", str(write_bot(bots, "talker.py", TALKER)))
        wait_until(lambda: "said 3" in wd.stdout("talker"), "the bot's lines in its own log")
        wd("shutdown")
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert (wd.home / "supervisor.lock").read_text() == f"{proc.pid}\n"
    leaked = [p for p in wd.home.rglob("*") if p.is_file() and b"talker | " in p.read_bytes()]
    assert not leaked
