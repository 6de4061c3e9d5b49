"""The walls between the package's rooms hold, and import-linter notices when one cracks.

The contracts live in pyproject.toml (``[tool.importlinter]``); ``make lint`` runs them too.
Each crack below is written into a copy of the package, never into the tree itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(),
                                reason="import-linter is not installed (make install puts it in)")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the package under ``tree`` (not whichever copy is installed)."""
    env = dict(os.environ, PYTHONPATH=str(tree), COLUMNS="250")  # one line per contract
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", "pyproject.toml"],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=120)


def test_the_tree_keeps_every_contract() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "11 kept, 0 broken" in done.stdout, done.stdout


CRACKS = {
    # module to write into, line to add, the contract that must break
    "the SDK reaches for psutil": (
        "bot/payload.py", "import psutil",
        "The bot side imports nothing but itself"),
    "the SDK reaches into the supervisor": (
        "bot/retrying.py", "from ..supervisor import backoff",
        "The bot side imports nothing but itself"),
    "common reaches up into the spec": (
        "common/units.py", "from .. import spec",
        "Common, shared by every process"),
    "the supervisor draws with the terminal's renderer": (
        "supervisor/runner.py", "from ..cli import render",
        "The supervisor never imports the terminal side"),
    "an install reaches into the web": (
        "installs/deps.py", "from ..web import app",
        "The supervisor never imports the terminal side"),
    "the chat reaches into the supervisor": (
        "chat/texts.py", "from ..supervisor import runner",
        "The chat (wdbot telegram) speaks to the supervisor only"),
    "the chat draws with the terminal's renderer": (
        "chat/texts.py", "from ..cli import render",
        "The chat (wdbot telegram) speaks to the supervisor only"),
    "a terminal command reads the supervisor's internals": (
        "cli/render.py", "from ..supervisor import procs",
        "The terminal side imports the supervisor's internals only"),
    # issue 25: the walls that ran uphill, mended
    "the registry reaches up for the supervisor's record types": (
        "registry.py", "from .supervisor.lifecycle import ExitInfo",
        "The shared top-level modules import neither"),
    "the redaction reaches up for the supervisor's exit record": (
        # (config is imported by the installs: a crack there breaks their wall too)
        "redaction.py", "from .supervisor.lifecycle import ExitInfo",
        "The shared top-level modules import neither"),
    "the config reaches into the installs": (
        "config.py", "from .installs.modmap import TableError",
        "The shared top-level modules import neither"),
    "an install reaches back into the supervisor": (
        "installs/repair.py", "from ..supervisor.tracebacks import MissingModule",
        "The installs never import the supervisor"),
    "a pure decision spawns a process": (
        "supervisor/sleepwatch.py", "import subprocess",
        "The pure modules import no process, cgroup or third-party package"),
    "a pure record reads processes through psutil": (
        "records.py", "import psutil",
        "The pure modules import no process, cgroup or third-party package"),
    "a pure module reads a cgroup": (
        "supervisor/lifecycle.py", "from . import cgroups",
        "The pure modules import no process, cgroup or third-party package"),
    "the web colours its advice with the terminal's renderer": (
        "web/views.py", "from ..cli.render import advice",
        "The web dashboard never imports the terminal side"),
    "a live stream takes its helpers from the application again (the old cycle)": (
        "web/live.py", "from .app import create_app",
        "The web's route modules never import the application"),
    "the runner reaches past its process layer for the OS": (
        "supervisor/runner.py", "import os",
        "The runner and the pure lifecycle modules import no OS module"),
    "a pure lifecycle module reaches for signals": (
        "supervisor/lifecycle.py", "import signal",
        "The runner and the pure lifecycle modules import no OS module"),
}


@pytest.mark.parametrize("crack", sorted(CRACKS))
def test_a_crack_in_a_wall_breaks_its_contract(crack: str, tmp_path: Path) -> None:
    module, line, contract = CRACKS[crack]
    shutil.copytree(ROOT / "watchdog_runtime", tmp_path / "watchdog_runtime",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "watchdog_runtime" / module
    target.write_text(target.read_text() + f"\n{line}\n")

    done = lint(tmp_path)

    assert done.returncode != 0, done.stdout
    assert "1 broken" in done.stdout, done.stdout
    broken = [text for text in done.stdout.splitlines() if " BROKEN" in text]
    assert len(broken) == 1 and broken[0].startswith(contract), done.stdout
    dotted = "watchdog_runtime." + module.removesuffix(".py").replace("/", ".")
    assert dotted in done.stdout, done.stdout
