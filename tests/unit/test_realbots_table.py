"""``scripts/realbots_table.py``: bench_realbots.py's section of docs/benchmarks.md, replaced
in place per corpus, the rest of the page kept."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from realbots_table import REALBOTS_MARK, write_section  # noqa: E402 - scripts/ is no package


def doc(corpus: str, cause: str | None) -> dict[str, object]:
    row = {"bot": "b1", "seconds": 1.25, "rounds": 1, "restart_seconds": None, "installed": ["x 1.0"],
           "past_imports": cause is None, "state": "errored" if cause else "running", "cause": cause}
    return {"python": "3.11.7", "corpus": corpus, "at": "2026-12-02 10:00", "bots": [row]}


def test_each_corpus_has_its_section_and_a_second_run_replaces_it(tmp_path: Path) -> None:
    md = tmp_path / "benchmarks.md"
    md.write_text(f"# Benchmarks\n\n{REALBOTS_MARK}\n<!-- web -->\nweb section\n")
    write_section(md, doc("personal", "needs | Windows"))
    write_section(md, doc("library", None))
    write_section(md, doc("personal", None))
    text = md.read_text()
    assert text.count("## Real bots from small personal") == 1 and "needs" not in text
    assert "| b1 | 1.2 s | 1 | - | x 1.0 | past its imports |" in text
    assert text.startswith("# Benchmarks") and text.rstrip().endswith("web section")
