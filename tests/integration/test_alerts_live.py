"""Alerts end to end: the supervisor sends through apprise to a local HTTP server (apprise's
``json://`` webhook); the uptime ping; ``wdbot notify test``."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Wdbot, wait_until, write_bot


class Receiver:
    """A local webhook: every request's path and JSON body."""

    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.got.append((self.path, json.loads(body or b"{}")))
                self.send_response(200)
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                receiver.got.append((self.path, {}))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def titles(self, path: str = "/hook") -> list[str]:
        return [body.get("title", "") for p, body in self.got if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def configure(wd: Wdbot, text: str) -> None:
    wd.home.mkdir(parents=True, exist_ok=True)
    (wd.home / "config.toml").write_text(text)


def test_a_crash_loop_sends_one_alert_not_hundreds(wd: Wdbot, bots: Path, receiver: Receiver) -> None:
    configure(wd, f'[alerts]\nurls = ["json://127.0.0.1:{receiver.port}/hook"]\ncrashes = 3\nwindow = 60\n')
    bot = write_bot(bots, "looping.py", "raise ConnectionResetError('exchange dropped us')\n")
    wd("start", str(bot), "--restart", "always", "--backoff-initial", "0.01", "--backoff-max", "0.02")
    wait_until(lambda: receiver.titles() == ["wdbot: looping is in a crash loop"], "the crash-loop alert")
    wait_until(lambda: len(wd.events("exit", "looping")) >= 12, "many more crashes")
    wd("stop", "looping")
    assert receiver.titles() == ["wdbot: looping is in a crash loop"]
    body = next(b for p, b in receiver.got if p == "/hook")["message"]
    assert "ConnectionResetError: exchange dropped us" in body and "wd.retry" in body


def test_a_bots_own_url_and_an_errored_bot(wd: Wdbot, bots: Path, receiver: Receiver) -> None:
    bot = write_bot(bots, "fragile.py", "raise KeyError('bids')\n")
    wd("start", str(bot), "--restart", "never", "--notify", f"json://127.0.0.1:{receiver.port}/fragile")
    wait_until(lambda: receiver.titles("/fragile") == ["wdbot: fragile gave up (errored)"], "the alert")
    assert "KeyError: 'bids'" in next(b for p, b in receiver.got if p == "/fragile")["message"]


def test_notify_test_and_the_unclean_stop_alert(wd: Wdbot, bots: Path, receiver: Receiver) -> None:
    configure(wd, f'[alerts]\nurls = ["json://127.0.0.1:{receiver.port}/hook"]\n')
    assert wd("notify", "test").out.strip() == "test alert sent to 1 URL(s)"
    assert receiver.titles() == ["wdbot: test alert"]
    wd("start", str(write_bot(bots, "calm.py", "import time\ntime.sleep(600)\n")))
    pid = wd.supervisor_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # the supervisor dies without a word
    wd("status")  # the next command starts a new one, which adopts the bot and says what happened
    wait_until(lambda: "wdbot: the supervisor restarted after an unclean stop" in receiver.titles(),
               "the unclean-stop alert")
    assert wd.bot("calm")["state"] == "running"


def test_notify_test_without_urls_is_one_clear_error(wd: Wdbot) -> None:
    result = wd("notify", "test", check=False)
    assert result.code == 2 and result.err.count("\n") == 1 and "no alert URLs" in result.err


def test_the_uptime_ping_while_all_is_well(wd: Wdbot, bots: Path, receiver: Receiver) -> None:
    configure(wd, f'[uptime]\nurl = "http://127.0.0.1:{receiver.port}/ping"\ninterval = 0.2\n')
    wd("start", str(write_bot(bots, "fine.py", "import time\ntime.sleep(600)\n")))
    wait_until(lambda: len([p for p, _ in receiver.got if p == "/ping"]) >= 3, "three pings")
