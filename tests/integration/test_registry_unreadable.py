"""An unreadable registry is a loud, safe state (issue 23, point 3).

A stray comma in ``registry.json`` used to make ``wdbot status`` say "no bots registered"
while the bots ran on unsupervised, and the next supervisor moved the file aside and stopped
every bot it no longer knew. Now nothing is adopted, stopped or forgotten because of it;
status, ``--check``, the web page and an alert name the file, the line and the last good copy,
and a restore is taken up with the bots as they run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from starlette.testclient import TestClient

from tests.helpers import Wdbot, roots, wait_until, write_bot
from tests.integration.test_alerts_live import Receiver, configure
from tests.integration.test_web_routes import make_client
from watchdog_runtime.web import auth

TICKER = """
import os, time
print("up", os.getpid(), flush=True)
while True:
    print("tick", flush=True)
    time.sleep(0.1)
"""
LINE = 2
"""The stray comma goes after ``"bots": [``, on the file's second line."""


def break_registry(wd: Wdbot) -> bytes:
    """A stray comma, as a hand edit would leave it; the broken bytes."""
    path = wd.home / "registry.json"
    text = path.read_text()
    assert text.splitlines()[LINE - 1].strip() == '"bots": ['
    broken = text.replace('"bots": [', '"bots": [,', 1).encode()
    path.write_bytes(broken)
    return broken


def kill_supervisor(wd: Wdbot) -> int:
    pid = wd.supervisor_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(pid) or
               psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, "the supervisor's death")
    # A zombie leader's other threads may still hold its socket a moment (a connection then
    # is reset): it is gone when a connection is refused.
    wait_until(lambda: _refused(wd.home / "wdbot.sock"), "the dead supervisor's socket to close")
    return pid


