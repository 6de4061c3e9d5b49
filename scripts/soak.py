"""Soak run: one supervisor, 50 bots, for an hour (or ``--minutes``); is anything growing?

The fleet (``--bots`` N, default 50): a third of the bots crash every 2-6 s (exit 1, restart
delay capped at 2 s), one leaks 2 MiB/s against a 50 MiB limit (restarted by the watch every
~25 s), one floods its log (about 2,000 lines/s), the rest sit idle. Every ``--interval``
seconds it records the supervisor's own RSS, open files, CPU (the share of one core over the
interval) and the event log's size (``events.jsonl`` plus its rotated copy), one JSON line per
sample on stdout and in ``--out``.

The rule, per figure (a run fails when any figure breaks it, exit 1):
    fit a least-squares line to the SECOND HALF of the samples; the figure has levelled off
    when that slope, projected over the whole run's length, stays within its allowance
    (RSS: max(2 MiB, 5 % of its second-half median); open files: max(4, 10 %);
    event log: max(256 KiB, 10 %); CPU: max(2 % of a core, 50 %)), or when the figure has a
    documented ceiling and stays under it (the event log: 2 x ``events.MAX_BYTES`` + 64 KiB,
    it keeps one rotated copy).
The first half is left out on purpose: caches, the event log and pymalloc's arenas fill there.
CPU is on a shared machine: its figures are noisy (other work steals the cores), hence the
loose allowance; treat them as an order of magnitude.

    python scripts/soak.py --minutes 10 --out /tmp/soak.jsonl
    python scripts/soak.py --analyse /tmp/soak.jsonl     # the verdict on a (partial) sample file

Not part of ``make test``. Every process it starts carries ``SOAK_RUN`` in its environment
and is killed by pid at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from watchdog_runtime.events import MAX_BYTES as EVENTS_MAX_BYTES  # noqa: E402 (after the path)

RUN = uuid.uuid4().hex[:12]
MIB = 1024 * 1024

CRASHER = """import random, sys, time
print("up", flush=True)
time.sleep(random.uniform(2, 6))
sys.exit(1)
"""
LEAKER = """import time
hoard = []
print("leaking", flush=True)
while True:
    block = bytearray(1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])   # touch every page: real RSS
    hoard.append(block)
    time.sleep(0.5)
"""
FLOODER = """import itertools, time
for i in itertools.count():
    print(f"flood {i} " + "x" * 80, flush=(i % 20 == 0))
    if i % 20 == 0:
        time.sleep(0.01)
