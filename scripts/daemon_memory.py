"""Each module's share of the running supervisor's memory (issue 29): what to import lazily.

Starts a real ``wdbot daemon`` (in a private home, through this script, so an import hook sees
every module it loads), brings up ``--bots`` idle bots with ``wdbot up``, reads the daemon's RSS
once they all run, and shuts it down. The hook measures, around each module's first execution,
the RSS (``/proc/self/statm``) and, in a second run, the Python heap (``tracemalloc``; a separate
run because tracing inflates the RSS); ``-X importtime`` gives the import times. The table lists
the largest shares by module (its own share, its imports excluded) and by top-level package.

    python scripts/daemon_memory.py [--bots 50] [--top 25]

RSS shares are first-touch: a page shared by two modules counts for the first one that touched
it, and a C extension's library counts for the module that loaded it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

# Only what the daemon imports itself up here: the child's figures start after these.

ROOT = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")
IDLE = "import time\nprint('idle', flush=True)\ntime.sleep(10 ** 6)\n"


def rss_bytes() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * PAGE


# ------------------------------------------------------------ inside the daemon
def child(out: Path, trace: bool) -> int:
    """Run ``wdbot daemon`` in this process, with a hook timing each module's execution."""
    import importlib.abc
    import importlib.machinery
    import tracemalloc

    if trace:
        tracemalloc.start()
    records: list[dict[str, Any]] = []
    stack: list[list[int]] = []  # per open import: the measures its nested imports took

    def measure() -> int:
        return tracemalloc.get_traced_memory()[0] if trace else rss_bytes()

    class Measured(importlib.abc.Loader):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def create_module(self, spec: Any) -> Any:
            return self.inner.create_module(spec)

        def exec_module(self, module: Any) -> None:
            before = measure()
            stack.append([0])
            try:
                self.inner.exec_module(module)
            finally:
                nested = stack.pop()[0]
                total = measure() - before
                if stack:
                    stack[-1][0] += total
                records.append({"name": module.__name__, "total": total, "self": total - nested,
                                "depth": len(stack)})

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = Measured(spec.loader)
                    return spec
            return None

    sys.meta_path.insert(0, Finder())
    start = rss_bytes()

    def dump() -> None:
        import json

        out.write_text(json.dumps({"start_rss": start, "records": records,
                                   "modules": sorted(k for k, v in sys.modules.items() if v)}))

    import atexit
    import signal

    def top_files(signum: int, frame: Any) -> None:
        """SIGUSR1 (the driver, once the bots run): the live heap by source file."""
        if trace:
            stats = tracemalloc.take_snapshot().statistics("filename")
            out.with_suffix(".top").write_text("\n".join(
                f"{s.size}\t{s.traceback[0].filename}" for s in stats[:40]))

    signal.signal(signal.SIGUSR1, top_files)
    atexit.register(dump)
    from watchdog_runtime.cli.main import main

    return main(["daemon"])


