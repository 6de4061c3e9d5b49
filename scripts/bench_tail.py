"""How long the last lines of a log take to read when the log is one long line (a tqdm
progress bar redrawn with ``\\r`` for hours), through the library and through the real
``wdbot logs NAME``. Issue 23 point 9: 12.5 s for ``status NAME``
on a 38 MB line before the tail read was made linear and capped.

    python scripts/bench_tail.py [--mb 38]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from watchdog_runtime.common.logfiles import tail_lines


def timed(what: str, action: object) -> None:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    print(f"{what:<40} {time.perf_counter() - start:8.3f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=38, help="size of the one-line log (MB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wdbench-") as folder:
        home = Path(folder) / "home"
        logs = home / "bots" / "bar" / "logs"
        logs.mkdir(parents=True)
        bar = b"".join(b"\r%3d%%|" % (i % 100) + b"#" * 60 for i in range(args.mb * (1 << 20) // 66))
        for name in ("stdout.log", "stderr.log"):
            (logs / name).write_bytes(bar)
        timed(f"tail_lines(10) on a {args.mb} MB line", lambda: tail_lines(logs / "stderr.log", 10))
        env = {**os.environ, "WDBOT_HOME": str(home)}
        for argv in (["logs", "bar", "-n", "10"],):
            timed("wdbot " + " ".join(argv), lambda argv=argv: subprocess.run(
                [sys.executable, "-m", "watchdog_runtime", *argv], env=env, capture_output=True, check=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
