"""``wd.notify()`` and ``wd.report()`` through the real supervisor (issue 27, point 2): notes
reach the alert URLs (a local apprise ``json://`` webhook) de-duplicated and rate-limited per
bot; figures show in ``status --json``, ``status NAME`` and ``/metrics`` with their age."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Wdbot, free_port, scrape, wait_until, write_bot
from tests.integration.test_alerts_live import Receiver, configure, receiver  # noqa: F401 - a fixture
from tests.integration.test_paper_trading import Paper

NOTIFY_LOOP = """\
import os
import time
import watchdog_runtime as wd

wd.notify("filled 0.1 BTC at 64000")
for i in range(40):
    wd.notify("stuck in a loop")      # the same text again and again: one passes
for i in range(40):
    wd.notify(f"fill number {i}")     # new texts: a burst passes, the rest is held back
wd.notify("margin call", level="error")
# A hostile note: JSON nested past the parser's depth (once a RecursionError in the supervisor).
from watchdog_runtime.bot.notify import _send_to
nested = f"wdbot1 {os.environ['WDBOT_RUN_ID']} note {'[' * 5000}"
_send_to(os.environ["WDBOT_NOTIFY_SOCKET"], nested.encode(), 0.2)
wd.report(done=1)  # after every note on the same socket: the handshake
time.sleep(600)
"""


def test_a_notify_loop_cannot_flood_a_phone(wd: Wdbot, bots: Path, receiver: Receiver) -> None:  # noqa: F811
    """A bot that calls wd.notify in a loop sends five alerts (the burst), not eighty-two;
    each passed note is an event of kind notify. Regression: a note nested past the JSON
    parser's depth raised RecursionError out of the channel's protocol (a traceback in the
    supervisor's log for every such datagram a bot sends)."""
    configure(wd, f'[alerts]\nurls = ["json://127.0.0.1:{receiver.port}/hook"]\n')
    wd("start", str(write_bot(bots, "noter.py", NOTIFY_LOOP)))
    wait_until(lambda: wd.bot("noter")["figures"] == {"done": 1}, "the bot's last report")
    notes = wd.events("notify", "noter")
    assert [n["text"] for n in notes] == ["filled 0.1 BTC at 64000", "stuck in a loop",
                                          "fill number 0", "fill number 1", "fill number 2"]
    assert notes[0]["level"] == "info"
    wait_until(lambda: len(receiver.titles()) == 5, "the five alerts")
    assert set(receiver.titles()) == {"wdbot: noter (info)"}
    bodies = [body["message"] for _path, body in receiver.got]
    assert "filled 0.1 BTC at 64000" in bodies
    assert "filled" in wd("events", "noter").out
    assert "RecursionError" not in (wd.home / "supervisor.log").read_text()


FIGURES = """\
import time
import watchdog_runtime as wd

wd.report(balance=10000, equity=10012.5, open_positions=1, pnl_today=12.5, bad="x",
          **{"not a word": 3})
print("reported", flush=True)
time.sleep(600)
"""


def test_report_figures_in_status_and_metrics(wd: Wdbot, bots: Path) -> None:
    """The bot's figures, numbers only, reach status --json (with their age), status NAME
    and /metrics as wdbot_bot_figure{bot,name}; what is not a number is left out, said on
    the bot's stderr."""
    port = free_port()
    with wd.daemon(wd.home.parent / "daemon.log", "--metrics", f"127.0.0.1:{port}"):
        wd("start", str(write_bot(bots, "ledger.py", FIGURES)))
        bot = wait_until(lambda: (b := wd.bot("ledger"))["figures"] and b, "the figures")
        assert bot["figures"] == {"balance": 10000, "equity": 10012.5, "open_positions": 1,
                                  "pnl_today": 12.5}
        assert 0 <= bot["figures_age_s"] < 60
        detail = wd("status", "ledger").out
        assert "balance 10000, equity 10012.5, open_positions 1, pnl_today 12.5" in detail
        text = wait_until(lambda: next((t for t in [scrape(port)] if "wdbot_bot_figure{" in t), ""),
                          "the figures in the metrics")
        assert 'wdbot_bot_figure{bot="ledger",name="equity"} 10012.5' in text
        assert 'wdbot_bot_figures_age_seconds{bot="ledger"}' in text
        stderr = (wd.home / "bots" / "ledger" / "logs" / "stderr.log").read_text()
        assert "figure 'bad' left out" in stderr and "figure 'not a word' left out" in stderr


@pytest.mark.slow
def test_the_paper_bot_reports_its_figures_and_notifies_each_fill(wd: Wdbot) -> None:
    """The demo's paper bot (issue 27, point 4): balance, equity and open positions in its
    status, and one notify event per fill (an entry on each of its two symbols)."""
    paper = Paper(wd)
    paper.start_bot()

    def figures() -> dict[str, float] | None:
        found: dict[str, float] = wd.bot("paper_bot")["figures"]
        return found if found.get("open_positions") == 2 else None

    found = wait_until(figures, "the paper bot's figures with both positions", timeout_s=60)
    assert set(found) == {"balance", "equity", "open_positions"}
    assert found["equity"] > found["balance"] > 0
    fills = [e["text"] for e in wd.events("notify", "paper_bot")]
    assert len([t for t in fills if ": bought " in t]) == 2, fills


WEB_BOT = """\
import time
import watchdog_runtime as wd

wd.report(balance=10000, open_positions=2)
wd.notify("BTC/USDT: bought 0.1 @ 64000")
while not wd.wait(0.5):
    pass
"""


def test_the_web_page_shows_figures_and_notes(wd: Wdbot, bots: Path) -> None:
    """The bot's page in the browser: its figures among the facts, its notes among its events."""
    from tests.integration.test_web_routes import login, make_client

    wd("start", str(write_bot(bots, "shown.py", WEB_BOT)))
    wait_until(lambda: wd.bot("shown")["figures"] and wd.events("notify", "shown"),
               "the figures and the note")
    with make_client(wd.home) as client:
        login(client, wd.home)
        page = client.get("/bot/shown").text
    assert "balance 10000, open_positions 2" in page
    assert "BTC/USDT: bought 0.1 @ 64000" in page


def test_a_bot_removed_and_added_again_starts_without_the_old_figures(wd: Wdbot, bots: Path) -> None:
    """'wdbot remove' left the bot's last figures in the supervisor: a new bot added under
    the same name showed the old bot's balance in status and /metrics until it reported."""
    wd("start", str(write_bot(bots, "ledger.py", FIGURES)))
    wait_until(lambda: wd.bot("ledger")["figures"], "the figures")
    wd("remove", "ledger")
    wd("start", str(write_bot(bots, "ledger.py", "import time\nprint('quiet', flush=True)\n"
                                                  "time.sleep(600)\n")))
    log = wd.home / "bots" / "ledger" / "logs" / "stdout.log"
    wait_until(lambda: log.exists() and "quiet" in log.read_text(), "the new bot's line")
    bot = wd.bot("ledger")
    assert bot["figures"] == {} and bot["figures_age_s"] is None, bot