# ---------------------------------------------------------------- the driver
def wdbot(env: dict[str, str], *args: str) -> Any:
    import subprocess

    return subprocess.run([sys.executable, "-m", "watchdog_runtime", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def wait(check: Any, what: str, timeout_s: float = 120.0) -> Any:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit(f"daemon_memory: timed out waiting for {what}")


def one_run(bots: int, trace: bool) -> dict[str, Any]:
    """A daemon with ``bots`` idle bots: its records, importtime lines and RSS with the bots."""
    import contextlib
    import json
    import signal
    import subprocess
    import tempfile
    import time

    with tempfile.TemporaryDirectory(prefix="wdbot-mem-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "WDBOT_HOME": str(work / "home")}
        out = work / "records.json"
        argv = [sys.executable, "-X", "importtime", __file__, "--child", str(out)]
        daemon = subprocess.Popen(argv + (["--trace"] if trace else []), env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait(lambda: wdbot(env, "status").returncode == 0, "the daemon")
            lines = []
            for i in range(bots):
                (work / f"idle{i}.py").write_text(IDLE)
                lines += [f"[bots.idle{i}]", f'path = "{work / f"idle{i}.py"}"']
            (work / "up.toml").write_text("\n".join(lines) + "\n")
            done = wdbot(env, "up", str(work / "up.toml"))
            if done.returncode != 0:
                daemon.kill()
                tail = [line for line in daemon.communicate()[1].splitlines() if "import time:" not in line]
                raise SystemExit(f"daemon_memory: wdbot up: {done.stderr.strip()}\n" + "\n".join(tail[-20:]))
            logs = [work / "home" / "bots" / f"idle{i}" / "logs" / "stdout.log" for i in range(bots)]
            wait(lambda: all(p.exists() and "idle" in p.read_text() for p in logs), "the bots")
            time.sleep(5)  # a few watch rounds, so the per-bot state is in the figure
            with open(f"/proc/{daemon.pid}/status") as status:
                rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS"))
            daemon.send_signal(signal.SIGUSR1)
            if trace:
                wait(lambda: out.with_suffix(".top").exists(), "the heap by file")
            wdbot(env, "shutdown")
            _, err = daemon.communicate(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                daemon.kill()
        data = json.loads(out.read_text())
        data["rss_with_bots"] = rss
        top = out.with_suffix(".top")
        data["heap_by_file"] = [line.split("\t") for line in top.read_text().splitlines()] if trace else []
        data["importtime"] = [line for line in err.splitlines() if line.startswith("import time:")]
        return data


def import_times(lines: list[str]) -> dict[str, int]:
    """Module -> its own import time in microseconds (``-X importtime``)."""
    import contextlib

    times = {}
    for line in lines[1:]:  # the first is the header
        own, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        with contextlib.suppress(ValueError):
            times[name] = int(own)
    return times


def package(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "watchdog_runtime" else parts[0].lstrip("_")


def report(rss_run: dict[str, Any], heap_run: dict[str, Any], bots: int, top: int) -> str:
    from collections import defaultdict

    heap = {r["name"]: r["self"] for r in heap_run["records"]}
    times = import_times(rss_run["importtime"])
    rows = sorted(rss_run["records"], key=lambda r: -r["self"])
    kib = 1024
    imported = sum(r["self"] for r in rss_run["records"])
    out = [f"Supervisor RSS with {bots} idle bots: {rss_run['rss_with_bots'] / kib / kib:.1f} MiB "
           f"(interpreter at start {rss_run['start_rss'] / kib / kib:.1f} MiB, imports "
           f"{imported / kib / kib:.1f} MiB, {len(rss_run['modules'])} modules loaded)", "",
           "| module (own share) | RSS KiB | heap KiB | import ms |", "|---|---|---|---|"]
    for r in rows[:top]:
        out.append(f"| {r['name']} | {r['self'] // kib} | {heap.get(r['name'], 0) // kib} | "
                   f"{times.get(r['name'], 0) / 1000:.1f} |")
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rss_run["records"]:
        g = groups[package(r["name"])]
        g[0] += r["self"]
        g[1] += heap.get(r["name"], 0)
        g[2] += times.get(r["name"], 0)
    out += ["", "| package | RSS KiB | heap KiB | import ms |", "|---|---|---|---|"]
    for name, (rss, hp, us) in sorted(groups.items(), key=lambda kv: -kv[1][0])[:top]:
        out.append(f"| {name} | {rss // kib} | {hp // kib} | {us / 1000:.1f} |")
    if heap_run["heap_by_file"]:
        live = sum(int(size) for size, _ in heap_run["heap_by_file"])
        out += ["", f"Live Python heap with the bots, by source file (tracemalloc; top 40 hold "
                f"{live / kib / kib:.1f} MiB):", "", "| file | heap KiB |", "|---|---|"]
        for size, name in heap_run["heap_by_file"][:top]:
            out.append(f"| {name.split('site-packages/')[-1].split('python3.11/')[-1]} | "
                       f"{int(size) // kib} |")
    heavy = [m for m in ("rich", "apprise", "prometheus_client", "watchfiles", "ssl", "_hashlib")
             if m in rss_run["modules"]]
    out += ["", f"Heavy modules loaded: {', '.join(heavy) or 'none'}"]
    return "\n".join(out)


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=50)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.child:
        sys.argv = [sys.argv[0]]
        return child(ns.child, ns.trace)
    rss_run = one_run(ns.bots, trace=False)
    heap_run = one_run(ns.bots, trace=True)
    print(report(rss_run, heap_run, ns.bots, ns.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
