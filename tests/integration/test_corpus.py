"""The corpus of real public bots (tests/corpus/, see MANIFEST.tsv) started the way a new user
starts theirs: no dependencies declared, against a local package mirror that this test builds
(tiny wheels named after the real distributions, holding every module path the bots import).
Each must get past its imports in one install round, without a single crash."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from tests.helpers import Wdbot, build_wheel, wait_until

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
MARKER = "wdbot-corpus: past its imports"

# The real world's answer, written down by hand (not computed with wdbot's own table, which
# is what is under test): the distribution on PyPI that provides each top-level import.
DISTRIBUTIONS = {
    "telegram": "python-telegram-bot", "aiogram": "aiogram", "aiohttp": "aiohttp",
    "alpaca_trade_api": "alpaca-trade-api", "pandas": "pandas", "pytz": "pytz",
    "kiteconnect": "kiteconnect", "flask": "Flask", "binance": "python-binance",
    "dateparser": "dateparser", "ccxt": "ccxt", "pandas_ta": "pandas-ta",
}

# Any name imported from a stand-in module exists (PEP 562), so the bots' own
# ``from x import Name`` lines work as they do against the real packages.
STAND_IN = "def __getattr__(name):\n    return type(name, (), {})\n"


def bots() -> list[Path]:
    return sorted(CORPUS.glob("*.py"))


def imported_paths() -> dict[str, set[str]]:
    """Top-level name -> every module path the corpus imports under it."""
    found: dict[str, set[str]] = defaultdict(set)
    for bot in bots():
        for node in ast.walk(ast.parse(bot.read_text())):
            if isinstance(node, ast.Import):
                paths = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                paths = [node.module]
            else:
                continue
            for path in paths:
                found[path.split(".")[0]].add(path)
    return found


def build_mirror(folder: Path) -> None:
    for top, paths in imported_paths().items():
        dist = DISTRIBUTIONS.get(top)
        if dist is None:
            continue  # the standard library
        files = {}
        for path in paths | {top}:
            parts = path.split(".")
            for depth in range(1, len(parts) + 1):
                files["/".join(parts[:depth]) + "/__init__.py"] = STAND_IN
        build_wheel(folder, dist, "0.0.1", files)


def expected_packages(bot: Path) -> set[str]:
    tops = {path.split(".")[0] for path in imported_paths_of(bot)}
    return {DISTRIBUTIONS[t] for t in tops if t in DISTRIBUTIONS}


def imported_paths_of(bot: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(bot.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
    return out


def test_the_corpus_is_large_and_every_entry_names_its_origin_and_licence() -> None:
    manifest = [line.split("\t") for line in (CORPUS / "MANIFEST.tsv").read_text().splitlines()
                if line and not line.startswith("#")]
    assert len(manifest) >= 15
    assert {name for name, _, _ in manifest} == {b.stem for b in bots()}
    for name, origin, licence in manifest:
        header = (CORPUS / f"{name}.py").read_text()
        assert f"# origin: {origin}\n" in header and f"# licence: {licence}\n" in header
        assert licence.split()[0] in ("MIT", "Apache-2.0", "CC0-1.0", "BSD-3-Clause", "BSD-2-Clause")
        assert origin.startswith("https://github.com/") and "/blob/" in origin


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_corpus_bot_gets_past_its_imports_in_one_round(
        wd: Wdbot, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    build_mirror(mirror)
    wd.env.update({"UV_FIND_LINKS": str(mirror), "UV_NO_INDEX": "1"})
    names = [bot.stem for bot in bots()]
    for bot in bots():
        wd("start", str(bot), timeout_s=300)

    def past(name: str) -> bool:
        return MARKER in wd.stdout(name)

    wait_until(lambda: all(past(n) for n in names), "every corpus bot past its imports", 300)
    problems = []
    for bot in bots():
        status = wd.bot(bot.stem)
        rounds = [e.get("round") for e in wd.events("auto_install_started", bot.stem)]
        installed = {i["package"] for i in status["auto_installed"]}
        if status["state"] != "running" or status["restarts"] or status["last_exit"]:
            problems.append(f"{bot.stem}: {status['state']}, restarts {status['restarts']}, "
                            f"last exit {status['last_exit']}")
        if rounds != [1]:
            problems.append(f"{bot.stem}: install rounds {rounds}")
        if installed != expected_packages(bot):
            problems.append(f"{bot.stem}: installed {sorted(installed)}, "
                            f"expected {sorted(expected_packages(bot))}")
    assert not problems, "\n".join(problems)
