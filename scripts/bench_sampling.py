"""What the resource watch costs: the supervisor's CPU time and RSS while it watches 50 idle
bots for 60 s (the default settings), beside the same supervisor with sampling made rare
(a one-hour interval), and the cost of one sample per bot; then what it still catches
(issue 29): the peak RSS of a bot leaking 50 MB/s under --max-memory 300M, and how long
after its start a slow leak (120 MB/h, from the start, and after a flat minute) is
suspected (the ``leak_suspected`` event).

    python scripts/bench_sampling.py [--bots 50] [--seconds 60] [--no-baseline] [--no-leaks]
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

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IDLE_BOT = "import time\nwhile True:\n    time.sleep(3600)\n"
FAST_LEAK = """import time
hoard = []
while len(hoard) < 400:                    # 50 MB/s, capped at 2 GB (bench.py's leaker)
    hoard.append(bytearray(5 * 1024 * 1024))
    hoard[-1][::4096] = b"x" * len(hoard[-1][::4096])   # touch every page: real RSS
    time.sleep(0.1)
time.sleep(100000)
"""
SLOW_LEAK = """import time
time.sleep({flat})
hoard = []
while True:                                # 120 MB/h: 34 kB a second, every page touched
    hoard.append(bytearray(34 * 1024))
    hoard[-1][::4096] = b"x" * len(hoard[-1][::4096])
    time.sleep(1.0)
"""


def run_home(tmp: Path, label: str, bots: int, seconds: float, interval: float) -> dict[str, float]:
    home = tmp / label
    home.mkdir()
    (home / "config.toml").write_text(f"[resources]\ninterval = {interval}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WDBOT_")}
    env["WDBOT_HOME"] = str(home)
    folder = tmp / f"{label}-bots"
    folder.mkdir()

    def wdbot(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "watchdog_runtime", *args], env=env, check=True,
                              capture_output=True, text=True).stdout

    try:
        for i in range(bots):
            path = folder / f"idle{i:02d}.py"
            path.write_text(IDLE_BOT)
            wdbot("start", str(path))
        pid = int((home / "supervisor.lock").read_text())
        sup = psutil.Process(pid)
        time.sleep(max(2.0, 2 * interval if interval < 60 else 2.0))  # the first samples are in
        before_cpu = sum(sup.cpu_times()[:2])
        before_rss = sup.memory_info().rss
        time.sleep(seconds)
        cpu = sum(sup.cpu_times()[:2]) - before_cpu
        after_rss = sup.memory_info().rss
        doc = json.loads(wdbot("status", "--json"))
        sampled = sum(1 for b in doc["bots"] if b["rss_bytes"] is not None)
        pids = {b["name"]: b["pid"] for b in doc["bots"] if b["pid"]}
        return {"cpu_s": cpu, "rss_start": before_rss, "rss_end": after_rss,
                "sampled": sampled, "per_bot_s": sample_cost(pids)}
    finally:
        subprocess.run([sys.executable, "-m", "watchdog_runtime", "shutdown"], env=env,
                       capture_output=True, check=False)


def sample_cost(pids: dict[str, int], repeats: int = 20) -> float:
    """Seconds per bot of one ``procs.sample_trees`` pass, measured in this process."""
    from watchdog_runtime.supervisor import procs

    idents = {n: i for n, p in pids.items() if (i := procs.identify(p))}
    procs.sample_trees(idents, time.monotonic())  # warm psutil's process cache
    started = time.perf_counter()
    for _ in range(repeats):
        procs.sample_trees(idents, time.monotonic())
    return (time.perf_counter() - started) / repeats / max(1, len(idents))


def _home(tmp: Path, label: str) -> tuple[Path, dict[str, str]]:
    home = tmp / label
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WDBOT_")}
    env["WDBOT_HOME"] = str(home)
    return home, env


def _wdbot(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "watchdog_runtime", *args], env=env, check=True,
                   capture_output=True)


def leak_limit(tmp: Path, rounds: int = 2) -> list[int]:
    """Peak RSS of a bot leaking 50 MB/s under --max-memory 300M, before its restart."""
    peaks = []
    for i in range(rounds):
        home, env = _home(tmp, f"limit{i}")
        bot = home / "leaker.py"
        bot.write_text(FAST_LEAK)
        try:
            _wdbot(env, "start", str(bot), "--max-memory", "300M")
            doc = json.loads(subprocess.run([sys.executable, "-m", "watchdog_runtime", "status", "--json"],
                                            env=env, check=True, capture_output=True, text=True).stdout)
            proc, peak, deadline = psutil.Process(doc["bots"][0]["pid"]), 0, time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    if proc.status() == psutil.STATUS_ZOMBIE:
                        break
                    peak = max(peak, proc.memory_info().rss)
                except psutil.Error:
                    break  # stopped: the limit restart
                time.sleep(0.02)
            peaks.append(peak)
        finally:
            subprocess.run([sys.executable, "-m", "watchdog_runtime", "shutdown"], env=env,
                           capture_output=True, check=False)
    return peaks


def leak_trend(tmp: Path, timeout_s: float = 600.0) -> dict[str, float | None]:
    """Seconds from each slow leaker's start to its ``leak_suspected`` event."""
    home, env = _home(tmp, "trend")
    bots = {"early": 0, "late": 60}
    started: dict[str, float] = {}
    try:
        for name, flat in bots.items():
            path = home / f"{name}.py"
            path.write_text(SLOW_LEAK.format(flat=flat))
            started[name] = time.time()
            _wdbot(env, "start", str(path))
        found: dict[str, float | None] = {n: None for n in bots}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and None in found.values():
            events = home / "events.jsonl"
            for line in events.read_text().splitlines() if events.exists() else []:
                event = json.loads(line)
                name = event.get("bot")
                if event.get("kind") == "leak_suspected" and name in found and found[name] is None:
                    found[name] = _at(event) - started[name]
            time.sleep(1.0)
        return found
    finally:
        subprocess.run([sys.executable, "-m", "watchdog_runtime", "shutdown"], env=env,
                       capture_output=True, check=False)


