"""The running supervisor of this checkout, measured as ``make bench`` measures it (issue 29).

Starts ``--bots`` idle bots with ``wdbot up`` in a private home (``scripts/bench.py``'s Wdbot),
waits until each printed its line (then ``--settle`` seconds more), and prints the daemon's RSS
(MiB, as ``make bench`` reports it), its heap figures (the ``debug_heap`` operation: blocks,
objects, the most numerous types), optionally its CPU seconds over ``--seconds``, and with
``--modules`` every module it has loaded; then shuts it down. About 15 s plus the waits.

    python scripts/measure_daemon.py [--bots 50] [--seconds 60 --settle 150] [--modules] [--smaps]
        [--config '[resources]\ninterval = 3600']
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT)]
import bench  # noqa: E402 (after the path)

IDLE_LINE = "idle"


def resident_by_mapping(pid: int) -> list[tuple[str, int]]:
    """The process's resident KiB by what is mapped (a file's name, ``[heap]``, ``[anon]``),
    largest first: which part of the RSS is code, the C heap or Python's arenas."""
    sizes: dict[str, int] = {}
    name = ""
    with open(f"/proc/{pid}/smaps") as fh:
        for line in fh:
            head = line.split()
            if head[0] == "Rss:":
                sizes[name] = sizes.get(name, 0) + int(head[1])
            elif not head[0].endswith(":"):  # a mapping's first line: address range ... path
                name = Path(head[5]).name if len(head) > 5 else "[anon]"
    return sorted(sizes.items(), key=lambda item: -item[1])


def run_and_wakes(pid: int) -> dict[int, tuple[int, int]]:
    """Each thread's nanoseconds on a CPU and times woken (voluntary switches), by thread id:
    finer than the clock ticks of ``cpu_times``, and the count that idle CPU follows."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            ran = int((task / "schedstat").read_text().split()[0])
            wakes = int(next(line.split()[1] for line in (task / "status").read_text().splitlines()
                             if line.startswith("voluntary_ctxt_switches")))
        except (OSError, StopIteration):
            continue  # a thread that ended meanwhile
        out[int(task.name)] = (ran, wakes)
    return out


def cpu_report(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> str:
    """The CPU and wakes of a window, in all and by thread (the main thread first)."""
    rows = [(tid, ran - before.get(tid, (0, 0))[0], wakes - before.get(tid, (0, 0))[1])
            for tid, (ran, wakes) in sorted(after.items())]
    threads = ", ".join(f"{tid}: {ran / 1e6:.1f} ms {wakes} wakes" for tid, ran, wakes in rows)
    return (f"schedstat {sum(r[1] for r in rows) / 1e6:.1f} ms, {sum(r[2] for r in rows)} wakes "
            f"({threads})")


def measure(bots: int, seconds: float, settle_s: float, config: str, modules: bool,
            smaps: bool = False) -> None:
    """Start the fleet, print the figures, shut the supervisor down (whatever happens)."""
    from watchdog_runtime.common.control import request
    from watchdog_runtime.common.home import Home

    bench.SCRATCH.mkdir(exist_ok=True)
    bench.warm_bytecode()  # as make bench: the supervisor a machine runs once one has run
    tool = bench.Wdbot(Path(tempfile.mkdtemp(prefix="measure-daemon-")))
    paths = {f"idle{i}": bench.write_bot(tool.bots, f"idle{i}", bench.IDLE) for i in range(bots)}
    try:
        if config:
            tool.home.mkdir(parents=True, exist_ok=True)
            (tool.home / "config.toml").write_text(config.replace("\\n", "\n") + "\n")
        tool.start(paths)
        bench.wait(lambda: all(tool.log(n).exists() and IDLE_LINE in tool.log(n).read_text() for n in paths),
                   f"{bots} idle bots", timeout_s=300)
        proc = tool.supervisor()[0]
        time.sleep(3 + settle_s)  # the settling itself, not a wait for a condition
        if seconds:
            before, ran_before = sum(proc.cpu_times()[:2]), run_and_wakes(proc.pid)
            time.sleep(seconds)  # the measurement window
            print(f"supervisor CPU over {seconds:.0f} s: {sum(proc.cpu_times()[:2]) - before:.2f} s "
                  f"({cpu_report(ran_before, run_and_wakes(proc.pid))})")
        print(f"supervisor RSS with {bots} idle bots: {proc.memory_info().rss / 2**20:.1f} MiB "
              f"(threads {proc.num_threads()})")
        heap = request(Home(tool.home), "debug_heap", top=8)
        print(f"heap blocks {heap['blocks']}, objects {heap['objects']}, most numerous {heap['types']}")
        found = request(Home(tool.home), "debug_modules")
        loaded = found["modules"]
        lean = "lean bytecode" if found.get("optimize") == 2 else "plain bytecode"
        print(f"{len(loaded)} modules loaded, {lean}" + (": " + " ".join(loaded) if modules else ""))
        if smaps:
            print("resident KiB by mapping:", ", ".join(f"{k} {v}" for k, v in resident_by_mapping(proc.pid)))
    finally:
        tool.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--bots", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=0.0, help="a CPU window this long")
    parser.add_argument("--settle", type=float, default=0.0, help="seconds to wait before it")
    parser.add_argument("--config", default="", help="the home's config.toml (\\n for newlines)")
    parser.add_argument("--modules", action="store_true", help="list the modules loaded")
    parser.add_argument("--smaps", action="store_true", help="the resident KiB by mapping")
    args = parser.parse_args()
    measure(args.bots, args.seconds, args.settle, args.config, args.modules, args.smaps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
