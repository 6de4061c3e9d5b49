"""Diagnosis through the real supervisor: the pattern and hint in ``status --json`` and the
event log, and credential failures that do not get fast blind restarts."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.helpers import Wdbot, build_wheel, wait_until, write_bot


def test_a_crash_is_diagnosed_in_the_status_and_the_event(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "shape.py", """
        payload = {"asks": []}
        best_bid = payload["bids"][0]
    """)
    wd("start", str(bot), "--restart", "never")
    status = wd.wait_state("shape", "errored")
    diagnosis = status["last_exit"]["diagnosis"]
    assert diagnosis["pattern"] == "payload" and "wd.num" in diagnosis["hint"]
    assert diagnosis["seen"] == "KeyError: 'bids'"
    assert wd.events("exit", "shape")[0]["diagnosis"]["pattern"] == "payload"


def test_a_library_error_is_recognised_by_its_class_hierarchy(wd: Wdbot, bots: Path) -> None:
    # A class named and placed like ccxt's: the exit record carries the MRO's qualified names.
    (bots / "ccxt").mkdir()
    (bots / "ccxt" / "__init__.py").write_text(
        "class BaseError(Exception): pass\n"
        "class NetworkError(BaseError): pass\n"
        "class RequestTimeout(NetworkError): pass\n")
    bot = write_bot(bots, "timeouts.py", """
        import ccxt
        class FeedStalled(ccxt.RequestTimeout):
            pass
        raise FeedStalled("no trade for 60 s")
    """)
    wd("start", str(bot), "--restart", "never")
    diagnosis = wd.wait_state("timeouts", "errored")["last_exit"]["diagnosis"]
    assert diagnosis["pattern"] == "network" and "wd.retry" in diagnosis["hint"]


def test_rejected_credentials_wait_the_backoff_cap_and_are_flagged(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "badkey.py", """
        import urllib.error
        raise urllib.error.HTTPError("https://api.exchange/v1/account", 401, "Unauthorized", None, None)
    """)
    wd("start", str(bot), "--backoff-initial", "0.01", "--backoff-max", "600")
    status = wait_until(lambda: (b := wd.bot("badkey"))["state"] == "backoff" and b, "a backoff")
    assert status["last_exit"]["diagnosis"]["pattern"] == "credentials"
    assert status["next_start_in_s"] > 500  # the cap at once, not 0.01 s
    assert status["attention"].startswith("credentials rejected (HTTPError: HTTP Error 401")
    assert wd.events("exit", "badkey")[0]["delay_s"] == 600


def test_a_segfault_in_an_extension_leaves_its_stack_and_names_the_package(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    # Regression (issue 14): an empty stderr and "something else signals the bot".
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "wdtest-native", "1.0", {"wdtest_native/__init__.py": (
        "import ctypes\n\ndef crash():\n    ctypes.string_at(0)  # a NULL read: SIGSEGV\n")})
    wd.env.update({"UV_FIND_LINKS": str(wheels), "UV_NO_INDEX": "1"})
    wd("allow", "wdtest_native=wdtest-native")
    bot = write_bot(bots, "segv.py", "import wdtest_native\nwdtest_native.crash()\n")
    wd("start", str(bot), "--restart", "never")
    status = wd.wait_state("segv", "errored")
    assert status["last_exit"]["signal"] == signal.SIGSEGV
    diagnosis = status["last_exit"]["diagnosis"]
    assert diagnosis["seen"] == "SIGSEGV inside wdtest_native (a C extension)"
    assert "update it, or pin" in diagnosis["hint"] and "something else" not in diagnosis["hint"]
    stderr = (wd.home / "bots" / "segv" / "logs" / "stderr.log").read_text()
    assert "Fatal Python error: Segmentation fault" in stderr and "site-packages/wdtest_native" in stderr
    assert "wdtest_native" in wd("status", "segv").out, "status NAME shows the stack"


def test_a_bot_that_repeats_one_error_is_flagged_degraded_while_it_runs(wd: Wdbot, bots: Path) -> None:
    # Regression (issue 14): a Telegram bot logging a DNS failure every 3 s showed 'running'.
    wd.home.mkdir(parents=True, exist_ok=True)
    (wd.home / "config.toml").write_text("[resources]\ninterval = 0.2\n")
    looping = write_bot(bots, "looping.py", """
        import logging, socket, time
        logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s")
        while True:  # "never let the loop die"
            try:
                socket.getaddrinfo("wdbot-no-such-host.invalid", 443)
            except OSError as exc:
                logging.error("poll failed: %s", exc)
            time.sleep(0.05)
    """)
    fine = write_bot(bots, "fine.py", """
        import sys, time
        print("ValueError: once, then fine", file=sys.stderr, flush=True)
        time.sleep(600)
    """)
    wd("start", str(looping))
    wd("start", str(fine))
    flagged = wait_until(lambda: wd.bot("looping")["degraded"], "the looping bot flagged degraded")
    assert "poll failed" in flagged["error"] and flagged["count"] >= 5
    assert flagged["diagnosis"]["pattern"] == "network"
    assert wd.bot("looping")["state"] == "running", "it keeps running"
    [event] = wd.events("degraded", "looping")
    assert "poll failed" in event["error"]
    assert wd.bot("fine")["degraded"] is None
