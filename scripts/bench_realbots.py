"""The corpora of real bots against the real package index: for each bot, the time from
``wdbot start`` to past its imports, the install rounds, and the outcome (past its imports,
or the one line that names why not). Needs the network; not part of ``make test`` (the
corpus tests use local mirrors instead).

    python scripts/bench_realbots.py [--corpus library|personal] [--only NAME ...]
        [--json FILE] [--markdown] [--cache DIR] [--timeout 600]

``library`` is tests/corpus/ (library example folders), ``personal`` tests/corpus_personal/
(small personal repositories, issue 26; the names outside the shipped table are allowed first,
as its user did). Each run uses a fresh home and, unless ``--cache`` names one to share, a
fresh uv cache, so every download is counted: the figures are a new user's first start.
``--markdown`` writes the table into docs/benchmarks.md, between this corpus's markers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPORA = {"library": ROOT / "tests" / "corpus", "personal": ROOT / "tests" / "corpus_personal"}
ALLOWED = {"personal": ("lumibot=lumibot", "progress=progress", "googletrans=googletrans")}
MARKER = "wdbot-corpus: past its imports"


def wdbot(env: dict[str, str], *args: str, timeout_s: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "watchdog_runtime", *args], env=env, text=True,
                          capture_output=True, timeout=timeout_s)


def status(env: dict[str, str], name: str) -> dict[str, Any]:
    doc = json.loads(wdbot(env, "status", "--json").stdout)
    return next(b for b in doc["bots"] if b["name"] == name)


def events(home: Path, kind: str) -> list[dict[str, object]]:
    path = home / "events.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [e for e in map(json.loads, lines) if e["kind"] == kind]


def run_one(bot: Path, timeout_s: float, allowed: tuple[str, ...] = (),
            cache: Path | None = None) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="wdb-") as tmp:
        home = Path(tmp) / "h"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WDBOT_", "UV_"))}
        env.update({"WDBOT_HOME": str(home), "UV_CACHE_DIR": str(cache or Path(tmp) / "uv-cache")})
        if allowed:
            wdbot(env, "allow", *allowed)
        started = time.monotonic()
        try:
            result = wdbot(env, "start", str(bot), timeout_s=timeout_s)
            stdout = home / "bots" / bot.stem / "logs" / "stdout.log"
            state: dict[str, Any] = {}
            while time.monotonic() - started < timeout_s:
                if stdout.exists() and MARKER in stdout.read_text(errors="replace"):
                    break
                state = status(env, bot.stem)
                # errored, or a crash loop (an import-time ImportError in backoff): an end too
                if state["state"] == "errored" or (state["state"] == "backoff" and state["last_exit"]):
                    break
                time.sleep(0.1)
            seconds = time.monotonic() - started
            state = status(env, bot.stem)
            past = stdout.exists() and MARKER in stdout.read_text(errors="replace")
            restart_s = _restart_seconds(env, bot.stem, stdout, timeout_s) if past else None
            last = state.get("last_exit") or {}
            return {
                "bot": bot.stem, "seconds": round(seconds, 2), "past_imports": past,
                "restart_seconds": restart_s,
                "rounds": len(events(home, "auto_install_started")),
                "installed": [f"{i['package']} {i['version']}" + (" (source)" if i.get("from_source") else "")
                              for i in state.get("auto_installed") or []],
                "state": state.get("state"), "restarts": state.get("restarts"),
                "cause": None if past else (last.get("error") or result.stderr.strip()),
                "start_exit": result.returncode,
            }
        finally:
            wdbot(env, "shutdown", timeout_s=120)


def _restart_seconds(env: dict[str, str], name: str, stdout: Path, timeout_s: float) -> float | None:
    """``wdbot restart`` to past the imports again: the packages' bytecode compiled at
    install time is what this measures (the environment says PYTHONDONTWRITEBYTECODE=1)."""
    env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
    before = stdout.read_text(errors="replace").count(MARKER)
    started = time.monotonic()
    wdbot(env, "restart", name, timeout_s=timeout_s)
    while time.monotonic() - started < timeout_s:
        if stdout.read_text(errors="replace").count(MARKER) > before:
            return round(time.monotonic() - started, 2)
        time.sleep(0.02)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="library")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", action="store_true", help="write the table into docs/benchmarks.md")
    parser.add_argument("--cache", type=Path, default=None, help="a uv cache shared by every bot")
    parser.add_argument("--timeout", type=float, default=600.0)
    ns = parser.parse_args(argv)
    bots = [b for b in sorted(CORPORA[ns.corpus].glob("*.py")) if not ns.only or b.stem in ns.only]
    rows = []
    for bot in bots:
        row = run_one(bot, ns.timeout, ALLOWED.get(ns.corpus, ()), ns.cache)
        rows.append(row)
        outcome = "past its imports" if row["past_imports"] else f"NOT: {row['cause']}"
        again = f"restart {row['restart_seconds']:.2f} s" if row["restart_seconds"] is not None else ""
        print(f"{row['bot']:<30} {row['seconds']:>7.1f} s  rounds {row['rounds']}  {again:<16} {outcome}",
              flush=True)
    doc = {"python": sys.version.split()[0], "corpus": ns.corpus, "at": time.strftime("%Y-%m-%d %H:%M"),
           "shared_cache": ns.cache is not None, "bots": rows}
    if ns.json:
        ns.json.write_text(json.dumps(doc, indent=2) + "\n")
    if ns.markdown:
        from realbots_table import write_section  # scripts/ is on sys.path when run as a script

        write_section(ROOT / "docs" / "benchmarks.md", doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
