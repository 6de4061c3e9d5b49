"""Each bot gets its own uv venv with exactly what it declares; tiny local wheels stand in
for PyPI (no test needs a package index)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.helpers import Wdbot, build_wheel, wait_until, write_bot

IMPORTS_TINY = """
# /// script
# dependencies = ["wdtiny==1.0"]
# ///
import wdtiny, time
print("tiny", wdtiny.VERSION, flush=True)
time.sleep(600)
"""


@pytest.fixture
def local_index(tmp_path: Path, wd: Wdbot) -> Path:
    wheels = tmp_path / "wheels"
    for version in ("1.0", "2.0"):
        build_wheel(wheels, "wdtiny", version, {"wdtiny/__init__.py": f"VERSION = {version!r}\n"})
    build_wheel(wheels, "wdother", "0.1", {"wdother/__init__.py": "NAME = 'other'\n"})
    wd.env.update({"UV_FIND_LINKS": str(wheels), "UV_NO_INDEX": "1"})
    return wheels


def builds(wd: Wdbot, name: str) -> int:
    return len(wd.events("venv_built", name))


def test_pep723_dependencies_installed_and_venv_reused_until_they_change(
        wd: Wdbot, bots: Path, local_index: Path) -> None:
    bot = write_bot(bots, "tiny.py", IMPORTS_TINY)
    wd("start", str(bot))
    wait_until(lambda: "tiny 1.0" in wd.stdout("tiny"), "the bot to import wdtiny 1.0")
    wd("restart", "tiny")
    assert builds(wd, "tiny") == 1, "a restart reuses the venv"
    bot.write_text(IMPORTS_TINY.replace("wdtiny==1.0", "wdtiny==2.0"))
    wd("restart", "tiny")
    wait_until(lambda: "tiny 2.0" in wd.stdout("tiny"), "wdtiny 2.0 after the change")
    assert builds(wd, "tiny") == 2, "changed dependencies rebuild it"


def test_requirements_beside_the_bot_and_given_explicitly(
        wd: Wdbot, bots: Path, tmp_path: Path, local_index: Path) -> None:
    (bots / "requirements.txt").write_text("wdother\n")
    uses = "import wdother, time\nprint('got', wdother.NAME, flush=True)\ntime.sleep(600)\n"
    wd("start", str(write_bot(bots, "beside.py", uses)))
    wait_until(lambda: "got other" in wd.stdout("beside"), "requirements.txt beside")
    elsewhere = tmp_path / "elsewhere"
    reqs = tmp_path / "reqs.txt"
    reqs.write_text("wdtiny==2.0\n")
    uses_tiny = "import wdtiny, time\nprint('tiny', wdtiny.VERSION, flush=True)\ntime.sleep(600)\n"
    wd("start", str(write_bot(elsewhere, "explicit.py", uses_tiny)), "--requirements", str(reqs))
    wait_until(lambda: "tiny 2.0" in wd.stdout("explicit"), "--requirements")


def test_an_uninstallable_dependency_fails_the_start_and_registers_nothing(
        wd: Wdbot, bots: Path, local_index: Path) -> None:
    bot = write_bot(bots, "nope.py", IMPORTS_TINY.replace("wdtiny==1.0", "wdtiny==9.9"))
    result = wd("start", str(bot), check=False)
    assert result.code == 1 and "wdtiny" in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) <= 8
    assert wd.status()["bots"] == []


def test_python_version_is_picked_and_a_missing_one_is_a_clear_error(wd: Wdbot, bots: Path) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    # uv looks for pythonX.Y on PATH; put this interpreter's real folder first (version
    # managers' shims may refuse versions that are not their global one).
    base = Path(getattr(sys, "_base_executable", sys.executable)).resolve().parent
    wd.env["PATH"] = f"{base}{os.pathsep}{wd.env.get('PATH', '')}"
    source = "import sys, time\nprint(sys.version_info[:2], flush=True)\ntime.sleep(600)\n"
    bot = write_bot(bots, "py.py", source)
    wd("start", str(bot), "--python", version)
    wanted = str(tuple(sys.version_info[:2]))
    wait_until(lambda: wanted in wd.stdout("py"), "the bot's Python version")
    missing = wd("start", str(bot), "--name", "py2", "--python", "3.99", check=False)
    assert missing.code == 1
    assert "Python 3.99 is not installed" in missing.err and "--python" in missing.err
    assert "Traceback" not in missing.err
    assert [b["name"] for b in wd.status()["bots"]] == ["py"]


ISOLATION = """
import json, sys
found = {}
for name in ("psutil", "rich", "platformdirs", "watchfiles"):
    try:
        __import__(name)
        found[name] = True
    except ImportError:
        found[name] = False
before = set(sys.modules)
import watchdog_runtime as wd
added = sorted(m.split(".")[0] for m in set(sys.modules) - before)
foreign = [m for m in added if m not in sys.stdlib_module_names and m != "watchdog_runtime"]
print(json.dumps({"found": found, "foreign": foreign, "name": wd.bot_name(),
                  "state_dir": str(wd.state_dir())}), flush=True)
"""


def test_bot_is_isolated_but_can_import_the_sdk(wd: Wdbot, bots: Path) -> None:
    wd("start", str(write_bot(bots, "iso.py", ISOLATION)))
    wd.wait_state("iso", "exited")
    report = json.loads([x for x in wd.stdout("iso").splitlines() if x.startswith("{")][-1])
    assert report["found"] == {"psutil": False, "rich": False, "platformdirs": False, "watchfiles": False}
    assert report["foreign"] == [], "the SDK pulls in no third-party package"
    assert report["name"] == "iso"
    assert report["state_dir"] == str(wd.home / "bots" / "iso" / "state")
