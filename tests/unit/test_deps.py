from __future__ import annotations

from pathlib import Path

import pytest

from watchdog_runtime.installs.deps import DependencyError, declared_dependencies, script_metadata

PEP723 = '''\
# /// script
# requires-python = ">=3.10"
# dependencies = [
#   "ccxt>=4",
#   "requests",
# ]
# ///
import ccxt
'''


def test_pep723_block() -> None:
    assert script_metadata(PEP723) == {"requires-python": ">=3.10", "dependencies": ["ccxt>=4", "requests"]}
    assert script_metadata("import os\n") is None


def test_two_blocks_or_bad_toml_are_clear_errors() -> None:
    with pytest.raises(DependencyError, match="more than one"):
        script_metadata(PEP723 + "\n" + PEP723)
    with pytest.raises(DependencyError, match="TOML"):
        script_metadata("# /// script\n# dependencies = [\n# ///\n")


def test_sources_and_fingerprint(tmp_path: Path) -> None:
    bot = tmp_path / "bot.py"
    bot.write_text(PEP723)
    plain = declared_dependencies(bot, None)
    assert plain.requirements == ("ccxt>=4", "requests") and plain.requirement_files == ()
    beside = tmp_path / "requirements.txt"
    beside.write_text("numpy\n")
    with_file = declared_dependencies(bot, None)
    assert with_file.requirement_files == (str(beside),)
    before = with_file.fingerprint()
    beside.write_text("numpy\npandas\n")
    assert declared_dependencies(bot, None).fingerprint() != before, "a changed file rebuilds"
    explicit = tmp_path / "other.txt"
    explicit.write_text("httpx\n")
    assert declared_dependencies(bot, str(explicit)).requirement_files == (str(explicit),)


def test_dependencies_must_be_strings(tmp_path: Path) -> None:
    bot = tmp_path / "bot.py"
    bot.write_text("# /// script\n# dependencies = [1]\n# ///\n")
    with pytest.raises(DependencyError, match="list of strings"):
        declared_dependencies(bot, None)
