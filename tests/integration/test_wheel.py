"""Issue 28: wdbot ready for publishing. The wheel built from this tree carries its licence,
classifiers and extras, installs into a fresh venv (its dependencies resolved by pip as a
user's ``pip install wdbot`` would), and that install's own ``wdbot`` runs a bot; without the
``web`` extra, ``wdbot web`` says which extra to install. The install is uv's (``uv pip
install``, as ``uv tool install wdbot`` does; pip's took over a minute here), from the index
that uv reaches, its own cache first."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_until, write_bot

REPO = Path(__file__).resolve().parents[2]
NO_NETWORK = re.compile(r"NewConnectionError|Temporary failure in name resolution|Network is unreachable|"
                        r"Failed to fetch|dns error|error sending request")


def build_wheel(out: Path) -> Path:
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out),
                           str(REPO)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return next(out.glob("wdbot-*.whl"))


def metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(name).decode()


@pytest.mark.slow
def test_the_wheel_installs_in_a_fresh_venv_and_runs_a_bot(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    meta = metadata(wheel)
    assert "License-Expression: MIT" in meta and "License-File: LICENSE" in meta
    assert "Classifier: Programming Language :: Python :: 3.10" in meta
    assert {"web", "telegram"} <= set(re.findall(r"^Provides-Extra: (\S+)$", meta, flags=re.MULTILINE))
    assert 'Requires-Dist: starlette>=1.10; extra == "web"' in meta  # not a dependency of every install

    fresh = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=False).create(fresh)
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_OFFLINE")}
    done = subprocess.run([uv, "pip", "install", "--quiet", "--python", str(fresh / "bin" / "python"),
                           str(wheel)], capture_output=True, text=True, timeout=300, check=False, env=env)
    if done.returncode != 0 and NO_NETWORK.search(done.stderr):
        pytest.skip(f"no package index reachable for the wheel's dependencies: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stderr[-2000:]

    wdbot = str(fresh / "bin" / "wdbot")
    ready = tmp_path / "ready"
    bot = write_bot(bots, "wheelbot.py", f"import pathlib, time\npathlib.Path({str(ready)!r}).write_text("
                    "'up')\nwhile True:\n    time.sleep(1)\n")
    started = subprocess.run([wdbot, "start", str(bot)], env=wd.env, capture_output=True, text=True,
                             timeout=120, check=False)
    assert started.returncode == 0, started.stderr
    wait_until(ready.exists, "the bot that the wheel's wdbot started", 60)
    status = subprocess.run([wdbot, "status"], env=wd.env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert "wheelbot" in status.stdout and "running" in status.stdout
    # The supervisor is the fresh install's, not this checkout's.
    assert str(fresh) in Path(f"/proc/{wd.status()['supervisor']['pid']}/cmdline").read_text()

    web = subprocess.run([wdbot, "web"], env=wd.env, capture_output=True, text=True, timeout=60, check=False)
    assert web.returncode == 1 and web.stderr.count("\n") == 1 and "pip install 'wdbot[web]'" in web.stderr