"""
IDLE = "import time\nprint('idle', flush=True)\ntime.sleep(10 ** 6)\n"


@dataclass(frozen=True)
class Allowance:
    """How much a figure may still grow over the run (see the module's docstring)."""

    absolute: float
    relative: float
    ceiling: float | None = None


RULES = {
    "rss_bytes": Allowance(2 * MIB, 0.05),
    "open_files": Allowance(4, 0.10),
    "events_bytes": Allowance(256 * 1024, 0.10, ceiling=2 * EVENTS_MAX_BYTES + 64 * 1024),
    "cpu_share": Allowance(0.02, 0.50),
}


def fleet(bots: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """Bot name -> (code, up-file options)."""
    crashers = bots // 3
    out: dict[str, tuple[str, dict[str, Any]]] = {
        "leaker": (LEAKER, {"max_memory": "50M", "backoff_initial": "0.5", "backoff_max": "2"}),
        "flooder": (FLOODER, {}),
    }
    for i in range(crashers):
        out[f"crash{i}"] = (CRASHER, {"backoff_initial": "0.5", "backoff_max": "2"})
    for i in range(max(0, bots - crashers - 2)):
        out[f"idle{i}"] = (IDLE, {})
    return out


def up_file(work: Path, bots: int) -> Path:
    lines = []
    for name, (code, options) in fleet(bots).items():
        path = work / "bots" / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
        lines += [f"[bots.{name}]", f'path = "{path}"']
        lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    upfile = work / "wdbot.toml"
    upfile.write_text("\n".join(lines) + "\n")
    return upfile


def wdbot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "watchdog_runtime", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def ours() -> list[psutil.Process]:
    """Every live process of this run (they all carry SOAK_RUN)."""
    found = []
    for proc in psutil.process_iter(["environ"]):
        with contextlib.suppress(psutil.Error):
            if (proc.info.get("environ") or {}).get("SOAK_RUN") == RUN and proc.pid != os.getpid():
                found.append(proc)
    return found


@contextlib.contextmanager
def supervisor_up(bots: int) -> Iterator[tuple[psutil.Process, Path]]:
    """A supervisor with the fleet, in a private home; everything of the run killed at the end."""
    work = Path(tempfile.mkdtemp(prefix="wdbot-soak-"))
    home = work / "home"
    env = {**os.environ, "WDBOT_HOME": str(home), "SOAK_RUN": RUN, "UV_OFFLINE": "1"}
    try:
        done = wdbot(env, "up", str(up_file(work, bots)))
        if done.returncode != 0:
            raise SystemExit(f"soak: wdbot up failed: {done.stderr.strip()}")
        pid = int((home / "supervisor.lock").read_text().split()[0])
        yield psutil.Process(pid), home
    finally:
        wdbot(env, "shutdown")
        for proc in ours():
            with contextlib.suppress(psutil.Error):
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def sample(proc: psutil.Process, home: Path, started: float, last_cpu: tuple[float, float]) -> dict[str, Any]:
    now = time.monotonic()
    times = proc.cpu_times()
    cpu = times.user + times.system
    events = sum(p.stat().st_size for p in (home / "events.jsonl", home / "events.jsonl.1") if p.exists())
    return {"t_s": round(now - started, 1), "rss_bytes": proc.memory_info().rss,
            "open_files": proc.num_fds(), "cpu_s": round(cpu, 3),
            "cpu_share": round((cpu - last_cpu[1]) / max(now - last_cpu[0], 1e-9), 4),
            "events_bytes": events}


def soak(minutes: float, bots: int, interval_s: float, out: Path | None) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = []
    sink = out.open("w") if out else None
    with supervisor_up(bots) as (proc, home):
        started = time.monotonic()
        times = proc.cpu_times()
        last = (started, times.user + times.system)
        while time.monotonic() - started < minutes * 60:
            time.sleep(interval_s)  # the sampling period itself, not a wait for a condition
            try:
                row = sample(proc, home, started, last)
            except psutil.NoSuchProcess:
                raise SystemExit(f"soak: the supervisor (pid {proc.pid}) died after "
                                 f"{time.monotonic() - started:.0f} s: a failure") from None
            last = (started + row["t_s"], row["cpu_s"])
            samples.append(row)
            line = json.dumps(row)
            print(line, flush=True)
            if sink:
                sink.write(line + "\n")
                sink.flush()
    if sink:
        sink.close()
    return samples


def judge(samples: list[dict[str, Any]]) -> list[tuple[str, dict[str, float], bool]]:
    """Per figure: its summary and whether it levelled off (the module docstring's rule)."""
    half = samples[len(samples) // 2:]
    span = samples[-1]["t_s"] - samples[0]["t_s"] if len(samples) > 1 else 0.0
    verdicts = []
    for key, rule in RULES.items():
        xs = [s["t_s"] for s in half]
        ys = [float(s[key]) for s in half]
        slope = statistics.linear_regression(xs, ys).slope if len(set(xs)) > 1 else 0.0
        level = statistics.median(ys)
        projected = slope * span
        allowed = max(rule.absolute, rule.relative * level)
        under_ceiling = rule.ceiling is not None and max(ys) <= rule.ceiling
        figures = {"first": float(samples[0][key]), "min": min(float(s[key]) for s in samples),
                   "max": max(float(s[key]) for s in samples), "last": ys[-1], "level": level,
                   "slope_per_h": slope * 3600, "projected": projected, "allowed": allowed}
        verdicts.append((key, figures, projected <= allowed or under_ceiling))
    return verdicts


def show(key: str, value: float) -> str:
    if key.endswith("bytes"):
        return f"{value / MIB:.2f} MiB"
    if key == "cpu_share":
        return f"{value * 100:.2f} %"
    return f"{value:.1f}"


def report(samples: list[dict[str, Any]]) -> int:
    if len(samples) < 4:
        print("soak: fewer than 4 samples, no verdict", file=sys.stderr)
        return 1
    minutes = (samples[-1]["t_s"]) / 60
    print(f"\nsoak: {len(samples)} samples over {minutes:.1f} min")
    print("| figure | first | min | max | last | 2nd-half slope /h | projected over run | allowed | flat |")
    print("|---|---|---|---|---|---|---|---|---|")
    failed = 0
    for key, f, ok in judge(samples):
        failed += not ok
        print(f"| {key} | " + " | ".join(show(key, f[k]) for k in ("first", "min", "max", "last",
              "slope_per_h", "projected", "allowed")) + f" | {'yes' if ok else 'NO'} |")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="how long (default 60)")
    parser.add_argument("--bots", type=int, default=50, help="fleet size (default 50)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, help="also write the samples here (JSON lines)")
    parser.add_argument("--analyse", type=Path, metavar="FILE", help="only judge a sample file")
    ns = parser.parse_args(argv)
    if ns.analyse:
        try:
            rows = [json.loads(line) for line in ns.analyse.read_text().splitlines() if line.strip()]
            return report(rows)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"soak: cannot judge {ns.analyse}: {exc} (a file written by --out is wanted)",
                  file=sys.stderr)
            return 1
    if ns.bots < 5 or ns.minutes <= 0 or ns.interval <= 0:
        print("soak: --bots must be >= 5, --minutes and --interval > 0", file=sys.stderr)
        return 2
    return report(soak(ns.minutes, ns.bots, ns.interval, ns.out))


if __name__ == "__main__":
    sys.exit(main())
