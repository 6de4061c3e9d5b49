"""The corpus of real bots (tests/corpus/) against the real package index: for each bot, the
time from ``wdbot start`` to past its imports, the install rounds, and the outcome. Needs the
network; not part of ``make test`` (the corpus test uses a local mirror instead).

    python scripts/bench_realbots.py [--only NAME ...] [--json FILE] [--timeout 600]

Each run uses a fresh home and a fresh uv cache, so every download is counted: the figures
are a new user's first start.
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
CORPUS = ROOT / "tests" / "corpus"
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


def run_one(bot: Path, timeout_s: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="wdb-") as tmp:
        home, cache = Path(tmp) / "h", Path(tmp) / "uv-cache"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WDBOT_", "UV_"))}
        env.update({"WDBOT_HOME": str(home), "UV_CACHE_DIR": str(cache)})
        started = time.monotonic()
        try:
            result = wdbot(env, "start", str(bot), timeout_s=timeout_s)
            stdout = home / "bots" / bot.stem / "logs" / "stdout.log"
            state: dict[str, Any] = {}
            while time.monotonic() - started < timeout_s:
                if stdout.exists() and MARKER in stdout.read_text(errors="replace"):
                    break
                state = status(env, bot.stem)
                if state["state"] == "errored":
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
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=600.0)
    ns = parser.parse_args(argv)
    bots = [b for b in sorted(CORPUS.glob("*.py")) if not ns.only or b.stem in ns.only]
    rows = []
    for bot in bots:
        row = run_one(bot, ns.timeout)
        rows.append(row)
        outcome = "past its imports" if row["past_imports"] else f"NOT: {row['cause']}"
        again = f"restart {row['restart_seconds']:.2f} s" if row["restart_seconds"] is not None else ""
        print(f"{row['bot']:<30} {row['seconds']:>7.1f} s  rounds {row['rounds']}  {again:<16} {outcome}",
              flush=True)
    if ns.json:
        ns.json.write_text(json.dumps({"python": sys.version.split()[0], "bots": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
