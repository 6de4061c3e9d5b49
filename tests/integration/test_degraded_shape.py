"""The degraded watch reads a printed traceback by its shape, through the real supervisor."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Wdbot, wait_until, write_bot


def test_a_caught_and_printed_gaierror_is_seen_whatever_its_name(wd: Wdbot, bots: Path) -> None:
    """Regression (issue 26): a bot printing ``socket.gaierror: [Errno -2] Name or service not
    known`` every 0.05 s showed plain 'running'; the watch only knew exception names ending in
    Error, Exception, ... so ``gaierror``, ``timeout`` and ``herror`` passed unseen."""
    wd.home.mkdir(parents=True, exist_ok=True)
    (wd.home / "config.toml").write_text("[resources]\ninterval = 0.2\n")
    bot = write_bot(bots, "dnsloop.py", """
        import socket, time, traceback
        def poll():
            raise socket.gaierror(-2, "Name or service not known")
        while True:  # "never let the loop die"
            try:
                poll()
            except OSError:
                traceback.print_exc()
            time.sleep(0.05)
    """)
    wd("start", str(bot))
    flagged = wait_until(lambda: wd.bot("dnsloop")["degraded"], "the DNS loop flagged degraded")
    assert flagged["error"] == "socket.gaierror: [Errno -2] Name or service not known"
    assert flagged["count"] >= 5
    assert wd.bot("dnsloop")["state"] == "running", "it keeps running"
    [event] = wd.events("degraded", "dnsloop")
    assert "socket.gaierror" in event["error"]