def _at(event: dict[str, object]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(str(event["at"]).replace("Z", "+00:00")).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-leaks", action="store_true", help="skip the leak rows (about 6 minutes)")
    ns = parser.parse_args()
    mib = 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="wdbench-") as tmp_s:
        tmp = Path(tmp_s)
        rows = [("sampling every 2 s", run_home(tmp, "watch", ns.bots, ns.seconds, 2.0))]
        if not ns.no_baseline:
            rows.append(("sampling every 3600 s", run_home(tmp, "base", ns.bots, ns.seconds, 3600.0)))
    print(f"{ns.bots} idle bots, {ns.seconds:.0f} s, {psutil.cpu_count()} CPUs, {sys.platform}")
    for label, r in rows:
        share = r["cpu_s"] / ns.seconds * 100
        print(f"{label:24}: supervisor CPU {r['cpu_s']:.2f} s ({share:.2f} % of a core),"
              f" RSS {r['rss_start'] / mib:.1f} -> {r['rss_end'] / mib:.1f} MiB, {r['sampled']} bots sampled")
    if len(rows) == 2:
        extra = rows[0][1]["cpu_s"] - rows[1][1]["cpu_s"]
        print(f"{'cost of sampling':24}: {extra:.2f} CPU s per {ns.seconds:.0f} s "
              f"({extra / ns.seconds * 100:.2f} % of a core)")
    per_bot = rows[0][1]["per_bot_s"]
    print(f"{'one sample of one bot':24}: {per_bot * 1e6:.0f} us (a pass over {ns.bots} bots: "
          f"{per_bot * ns.bots * 1e3:.1f} ms, in a worker thread)")
    if not ns.no_leaks:
        with tempfile.TemporaryDirectory(prefix="wdbench-") as tmp_s:
            peaks = leak_limit(Path(tmp_s))
            shown = ", ".join(f"{p / mib:.0f} MiB" for p in peaks)
            print(f"{'leak 50 MB/s, limit 300M':24}: peak RSS {shown}")
            found = leak_trend(Path(tmp_s))
        for name, after in found.items():
            what = "leak 120 MB/h from start" if name == "early" else "leak 120 MB/h after 60 s"
            shown = "not suspected" if after is None else f"suspected {after:.0f} s after the start"
            print(f"{what:24}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
