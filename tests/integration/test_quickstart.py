"""The README's quick start, as written, from a clone, into a fresh tool environment, to the
first running bot (issue 24 point 1: 'pip install .' failed on a stock VPS Python, PEP 668).

It needs the package index (PyPI) for wdbot's own dependencies, through uv's cache."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_until
from tests.integration.test_readme import python_blocks, shell_blocks

ROOT = Path(__file__).resolve().parents[2]


def _uv() -> str:
    """uv as the README assumes it (on PATH), else the one beside this interpreter."""
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    assert Path(found).exists(), "uv is a dependency of wdbot: it is in the test venv"
    return found


@pytest.mark.slow
def test_the_quick_start_runs_as_written_from_a_clone(wd: Wdbot, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True,
                   timeout=60)
    first = shell_blocks()[0][1][0]
    assert first == "uv tool install .", "the README's first command"
    tools = tmp_path / "tools"
    env = {k: v for k, v in wd.env.items() if k not in ("UV_OFFLINE", "UV_CACHE_DIR", "VIRTUAL_ENV")}
    env.update({"UV_TOOL_DIR": str(tools / "envs"), "UV_TOOL_BIN_DIR": str(tools / "bin"),
                "UV_PYTHON": sys.executable})  # the interpreter at hand stands for the VPS's python3
    installed = subprocess.run([_uv(), *shlex.split(first)[1:]], cwd=clone, env=env, capture_output=True,
                               text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    wdbot = tools / "bin" / "wdbot"
    assert wdbot.exists(), installed.stderr
    bots = tmp_path / "bots"
    bots.mkdir()
    (bots / "mybot.py").write_text(python_blocks()["The minimal bot, with recovery 0"])
    run = {**wd.env, "PATH": f"{tools / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    started = subprocess.run(["wdbot", "start", "mybot.py"], cwd=bots, env=run, capture_output=True,
                             text=True, timeout=300)
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("mybot: pid ")

    def running() -> bool:
        done = subprocess.run(["wdbot", "status", "--json"], env=run, capture_output=True, text=True,
                              timeout=60)
        bots_ = json.loads(done.stdout)["bots"]
        return bool(bots_) and bots_[0]["state"] == "running"

    wait_until(running, "the quick start's bot to run")
    assert "recovering (first_start" in wd.stdout("mybot")
    subprocess.run(["wdbot", "shutdown"], env=run, capture_output=True, timeout=120, check=True)
