"""Auto-install repair time against the bare ``uv pip install`` it wraps, with a warm uv cache.

Repair time: from the instant a bot is about to hit the missing import (it writes the time
just before) until the repaired bot, restarted, has imported the module (it writes the time
again). That spans the exit, the supervisor reading stderr and the exit record, the policy,
the uv install, and the new bot process starting.

Bare install: ``uv pip install`` of the same package into a fresh venv, same options
(``--only-binary :all:``, same index), timed around the subprocess.

By default the package is a tiny wheel built here, served with ``--find-links`` and
``--no-index`` (no network, repeatable); ``--pypi DIST=MODULE`` measures a real package from
the index instead (``--pypi six=six``). Each repetition uses a new bot, so a new venv where the
module is missing; venv creation is not part of either figure.

    python scripts/bench_autoinstall.py [--runs 10] [--pypi DIST=MODULE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wait_for(path: Path, lines: int, timeout_s: float = 120.0) -> list[float]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            values = [float(v) for v in path.read_text().split()]
            if len(values) >= lines:
                return values
        time.sleep(0.005)
    raise SystemExit(f"timed out waiting for {path}")


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(values) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   (n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--pypi", metavar="DIST=MODULE", help="a real package from the index")
    ns = parser.parse_args()

    from tests.helpers import build_wheel  # the tests' own tiny-wheel builder
    from watchdog_runtime.installs.uvtool import pip_install, run_uv

    with tempfile.TemporaryDirectory(prefix="wdbench-") as tmp_s:
        tmp = Path(tmp_s)
        home, wheels, bots = tmp / "home", tmp / "wheels", tmp / "bots"
        for folder in (wheels, bots):
            folder.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("WDBOT_")}
        env["WDBOT_HOME"] = str(home)
        if ns.pypi:
            dist, _, module = ns.pypi.partition("=")
            index_args: list[str] = []
        else:
            dist, module = "wdbench-dist", "wdbench_mod"
            build_wheel(wheels, dist, "1.0", {f"{module}/__init__.py": "X = 1\n"})
            env.update({"UV_FIND_LINKS": str(wheels), "UV_NO_INDEX": "1"})
            index_args = ["--find-links", str(wheels), "--no-index"]
        os.environ.update({k: env[k] for k in ("UV_FIND_LINKS", "UV_NO_INDEX") if k in env})

        def wdbot(*args: str) -> None:
            subprocess.run([sys.executable, "-m", "watchdog_runtime", *args], env=env, check=True,
                           stdout=subprocess.DEVNULL)

        repairs: list[float] = []
        bare: list[float] = []
        try:
            wdbot("allow", f"{module}={dist}")
            # Warm-up: fills uv's cache with the package and the venv's interpreter.
            for i in range(ns.runs + 1):
                times = tmp / f"times-{i}"
                bot = bots / f"b{i}.py"
                bot.write_text(
                    "import time\n"
                    f"with open({str(times)!r}, 'a') as fh:\n    fh.write(f'{{time.time()}}\\n')\n"
                    f"import {module}\n"
                    f"with open({str(times)!r}, 'a') as fh:\n    fh.write(f'{{time.time()}}\\n')\n"
                    "time.sleep(600)\n")
                wdbot("start", str(bot))
                first, *_rest, last = wait_for(times, 3)  # before import, before import, after
                if i:
                    repairs.append(last - first)
                wdbot("remove", f"b{i}", "--purge")

                venv = tmp / f"venv-{i}"
                run_uv(["venv", "--quiet", "--python", sys.executable, str(venv)])
                started = time.perf_counter()
                pip_install(venv / "bin" / "python", requirements=[dist],
                            options=[*index_args, "--only-binary", ":all:"])
                if i:
                    bare.append(time.perf_counter() - started)
        finally:
            subprocess.run([sys.executable, "-m", "watchdog_runtime", "shutdown"], env=env,
                           stdout=subprocess.DEVNULL, check=False)
        events = [json.loads(line) for line in (home / "events.jsonl").read_text().splitlines()]
        installs = [e["seconds"] for e in events if e["kind"] == "auto_install"][1:]

    source = "PyPI" if ns.pypi else "a local wheel (--find-links, --no-index)"
    print(f"package {dist} (import {module}) from {source}, warm uv cache, {sys.platform}")
    print(f"repair, exit to running again : {summary(repairs)}")
    print(f"  of which the uv install     : {summary(installs)}")
    print(f"bare uv pip install           : {summary(bare)}")
    print(f"ratio repair / bare (median)  : {statistics.median(repairs) / statistics.median(bare):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
