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


EVENTS_ON_A_FULL_DISK = """
import json, os, sys
from pathlib import Path
from watchdog_runtime.events import EventLog
folder = Path(sys.argv[1])
log = EventLog(folder / "events.jsonl")
log.write("first", "b", pad="x" * 3700)  # most of one page: a longer line fits only in part
chunk = b"\\0" * 4096
with open(folder / "ballast", "wb", buffering=0) as fh:
    try:
        while True:
            fh.write(chunk)
    except OSError:
        pass  # full, as wanted
log.write("cut", "b", pad="y" * 600)  # 300-odd bytes would fit: the write is cut short
print("after cut", (folder / "events.jsonl").stat().st_size, flush=True)
os.unlink(folder / "ballast")
log.write("after", "b")
for line in (folder / "events.jsonl").read_text().splitlines():
    print(json.loads(line)["kind"])
"""


def on_a_small_tmpfs(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    """``code`` run by this Python with a 64 KiB tmpfs as its argument, mounted in a private
    mount namespace (skipped without root and unshare)."""
    import os
    import shutil

    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare (a small tmpfs in a private mount namespace)")
    folder = tmp_path / "small"
    folder.mkdir()
    script = (f"mount -t tmpfs -o size=64k wdbot-small {folder} && "
              f"exec {sys.executable} -c \"$0\" {folder}")
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, code],
                          capture_output=True, text=True, timeout=60)


def test_an_event_cut_short_by_a_full_disk_leaves_no_torn_line(tmp_path: Path) -> None:
    """Regression (make chaos): a line cut short by a full disk stayed in the event log, and
    the next event was glued to it: both unreadable."""
    done = on_a_small_tmpfs(tmp_path, EVENTS_ON_A_FULL_DISK)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    first_size = len(json.dumps({"at": "", "kind": "first", "bot": "b", "pad": "x" * 3700}))
    assert lines[0].startswith("after cut ") and int(lines[0].split()[-1]) < first_size + 40
    assert lines[1:] == ["first", "after"]
    assert "cannot write event log" in done.stderr


SIGTERMS_ON_A_FULL_DISK = """
import os, sys
from pathlib import Path
from watchdog_runtime.supervisor import sentmarks
from watchdog_runtime.supervisor.identity import ProcessIdentity
folder = Path(sys.argv[1])
path = folder / "sigterms"
a, b = ProcessIdentity(10, 1.5, 500, "boot-a"), ProcessIdentity(11, 2.25, None, None)
sentmarks.prepare(path)
fd = os.open(folder / "ballast", os.O_WRONLY | os.O_CREAT)
try:
    while os.write(fd, b"x" * 4096):
        pass
except OSError:
    pass
os.close(fd)
sentmarks.note(path, [a, b])
print("marked", *sorted(i.pid for i in sentmarks.read(path)))
sentmarks.prune(path, lambda ident: ident == b)
print("pruned", *[i.pid for i in sentmarks.read(path)])
"""


def test_the_sigterms_sent_are_noted_on_a_full_disk(tmp_path: Path) -> None:
    """Regression (make chaos, seed 7 after issue 25): the SIGTERM note could not be written
    on a full disk (``OSError`` before), so a supervisor killed mid-stop signalled the bot
    a second time; the marks now go as empty files, which need no data block."""
    done = on_a_small_tmpfs(tmp_path, SIGTERMS_ON_A_FULL_DISK)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["marked 10 11", "pruned 11"]


RACER = """
import sys
from watchdog_runtime.common.durable import atomic_write_json
path, who = sys.argv[1], sys.argv[2]
print("ready", flush=True)
sys.stdin.readline()  # the go: both writers start together
for n in range(300):
    atomic_write_json(path, {"who": who, "n": n, "pad": "x" * 3000})
print("done", flush=True)
"""


def test_two_writers_racing_into_one_folder_each_write_whole(tmp_path: Path) -> None:
    """Issue 29: durable's temporary files are named without ``tempfile`` (``make_temp``);
    two processes writing the same file at once each get a temporary file of their own, so
    neither fails nor tears the other's version, and none is left behind."""
    target = tmp_path / "registry.json"
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(target), who], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for who in "ab"]
    try:
        for proc in procs:
            assert proc.stdout is not None
            wait_for_line(proc.stdout, "ready")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    doc = json.loads(target.read_text())
    assert doc["who"] in "ab" and doc["n"] == 299 and len(doc["pad"]) == 3000
    assert [p.name for p in tmp_path.iterdir()] == ["registry.json"]


KILLED_MID_WRITE = """
import os, sys, time
from watchdog_runtime.common.durable import make_temp
fd, path = make_temp(sys.argv[1], "registry.json")
os.write(fd, b"half a registr")
print(path, flush=True)
time.sleep(600)
"""


def test_a_killed_writer_s_leftover_temp_is_never_opened_again(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Issue 29: a writer killed mid-write leaves its temporary file; a later write whose
    random draw names that same file takes another name (``O_EXCL``, as ``mkstemp``), so the
    leftover is neither clobbered nor renamed over the target."""
    import os

    from watchdog_runtime.common.durable import atomic_write_bytes

    with subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, str(tmp_path)], stdout=subprocess.PIPE,
                          text=True) as proc:
        assert proc.stdout is not None
        leftover = Path(wait_for_line(proc.stdout, "registry.json").strip())
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert leftover.name.startswith(".registry.json.") and leftover.name.endswith(".tmp")
    assert leftover.stat().st_mode & 0o777 == 0o600
    taken = bytes.fromhex(leftover.name.split(".")[-2])
    draws = iter([taken, taken, b"\x00\x01\x02\x03"])  # the leftover's name, twice, then a free one
    real = os.urandom
    monkeypatch.setattr(os, "urandom", lambda n: next(draws) if n == 4 else real(n))
    atomic_write_bytes(tmp_path / "registry.json", b'{"bots": []}\n')
    assert (tmp_path / "registry.json").read_bytes() == b'{"bots": []}\n'
    assert leftover.read_bytes() == b"half a registr"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["registry.json", leftover.name])
    assert next(draws, None) is None, "the free name was drawn after the taken one was refused"
