"""Red-team regressions (rt1) for issue 23's claims: the disk bound for every writer, redaction
of everything the supervisor writes, the web's bounded bodies."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_until, write_bot
from tests.integration.test_log_rotation import _bytes_held
from tests.integration.test_web_body_limit import Web, web  # noqa: F401 - the fixture

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


DIES_ON_ITS_KEY = """
import os, time
import watchdog_runtime as wd
if os.environ["WDBOT_START_REASON"] == "first_start":
    key = wd.connection("binance")["apiKey"]
    raise PermissionError(f"401 Unauthorized: exchange rejected api key {key}")
print("next run up", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_key_replaced_after_the_crash_it_caused_stays_hidden(wd: Wdbot, bots: Path) -> None:
    """Regression (rt1, claim 3): the bot's last exit was kept as it came and redacted only
    when shown, with the values stored *then*. Replacing the rejected key (what the
    'credentials rejected' hint asks for) made the old key appear in clear in ``status``,
    ``status NAME`` and the web, and in the next run's ``WDBOT_CONTEXT``."""
    old, new = "SK-old-5a1f0c9e7b3d2468-ROTATED", "SK-new-0b8e6d4c2a197355-FRESH"
    wd("secret", "set", "rotor", "binance", "--force", input=f"apiKey={old}\n")
    wd("start", str(write_bot(bots, "rotor.py", DIES_ON_ITS_KEY)), "--backoff-initial", "600",
       "--backoff-max", "600", check=False)
    bot = wd.wait_state("rotor", "backoff")
    assert "rejected api key ***" in bot["last_exit"]["error"], bot["last_exit"]
    wd("secret", "set", "rotor", "binance", input=f"apiKey={new}\n")  # the fix a person makes
    # (status NAME's tail of the bot's own stderr quotes it, as ``wdbot logs`` does: the bot's lines)
    detail = [line for line in wd("status", "rotor").out.splitlines()
              if line.startswith(("last exit", "attention"))]
    shown = "\n".join([wd("status", "--json").out, *detail])
    assert old not in shown, "status showed the replaced key"
    assert "rejected api key ***" in shown and detail, detail
    wd("restart", "rotor")
    wait_until(lambda: "next run up" in wd.stdout("rotor"), "the next run")
    pid = wd.wait_state("rotor", "running")["pid"]
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert b"rejected api key ***" in environ
    assert old.encode() not in environ, "WDBOT_CONTEXT carried the replaced key"


CHATTY_HELPER = """
import subprocess, sys, time
HELPER = "import time\\nwhile True:\\n    print('helper ' * 100, flush=True); time.sleep(0.01)"
helper = subprocess.Popen([sys.executable, "-c", HELPER])
open({pid_file!r}, "w").write(str(helper.pid))
line = "bot " + "b" * 95 + "\\n"
while True:  # 2 MB/s: the log rotates every few checks
    sys.stdout.write(line * 1000)
    sys.stdout.flush()
    time.sleep(0.05)
"""


@pytest.mark.slow
def test_a_helper_writing_to_a_rotated_log_is_named_when_the_logs_folder_is_a_link(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (rt1, claim 1): the stray-writer check compared ``/proc/PID/fd/1`` (a
    resolved path) with the logs folder as spelt; with ``bots/NAME/logs`` a link to a bigger
    disk (a common move for logs), no helper writing to a rotated or deleted copy was named."""
    elsewhere = tmp_path / "big-disk-logs"
    elsewhere.mkdir()
    (wd.home / "bots" / "linked").mkdir(parents=True)
    (wd.home / "bots" / "linked" / "logs").symlink_to(elsewhere)
    (wd.home / "config.toml").write_text('[logs]\nmax_size = "256K"\nbackups = 2\n')
    pid_file = tmp_path / "helper.pid"
    wd("start", str(write_bot(bots, "linked.py", CHATTY_HELPER.format(pid_file=str(pid_file)))))
    helper = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), "the helper's pid"))
    # One rotation: the helper writes to the rotated copy from then on. (Not 'stdout.log.2':
    # the helper keeps the copies over their budget, so the oldest is discarded at once and
    # may never be seen; a clean clone's run waited 30 s for it.)
    wait_until(lambda: (elsewhere / "stdout.log.1").exists(), "a rotation of the log")

    def named() -> bool:
        return any(w["pid"] == helper for w in wd.bot("linked")["stray_log_writers"])

    wait_until(named, "status to name the helper writing to a rotated copy", 20)
    assert any(e["pid"] == helper for e in wd.events("stray_log_writer", "linked"))


LONG_LINE = """
import time
import watchdog_runtime as wd
key = wd.connection("binance")["apiKey"]
# An exchange's reply dumped on one line, longer than the 16 KB a tail shows of a line; the
# key sits where the cut falls, its first 3 characters before it.
print("reply " + "x" * 20000 + key + "y" * (16384 - len(key) + 3), flush=True)
print("dumped", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_the_web_never_shows_the_rest_of_a_key_a_cut_line_begins_with(wd: Wdbot, bots: Path) -> None:
    """Regression (rt1, claim 3): a log line over 16 KB is shown cut to its newest part,
    behind a mark; redaction hid whole values and a value's *beginning* at a text's end, but
    not a value's *end* at the start of the kept part: the web's log view (read-only too)
    showed 30 of the key's 33 characters."""
    from tests.integration.test_supervisor_redacts import web_views

    key = "SK-live-7c3e9a1b5d2f4680-CUT-KEY"
    wd("secret", "set", "dumper", "binance", "--force", input=f"apiKey={key}\n")
    wd("start", str(write_bot(bots, "dumper.py", LONG_LINE)))
    wait_until(lambda: "dumped" in wd.stdout("dumper"), "the long line")
    shown = web_views(wd, "dumper")
    assert "line cut" in shown
    assert key[3:] not in shown, "the web showed the key but its first 3 characters"


DIES_LATER_ON_ITS_KEY = """
import os, time
import watchdog_runtime as wd
key = wd.connection("binance")["apiKey"]  # read once, at start, as bots do
print("key read", flush=True)
while not os.path.exists({go!r}):
    time.sleep(0.02)
raise PermissionError(f"401 Unauthorized: exchange rejected api key {{key}}")
"""


@pytest.mark.slow
def test_a_key_replaced_while_the_bot_still_uses_it_stays_hidden(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (rt1, claim 3): the supervisor's redactor knew only the values stored now.
    A key replaced while the running bot still held the old one (revoked at the exchange,
    the bot then dies quoting it) was written in clear to the exit event, the exit mark in
    stdout.log, the status and the next run's context."""
    old, new = "SK-old-93e1b7c5a2d4f608-INUSE", "SK-new-1f4d8a6c3e5b7092-STORED"
    go = tmp_path / "go"
    wd("secret", "set", "user", "binance", "--force", input=f"apiKey={old}\n")
    wd("start", str(write_bot(bots, "user.py", DIES_LATER_ON_ITS_KEY.format(go=str(go)))),
       "--backoff-initial", "600", "--backoff-max", "600")
    wait_until(lambda: "key read" in wd.stdout("user"), "the bot to read its key")
    wd("secret", "set", "user", "binance", input=f"apiKey={new}\n")
    go.touch()
    wd.wait_state("user", "backoff")
    assert old in (wd.home / "bots" / "user" / "logs" / "stderr.log").read_text(), "the bot quoted it"
    shown = "\n".join([wd("status", "--json").out, wd.stdout("user"),
                       (wd.home / "events.jsonl").read_text()])
    assert old not in shown, "the supervisor wrote the replaced key"
    assert "rejected api key ***" in shown


DUP_WRITER = """
import os, time
out = os.fdopen(os.dup(1), "w")  # its own descriptor of stdout.log, as some log setups make
n = 0
while True:
    for _ in range(1000):
        n += 1
        out.write(f"tick {n:09d} " + "t" * 85 + "\\n")
    out.flush()
    time.sleep(0.05)
"""


@pytest.mark.slow
def test_a_bot_writing_through_its_own_copy_of_stdout_keeps_its_lines_in_the_log(
        wd: Wdbot, bots: Path) -> None:
    """Regression (rt1, claim 1): the rotation moved only descriptors 1 and 2 to the fresh
    file. A bot writing through a duplicate of its stdout went on writing to the rotated copy,
    which the held-file watch then emptied past max_bytes (and, once deleted, at every
    growth): the bot's own lines were thrown away, never in 'wdbot logs', and no status said
    so (the bot itself is not looked at for stray writes)."""
    wd.home.mkdir(parents=True, exist_ok=True)
    (wd.home / "config.toml").write_text('[logs]\nmax_size = "256K"\nbackups = 2\n')
    wd("start", str(write_bot(bots, "duper.py", DUP_WRITER)))
    logs = wd.home / "bots" / "duper" / "logs"
    wait_until(lambda: (logs / "stdout.log.1").exists(), "the first rotation")

    def fresh_ticks() -> bool:
        return "tick " in wd("logs", "duper", "--stdout", "-n", "3").out

    wait_until(fresh_ticks, "the bot's newest lines in 'wdbot logs' after the rotation", 15)


BURST = """
import os, sys, time
while not os.path.exists({go!r}):
    time.sleep(0.02)
line = ("e" * 99 + "\\n") * 10000  # 1 MB
for _ in range(100):  # a tight error loop: 100 MB at once
    sys.stdout.write(line)
sys.stdout.write("burst over\\n")
sys.stdout.flush()
time.sleep(600)
"""


def _last_bytes(path: Path, n: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - n))
        return fh.read()


def _holds(pid: int, path: Path) -> bool:
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) == str(path):
                return True
        except OSError:
            continue
    return False


def _peak_rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM:"))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_following_a_burst_reads_it_in_steps_not_whole(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (rt1, claim 2): ``Tail.poll`` read everything written since the last poll
    in one go (and split it twice): ``wdbot logs -f`` on a bot that printed 100 MB at once
    (README: a tight error loop prints 90 MB in half a second) peaked at 430 MB; each live
    log view of the web the same. Now a poll reads at most 1 MB, and following loses no line."""
    import subprocess
    import sys

    wd.home.mkdir(parents=True, exist_ok=True)
    (wd.home / "config.toml").write_text('[logs]\nmax_size = "500M"\nbackups = 1\n')  # no cut
    go, out = tmp_path / "go", tmp_path / "followed.txt"
    wd("start", str(write_bot(bots, "burst.py", BURST.format(go=str(go)))))
    with open(out, "wb") as sink:
        follower = subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "logs", "burst", "-f",
                                     "--stdout", "-n", "0"], env=wd.env, stdout=sink)
    try:
        log = wd.home / "bots" / "burst" / "logs" / "stdout.log"
        wait_until(lambda: _holds(follower.pid, log), "the follower to open the log")
        before = _peak_rss(follower.pid)
        go.touch()
        wait_until(lambda: b"burst over" in _last_bytes(out, 200), "the follower to print the burst", 120)
        grew = _peak_rss(follower.pid) - before
    finally:
        follower.terminate()
        follower.wait(30)
    assert out.read_bytes().count(b"e" * 99 + b"\n") == 1_000_000, "every line followed"
    assert grew < 60 * 2**20, f"the follower's peak memory grew by {grew >> 20} MB"


def _read_until(sock: socket.socket, marker: bytes, timeout_s: float) -> None:
    """Read a socket (a live stream) until ``marker`` arrives; bounded."""
    window, deadline = b"", time.monotonic() + timeout_s
    while marker not in window:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {marker!r} in the stream")
        sock.settimeout(left)
        more = sock.recv(1 << 16)
        if not more:
            raise AssertionError(f"the stream ended before {marker!r}")
        window = window[-len(marker):] + more


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_live_log_view_skips_a_burst_to_its_newest_part(
        wd: Wdbot, bots: Path, web: Web) -> None:  # noqa: F811 - web: the fixture imported above
    """Regression (rt1, claim 2): the web's live log view read all a bot had written since its
    last tick, whole: a bot printing 100 MB at once grew the web process by 400 MB per open
    page. The view shows the newest lines only: it now jumps to the burst's newest 1 MB."""
    import http.client
    import urllib.parse

    from watchdog_runtime.web import auth

    (wd.home / "config.toml").write_text('[logs]\nmax_size = "500M"\nbackups = 1\n')
    go = wd.home.parent / f"{wd.home.name}-go"
    wd("start", str(write_bot(bots, "burst.py", BURST.format(go=str(go)))))
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    conn.request("POST", "/login", urllib.parse.urlencode({"secret": auth.load_secret(wd.home)}),
                 {"content-type": "application/x-www-form-urlencoded"})
    reply = conn.getresponse()
    reply.read()
    cookie = reply.getheader("set-cookie", "").split(";", 1)[0]
    assert reply.status == 303 and cookie, "logged in"
    with socket.create_connection(("127.0.0.1", web.port), timeout=30) as sock:
        sock.sendall(f"GET /live/bot/burst HTTP/1.1\r\nHost: 127.0.0.1:{web.port}\r\n"
                     f"Cookie: {cookie}\r\n\r\n".encode())
        _read_until(sock, b"event: logreset", 30)  # its log files are open from here
        before = web.peak_rss()
        go.touch()
        try:
            _read_until(sock, b"burst over", 120)
            grew = web.peak_rss() - before
        finally:
            go.unlink(missing_ok=True)
    conn.close()
    assert grew < 60 * 2**20, f"the web's peak memory grew by {grew >> 20} MB"
