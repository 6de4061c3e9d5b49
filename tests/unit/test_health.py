"""Readiness rules, the tee's file follower, and ``/livez`` against a wedged supervisor (a
real socket that takes the connection and never answers, as a blocked event loop does)."""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers import wait_until
from watchdog_runtime.common.home import Home
from watchdog_runtime.states import BotState
from watchdog_runtime.supervisor import health
from watchdog_runtime.supervisor.logfollow import CUT_MARK, MAX_LINE_BYTES, Follower
from watchdog_runtime.supervisor.outbox import Outbox
from watchdog_runtime.supervisor.readiness import BotView, not_ready
from watchdog_runtime.supervisor.tee import Tee


def test_readiness_counts_only_bots_that_should_run_and_do_not() -> None:
    bots = [BotView("run", BotState.RUNNING, True),
            BotView("held", BotState.STOPPED, False),
            BotView("done", BotState.EXITED, False),
            BotView("quitting", BotState.STOPPING, False),
            BotView("restarting", BotState.STOPPING, True),
            BotView("building", BotState.STARTING, True),
            BotView("about", BotState.STOPPED, True),
            BotView("wait", BotState.BACKOFF, True, 240.2),
            BotView("broken", BotState.ERRORED, False, None, "syntax_error")]
    assert not_ready(bots, ["up-file f: being applied"]) == [
        "up-file f: being applied", "restarting: stopping", "building: starting", "about: stopped",
        "wait: backoff (next start in 240 s)",
        "broken: errored (syntax_error): it gave up; see 'wdbot status broken'"]


def test_livez_fails_within_its_bound_when_the_supervisor_takes_the_call_and_never_answers(
        tmp_path: Path) -> None:
    """A blocked event loop still has its socket listening: the kernel takes the connection,
    nobody reads it. /livez must not say live then (the HTTP thread alone is not the
    supervisor), and must answer within the probe's bound."""
    home = Home(tmp_path / "home")
    home.ensure()
    wedged = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    wedged.bind(str(home.socket))
    wedged.listen(8)  # never accepted, never read
    server = health.listen("127.0.0.1", 0, health.application(home, lambda e, s: [b""]))
    port = server.server_address[1]
    try:
        for path in ("/livez", "/readyz", "/livez/"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=health.PROBE_TIMEOUT_S + 5)
                raise AssertionError(f"{path} said 200 for a supervisor that never answers")
            except urllib.error.HTTPError as exc:
                with exc:
                    assert exc.code == 503 and "did not answer" in exc.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        wedged.close()


def test_the_follower_cuts_long_lines_skips_a_flood_and_reads_across_a_rotation(tmp_path: Path) -> None:
    log = tmp_path / "stdout.log"
    log.write_bytes(b"before\n")
    follower = Follower(log)  # from the end: what was there is not repeated
    with open(log, "ab") as out:
        out.write(b"one\n" + b"x" * (MAX_LINE_BYTES + 10) + b"\ntwo\npart")
    found = follower.read(1 << 20)
    assert found.lines == [b"one", b"x" * MAX_LINE_BYTES + CUT_MARK, b"two"] and found.skipped == 0
    with open(log, "ab") as out:
        out.write(b"ial\n" + b"y" * 5000 + b"\n")
    found = follower.read(100)
    assert found.lines == [b"partial"] and found.skipped == 4 + 5001 - 100
    with open(log, "ab") as out:
        out.write(b"last of old\n")
    os.rename(log, tmp_path / "stdout.log.1")
    log.write_bytes(b"first of new\n")
    assert follower.read(1 << 20).lines == [b"last of old", b"first of new"]
    follower.close()


def test_a_full_outbox_drops_counts_and_says_so(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    logs = home.bot_dir("trader") / "logs"
    logs.mkdir(parents=True)
    (logs / "stdout.log").write_bytes(b"")
    read, write = os.pipe()
    outbox = Outbox(write, max_bytes=200)
    tee = Tee(home, outbox)
    tee.follow("trader")
    stdout = tee._followers["trader"][0]
    assert outbox.put(b"z" * 200)  # full, and nobody drains it yet
    with open(logs / "stdout.log", "ab") as out:
        out.write(b"lost\n" * 3)
    tee._pass("trader", stdout)
    assert tee.dropped == 3
    outbox.thread.start()  # drains now
    with os.fdopen(read, "rb", buffering=0) as pipe:
        assert pipe.read(200) == b"z" * 200
        wait_until(lambda: outbox._size == 0, "the outbox to drain")
        with open(logs / "stdout.log", "ab") as out:
            out.write(b"kept\n")
        tee._pass("trader", stdout)
        os.set_blocking(read, False)
        got = [b""]

        def more() -> bytes:
            got[0] += pipe.read(4096) or b""
            return got[0] if got[0].endswith(b"kept\n") else b""

        text = wait_until(more, "the note and the line")
    tee.keep([])
    tee.keep([])  # missing twice: let go, its files closed by the reader's next pass
    assert not tee._followers
    tee._pass_all()
    assert not tee._retired and stdout._fh is None
    assert text.startswith(b"wdbot | --tee-logs: 3 line(s) dropped") and text.endswith(b"trader | kept\n")
    assert tee.dropped == 0


def test_the_follower_never_opens_a_fifo_or_follows_a_symlink(tmp_path: Path) -> None:
    """A bot's log replaced by a FIFO would hang the open (on the event loop, when the bot is
    first followed); one replaced by a symlink would have the supervisor copy a file the bot
    may not read to the daemon's stdout."""
    fifo = tmp_path / "stdout.log"
    os.mkfifo(fifo)
    assert Follower(fifo).read(100).lines == []
    secret = tmp_path / "shadow"
    secret.write_text("root:secret\n")
    link = tmp_path / "stderr.log"
    link.symlink_to(secret)
    follower = Follower(link, at_end=False)
    assert follower.read(100).lines == []
