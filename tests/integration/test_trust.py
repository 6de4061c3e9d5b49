"""Exactly one copy of each bot, running only when asked, whatever fails (issue 13).

Each test pins one way the promise used to break, through the real ``wdbot`` command and
real processes. Faults that need root (a clock step, a full disk) use private mount
namespaces, so nothing outside the test changes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.helpers import Wdbot, build_wheel, read_or_empty, roots, wait_until, write_bot

TICKER = """
import os, time
print("up", os.getpid(), os.environ["WDBOT_START_REASON"], flush=True)
while True:
    time.sleep(0.1)
"""

WORKER_BOT = """
import os, subprocess, sys, time
if os.environ.get("ROLE") != "worker":
    worker = subprocess.Popen([sys.executable, __file__], env={**os.environ, "ROLE": "worker"},
                              start_new_session=True)
    print("worker", worker.pid, flush=True)
print("up", os.getpid(), flush=True)
while True:
    time.sleep(0.1)
"""

ROOT = os.geteuid() == 0


def needs_root_tools(*tools: str) -> None:
    if not ROOT:
        pytest.skip("needs root (mount namespaces)")
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


def kill_supervisor(wd: Wdbot) -> None:
    pid = wd.status()["supervisor"]["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(pid) or
               psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, "the supervisor's death")


def edit_registry(wd: Wdbot, name: str, change: Any) -> None:
    path = wd.home / "registry.json"
    doc = json.loads(path.read_text())
    for entry in doc["bots"]:
        if entry["spec"]["name"] == name:
            change(entry)
    path.write_text(json.dumps(doc))


# ---------------------------------------------------------------- point 1
def test_a_run_written_ahead_but_never_given_its_pid_is_adopted_not_started_twice(
        wd: Wdbot, bots: Path) -> None:
    """A supervisor killed between the fork and the pid's write leaves the run id on disk
    (written ahead) and a process carrying it: the next supervisor adopts that process."""
    wd("start", str(write_bot(bots, "ahead.py", TICKER)))
    pid = wd.bot("ahead")["pid"]
    wd("shutdown", "--keep-bots")

    def forget_pid(entry: dict[str, Any]) -> None:
        entry["pending_run"] = {**entry["run"], "pid": 0, "create_time": 0.0, "start_ticks": None}
        entry["run"] = None
    edit_registry(wd, "ahead", forget_pid)

    bot = wd.wait_state("ahead", "running")
    assert bot["pid"] == pid and roots(wd.home, "ahead") == [pid]
    assert wd.events("adopt", "ahead") and len(wd.events("start", "ahead")) == 1


def test_an_orphan_of_an_earlier_run_is_stopped_before_a_new_copy_starts(wd: Wdbot, bots: Path) -> None:
    """Regression: the leftover sweep only looked at processes younger than the current bot,
    so an escaped worker of a run whose supervisor died outlived even 'wdbot stop'."""
    wd("start", str(write_bot(bots, "pool.py", WORKER_BOT)))
    first = wd.bot("pool")["pid"]
    worker = int(wait_until(lambda: _field(wd.stdout("pool"), "worker"), "the worker's pid"))
    kill_supervisor(wd)
    os.kill(first, signal.SIGKILL)  # the bot dies; its worker (own session) lives on, orphaned
    wait_until(lambda: not psutil.pid_exists(first), "the bot's death")
    assert psutil.pid_exists(worker)

    bot = wd.wait_state("pool", "running")  # a new supervisor: a new copy, the orphan stopped
    assert bot["pid"] != first
    wait_until(lambda: not psutil.pid_exists(worker) or
               psutil.Process(worker).status() == psutil.STATUS_ZOMBIE, "the orphan's end")
    assert any(worker in e["pids"] for e in wd.events("orphans_stopped", "pool"))
    wd("stop", "pool")
    assert roots(wd.home, "pool") == []


def _field(text: str, word: str) -> str | None:
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == word:
            return parts[1]
    return None


# ---------------------------------------------------------------- point 2
MEMORY_BOT = """
import os, pathlib, time
trigger = pathlib.Path(os.environ["TRIGGER"])
print("up", os.getpid(), os.environ["WDBOT_START_REASON"], flush=True)
hog = []
while True:
    if trigger.exists() and os.environ["WDBOT_START_REASON"] != "memory_limit" and len(hog) < 20:
        hog.append(bytearray(20 * 1024 * 1024))
    time.sleep(0.05)
