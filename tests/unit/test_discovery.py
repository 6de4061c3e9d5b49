"""Whole-file dependency discovery: what the bot's own files import, read with ast."""

from __future__ import annotations

import textwrap
from pathlib import Path

from watchdog_runtime.installs.discovery import imports_in_source, scan_bot

SOURCE = textwrap.dedent("""
    import os, ccxt
    from pandas import DataFrame
    from . import sibling
    try:
        import ujson as json
    except ImportError:
        import simplejson as json
    else:
        import orjson
    if TYPE_CHECKING:
        import mypy_extensions
    def main():
        import telegram.ext
    class Bot:
        with open("x"):
            import numpy as np
    match mode:
        case "live":
            import ta
""")


def test_every_absolute_import_the_bot_needs_and_none_it_made_optional() -> None:
    found = {f.module: f for f in imports_in_source(SOURCE, "bot.py")}
    assert sorted(found) == ["ccxt", "numpy", "orjson", "os", "pandas", "ta", "telegram.ext"]
    assert found["pandas"].import_line == "from pandas import DataFrame"
    certain = sorted(m for m, f in found.items() if f.certain)
    assert certain == ["ccxt", "os", "pandas"], "only the file's own top level is certain"


def test_a_file_that_does_not_parse_gives_nothing() -> None:
    assert imports_in_source("import ccxt\nprint('x'\n") == ()


def test_the_bots_own_modules_are_followed_not_reported(tmp_path: Path) -> None:
    (tmp_path / "bot.py").write_text("import helpers\nfrom strategy import grid\nimport yaml\n")
    (tmp_path / "helpers.py").write_text("import requests\nimport bot\n")  # a cycle is fine
    (tmp_path / "strategy").mkdir()
    (tmp_path / "strategy" / "__init__.py").write_text("import numpy\n")
    (tmp_path / "strategy" / "grid.py").write_text("import scipy\n")
    (tmp_path / "unrelated.py").write_text("import tensorflow\n")
    scan = scan_bot(tmp_path / "bot.py")
    assert sorted({f.module for f in scan.imports}) == ["numpy", "requests", "scipy", "yaml"]
    assert scan.local_names == {"helpers", "strategy", "bot"}
    assert str(tmp_path / "unrelated.py") not in scan.files