def _refused(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return True
    return False


def pids(wd: Wdbot) -> dict[str, list[int]]:
    return {name: roots(wd.home, name) for name in ("alpha", "beta", "other")}


def assert_unreadable(wd: Wdbot) -> None:
    """Status, its JSON and --check all give the one line naming file, line and copy."""
    sup = wd.status()["supervisor"]
    flagged = sup["registry_unreadable"]
    assert flagged is not None and flagged["line"] == LINE
    assert flagged["last_good"] == str(wd.home / "registry.json.last-good")
    message = flagged["message"]
    assert message.startswith(f"registry.json unreadable: line {LINE}: ")
    assert "fix it or restore registry.json.last-good" in message and sup["warnings"][0] == message
    assert f"registry.json unreadable: line {LINE}:" in wd("status").out
    check = wd("status", "--check", check=False)
    assert check.code == 1 and f"registry.json unreadable: line {LINE}:" in check.err


def assert_refused(wd: Wdbot, bots: Path, broken: bytes) -> None:
    """start, stop, remove, restart and up: one line, exit 1, nothing changed."""
    upfile = bots / "up.toml"
    upfile.write_text(f'[bots.other]\npath = "{bots / "other.py"}"\n')
    for args in (("start", str(bots / "other.py")), ("start", "alpha"), ("stop", "alpha"),
                 ("stop", "--all"), ("remove", "beta"), ("restart", "beta"), ("up", str(upfile))):
        done = wd(*args, check=False)
        assert done.code == 1, (args, done)
        assert "registry.json unreadable: line 2:" in done.err and "Traceback" not in done.err
        assert len(done.err.strip().splitlines()) == 1, (args, done.err)
    assert (wd.home / "registry.json").read_bytes() == broken, "left as the person left it"


@pytest.fixture
def hook() -> Iterator[Receiver]:
    found = Receiver()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()


@pytest.mark.slow
def test_a_stray_comma_stops_nothing_and_a_restore_adopts_the_bots_as_they_run(
        wd: Wdbot, bots: Path, hook: Receiver, tmp_path: Path) -> None:
    """Regression (issue 23, point 3): 'no bots registered' with no warning, then the next
    supervisor moved the file aside and stopped and forgot every bot."""
    configure(wd, f'[alerts]\nurls = ["json://127.0.0.1:{hook.port}/hook"]\n')
    write_bot(bots, "other.py", TICKER)
    for name in ("alpha", "beta"):
        wd("start", str(write_bot(bots, f"{name}.py", TICKER)))
    before = pids(wd)
    assert [len(before["alpha"]), len(before["beta"])] == [1, 1]

    broken = break_registry(wd)  # under the running supervisor
    assert_unreadable(wd)
    wait_until(lambda: "wdbot: registry.json unreadable" in hook.titles(), "the alert")
    body = next(b for p, b in hook.got if b.get("title") == "wdbot: registry.json unreadable")
    assert "line 2" in body["message"] and "registry.json.last-good" in body["message"]
    assert_refused(wd, bots, broken)
    assert pids(wd) == before

    # Killed, and started again (as a service manager does) in that state.
    killed = kill_supervisor(wd)
    with wd.daemon(tmp_path / "daemon.log") as daemon:
        assert daemon.pid != killed
        assert_unreadable(wd)
        assert wd.status()["bots"] == []
        assert_refused(wd, bots, broken)
        assert wd.events("orphans_stopped") == [] and pids(wd) == before
        logged = len(wd.stdout("alpha"))
        wait_until(lambda: len(wd.stdout("alpha")) > logged, "alpha to go on logging")

        shutil.copyfile(wd.home / "registry.json.last-good", wd.home / "registry.json")
        wait_until(lambda: wd.status()["supervisor"]["registry_unreadable"] is None, "the restore")
        doc = wd.status()
        assert {b["name"]: [b["pid"]] for b in doc["bots"]} == {k: before[k] for k in ("alpha", "beta")}
        assert pids(wd) == before, "adopted as they run: none stopped, none restarted"
        assert wd("status", "--check", check=False).code == 0
        wait_until(lambda: "wdbot: registry.json readable again" in hook.titles(), "the all-clear")
        wd("stop", "beta")  # commands act again
        assert roots(wd.home, "beta") == [] and roots(wd.home, "alpha") == before["alpha"]


def test_without_a_supervisor_status_names_the_line_and_commands_refuse(wd: Wdbot, bots: Path) -> None:
    """Regression (issue 23, point 3): with no supervisor running, status said "no bots
    registered", and 'wdbot start' launched one that moved the file aside."""
    wd("start", str(write_bot(bots, "alpha.py", TICKER)))
    before = roots(wd.home, "alpha")
    wd("shutdown", "--keep-bots")
    broken = break_registry(wd)
    check = wd("status", "--check", check=False)
    assert check.code == 1 and "registry.json unreadable: line 2:" in check.err
    write_bot(bots, "other.py", TICKER)
    assert_refused(wd, bots, broken)
    assert not wd.serving(), "a refused command launches no supervisor"
    assert f"registry.json unreadable: line {LINE}:" in wd("status").out  # launches one: the safe state
    one = wd("status", "alpha", check=False)
    assert one.code == 1 and "registry.json unreadable: line 2:" in one.err
    stopped = wd("shutdown").out
    assert "every bot was left running, since registry.json unreadable: line 2:" in stopped
    assert roots(wd.home, "alpha") == before and list(wd.home.glob("registry.json.corrupt*")) == []
    assert (wd.home / "registry.json").read_bytes() == broken


@pytest.fixture
def web(wd: Wdbot, bots: Path) -> Iterator[TestClient]:
    wd("start", str(write_bot(bots, "alpha.py", TICKER)))
    with make_client(wd.home) as client:
        assert client.post("/login", data={"secret": auth.load_secret(wd.home)}).status_code == 303
        yield client


def test_the_web_page_names_the_file_the_line_and_the_last_good_copy(web: TestClient, wd: Wdbot) -> None:
    """Regression (issue 23, point 3): the overview showed the bots as if all were well."""
    assert 'id="registry-unreadable"' not in web.get("/").text
    break_registry(wd)
    page = web.get("/").text
    assert 'id="registry-unreadable"' in page
    assert "registry.json unreadable: line 2:" in page and "registry.json.last-good" in page
    assert "warning: registry.json unreadable" not in page, "said once, not again among the warnings"
    wd("shutdown", "--keep-bots")  # no supervisor: the page reads the file itself
    page = web.get("/").text
    assert "No supervisor is running" in page and "registry.json unreadable: line 2:" in page


FLAKY = """
import os, sys, time
print("up", os.getpid(), flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
os.remove(sys.argv[1])
sys.exit(3)
"""


@pytest.mark.slow
def test_a_hand_fixed_file_older_than_a_restart_adopts_the_restarted_bot(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (red team of issue 23, point 3): while the file is unreadable the supervisor
    writes only the last good copy, so a bot it restarted meanwhile is missing from the file;
    fixed by hand (the comma removed) after a supervisor kill, that file made the bot's live
    process a stray, stopped and started again."""
    trigger = tmp_path / "crash-now"
    wd("start", str(write_bot(bots, "flaky.py", FLAKY)), "--restart", "always",
       "--backoff-initial", "0.01", "--", str(trigger))
    [first] = wait_until(lambda: roots(wd.home, "flaky"), "flaky to run")
    break_registry(wd)
    assert wd.status()["supervisor"]["registry_unreadable"]["line"] == LINE
    trigger.touch()  # it crashes; the supervisor, which knows it, starts it again
    [second] = wait_until(lambda: [p for p in roots(wd.home, "flaky") if p != first], "the restart")
    good = wd.home / "registry.json.last-good"
    wait_until(lambda: f'"pid": {second},' in good.read_text(), "the restart in the last good copy")
    assert f'"pid": {second},' not in (wd.home / "registry.json").read_text()
    starts = len(wd.events("start", "flaky"))

    kill_supervisor(wd)
    path = wd.home / "registry.json"
    path.write_text(path.read_text().replace('"bots": [,', '"bots": [', 1))  # the comma, fixed by hand
    assert wd.bot("flaky")["pid"] == second
    assert roots(wd.home, "flaky") == [second], "adopted, not stopped and started again"
    assert len(wd.events("start", "flaky")) == starts and wd.events("orphans_stopped") == []


def test_a_deleted_registry_beside_its_last_good_copy_stops_nothing(wd: Wdbot, bots: Path) -> None:
    """Regression (issue 23, point 3): a registry lost (a bad restore without it) made the
    next supervisor start empty and stop every running bot as unknown."""
    wd("start", str(write_bot(bots, "alpha.py", TICKER)))
    before = roots(wd.home, "alpha")
    wd("shutdown", "--keep-bots")
    (wd.home / "registry.json").unlink()
    flagged = wd.status()["supervisor"]["registry_unreadable"]  # launches one
    assert flagged["error"] == "the file is missing" and flagged["line"] is None
    assert flagged["message"].startswith("registry.json unreadable: the file is missing; fix it or restore")
    assert roots(wd.home, "alpha") == before and wd.events("orphans_stopped") == []
    shutil.copyfile(wd.home / "registry.json.last-good", wd.home / "registry.json")
    wait_until(lambda: wd.status()["supervisor"]["registry_unreadable"] is None, "the restore")
    assert wd.bot("alpha")["pid"] == before[0] and roots(wd.home, "alpha") == before
