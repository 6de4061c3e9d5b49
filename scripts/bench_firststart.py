"""First start against ``uv run`` (issue 26): a PEP 723 bot importing ccxt and pandas, the
time from the command to past its imports, with the same warm uv cache for both.

- ``uv run --script``: its cached script environments are removed before each run, so each
  builds its environment from the warm wheel cache, as a first run does.
- ``wdbot start``: a fresh home each run (its venv built and installed from the same cache),
  the supervisor already up (another idle bot), so what is timed is the bot's first start.
- ``wdbot restart``: once the packages are compiled, the bot restarted, to past its imports.

Needs the package index (the first run fills the cache). ``python scripts/bench.py --only
firststart --tools wdbot`` runs it and writes the figures into docs/benchmarks.md;
alone: ``python scripts/bench_firststart.py [--runs 3] [--json FILE] [--before CHECKOUT]``.
``--before`` measures another checkout's wdbot too (its ``watchdog_runtime`` first on the
path), in turn with this one and ``uv run`` in every round, so that a busy machine weighs
on all three alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".bench"
MARK = "past its imports"
BOT = f"""# /// script
# dependencies = ["ccxt", "pandas"]
# ///
import ccxt
import pandas
print({MARK!r}, flush=True)
import time
time.sleep(100000)
"""
IDLE = "import time\nprint('idle', flush=True)\ntime.sleep(100000)\n"


def _env(**extra: str) -> dict[str, str]:
    drop = ("WDBOT_", "UV_OFFLINE", "UV_NO_INDEX", "UV_FIND_LINKS", "PYTHONDONTWRITEBYTECODE")
    base = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**base, "UV_CACHE_DIR": str(SCRATCH / "uv-cache-firststart"), **extra}


def _uv() -> str:
    return shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"


def _until(check: Any, what: str, timeout_s: float = 600.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if check():
            return time.perf_counter() - started
        time.sleep(0.02)
    raise SystemExit(f"bench_firststart: timed out waiting for {what}")


def uv_run_once(bot: Path) -> float:
    """``uv run --script`` to past the imports, its script environments removed first."""
    for cached in (SCRATCH / "uv-cache-firststart").glob("environments-v*"):
        shutil.rmtree(cached, ignore_errors=True)
    started = time.perf_counter()
    proc = subprocess.Popen([_uv(), "run", "--quiet", "--python", sys.executable, "--script", str(bot)],
                            env=_env(), stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if MARK in line:
                return time.perf_counter() - started
        raise SystemExit("bench_firststart: uv run ended before its imports")
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def wdbot_once(bot: Path, work: Path, checkout: Path | None = None) -> tuple[float, float]:
    """(first start, restart) to past the imports, in a fresh home (``checkout``'s wdbot)."""
    env = _env(WDBOT_HOME=str(work / "home"), **({"PYTHONPATH": str(checkout)} if checkout else {}))
    # In the checkout's folder: ``-m`` puts the current folder before PYTHONPATH, so a run
    # from this one measured this checkout's wdbot twice (and the supervisor inherits it).
    where = str(checkout or ROOT)

    def cli(*args: str) -> None:
        done = subprocess.run([sys.executable, "-m", "watchdog_runtime", *args], env=env, cwd=where,
                              capture_output=True, text=True, timeout=900)
        if done.returncode:
            raise SystemExit(f"bench_firststart: wdbot {' '.join(args)}: {done.stderr}")

    idle = work / "idle.py"
    idle.write_text(IDLE)
    log = work / "home" / "bots" / bot.stem / "logs" / "stdout.log"
    try:
        cli("start", str(idle))  # the supervisor is up first
        started = time.perf_counter()
        cli("start", str(bot), "--python", sys.executable)
        _until(lambda: log.exists() and MARK in log.read_text(), "the first start")
        first = time.perf_counter() - started
        venv = work / "home" / "bots" / bot.stem / "venv"
        _until(lambda: not (venv / ".wdbot-bytecode-pending").exists(), "the bytecode compile")
        before = log.read_text().count(MARK)
        started = time.perf_counter()
        cli("restart", bot.stem)
        _until(lambda: log.read_text().count(MARK) > before, "the restart")
        return first, time.perf_counter() - started
    finally:
        subprocess.run([sys.executable, "-m", "watchdog_runtime", "shutdown"], env=env, cwd=where,
                       capture_output=True, timeout=300)


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "n": len(values)}


def measure(runs: int, before: Path | None = None) -> dict[str, Any]:
    """Side by side: wdbot's first start and restart, and ``uv run --script`` (and another
    checkout's wdbot, ``before``), one of each in every round."""
    SCRATCH.mkdir(exist_ok=True)
    got: dict[str, list[float]] = {k: [] for k in ("uv_run", "first_start", "restart",
                                                   "before_first_start", "before_restart")}
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        bot = Path(tmp) / "ccxtpandas.py"
        bot.write_text(BOT)
        uv_run_once(bot)  # fills the cache: every timed run below starts warm
        for i in range(runs):
            got["uv_run"].append(uv_run_once(bot))
            for prefix, checkout in (("", None), ("before_", before)):
                if prefix and checkout is None:
                    continue
                with tempfile.TemporaryDirectory(dir=SCRATCH) as work:
                    first, again = wdbot_once(bot, Path(work), checkout)
                got[f"{prefix}first_start"].append(first)
                got[f"{prefix}restart"].append(again)
            print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in got.items() if v), flush=True)
    return {**{k: _stats(v) for k, v in got.items() if v}, "python": sys.version.split()[0],
            "before": _label(before) if before else None}


def lines(r: dict[str, Any]) -> list[str]:
    """docs/benchmarks.md's lines for these figures: one table, side by side."""
    def s(key: str) -> str:
        v = r.get(key)
        return f"{v['median']:.2f} s (min {v['min']:.2f}, max {v['max']:.2f}, n={v['n']})" if v else "-"
    out = ["First start of a PEP 723 bot importing ccxt and pandas, warm uv cache, from the command "
           "to past its imports (`scripts/bench_firststart.py`: one of each per round, in turn):",
           "",
           "| checkout | `wdbot start` (first start) | `wdbot restart` (packages compiled) "
           "| `uv run --script` |",
           "|---|---|---|---|",
           f"| this one | {s('first_start')} | {s('restart')} | {s('uv_run')} |"]
    if "before_first_start" in r:
        out.append(f"| before: {r.get('before') or 'another checkout'} | {s('before_first_start')} | "
                   f"{s('before_restart')} | (the same runs) |")
    return out


def _label(checkout: Path) -> str:
    """``CHECKOUT at SHA``, for the table."""
    done = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%h"], capture_output=True,
                          text=True, check=False)
    return f"{checkout} at {done.stdout.strip()}" if done.returncode == 0 else str(checkout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--before", type=Path, default=None, help="another checkout to measure too")
    ns = parser.parse_args(argv)
    result = measure(ns.runs, ns.before)
    print("\n".join(lines(result)))
    if ns.json:
        ns.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
