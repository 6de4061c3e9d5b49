"""The writer behind the registry: a kill -9 at any instant leaves the previous or the new
version, never a torn file."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import wait_for_line

WRITER = """
import sys
from watchdog_runtime.common.durable import atomic_write_json
path = sys.argv[1]
n = 0
print("ready", flush=True)
while True:
    n += 1
    atomic_write_json(path, {"n": n, "bots": [{"name": f"bot{i}", "pad": "x" * 2000} for i in range(20)]})
"""


@pytest.mark.slow
def test_kill_9_at_random_instants_never_tears_the_file(tmp_path: Path) -> None:
    target = tmp_path / "registry.json"
    rng = random.Random(1234)
    last = 0
    for _ in range(60):
        with subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE,
                              text=True) as proc:
            assert proc.stdout is not None
            wait_for_line(proc.stdout, "ready")
            # A random instant within the write loop; the randomness is the point here.
            time.sleep(rng.uniform(0.0, 0.03))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        if not target.exists():
            continue  # killed before its first write completed
        doc = json.loads(target.read_text())
        assert len(doc["bots"]) == 20 and doc["n"] >= 1
        last = max(last, doc["n"])
    assert last > 0, "some writes completed"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "registry.json"]
    assert all(name.endswith(".tmp") for name in leftovers)
