"""The README's Python examples: every block compiles, and the minimal bot runs under wdbot
as the README says (recovery first, a clean stop)."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_for_line, wait_until, write_bot

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


# ------------------------------------------------------------------ the README's shell commands
NOT_RUN = {
    "uv tool install .": "installs the checkout: test_quickstart.py runs it in a fresh venv",
    "uv tool install --reinstall .": "the same install again",
}
"""Lines of the README's ```sh blocks not run here, and why. Any other line is a ``wdbot``
command, run as written: a new line that cannot run here must be added, on purpose."""


def shell_blocks() -> list[tuple[str, list[str]]]:
    """Each ```sh block: its heading and its commands (comments cut off)."""
    found = []
    heading = ""
    for part in re.split(r"^(#{2,3} .*)$", README.read_text(), flags=re.MULTILINE):
        if re.fullmatch(r"#{2,3} .*", part):
            heading = part.lstrip("# ").strip()
            continue
        for block in re.findall(r"```sh\n(.*?)```", part, flags=re.DOTALL):
            lines = [line.split("  #")[0].split(" #")[0].strip() for line in block.splitlines()]
            found.append((heading, [line for line in lines if line]))
    return found


def _argv(line: str) -> list[str]:
    """A README command as run: ``[--optional]`` parts left out, ``-f`` too (it never ends)."""
    words = shlex.split(re.sub(r"\s*\[[^\]]*\]", "", line))
    assert words[0] == "wdbot", f"not a wdbot command and not in NOT_RUN: {line!r}"
    return [sys.executable, "-m", "watchdog_runtime", *[w for w in words[1:] if w != "-f"]]


def _run_in_foreground(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    """``wdbot run``: until the bot's recovery line and its first tick saved (its main loop
    runs), then Ctrl-C; it ends cleanly."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    state = Path(env["WDBOT_HOME"]) / "bots" / "mybot" / "state"
    try:
        assert proc.stdout is not None
        wait_for_line(proc.stdout, "recovering", timeout_s=60)
        wait_until(lambda: any("ticks" in f.read_text(errors="replace") for f in state.rglob("*")
                               if f.is_file()), "the minimal bot's first tick", timeout_s=30)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0 and "stopping cleanly" in out, (out, err)


@pytest.mark.slow
def test_the_readme_shell_commands_run_as_written(wd: Wdbot, bots: Path) -> None:
    """Issue 24: the README said what the code did not do; its commands now run here, in order,
    on the README's minimal bot saved as mybot.py (the quick start's name)."""
    (bots / "mybot.py").write_text(python_blocks()["The minimal bot, with recovery 0"])
    blocks = shell_blocks()
    assert blocks[0] == ("", ["uv tool install ."]), "the README opens with the install"
    assert any(h == "Quick start" for h, _ in blocks)
    ran = 0
    for heading, lines in blocks:
        for line in lines:
            if line in NOT_RUN:
                continue
            argv = _argv(line)
            if argv[3:4] == ["run"]:
                _run_in_foreground(argv, bots, wd.env)
            else:
                done = subprocess.run(argv, cwd=bots, env=wd.env, capture_output=True, text=True, timeout=120)
                assert done.returncode == 0, (heading, line, done.stderr)
                assert "Traceback" not in done.stderr
            ran += 1
    assert ran >= 10
