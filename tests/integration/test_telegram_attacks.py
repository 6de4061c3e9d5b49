"""``wdbot telegram`` under attack (issue 27, red team), through the real command, the real
python-telegram-bot and the local stand-in of the Bot API."""

from __future__ import annotations

from pathlib import Path

from tests.botapi_standin import StandIn
from tests.helpers import Wdbot, wait_until, write_bot
from tests.integration.test_telegram import ALLOWED, SLEEPER, api, asked, set_up, telegram

__all__ = ["api"]  # the fixture, used by name


def test_halt_all_alerts_the_chat_once_naming_every_bot(wd: Wdbot, bots: Path, api: StandIn,
                                                         tmp_path: Path) -> None:
    """Regression (issue 27, red team): 'halt --all' wrote one mode event per bot and one for
    the home; the e-mail/apprise alerts sent only the home's, but the chat sent them all (a
    phone buzzing once per bot) and called the home's 'the supervisor is now halted'. Now
    one message says every bot is halted, and 'resume --all' likewise."""
    set_up(wd, api)
    for name in ("grid", "dca", "arb"):
        wd("start", str(write_bot(bots, f"{name}.py", SLEEPER)))
    with telegram(wd, tmp_path / "telegram.log"):
        wait_until(lambda: (wd.home / "telegram" / "position.json").exists(), "the alerts to follow")
        wd("halt", "--all", "--reason", "exchange down")
        asked(api, ALLOWED, "🛑 every bot is now halted (exchange down), by cli")
        wd("resume", "--all")
        asked(api, ALLOWED, "🛑 every bot is now active")
    texts = [m["text"] for m in api.to(ALLOWED)]
    assert [t for t in texts if t.startswith("🛑")] == [
        "🛑 every bot is now halted (exchange down), by cli", "🛑 every bot is now active, by cli"]
