"""Late members get their SIGTERM (issue 23, point 8), through the real ``wdbot``, in both
containments (``walk``: the bot's cgroup, and the marker walk in a mount namespace without
the cgroup v2 mount).

A bot's ``on_shutdown`` launches a helper to cancel its orders, after the stop's SIGTERMs
went out. The helper counts each SIGTERM in TERMS_FILE, cancels until it has one, then
writes DONE_FILE and exits 0. It used to get no SIGTERM at all: on the cgroup path only
``cgroup.kill`` at the deadline, on the marker walk a SIGTERM and at once a SIGKILL at the
deadline; killed mid-task, and every such stop took the whole ``--stop-timeout``. With a
60 s stop timeout and a 30 s bound on the stop, a stop that only ends at its deadline fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path

import psutil
import pytest

from tests.helpers import Wdbot, read_or_empty, wait_until, write_bot
from tests.integration.test_trust import (
    signalled,
    walk,  # noqa: F401 - the fixture: both containments
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("walk")]

# "waits": the handler waits for its helper; "chain": it starts the helper and returns (the
# bot exits while the helper works), and the helper, at its SIGTERM, hands the rest of the
# work to a helper of its own (in a session of its own) and exits.
BOT = """
import os, subprocess, sys
import watchdog_runtime as wd
HERE = os.path.dirname(os.path.abspath(__file__))

@wd.on_shutdown
def cancel_orders():
    helper = subprocess.Popen([sys.executable, os.path.join(HERE, "helper.py")],
                              start_new_session=True)
    if os.environ["HELPER_MODE"] == "waits":
        helper.wait()
    print("on_shutdown done", helper.pid, flush=True)

wd.stopping()
print("up", os.getpid(), flush=True)
while not wd.wait(0.1):
    pass
"""

HELPER = """
import os, signal, subprocess, sys, time
terms, done, go = os.environ["TERMS_FILE"], os.environ["DONE_FILE"], os.environ.get("GO_FILE")
role = os.environ.get("HELPER_ROLE", "helper")
count = 0
def on_term(signum, frame):
    global count
    count += 1
    with open(terms, "a") as out:
        out.write(f"{os.getpid()}\\n")
signal.signal(signal.SIGTERM, on_term)
with open(f"{terms}.{role}", "w") as out:
    out.write(str(os.getpid()))
deadline = time.monotonic() + 120  # bounded: cancels orders until told to stop
while not count and time.monotonic() < deadline:
    time.sleep(0.02)
if os.environ["HELPER_MODE"] == "chain" and role == "helper":
    subprocess.Popen([sys.executable, __file__], env={**os.environ, "HELPER_ROLE": "second"},
                     start_new_session=True)
    sys.exit(0)
while go and not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.02)  # the resumed case: the test says when the cancelling is over
with open(done, "w") as out:
    out.write(f"orders cancelled after {count} SIGTERM(s)")