"""


def stepped_stat(folder: Path, step_s: int) -> Path:
    """A copy of /proc/stat whose boot time is moved as a wall-clock step of ``step_s`` would."""
    lines = Path("/proc/stat").read_text().splitlines()
    out = [f"btime {int(line.split()[1]) + step_s}" if line.startswith("btime ") else line for line in lines]
    path = folder / "stat"
    path.write_text("\n".join(out) + "\n")
    return path


@pytest.mark.slow
def test_a_clock_step_blinds_nothing(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression: identity compared psutil's create_time (start ticks + /proc/stat's boot
    time, which follows the wall clock). After a step the limits went unwatched, and the next
    supervisor started a second copy instead of adopting the bot."""
    needs_root_tools("unshare", "nsenter", "mount")
    trigger = tmp_path / "grow"
    bot = write_bot(bots, "hog.py", MEMORY_BOT)
    with wd.daemon(tmp_path / "daemon.log", prefix=("unshare", "-m", "--propagation", "private")) as daemon:
        wd("start", str(bot), "--max-memory", "150M", "--env", f"TRIGGER={trigger}")
        first = wd.bot("hog")["pid"]
        stat = stepped_stat(tmp_path, 7200)  # the wall clock jumps two hours ahead
        subprocess.run(["nsenter", "-t", str(daemon.pid), "-m", "mount", "--bind", str(stat), "/proc/stat"],
                       check=True, timeout=30)
        seen = subprocess.run(["nsenter", "-t", str(daemon.pid), "-m", "grep", "btime", "/proc/stat"],
                              capture_output=True, text=True, timeout=30).stdout
        assert seen.strip() == f"btime {int(stat.read_text().split('btime ')[1].split()[0])}"
        trigger.touch()
        wait_until(lambda: wd.events("limit_restart", "hog"), "the memory-limit restart after the step",
                   timeout_s=60)
        # The new process with its readings (the event is written before the restart's spawn:
        # a quick status call may still show the old pid).
        bot_now = wait_until(lambda: (b := wd.bot("hog"))["pid"] != first and b["rss_bytes"] and b,
                             "the new process's readings after the step")
        assert bot_now["pid"] != first and bot_now["start_reason"] == "memory_limit"
        wd("shutdown", "--keep-bots")
        daemon.wait(60)
    # The next supervisor runs on the real clock: the bot is adopted, not started again.
    after = wd.wait_state("hog", "running")
    assert after["pid"] == bot_now["pid"] and roots(wd.home, "hog") == [after["pid"]]
    assert wd.events("adopt", "hog")


