"""The service command through the real CLI (with a stand-in systemctl), the daemon's systemd
notify protocol on a real socket, the init's restart loop with stand-in supervisors, and the
daemon as PID 1 of a new PID namespace."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.helpers import Wdbot, wait_for_line, wait_until, write_bot
from watchdog_runtime.cli import service
from watchdog_runtime.common.home import Home


def fake_systemctl(folder: Path, answer: str) -> dict[str, str]:
    """A PATH whose systemctl says ``answer`` and logs its arguments."""
    folder.mkdir()
    script = folder / "systemctl"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{folder}/calls"\n'
                      f'case "$*" in *is-system-running*) echo {answer}; exit 1;; esac\nexit 0\n')
    script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def test_service_print_install_uninstall(wd: Wdbot, tmp_path: Path) -> None:
    wd.env.update(fake_systemctl(tmp_path / "bin", "offline"))
    wd.env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    spec = service.ServiceSpec(wd.home, Home(wd.home).id, sys.executable)
    header, printed = wd("service", "print").out.split("\n", 1)
    assert printed == service.systemd_unit(spec)
    unit = tmp_path / "config" / "systemd" / "user" / f"{spec.name}.service"
    # Issue 24 point 7: 'service print' gave no unit name or path; a comment, which systemd ignores.
    assert header.startswith(f"# {spec.name}.service: install it as {unit}"), header
    out = wd("service", "install").out.splitlines()
    assert out[0] == f"wrote {unit}" and unit.read_text() == printed
    assert out[1].startswith("not started: systemd user manager is not running here")
    assert f"  systemctl --user enable --now {spec.name}.service" in out
    # Issue 28: the host's systemd is asked its version (keys it does not know are left out).
    assert (tmp_path / "bin" / "calls").read_text().split() == ["--version", "--user", "is-system-running"]
    assert wd("service", "uninstall").out.splitlines()[-1] == f"removed {unit}"
    again = wd("service", "uninstall", check=False)
    assert again.code == 1 and again.err.count("\n") == 1 and "nothing to uninstall" in again.err


def test_the_daemon_speaks_systemds_notify_protocol(wd: Wdbot, tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(30)
        daemon = subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "daemon"],
                                  env={**wd.env, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert listener.recv(256) == b"READY=1"
            assert listener.recv(256) == b"WATCHDOG=1"
            assert listener.recv(256) == b"WATCHDOG=1"  # again, 0.2 s later
            daemon.send_signal(signal.SIGTERM)
            while (message := listener.recv(256)) == b"WATCHDOG=1":
                pass
            assert message == b"STOPPING=1"
            assert daemon.wait(timeout=30) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait(10)


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True,
                          timeout=30)
    return done.returncode == 0


@pytest.fixture
def in_namespace(wd: Wdbot, bots: Path) -> Iterator[tuple[subprocess.Popen[bytes], psutil.Process]]:
    """``wdbot daemon`` as PID 1 of a new PID namespace (a container), serving: yields
    ``unshare`` and PID 1 as the host sees it; the whole namespace is killed after the test.
    Its stderr goes to ``bots/init.log``."""
    if not _can_unshare():
        pytest.skip("unshare --pid is not permitted here")
    with open(bots / "init.log", "wb") as log_file:
        init = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
                                 sys.executable, "-m", "watchdog_runtime", "daemon"],
                                env=wd.env, stdout=subprocess.DEVNULL, stderr=log_file,
                                start_new_session=True)
    try:
        # A status call finds no supervisor until one serves (and, with a bot registered,
        # would launch one outside the namespace): wait for the supervisor's own event.
        wait_until(lambda: len(wd.events("supervisor_start")) == 1, "the supervisor inside the namespace")
        yield init, psutil.Process(init.pid).children()[0]  # unshare's child: PID 1 inside
    finally:
        if init.poll() is None:
            os.killpg(init.pid, signal.SIGKILL)
            init.wait(10)


def test_the_daemon_as_pid_1_reaps_orphans_and_stops_cleanly_on_sigterm(
        wd: Wdbot, bots: Path, in_namespace: tuple[subprocess.Popen[bytes], psutil.Process]) -> None:
    # The bot's children each start a grandchild and exit; the grandchildren, orphaned, are
    # re-parented to PID 1 and exit too: zombies unless PID 1 reaps them.
    orphans = write_bot(bots, "orphans.py", """
        import os, subprocess, sys, time
        HERE = os.path.dirname(os.path.abspath(__file__))
        for i in range(5):
            subprocess.run([sys.executable, "-c",
                            "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'pass'])"])
        open(os.path.join(HERE, "orphaned"), "w").close()
        time.sleep(600)
    """)
    init, pid1 = in_namespace
    wd("start", str(orphans))
    wait_until(lambda: (bots / "orphaned").exists(), "the orphans")

    def zombies() -> list[psutil.Process]:
        return [c for c in pid1.children() if c.status() == psutil.STATUS_ZOMBIE]

    deadline = time.monotonic() + 10
    while zombies() and time.monotonic() < deadline:  # reaping is immediate; allow a moment
        time.sleep(0.05)
    assert zombies() == [], Path(f"/proc/{pid1.pid}/status").read_text()  # its signal masks
    assert wd.bot("orphans")["state"] == "running"
    pid1.send_signal(signal.SIGTERM)  # what 'docker stop' sends
    assert init.wait(timeout=60) == 0, (bots / "init.log").read_text()
    events = [e["kind"] for e in wd.events("stopped", "orphans")]
    assert events == ["stopped"]


INIT = """
    import os, signal, sys, time
    from watchdog_runtime.supervisor.pid1 import run_as_init
    attempts, plan = sys.argv[1], sys.argv[2].split(",")

    def main(ready_fd):
        with open(attempts, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        what = plan[len(open(attempts).read().split()) - 1]
        if what == "kill":
            os.kill(os.getpid(), signal.SIGKILL)  # a supervisor crashes
        if what in ("exit3", "clean"):
            return 3 if what == "exit3" else 0  # dies of an error; ends as `wdbot shutdown` does
        go = attempts + ".go"
        while not os.path.exists(go):  # a slow start: no handler yet when the stop comes
            time.sleep(0.01)
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))
        os.write(ready_fd, b"ready\\n")
        time.sleep(600)

    sys.exit(run_as_init(main))
