"""``wd.retry`` around the standard library's ``urlopen`` in a real bot under the real
``wdbot`` (issue 24, point 3): a refused connection is retried, and the diagnosis of the
failure that outlasted the attempts does not advise the wd.retry already there."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.helpers import Wdbot, write_bot


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_urlopen_refused_is_retried_and_the_diagnosis_does_not_advise_a_retry(wd: Wdbot,
                                                                             bots: Path) -> None:
    """Regression (issue 24): ``@wd.retry(attempts=4)`` around ``urlopen`` made one call on
    ``URLError(ConnectionRefusedError)``, and the diagnosis said to wrap the call in
    wd.retry, which it already was."""
    bot = write_bot(bots, "poller.py", f"""
        import os, urllib.request
        import watchdog_runtime as wd
        CALLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls")

        @wd.retry(attempts=4, base_delay_s=0.01, max_delay_s=0.05)
        def price():
            with open(CALLS, "a") as fh:
                fh.write("call\\n")
            with urllib.request.urlopen("http://127.0.0.1:{closed_port()}/ticker", timeout=5) as resp:
                return resp.read()

        price()
    """)
    wd("start", str(bot), "--restart", "never")
    exited = wd.wait_state("poller", "errored")["last_exit"]
    assert (bots / "calls").read_text().split() == ["call"] * 4, "four attempts"
    assert exited["error"].startswith("URLError")
    diagnosis = exited["diagnosis"]
    assert diagnosis["pattern"] == "network"
    assert "wrap the call in wd.retry" not in diagnosis["hint"]
    assert "every attempt of wd.retry" in diagnosis["hint"]