# ---------------------------------------------------------------- point 3
def test_a_failed_install_keeps_the_working_venv_and_retries_until_it_heals(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression: a change of dependencies deleted the venv first, and one failed download
    left the bot errored with an empty venv for good."""
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "wdtiny", "1.0", {"wdtiny/__init__.py": "VERSION = '1.0'\n"})
    wd.env.update({"UV_FIND_LINKS": str(wheels), "UV_NO_INDEX": "1"})
    (bots / "requirements.txt").write_text("wdtiny==1.0\n")
    bot = write_bot(bots, "tiny.py", """
        import time, wdtiny
        print("tiny", wdtiny.VERSION, flush=True)
        time.sleep(600)
    """)
    wd("start", str(bot), "--backoff-max", "2")
    wait_until(lambda: "tiny 1.0" in wd.stdout("tiny"), "wdtiny 1.0")
    venv = wd.home / "bots" / "tiny" / "venv"

    (bots / "requirements.txt").write_text("wdtiny==2.0\n")  # not published yet
    failed = wd("restart", "tiny", check=False)
    assert failed.code == 1 and "Traceback" not in failed.err and len(failed.err.splitlines()) == 1
    assert "retrying" in failed.err
    status = wd.bot("tiny")
    assert status["state"] in ("backoff", "starting") and "wdtiny" in status["last_exit"]["error"]
    assert (venv / "bin" / "python").exists(), "the working venv is kept"
    assert list(venv.glob("lib/python*/site-packages/wdtiny-1.0.dist-info"))

    build_wheel(wheels, "wdtiny", "2.0", {"wdtiny/__init__.py": "VERSION = '2.0'\n"})  # published
    wait_until(lambda: "tiny 2.0" in wd.stdout("tiny"), "the retry to succeed", timeout_s=60)
    assert wd.bot("tiny")["state"] == "running"
    assert not list(venv.parent.glob("venv.*")), "no half-built venv is left beside it"


def test_an_interpreter_that_does_not_exist_needs_a_person(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "old.py", TICKER)
    failed = wd("start", str(bot), "--python", "3.2", check=False)
    assert failed.code == 1 and "3.2" in failed.err and "Traceback" not in failed.err
    assert wd("status", "--json").out and "old" not in [b["name"] for b in wd.status()["bots"]]


# ---------------------------------------------------------------- point 7
CREDENTIALS_BOT = """
print("up", flush=True)
raise RuntimeError("HTTP 401 Unauthorized: invalid API key")
"""


def test_a_pending_backoff_survives_a_supervisor_restart(wd: Wdbot, bots: Path) -> None:
    """Regression: the next supervisor started a bot that was waiting out a long backoff at
    once (after a rejected key, that wait guards against an exchange's lockout)."""
    wd("start", str(write_bot(bots, "keyed.py", CREDENTIALS_BOT)), "--backoff-max", "120")
    before = wd.wait_state("keyed", "backoff")
    assert before["next_start_in_s"] > 100
    kill_supervisor(wd)
    after = wd.wait_state("keyed", "backoff")  # a new supervisor
    assert 0 < after["next_start_in_s"] <= before["next_start_in_s"]
    wd("shutdown", "--keep-bots")
    again = wd.wait_state("keyed", "backoff")
    assert 0 < again["next_start_in_s"] <= after["next_start_in_s"]
    assert len(wd.events("start", "keyed")) == 1, "not started before its deadline"


# ---------------------------------------------------------------- point 8
def test_one_unreadable_entry_is_quarantined_alone(wd: Wdbot, bots: Path) -> None:
    """Regression: one bad entry moved the whole registry aside; status showed no bots and
    following its advice started a second copy of a bot that was still running."""
    wd("start", str(write_bot(bots, "good.py", TICKER)))
    bad_file = write_bot(bots, "bad.py", TICKER)
    wd("start", str(bad_file))
    pids = {b["name"]: b["pid"] for b in wd.status()["bots"]}
    wd("shutdown", "--keep-bots")
    edit_registry(wd, "bad", lambda entry: entry.update(state="hibernating"))

    doc = wd.status()
    assert [b["name"] for b in doc["bots"]] == ["good"] and doc["bots"][0]["pid"] == pids["good"]
    [quarantined] = doc["supervisor"]["quarantined"]
    assert quarantined["name"] == "bad" and "hibernating" in quarantined["error"]
    assert "wdbot remove bad" in " ".join(wd("status").out.split())
    assert roots(wd.home, "bad") == [pids["bad"]], "left running, not stopped, not copied"

    refused = wd("start", str(bad_file), check=False)
    assert refused.code == 1 and "unreadable" in refused.err and "Traceback" not in refused.err
    assert len(refused.err.strip().splitlines()) == 1
    assert roots(wd.home, "bad") == [pids["bad"]]

    wd("remove", "bad")
    wait_until(lambda: roots(wd.home, "bad") == [], "the quarantined bot's process to stop")
    assert "bad" not in (wd.home / "registry.json").read_text()
    wd("start", str(bad_file))
    assert len(roots(wd.home, "bad")) == 1


# ---------------------------------------------------------------- point 9
@pytest.mark.slow
def test_a_full_disk_fails_the_command_and_never_makes_two_copies(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression: a failed registry write was only logged; 'wdbot restart' exited 0 while
    the registry kept the old pid, and after a supervisor kill two copies ran."""
    needs_root_tools("unshare", "nsenter", "mount")
    wd.home.chmod(0o700)
    script = f"mount -t tmpfs -o size=48m,mode=0700 wdbot-full {wd.home} && exec sleep 600"
    holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                              start_new_session=True)
    try:
        ns = ["nsenter", "-t", str(holder.pid), "-m"]
        wait_until(lambda: _mounted(holder.pid, wd.home), "the tmpfs home")
        wd.prefix = ns
        inside = Path(f"/proc/{holder.pid}/root{wd.home}")
        wd("start", str(write_bot(bots, "full.py", TICKER)))
        first = wd.bot("full")["pid"]
        _fill(inside / "ballast")

        failed = wd("restart", "full", check=False)
        assert failed.code == 1 and "No space left" in failed.err and "Traceback" not in failed.err
        assert len(failed.err.strip().splitlines()) == 1
        assert roots(wd.home, "full") == [], "stopped, and nothing spawned without its record"
        assert not psutil.pid_exists(first) or psutil.Process(first).status() == psutil.STATUS_ZOMBIE

        kill_supervisor(wd)
        wd("status", "--json")  # a new supervisor on the full disk
        assert len(roots(wd.home, "full")) <= 1
        (inside / "ballast").unlink()
        bot = wd.wait_state("full", "running", timeout_s=60)
        assert roots(wd.home, "full") == [bot["pid"]]
        wd("shutdown")
        assert roots(wd.home, "full") == []
    finally:
        wd.prefix = ns if holder.poll() is None else []
        wd.teardown()
        wd.prefix = []
        holder.kill()
        holder.wait(10)


def _mounted(pid: int, home: Path) -> bool:
    try:
        return f" {home} " in Path(f"/proc/{pid}/mounts").read_text()
    except OSError:
        return False


def _fill(path: Path) -> None:
    """Write until the file system is full."""
    chunk = b"\0" * (1 << 20)
    with open(path, "wb") as fh:
        try:
            while True:
                fh.write(chunk)
                fh.flush()
        except OSError:
            pass  # ENOSPC: full, as wanted


# ---------------------------------------------------------------- point 10
SLOW_PREPARE = """
# /// script
# dependencies = ["wdtiny==1.0"]
# ///
import time
time.sleep(600)
"""


def test_remove_during_a_first_start_is_one_clear_answer(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression: 'wdbot remove' during a first start answered
    "internal error in remove: KeyError: 'rm'"."""
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "wdtiny", "1.0", {"wdtiny/__init__.py": "VERSION = '1.0'\n"})
    wd.env.update({"UV_FIND_LINKS": str(wheels), "UV_NO_INDEX": "1"})
    wd("status")  # a supervisor first, so the start below goes straight to preparing
    results: dict[str, Any] = {}
    starter = threading.Thread(target=lambda: results.update(start=wd("start", str(write_bot(
        bots, "rm.py", SLOW_PREPARE)), check=False)))
    starter.start()
    wait_until(lambda: any(b["name"] == "rm" for b in wd.status()["bots"]), "the first start to begin")
    removed = wd("remove", "rm", check=False)
    starter.join(120)
    start = results["start"]
    for result in (removed, start):
        assert "internal error" not in result.err and "Traceback" not in result.err
    if start.code == 0:  # the spawn won the race: the remove stopped the running bot
        assert removed.code == 0
    else:
        assert "removed while it was starting" in start.err or "did not start" in start.err
    assert "rm" not in [b["name"] for b in wd.status()["bots"]] and roots(wd.home, "rm") == []


def test_racing_starts_answer_with_the_real_pid(wd: Wdbot, bots: Path) -> None:
    """Regression: racing starts could answer 'pid None, starting'."""
    bot = write_bot(bots, "race.py", TICKER)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(wd("start", str(bot)))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    pid = wd.bot("race")["pid"]
    assert [r.out.split(",")[0] for r in results] == [f"race: pid {pid}"] * 3
    assert roots(wd.home, "race") == [pid]


# ---------------------------------------------------------------- point 4
ESCAPER = """
import os, subprocess, sys, time
if os.environ.get("ROLE") == "helper" or len(sys.argv) > 1:
    while True:
        time.sleep(0.1)
# A helper in its own session with an environment of its own: no marker, no process group.
helper = subprocess.Popen([sys.executable, __file__, "helper"], env={"PATH": "/usr/bin:/bin"},
                          start_new_session=True)
print("helper", helper.pid, flush=True)
time.sleep(0.3)
raise SystemExit(1)  # crash: restarted, again and again
"""


def _cgroups_here() -> bool:
    from watchdog_runtime.supervisor import cgroups

    return cgroups.detect("probe") is not None


@pytest.mark.skipif(not _cgroups_here(), reason="no cgroup v2 the supervisor may create here "
                    "(root or a delegated subtree): the marker walk cannot see such helpers")
def test_helpers_that_leave_the_session_and_the_marker_do_not_escape(wd: Wdbot, bots: Path) -> None:
    """Regression: a helper started with start_new_session=True and env= (no marker)
    outlived its bot: after a few restarts and 'wdbot stop', four were running."""
    wd("start", str(write_bot(bots, "escaper.py", ESCAPER)),
       "--backoff-initial", "0.1", "--backoff-max", "0.2")
    wait_until(lambda: wd.stdout("escaper").count("helper ") >= 4, "four runs, each with a helper")
    assert "cgroup v2" in wd.bot("escaper")["containment"]
    assert "containment" in wd("status", "escaper").out
    wd("stop", "escaper")
    helpers = [int(line.split()[1]) for line in wd.stdout("escaper").splitlines()
               if line.startswith("helper ")]

    def gone(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
    assert [p for p in helpers if not gone(p)] == []


STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("up", flush=True)
while True:
    time.sleep(0.1)
"""


def signalled(wd: Wdbot, name: str) -> list[dict[str, Any]]:
    """The processes of bot ``name`` sent SIGTERM, with their SIGKILL deadlines, on disk."""
    entry = next(e for e in json.loads((wd.home / "registry.json").read_text())["bots"]
                 if e["spec"]["name"] == name)
    return entry.get("signalled") or []  # type: ignore[no-any-return]


def test_a_supervisor_killed_during_a_stop_does_not_grant_a_fresh_grace(wd: Wdbot, bots: Path) -> None:
    """Regression (make chaos): a SIGTERM-deaf process got a whole grace from every new
    supervisor, so supervisors killed every second never reached its SIGKILL (helpers
    outlived their bot by 16 s, and the bot stayed down meanwhile). The SIGKILL deadline
    is on disk before the SIGTERM, and the next supervisor keeps it."""
    from watchdog_runtime.supervisor.identity import Deadline

    wd("start", str(write_bot(bots, "stub.py", STUBBORN)), "--stop-timeout", "6")
    pid = wd.bot("stub")["pid"]
    supervisor = wd.status()["supervisor"]["pid"]
    stopper = threading.Thread(target=lambda: wd("stop", "stub", check=False))
    stopper.start()
    entries = wait_until(lambda: signalled(wd, "stub"), "the stop's SIGKILL deadline on disk")
    assert [e["process"]["pid"] for e in entries] == [pid]
    deadline = Deadline.from_json(entries[0]["kill_at"])
    os.kill(supervisor, signal.SIGKILL)
    stopper.join(60)
    wait_until(lambda: deadline.remaining_now() == 0, "the deadline to pass")
    assert psutil.pid_exists(pid), "SIGTERM-deaf: still alive, its SIGKILL is due"
    assert wd.bot("stub")["state"] in ("stopping", "stopped")  # a new supervisor, finishing the stop

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
    wait_until(gone, "the overdue SIGKILL (a fresh grace would take 6 s)", timeout_s=3.0)
    wait_until(lambda: wd.bot("stub")["state"] == "stopped" and not signalled(wd, "stub"),
               "the stop to end and its deadline to go")
    assert roots(wd.home, "stub") == []


GRACEFUL = """
import os, signal, sys, time
def cancel(signum, frame):
    print("cancelling orders", flush=True)
    time.sleep(1.5)
    print("orders cancelled", os.getpid(), flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, cancel)
print("up", os.getpid(), flush=True)
while True:
    time.sleep(0.1)
"""


def test_a_deadline_belongs_to_its_process_not_to_the_next_run(wd: Wdbot, bots: Path) -> None:
    """Regression (red team): a deadline left by a supervisor killed mid-stop, whose bot then
    exited by itself, cut the next run's stop short: SIGKILL before it cancelled its orders."""
    wd("start", str(write_bot(bots, "careful.py", GRACEFUL)), "--stop-timeout", "4")
    first = wd.bot("careful")["pid"]
    supervisor = wd.status()["supervisor"]["pid"]
    stopper = threading.Thread(target=lambda: wd("stop", "careful", check=False))
    stopper.start()
    # The deadline goes on disk before the SIGTERM: wait for the bot to have had it too.
    wait_until(lambda: signalled(wd, "careful") and "cancelling orders" in wd.stdout("careful"),
               "the stop's SIGKILL deadline on disk and its SIGTERM delivered")
    os.kill(supervisor, signal.SIGKILL)
    stopper.join(60)
    wait_until(lambda: f"orders cancelled {first}" in wd.stdout("careful"), "the first run's clean exit")
    wd("start", "careful")
    second = wd.bot("careful")["pid"]
    assert second != first and signalled(wd, "careful") == []
    wd("stop", "careful")
    assert f"orders cancelled {second}" in wd.stdout("careful"), "the second run had its whole grace"
    assert wd.bot("careful")["last_exit"]["signal"] is None  # exit 0 of its own, no SIGKILL


COUNTS_SIGTERMS = """
import os, signal, sys, time
from pathlib import Path
terms = 0
def cancel(signum, frame):
    global terms
    terms += 1
    print("term", terms, os.getpid(), flush=True)
    if terms > 1:
        print("cut short by a second signal", flush=True)
        sys.exit(3)
    go = Path(os.environ["GO_FILE"])
    for _ in range(600):  # until the test says so (bounded: 60 s)
        if go.exists():
            break
        time.sleep(0.1)
    print("orders cancelled", os.getpid(), flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, cancel)
print("up", os.getpid(), flush=True)
while True:
    time.sleep(0.1)
"""


def test_a_supervisor_that_resumes_a_stop_does_not_signal_again(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """A second SIGTERM means "exit now" to many bots (the SDK's shutdown among them): a
    supervisor killed while its bot cancelled orders made the next one send another, and
    the bot was cut short. The first supervisor notes the SIGTERM; the next spares it."""
    go = tmp_path / "go"
    wd.env["GO_FILE"] = str(go)
    wd("start", str(write_bot(bots, "counted.py", COUNTS_SIGTERMS)), "--stop-timeout", "60")
    pid = wd.bot("counted")["pid"]
    supervisor = wd.status()["supervisor"]["pid"]
    stopper = threading.Thread(target=lambda: wd("stop", "counted", check=False))
    stopper.start()
    marks = wd.home / "bots" / "counted" / "run" / "sigterms"
    wait_until(lambda: f"term 1 {pid}" in wd.stdout("counted") and marks.exists()
               and [line.split()[0] for line in marks.read_text().split("\n") if line] == [str(pid)],
               "the SIGTERM delivered and noted on disk")
    os.kill(supervisor, signal.SIGKILL)
    stopper.join(60)
    log = wd.home / "supervisor.log"
    assert wd.bot("counted")["state"] == "stopping"  # a new supervisor, finishing the stop
    wait_until(lambda: log.read_text().count(f"stopping pid {pid}: SIGTERM to") == 2,
               "the new supervisor's stop")
    go.touch()
    wait_until(lambda: wd.bot("counted")["state"] == "stopped", "the stop to end")
    out = wd.stdout("counted")
    assert "cut short" not in out and f"orders cancelled {pid}" in out, out
    assert f"SIGTERM to []; spared [{pid}], signalled before" in log.read_text()
    assert not marks.exists(), "the note goes with the stop"
    assert wd.bot("counted")["last_exit"]["signal"] is None


def test_remove_racing_restart_leaves_no_unregistered_copy(wd: Wdbot, bots: Path) -> None:
    """Regression (red team): 'wdbot remove' and 'wdbot restart' of a bot that takes a while
    to stop both succeeded, leaving a process that no registry knew, and a second copy at
    the next start."""
    wd("start", str(write_bot(bots, "stub.py", STUBBORN)), "--stop-timeout", "2")
    results: dict[str, Any] = {}
    remover = threading.Thread(target=lambda: results.update(remove=wd("remove", "stub", check=False)))
    remover.start()
    wait_until(lambda: wd.bot("stub")["state"] == "stopping", "the remove's stop to begin")
    restart = wd("restart", "stub", check=False)
    remover.join(60)
    assert results["remove"].code == 0
    assert restart.code != 0 and "Traceback" not in restart.err and "internal error" not in restart.err
    assert "stub" not in [b["name"] for b in wd.status()["bots"]]
    assert roots(wd.home, "stub") == []
    wd("start", str(bots / "stub.py"), "--stop-timeout", "2")
    assert len(roots(wd.home, "stub")) == 1


def test_starts_racing_a_shutdown_are_refused(wd: Wdbot, bots: Path) -> None:
    """Regression (red team): a start answered 'running' while 'wdbot shutdown' was stopping
    the bots, and that bot ran on with no supervisor."""
    wd("start", str(write_bot(bots, "slow.py", STUBBORN)), "--stop-timeout", "2")
    late = write_bot(bots, "late.py", TICKER)
    closer = threading.Thread(target=lambda: wd("shutdown"))
    closer.start()
    wait_until(lambda: wd.events("shutdown"), "the shutdown to begin")
    refused = wd("start", str(late), check=False)
    closer.join(60)
    assert refused.code != 0 and "shutting down" in refused.err
    assert roots(wd.home, "late") == [] and roots(wd.home, "slow") == []


LINGERER = """
import fcntl, sys
with open(sys.argv[1], "a") as fh:
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.readline()
    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
print("unlocked", flush=True)
sys.stdin.readline()  # still alive after freeing the lock, like an interpreter winding down
"""


def test_shutdown_returns_once_the_supervisor_process_is_gone(tmp_path: Path) -> None:
    """Regression (make chaos): 'wdbot shutdown' returned when the home lock was free, while
    the supervisor's process still ran; a check right after found it alive."""
    from watchdog_runtime.cli.launcher import wait_exited
    from watchdog_runtime.common.home import Home

    home = Home(tmp_path / "h")
    home.ensure()
    with subprocess.Popen([sys.executable, "-c", LINGERER, str(home.lock), "daemon"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            assert proc.stdout.readline() == "locked\n"
            done: list[bool] = []
            waiter = threading.Thread(target=lambda: done.append(wait_exited(home, 30.0, proc.pid)))
            waiter.start()
            proc.stdin.write("\n")
            proc.stdin.flush()
            assert proc.stdout.readline() == "unlocked\n"
            assert wait_exited(home, 30.0), "the lock alone is free"
            waiter.join(0.5)
            assert not done, "returned while the process still ran"
            proc.stdin.write("\n")
            proc.stdin.flush()
            waiter.join(30)
            assert done == [True]
            assert proc.poll() is not None or psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE
        finally:
            proc.kill()



# ------------------------------------------------ a stop finished by the next supervisor
# The bot leaves a helper orphaned in its process group with an empty environment: the
# marker walk cannot see it, only the group (or the cgroup) holds it. Every SIGTERM is
# counted in TERMS_FILE; the bot and a graceful helper clean up until GO_FILE appears.
HELPER_IN_GROUP = """
import os, signal, sys, time
terms, go, deaf = sys.argv[1], sys.argv[2], sys.argv[3] == "deaf"
def on_term(signum, frame):  # counted; a deaf helper then carries on as if nothing came
    with open(terms, "a") as out:
        out.write(f"{os.getpid()} helper\\n")
signal.signal(signal.SIGTERM, on_term)
open(terms + ".helper", "w").write(str(os.getpid()))
while deaf or not os.path.exists(go):
    time.sleep(0.05)
"""

ORPHANING = """
import os, signal, sys, time
terms, go, kind = os.environ["TERMS_FILE"], os.environ["GO_FILE"], os.environ["HELPER_KIND"]
if os.fork() == 0:
    if os.fork() == 0:
        os.execve(sys.executable, [sys.executable, "-c", os.environ["HELPER_CODE"], terms, go, kind], {})
    os._exit(0)
os.wait()
def on_term(signum, frame):
    with open(terms, "a") as out:
        out.write(f"{os.getpid()} bot\\n")
    while kind != "deaf" and not os.path.exists(go):
        time.sleep(0.05)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print("up", os.getpid(), flush=True)
while True:
    time.sleep(0.1)
"""


@pytest.fixture(params=["cgroup", "marker-walk"])
def walk(request: pytest.FixtureRequest, wd: Wdbot) -> Iterator[str]:
    """The supervisor with its cgroups, or on the marker walk: in a mount namespace without
    the cgroup v2 mount, as on a machine without delegation."""
    from watchdog_runtime.supervisor.cgroupplan import cgroup2_mount

    found = cgroup2_mount(Path("/proc/self/mountinfo").read_text())
    if request.param == "cgroup":
        if found is None or not ROOT:
            pytest.skip("no cgroup v2 for the supervisor here")
        yield request.param
        return
    needs_root_tools("unshare", "nsenter", "umount")
    if found is None:
        pytest.skip("no cgroup v2 here: the cgroup case already runs on the marker walk")
    mount = found[0]
    holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                               f"umount -l {mount} && exec sleep 600"], start_new_session=True)
    try:
        wait_until(lambda: holder.poll() is None and f" {mount} " not in
                   Path(f"/proc/{holder.pid}/mountinfo").read_text(), "a namespace without cgroups")
        wd.prefix = ["nsenter", "-t", str(holder.pid), "-m"]
        yield request.param
    finally:
        wd.teardown()
        wd.prefix = []
        holder.kill()
        holder.wait(10)


def _counts(terms: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in terms.read_text().splitlines() if terms.exists() else []:
        counts[line] = counts.get(line, 0) + 1
    return counts


def _start_orphaning(wd: Wdbot, bots: Path, tmp_path: Path, kind: str,
                     stop_timeout: str) -> tuple[int, int, Path, Path]:
    terms, go = tmp_path / "terms", tmp_path / "go"
    wd.env.update(TERMS_FILE=str(terms), GO_FILE=str(go), HELPER_KIND=kind,
                  HELPER_CODE=HELPER_IN_GROUP)
    wd("start", str(write_bot(bots, "orphaning.py", ORPHANING)), "--stop-timeout", stop_timeout)
    pid = wd.bot("orphaning")["pid"]
    helper = int(wait_until(lambda: read_or_empty(Path(f"{terms}.helper")), "the orphaned helper"))
    assert os.getpgid(helper) == pid and psutil.Process(helper).environ() == {}
    return pid, helper, terms, go



def test_a_resumed_stop_spares_what_the_walk_cannot_see(
        wd: Wdbot, bots: Path, tmp_path: Path, walk: str) -> None:
    """Red team: on the marker walk, a supervisor finishing a stop signalled the bot's process
    group one member at a time, and an orphaned helper without the marker (noted as signalled,
    but not among the processes the walk found) had a second SIGTERM."""
    pid, helper, terms, go = _start_orphaning(wd, bots, tmp_path, "graceful", "60")
    try:
        marks = wd.home / "bots" / "orphaning" / "run" / "sigterms"
        stopper = threading.Thread(target=lambda: wd("stop", "orphaning", check=False))
        supervisor = wd.status()["supervisor"]["pid"]
        stopper.start()
        wait_until(lambda: _counts(terms) == {f"{pid} bot": 1, f"{helper} helper": 1}
                   and {int(line.split()[0]) for line in read_or_empty(marks).split("\n") if line}
                   == {pid, helper}, "both signalled and noted")
        os.kill(supervisor, signal.SIGKILL)
        stopper.join(60)
        log = wd.home / "supervisor.log"
        assert wd.bot("orphaning")["state"] == "stopping", walk
        wait_until(lambda: log.read_text().count(f"stopping pid {pid}: SIGTERM to") == 2,
                   "the new supervisor's stop")
        go.touch()
        wait_until(lambda: wd.bot("orphaning")["state"] == "stopped", "the stop to end")
        wait_until(lambda: not psutil.pid_exists(helper), "the helper's own exit")
        assert _counts(terms) == {f"{pid} bot": 1, f"{helper} helper": 1}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(helper, signal.SIGKILL)


def test_a_stop_whose_bot_is_gone_is_finished_at_its_deadline(
        wd: Wdbot, bots: Path, tmp_path: Path, walk: str) -> None:
    """Red team: a supervisor killed during a stop, after the bot had exited, left a helper
    that ignores SIGTERM and has no marker running for good ('stopped' in status); the next
    supervisor only looked for the marker. The deadlines it had are on disk: it keeps them."""
    from watchdog_runtime.supervisor.identity import Deadline

    pid, helper, terms, _go = _start_orphaning(wd, bots, tmp_path, "deaf", "4")
    try:
        stopper = threading.Thread(target=lambda: wd("stop", "orphaning", check=False))
        supervisor = wd.status()["supervisor"]["pid"]
        stopper.start()
        wait_until(lambda: f"{pid} bot" in _counts(terms) and not psutil.pid_exists(pid)
                   and helper in [e["process"]["pid"] for e in signalled(wd, "orphaning")],
                   "the bot gone, the helper signalled with its deadline on disk")
        entry = next(e for e in signalled(wd, "orphaning") if e["process"]["pid"] == helper)
        os.kill(supervisor, signal.SIGKILL)
        stopper.join(60)
        wd("status", "--json")  # the next supervisor

        def gone() -> bool:
            try:
                return psutil.Process(helper).status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return True
        wait_until(gone, "the helper's SIGKILL at its deadline", timeout_s=15.0)
        assert Deadline.from_json(entry["kill_at"]).remaining_now() < 1.0, "not before its deadline"
        assert _counts(terms) == {f"{pid} bot": 1, f"{helper} helper": 1}
        wait_until(lambda: signalled(wd, "orphaning") == [], "its deadline forgotten")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(helper, signal.SIGKILL)