"""


@pytest.fixture
def stand_in_init(tmp_path: Path) -> Iterator[Callable[[str], subprocess.Popen[str]]]:
    """``run_as_init`` (not as PID 1: the loop is the same) over stand-in supervisors that
    follow a plan, one word per start; killed and reaped after the test."""
    started: list[subprocess.Popen[str]] = []

    def start(plan: str) -> subprocess.Popen[str]:
        started.append(subprocess.Popen([sys.executable, "-c", textwrap.dedent(INIT),
                                         str(tmp_path / "attempts"), plan],
                                        stderr=subprocess.PIPE, text=True))
        return started[-1]

    yield start
    for init in started:
        init.kill()
        init.wait(10)
        if init.stderr is not None:
            init.stderr.close()


ZOMBIE_FIRST = """
    import os, sys, time
    from watchdog_runtime.supervisor.pid1 import run_as_init
    done = sys.argv[1]
    pid = os.fork()
    if pid == 0:
        os._exit(0)  # SIGCHLD is still at its default here: ignored, and the zombie stays
    while open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)
    with open(done, "w") as fh:
        fh.write(str(pid))

    def main(ready_fd):
        time.sleep(600)  # never reports ready: no event of the loop's own
        return 0

    sys.exit(run_as_init(main))
"""


def test_a_zombie_no_sigchld_announced_is_reaped_all_the_same(tmp_path: Path) -> None:
    done = tmp_path / "zombie"
    init = subprocess.Popen([sys.executable, "-c", textwrap.dedent(ZOMBIE_FIRST), str(done)],
                            start_new_session=True)
    try:
        wait_until(done.exists, "the zombie")
        zombie = int(done.read_text())
        # No signal, no ready report, no backoff: only the loop's own rounds of reaping.
        wait_until(lambda: not os.path.exists(f"/proc/{zombie}"), "the zombie reaped", timeout_s=10)
    finally:
        os.killpg(init.pid, signal.SIGKILL)  # the init and its sleeping supervisor
        init.wait(10)


def test_a_supervisor_killed_is_started_again_and_a_stop_ends_the_init(
        tmp_path: Path, stand_in_init: Callable[[str], subprocess.Popen[str]]) -> None:
    attempts = tmp_path / "attempts"
    init = stand_in_init("kill,serve")
    assert init.stderr is not None
    line = wait_for_line(init.stderr, "wdbot init:")
    assert "ended unasked (killed by SIGKILL); starting a new one in 1 s" in line
    wait_until(lambda: len(attempts.read_text().split()) == 2, "the second supervisor")
    assert init.poll() is None  # the init outlived its supervisor
    init.send_signal(signal.SIGTERM)  # held until the supervisor is ready, then forwarded
    (tmp_path / "attempts.go").touch()
    assert init.wait(30) == 7  # the supervisor's own status
    second = int(attempts.read_text().split()[1])
    assert not os.path.exists(f"/proc/{second}")  # reaped, not a zombie


def test_a_stop_during_the_backoff_starts_a_supervisor_to_stop_the_bots(
        tmp_path: Path, stand_in_init: Callable[[str], subprocess.Popen[str]]) -> None:
    init = stand_in_init("exit3,serve")
    assert init.stderr is not None
    assert "(exit status 3)" in wait_for_line(init.stderr, "wdbot init:")
    init.send_signal(signal.SIGTERM)  # within the 1 s wait (or just after: the same outcome)
    (tmp_path / "attempts.go").touch()
    assert init.wait(30) == 7
    assert len((tmp_path / "attempts").read_text().split()) == 2


def test_a_supervisor_that_ends_cleanly_by_itself_ends_the_init(
        tmp_path: Path, stand_in_init: Callable[[str], subprocess.Popen[str]]) -> None:
    init = stand_in_init("clean,serve")
    assert init.wait(30) == 0
    assert init.stderr is not None and init.stderr.read() == ""
    assert len((tmp_path / "attempts").read_text().split()) == 1


def test_pid_1_restarts_a_killed_supervisor_which_adopts_the_bots(
        wd: Wdbot, bots: Path, in_namespace: tuple[subprocess.Popen[bytes], psutil.Process]) -> None:
    bot = write_bot(bots, "steady.py", """
        import time
        while True:
            time.sleep(1)
    """)
    init, pid1 = in_namespace
    supervisor = pid1.children()[0]  # the only one before any bot starts
    wd("start", str(bot))
    before = wd.wait_state("steady", "running")
    first_pid = wd.status()["supervisor"]["pid"]
    supervisor.kill()  # kill -9, seen from the host
    supervisor.wait(30)
    wait_until(lambda: len(wd.events("supervisor_start")) == 2, "a new supervisor", timeout_s=60)
    second = wd.status()
    assert second["supervisor"]["pid"] != first_pid
    assert pid1.is_running() and init.poll() is None  # the container lives on
    after = next(b for b in second["bots"] if b["name"] == "steady")
    assert (after["state"], after["pid"]) == ("running", before["pid"])  # adopted, not restarted
    assert [e["bot"] for e in wd.events("adopt")] == ["steady"]
    inside = pid1.children(recursive=True)
    assert "killed by SIGKILL" in (bots / "init.log").read_text()
    pid1.send_signal(signal.SIGTERM)  # what 'docker stop' sends
    assert init.wait(timeout=60) == 0, (bots / "init.log").read_text()
    assert not [p for p in inside if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert [e["kind"] for e in wd.events("stopped", "steady")] == ["stopped"]


def test_shutdown_keep_bots_as_pid_1_hands_over_and_the_bots_live_on(
        wd: Wdbot, bots: Path, in_namespace: tuple[subprocess.Popen[bytes], psutil.Process]) -> None:
    """Regression (issue 23, point 2): with 'wdbot daemon' as a container's PID 1,
    'wdbot shutdown --keep-bots' (the README's upgrade step) printed "bots left running",
    then the init exited, the container ended and the kernel SIGKILLed every bot. Now the
    supervisor exits HANDOVER_EXIT, the init starts the next one at once, which adopts the
    bot (no SIGTERM reaches it), and the message says exactly that."""
    bot = write_bot(bots, "keeper.py", """
        import os, signal, time
        HERE = os.path.dirname(os.path.abspath(__file__))
        signal.signal(signal.SIGTERM, lambda *a: open(os.path.join(HERE, "sigterm"), "a").write("x"))
        while True:
            time.sleep(0.1)
    """)
    init, pid1 = in_namespace
    wd("start", str(bot))
    before = wd.wait_state("keeper", "running")
    old = wd.status()["supervisor"]["pid"]
    host_pid = next(p for p in pid1.children(recursive=True) if p.cmdline()[-1:] == [str(bot)]).pid
    out = wd("shutdown", "--keep-bots").out.strip()
    after = wd.status()
    new = after["supervisor"]["pid"]
    assert out == (f"supervisor {old} handed over to supervisor {new} (started by the container's "
                   f"init), which adopts the bots; bots left running")
    assert init.poll() is None and pid1.is_running()  # the container lives on
    keeper = next(b for b in after["bots"] if b["name"] == "keeper")
    assert (keeper["state"], keeper["pid"]) == ("running", before["pid"])  # adopted, the same process
    assert psutil.Process(host_pid).is_running() and not (bots / "sigterm").exists()
    assert [e["bot"] for e in wd.events("adopt")] == ["keeper"]
    assert "handed over" in (bots / "init.log").read_text()
    pid1.send_signal(signal.SIGTERM)  # 'docker stop' still stops it, gracefully
    assert init.wait(timeout=60) == 0, (bots / "init.log").read_text()
    assert (bots / "sigterm").read_text() == "x"


FAKE_SYSTEMD = """
    # Stands in for systemd starting the unit: the main process is a child of a process
    # named 'systemd', runs in the cgroup '.../UNIT' (v1's name=systemd tree, as a hybrid
    # host has it), with INVOCATION_ID set, as systemd does for every service.
    import os, subprocess, sys, uuid
    unit, cgroup, pidfile = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(cgroup, exist_ok=True)
    with open(os.path.join(cgroup, "cgroup.procs"), "w") as fh:
        fh.write(str(os.getpid()))
    with open("/proc/self/comm", "w") as fh:
        fh.write("systemd")
    with open(pidfile, "w") as fh:
        fh.write(str(os.getpid()))
    env = dict(os.environ, INVOCATION_ID=uuid.uuid4().hex)
    sys.exit(subprocess.call([sys.executable, "-m", "watchdog_runtime", "daemon"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
"""

SYSTEMCTL = """#!/bin/sh
echo "$@" >> "{folder}/calls"
case "$*" in
  *is-system-running*) echo running; exit 0;;
  *"enable --now"*)
    unit=$(echo "$*" | awk '{{print $NF}}')
    setsid "{python}" "{folder}/fake_systemd.py" "$unit" "{cgroup}/$unit" "{folder}/systemd.pid" \\
        < /dev/null > /dev/null 2>&1 &
    "{python}" -c "import sys, time
from watchdog_runtime.common.control import is_running
from watchdog_runtime.common.home import Home
for _ in range(600):
    if is_running(Home.from_env()): sys.exit(0)
    time.sleep(0.05)
sys.exit(1)";;
esac
exit 0
"""


@pytest.fixture
def fake_systemd(wd: Wdbot, tmp_path: Path) -> Iterator[Path]:
    """A PATH whose systemctl starts the unit as systemd would (``FAKE_SYSTEMD``); the
    folder holds ``systemd.pid``. Killed by pid, its cgroup removed, after the test."""
    v1 = Path("/sys/fs/cgroup/systemd")
    if os.geteuid() != 0 or not v1.is_dir() or not os.access(v1, os.W_OK):
        pytest.skip("needs root and the name=systemd cgroup tree (a hybrid host) to stand in for systemd")
    folder, cgroup = tmp_path / "bin", v1 / f"wdbot-test-{os.getpid()}-{tmp_path.name}"
    folder.mkdir()
    (folder / "fake_systemd.py").write_text(textwrap.dedent(FAKE_SYSTEMD))
    (folder / "systemctl").write_text(SYSTEMCTL.format(folder=folder, python=sys.executable, cgroup=cgroup))
    (folder / "systemctl").chmod(0o755)
    wd.env.update({"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}",
                   "XDG_CONFIG_HOME": str(tmp_path / "config")})
    try:
        yield folder
    finally:
        wd.teardown()  # the unit's supervisor first: the stand-in exits with it
        pidfile = folder / "systemd.pid"
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
        for unit in (cgroup.iterdir() if cgroup.is_dir() else []):
            if unit.is_dir():  # what a stand-in started late (after the test's daemon left)
                for pid in (unit / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
                wait_until(lambda unit=unit: not (unit / "cgroup.procs").read_text().strip(),
                           "the unit to empty")
                unit.rmdir()
        if cgroup.is_dir():
            cgroup.rmdir()


def test_service_install_knows_the_units_own_supervisor(wd: Wdbot, fake_systemd: Path,
                                                        tmp_path: Path) -> None:
    """Regression (issue 23, point 11): 'wdbot service install' ended with "a supervisor
    already runs for this home outside the service" about the supervisor the unit had just
    started. It now asks the supervisor, which knows its unit (INVOCATION_ID, its cgroup's
    NAME.service, systemd its parent); a supervisor outside the unit is still named."""
    spec = service.ServiceSpec(wd.home, Home(wd.home).id, sys.executable)
    out = wd("service", "install").out
    assert f"ran: systemctl --user enable --now {spec.name}.service (exit 0)" in out
    assert "outside the service" not in out, out
    sup = wd.supervisor_pid()
    stand_in = int((fake_systemd / "systemd.pid").read_text())
    assert sup is not None and psutil.Process(sup).parent().pid == stand_in
    # Its shutdown says what the unit (Restart=always) does next; the stand-in does not.
    assert f"; systemd ({spec.name}.service) starts a new supervisor, which runs none of them" in \
        wd("shutdown").out
    # Outside the unit: a 'wdbot daemon' a person runs in a shell.
    with wd.daemon(tmp_path / "daemon.log") as daemon:
        again = wd("service", "install").out
        assert f"a supervisor (pid {daemon.pid}) already runs for this home outside the service" in again
        assert f"systemctl --user restart {spec.name}.service" in again


@pytest.mark.parametrize(("option", "hidden", "hint"), [
    (("--web",), "starlette", "pip install 'wdbot[web]'"),
    (("--telegram",), "telegram", "pip install 'wdbot[telegram]'"),
])
def test_service_install_refuses_an_extra_unit_whose_extra_is_missing(
        wd: Wdbot, tmp_path: Path, option: tuple[str, ...], hidden: str, hint: str) -> None:
    """'wdbot service install --web' (or --telegram) without the extra installed wrote a unit
    whose 'wdbot web' exits at once, restarted by systemd forever. Now one line says what to
    install, and no unit is written (the supervisor's neither)."""
    wd.env.update(fake_systemctl(tmp_path / "bin", "offline"))
    wd.env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    hide = tmp_path / "hide"
    hide.mkdir()
    # The package as absent as on a plain 'pip install wdbot': importlib finds no spec for it.
    (hide / "sitecustomize.py").write_text(f"import sys\nsys.modules[{hidden!r}] = None\n")
    wd.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hide), wd.env.get("PYTHONPATH")]))
    refused = wd("service", "install", *option, check=False)
    assert refused.code == 1 and refused.err.count("\n") == 1, refused.err
    assert hint in refused.err and "nothing installed" in refused.err
    assert "Traceback" not in refused.err
    assert not (tmp_path / "config").exists()
    assert wd("service", "print", *option).code == 0  # printing a unit to adapt stays possible
