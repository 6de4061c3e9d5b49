"""What the resource watch costs: the supervisor's CPU time and RSS while it samples 50 idle
bots for 60 s (every 2 s, the default), beside the same supervisor with sampling made
rare (a one-hour interval), and the cost of one sample per bot.

    python scripts/bench_sampling.py [--bots 50] [--seconds 60] [--no-baseline]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-baseline", action="store_true")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
