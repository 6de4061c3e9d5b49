"""The README's Python examples: every block compiles, and the minimal bot runs under wdbot
as the README says (recovery first, a clean stop)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import Wdbot, wait_until, write_bot

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> dict[str, str]:
    """Each ```python block of the README, keyed by the heading above it."""
    blocks: dict[str, str] = {}
    heading = ""
    for part in re.split(r"^(#{2,3} .*)$", README.read_text(), flags=re.MULTILINE):
        if part.startswith("#"):
            heading = part.lstrip("# ").strip()
            continue
        for n, code in enumerate(re.findall(r"```python\n(.*?)```", part, flags=re.DOTALL)):
            blocks[f"{heading} {n}"] = code
    return blocks


def test_every_python_block_compiles() -> None:
    blocks = python_blocks()
    assert blocks
    for where, code in blocks.items():
        compile(code, f"README.md ({where})", "exec")


def test_the_minimal_bot_recovers_runs_and_stops_cleanly(wd: Wdbot, bots: Path) -> None:
    code = python_blocks()["The minimal bot, with recovery 0"]
    bot = write_bot(bots, "minimal.py", code)
    wd("start", str(bot), "--heartbeat-timeout", "30")
    wait_until(lambda: "recovering (first_start, restart 0, down None s): 0 position(s)"
               in wd.stdout("minimal"), "the README bot's recovery")
    wd.wait_state("minimal", "running")
    wd("stop", "minimal")
    assert "stopping cleanly" in wd.stdout("minimal")
    assert wd.bot("minimal")["last_exit"]["code"] == 0
