"""``wdbot telegram`` under attack (issue 27, red team), through the real command, the real
python-telegram-bot and the local stand-in of the Bot API."""

from __future__ import annotations

import time
from pathlib import Path

from tests.botapi_standin import StandIn
from tests.helpers import Wdbot, wait_until, write_bot
from tests.integration.test_telegram import ALLOWED, SLEEPER, api, asked, set_up, telegram
from watchdog_runtime.chat.totp import code

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


def test_a_used_one_time_code_stays_used_across_a_restart(wd: Wdbot, bots: Path, api: StandIn,
                                                         tmp_path: Path) -> None:
    """Regression (issue 27, red team): the codes already used were kept only in memory, so
    after a restart of 'wdbot telegram' (a crash, a service restart) the code just used for
    /stop was good again for the rest of its 90 s: a replay. Now they are kept on disk."""
    set_up(wd, api)
    secret = wd("telegram", "--new-totp").out.split("authenticator app:\n", 1)[1].split()[0]
    with open(wd.home / "config.toml", "a") as config:
        config.write("totp = true\n")
    wd("start", str(write_bot(bots, "grid.py", SLEEPER)))
    good = code(secret, time.time())
    with telegram(wd, tmp_path / "t1.log"):
        api.say(ALLOWED, f"/stop grid {good}")
        asked(api, ALLOWED, "Stop grid?")
    with telegram(wd, tmp_path / "t2.log"):
        api.say(ALLOWED, f"/stop grid {good}")  # the same code, to the restarted process
        api.say(ALLOWED, "/status")
        asked(api, ALLOWED, "🟢 grid")  # answered in order: the replay's answer came before
    texts = [m["text"] for m in api.to(ALLOWED)]
    assert texts.count("Stop grid? Confirm within 2 minutes.") == 1, texts
    assert any(t.startswith("wrong or used one-time code") for t in texts)
