"""``wdbot daemon --metrics``: Prometheus text per bot, scraped over HTTP from the real daemon."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import Wdbot, free_port, scrape, wait_until, write_bot


def test_metrics_per_bot(wd: Wdbot, bots: Path) -> None:
    wd.home.mkdir(parents=True, exist_ok=True)
    (wd.home / "config.toml").write_text("[resources]\ninterval = 0.2\n")
    port = free_port()
    daemon = subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "daemon", "--metrics",
                               f"127.0.0.1:{port}"], env=wd.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: "wdbot_supervisor_uptime_seconds" in scrape(port), "the metrics endpoint")
        wd("start", str(write_bot(bots, "measured.py", "import time\ntime.sleep(600)\n")))
        wd("start", str(write_bot(bots, "dead.py", "raise KeyError('bids')\n")), "--restart", "never")
        wd.wait_state("dead", "errored")
        def sampled() -> str:
            text = scrape(port)
            fresh = 'wdbot_bot_state{bot="dead",state="errored"} 1.0' in text  # taken after the exit
            return text if fresh and 'wdbot_bot_rss_bytes{bot="measured"}' in text else ""

        text = wait_until(sampled, "a resource sample in the metrics")
        assert 'wdbot_bot_up{bot="measured"} 1.0' in text
        assert 'wdbot_bot_last_exit{bot="dead",pattern="payload",reason="crash"} 1.0' in text
        assert 'wdbot_bot_restarts_total{bot="measured"} 0.0' in text
        rss = next(line for line in text.splitlines()
                   if line.startswith('wdbot_bot_rss_bytes{bot="measured"}'))
        assert float(rss.split()[-1]) > 1_000_000
    finally:
        daemon.terminate()
        assert daemon.wait(timeout=30) == 0


def test_a_bad_metrics_address_is_one_clear_error(wd: Wdbot) -> None:
    result = wd("daemon", "--metrics", "localhost", check=False)
    assert result.code == 2 and result.err.count("\n") == 1 and "use HOST:PORT" in result.err