sys.exit(0)
"""


def _counts(terms: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for line in terms.read_text().split() if terms.exists() else []:
        counts[int(line)] = counts.get(int(line), 0) + 1
    return counts



def _start(wd: Wdbot, bots: Path, tmp_path: Path, mode: str, go: Path | None = None) -> Path:
    wd.env.update(TERMS_FILE=str(tmp_path / "terms"), DONE_FILE=str(tmp_path / "done"),
                  HELPER_MODE=mode, **({"GO_FILE": str(go)} if go else {}))
    write_bot(bots, "helper.py", HELPER)
    wd("start", str(write_bot(bots, "late.py", BOT)), "--stop-timeout", "60")
    wait_until(lambda: "up " in wd.stdout("late"), "the bot's loop (its on_shutdown registered)")
    return tmp_path / "terms"


def _helper(terms: Path) -> int:
    return int(wait_until(lambda: read_or_empty(Path(f"{terms}.helper")), "the helper on_shutdown launched"))


def _kill_helpers(terms: Path) -> None:
    for role in ("helper", "second"):
        pid = read_or_empty(Path(f"{terms}.{role}"))
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


@pytest.mark.parametrize("mode", ["waits", "chain"])
def test_a_helper_launched_by_on_shutdown_gets_one_sigterm_and_the_stop_ends_with_it(
        wd: Wdbot, bots: Path, tmp_path: Path, mode: str) -> None:
    """Regression (issue 23, point 8): a process that joined the bot's tree during a stop got
    no SIGTERM, only the SIGKILL at the deadline: the helper was killed mid-task and the stop
    took the whole --stop-timeout (60 s here; the stop is bounded at 30 s). And (red team of
    the last stop) on the marker walk, a child forked during the last sweep was left behind."""
    terms = _start(wd, bots, tmp_path, mode)
    try:
        wd("stop", "late", timeout_s=30)
        helper = _helper(terms)
        late = [helper, int(read_or_empty(Path(f"{terms}.second")))] if mode == "chain" else [helper]
        assert _counts(terms) == dict.fromkeys(late, 1), "one SIGTERM each, not none, not two"
        assert read_or_empty(tmp_path / "done") == "orders cancelled after 1 SIGTERM(s)"
        assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                       for pid in late), "nothing left behind"
        assert f"on_shutdown done {helper}" in wd.stdout("late")
        status = wd.bot("late")
        assert status["state"] == "stopped" and status["last_exit"]["signal"] is None
        assert wd.events("killed_leftovers", "late") == [], "nothing waited for its SIGKILL"
        assert not (wd.home / "bots" / "late" / "run" / "sigterms").exists(), "the note goes with the stop"
    finally:
        _kill_helpers(terms)


def test_a_resumed_stop_does_not_signal_a_late_helper_again(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 23, point 8): the late helper has its SIGTERM from the supervisor
    that began the stop, noted in run/sigterms, and the stop's SIGKILL deadline (on disk,
    the bot's own); that supervisor is killed; the next one finishes the stop and spares it
    (a second SIGTERM means "exit now")."""
    go = tmp_path / "go"
    terms = _start(wd, bots, tmp_path, "waits", go)
    pid = wd.bot("late")["pid"]
    supervisor = wd.status()["supervisor"]["pid"]
    stopper = threading.Thread(target=lambda: wd("stop", "late", check=False, timeout_s=60))
    stopper.start()
    helper = _helper(terms)
    try:
        marks = wd.home / "bots" / "late" / "run" / "sigterms"
        wait_until(lambda: _counts(terms) == {helper: 1} and helper in
                   {int(line.split()[0]) for line in read_or_empty(marks).split("\n") if line},
                   "the late helper's SIGTERM delivered and noted")
        deadlines = {e["process"]["pid"]: e["kill_at"] for e in signalled(wd, "late")}
        assert deadlines[helper] == deadlines[pid], "the stop's deadline, not a fresh one"
        os.kill(supervisor, signal.SIGKILL)
        stopper.join(60)
        assert wd.bot("late")["state"] == "stopping"  # a new supervisor, finishing the stop
        log = wd.home / "supervisor.log"
        wait_until(lambda: log.read_text().count(f"stopping pid {pid}: SIGTERM to") == 2,
                   "the new supervisor's stop")
        go.touch()
        wait_until(lambda: wd.bot("late")["state"] == "stopped", "the stop to end with the helper")
        assert _counts(terms) == {helper: 1}, "spared by the next supervisor"
        assert read_or_empty(tmp_path / "done") == "orders cancelled after 1 SIGTERM(s)"
        assert f"on_shutdown done {helper}" in wd.stdout("late"), "the bot had no second SIGTERM"
        assert wd.bot("late")["last_exit"]["signal"] is None
        assert not psutil.pid_exists(helper) or psutil.Process(helper).status() == psutil.STATUS_ZOMBIE
    finally:
        _kill_helpers(terms)
