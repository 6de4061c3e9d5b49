"""Trading modes under attack (issue 27, red team): ways a halt did not reach a bot, through
the real ``wdbot``."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Wdbot, wait_until
from tests.integration.test_trading_modes import seen, start_listener


def test_halt_all_binds_a_bot_removed_and_started_again(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 27, red team): 'wdbot remove' keeps the bot's folder, and with it its
    own mode record. 'halt --all' numbered the home's record only above the bots registered
    then, so a bot resumed by name, removed, and started again after 'halt --all' came back
    *active*: its stale record outranked the emergency halt."""
    start_listener(wd, bots, tmp_path, "grid")
    wd("halt", "--all")
    wd("resume", "grid")
    wd("remove", "grid")
    wd("halt", "--all", "--reason", "exchange down")
    out = tmp_path / "grid.seen"
    out.unlink()
    wd("start", str(bots / "grid.py"), "--env", f"SEEN={out}")
    wait_until(lambda: seen(out), "the bot's first look at its mode")
    assert seen(out)[0].startswith("recover halted"), seen(out)
    assert wd.bot("grid")["mode"] == "halted"
