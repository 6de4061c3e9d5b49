"""The facts auto-install gathers about a bot's world, read from real folders and a real Python."""

from __future__ import annotations

import sys
from pathlib import Path

from watchdog_runtime.installs.repair import facts_for, stdlib_names


def fake_venv(root: Path) -> Path:
    site = root / "venv" / "lib" / "python3.11" / "site-packages"
    (site / "installed_pkg").mkdir(parents=True)
    (site / "installed_pkg" / "__init__.py").write_text("")
    (site / "google").mkdir()  # a namespace package: no __init__.py
    return root / "venv"


def test_standard_library_names_come_from_the_bots_python() -> None:
    names = stdlib_names(sys.executable)
    assert {"json", "asyncio", "sys", "tomllib" if sys.version_info >= (3, 11) else "json"} <= names
    assert "yaml" not in names and "requests" not in names
    assert stdlib_names("/nonexistent/python") == frozenset(sys.stdlib_module_names) | frozenset(
        sys.builtin_module_names), "a Python that cannot be asked: the supervisor's own list"


def test_local_files_folders_and_installed_parents(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path)
    bot_dir = tmp_path / "bot"
    (bot_dir / "strategy").mkdir(parents=True)
    (bot_dir / "helpers.py").write_text("")
    python = Path(sys.executable)
    assert facts_for("json", python, venv, bot_dir).stdlib
    assert facts_for("helpers", python, venv, bot_dir).local
    assert facts_for("strategy.grid", python, venv, bot_dir).local
    assert facts_for("installed_pkg.missing", python, venv, bot_dir).parent_installed
    clean = facts_for("google.protobuf", python, venv, bot_dir)
    assert not (clean.stdlib or clean.local or clean.parent_installed), "a namespace is not a package"
    assert not facts_for("yaml", python, venv, bot_dir).local
