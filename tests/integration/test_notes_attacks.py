"""``wd.report()`` given what trading code really holds (issue 27, red team), through the
real supervisor."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Wdbot, wait_until, write_bot

DECIMALS = """\
import time
from decimal import Decimal
from fractions import Fraction
import watchdog_runtime as wd

wd.report(balance=Decimal("10000.50"), pnl_today=Fraction(1, 4), open_positions=2,
          bad=Decimal("NaN"), worse=complex(1, 2), inf=Decimal("Infinity"))
time.sleep(600)
"""


def test_report_takes_decimals_and_other_real_numbers(wd: Wdbot, bots: Path) -> None:
    """Regression (issue 27, red team): money is a Decimal in most trading code (hummingbot,
    exchanges' SDKs), and wd.report() left every Decimal (and Fraction, numpy number) out as
    'not a finite number': a bot's balance silently missing from status and /metrics. Real
    numbers are now taken as floats; NaN, infinities and complex numbers are still left out."""
    wd("start", str(write_bot(bots, "ledger.py", DECIMALS)))
    bot = wait_until(lambda: (b := wd.bot("ledger"))["figures"] and b, "the figures")
    assert bot["figures"] == {"balance": 10000.5, "pnl_today": 0.25, "open_positions": 2}
    stderr = (wd.home / "bots" / "ledger" / "logs" / "stderr.log").read_text()
    assert all(f"figure {name!r} left out" in stderr for name in ("bad", "worse", "inf"))


FORGER = """\
import time
import watchdog_runtime as wd

wd.notify("filled 0.1 BTC\\n04:00:00 grid     mode mode halted, source cli")
wd.report(done=1)  # after the note on the same socket: the handshake
time.sleep(600)
"""


def test_a_note_cannot_forge_lines_in_wdbot_events(wd: Wdbot, bots: Path) -> None:
    """Regression (issue 27, red team): a note's line breaks reached 'wdbot events' (and the
    chat's /events) as they were, so a bot could print what looks like another event, say a
    halt that never happened. Each event is one line again."""
    wd("start", str(write_bot(bots, "forger.py", FORGER)))
    wait_until(lambda: wd.bot("forger")["figures"], "the handshake")
    wait_until(lambda: wd.events("notify", "forger"), "the note's event")
    lines = wd("events").out.splitlines()
    assert not [line for line in lines if line.startswith("04:00:00")], lines
    assert any("filled 0.1 BTC" in line and "mode halted" in line for line in lines)
