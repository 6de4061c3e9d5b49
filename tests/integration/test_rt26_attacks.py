"""Red team of issue 26 (the right packages): the drift repair and the causes, attacked
through the real CLI, real uv and a local mirror of tiny wheels (never the network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Wdbot, write_bot
from tests.integration.test_right_packages import RUN_FOREVER, drift_trap


@pytest.fixture
def mirror(tmp_path: Path, wd: Wdbot) -> Path:
    """A wheel folder the supervisor's uv uses instead of an index (through the env)."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    wd.env.update({"UV_FIND_LINKS": str(folder), "UV_NO_INDEX": "1"})
    return folder


def installed_version(wd: Wdbot, name: str, dist: str) -> str | None:
    """The version of ``dist`` in the bot's venv, read from its dist-info folder."""
    norm = dist.replace("-", "_")
    found = sorted((wd.home / "bots" / name / "venv").glob(f"lib/python*/site-packages/{norm}-*.dist-info"))
    return found[0].name[len(norm) + 1:-len(".dist-info")] if found else None


def test_a_package_the_bots_own_folder_shadows_is_not_downgraded_for_a_drift(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (red team, issue 26): the bot's own folder 'wdt_tg/' shadows the installed
    distribution; 'No module named wdt_tg.ext' was taken for a drift of the installed
    wdt-tg, which was downgraded to 13.15 and pinned, for nothing (the bot still imports its
    own folder). The bot's own module is named instead, and nothing is installed."""
    drift_trap(mirror)
    (bots / "requirements.txt").write_text("wdt-tg\n")
    (bots / "wdt_tg").mkdir()
    (bots / "wdt_tg" / "__init__.py").write_text("MINE = 1\n")
    bot = write_bot(bots, "shadow.py", "from wdt_tg.ext.dispatcher import run_async\n" + RUN_FOREVER)
    wd("start", str(bot), check=False)
    status = wd.wait_state("shadow", "errored")
    error = status["last_exit"]["error"]
    assert "'wdt_tg' is a file or folder beside the bot" in error and "\n" not in error
    assert installed_version(wd, "shadow", "wdt-tg") == "20.0", "the user's package is left alone"
    assert wd.events("auto_install_started", "shadow") == []
    record = wd.home / "bots" / "shadow" / "auto-requirements.txt"
    assert not record.exists() or "wdt-tg" not in record.read_text()
