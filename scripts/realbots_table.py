"""bench_realbots.py's table in docs/benchmarks.md: one section per corpus between markers,
so that re-running one corpus (or ``make bench``, which keeps what follows REALBOTS_MARK)
leaves the rest of the page as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REALBOTS_MARK = "<!-- scripts/bench_realbots.py writes from here on -->"
TITLES = {
    "library": "Real bots (library example folders, tests/corpus/)",
    "personal": "Real bots from small personal repositories (tests/corpus_personal/, issue 26)",
}


def _markers(corpus: str) -> tuple[str, str]:
    return f"<!-- bench_realbots {corpus} -->", f"<!-- /bench_realbots {corpus} -->"


def render(doc: dict[str, Any]) -> str:
    """The section for one run of bench_realbots.py (its JSON document)."""
    rows = doc["bots"]
    past = sum(1 for r in rows if r["past_imports"])
    cache = ("one uv cache shared by the bots (filled by the first that needs a package)"
             if doc.get("shared_cache") else "an empty uv cache per bot (a new user's first start)")
    lines = [
        f"## {TITLES.get(doc.get('corpus', 'library'), doc.get('corpus'))}", "",
        f"`python scripts/bench_realbots.py --corpus {doc.get('corpus', 'library')} --markdown`, "
        f"{doc.get('at', '')}, Python {doc['python']}, against the real package index, {cache}. "
        f"{past} of {len(rows)} past their imports; the others end with the line below.", "",
        "| bot | start → past imports | install rounds | restart → past imports | installed | outcome |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        restart = f"{r['restart_seconds']:.2f} s" if r.get("restart_seconds") is not None else "-"
        outcome = "past its imports" if r["past_imports"] else f"{_ended(r['state'])}: {_cell(r['cause'])}"
        lines.append(f"| {r['bot']} | {r['seconds']:.1f} s | {r['rounds']} | {restart} | "
                     f"{', '.join(r['installed']) or '-'} | {outcome} |")
    return "\n".join(lines) + "\n"


def _ended(state: str | None) -> str:
    """How a bot that did not get past its imports ended: ``errored``, or a crash loop (the run
    stops watching a bot it finds in backoff after a crash; it is restarting again meanwhile)."""
    return "errored" if state == "errored" else "crash loop (backoff)"


def _cell(text: str | None) -> str:
    return (text or "-").replace("|", "\\|").replace("\n", " ")


def write_section(md: Path, doc: dict[str, Any]) -> None:
    """Replace (or add, after REALBOTS_MARK) this corpus's section of ``md``."""
    start, end = _markers(doc.get("corpus", "library"))
    text = md.read_text() if md.exists() else ""
    section = f"{start}\n{render(doc)}{end}\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1].lstrip("\n")
    elif REALBOTS_MARK in text:
        head, tail = text.split(REALBOTS_MARK, 1)
        text = f"{head}{REALBOTS_MARK}\n{section}{tail}"
    else:
        text = f"{text.rstrip()}\n\n{REALBOTS_MARK}\n{section}"
    md.write_text(text)
