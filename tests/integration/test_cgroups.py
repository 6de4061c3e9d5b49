"""Real cgroups v2 on this machine: detection, a bot joining its cgroup from the bootstrap,
a tree that escapes by every means (``setsid``, a cleared environment, orphaned) killed
through the cgroup, sampling a tree, waiting for empty, nested cgroups. Each test works in a
base of its own, removed after it; skipped where no writable cgroup v2 is to be had."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.helpers import wait_until, write_bot
from watchdog_runtime.supervisor import cgroupplan, cgroups, procs, treestop
from watchdog_runtime.supervisor.cgroupplan import SUPERVISOR_LEAF, Containment

BOOTSTRAP = "import watchdog_runtime.bot.bootstrap as b; b.main()"
Starter = Callable[[Path, Path], "subprocess.Popen[bytes]"]


@pytest.fixture
def start_bot() -> Iterator[Callable[[Path, Path], subprocess.Popen[bytes]]]:
    """Runs a bot under the real bootstrap, in its own session, with ``WDBOT_CGROUP`` set;
    whatever is left of it is killed and reaped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(bot: Path, cgroup: Path) -> subprocess.Popen[bytes]:
        env = {**os.environ, "WDBOT_BOT_ID": "marker-" + bot.stem, "WDBOT_CGROUP": str(cgroup)}
        started.append(subprocess.Popen([sys.executable, "-c", BOOTSTRAP, str(bot)], env=env,
                                        start_new_session=True))
        return started[-1]

    yield start
    for popen in started:
        popen.kill()
        popen.wait(10)


# A grandchild that leaves every way the marker walk follows: its own session, an empty
# environment, SIGTERM ignored; its parent exits once it has written its pid.
ESCAPER = """
    import os, subprocess, sys, time
    here = os.path.dirname(os.path.abspath(__file__))
    code = ("import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)")
    subprocess.Popen([sys.executable, "-c", code, os.path.join(here, "escaped.pid")],
                     start_new_session=True, env={})
    time.sleep(600 if "--stay" in sys.argv else 0)
"""


def test_detection_on_this_machine(containment: Containment) -> None:
    mount, _ = cgroupplan.cgroup2_mount(Path("/proc/self/mountinfo").read_text()) or (None, "")
    assert containment.mount == mount
    assert containment.base.is_relative_to(mount) and containment.base.is_dir()
    enabled = (containment.base / "cgroup.subtree_control").read_text().split()
    assert containment.memory == ("memory" in enabled)
    assert containment.description == (f"cgroup v2 at {containment.base}, memory controller: "
                                       f"{'yes' if containment.memory else 'no'}")


def test_the_bootstrap_joins_its_cgroup_first(containment: Containment, bots: Path,
                                              start_bot: Starter) -> None:
    bot = write_bot(bots, "where.py", """
        import os
        open(os.path.join(os.path.dirname(__file__), "where"), "w").write(open("/proc/self/cgroup").read())
    """)
    cg = cgroups.create(containment, "where")
    assert start_bot(bot, cg).wait(30) == 0
    own = cgroupplan.own_cgroup((bots / "where").read_text())
    assert own is not None and containment.mount / own.lstrip("/") == cg


def test_a_cgroup_that_cannot_be_joined_does_not_stop_the_bot(bots: Path, tmp_path: Path) -> None:
    bot = write_bot(bots, "plain.py", "print('ran')\n")
    done = subprocess.run([sys.executable, "-c", BOOTSTRAP, str(bot)], capture_output=True, text=True,
                          env={**os.environ, "WDBOT_CGROUP": str(tmp_path / "no-such-cgroup")}, timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ran\n", "")


def test_an_orphan_that_escaped_every_other_way_is_killed_through_the_cgroup(
        containment: Containment, bots: Path, start_bot: Starter) -> None:
    bot = write_bot(bots, "escaper.py", ESCAPER)
    cg = cgroups.create(containment, "escaper")
    assert start_bot(bot, cg).wait(30) == 0
    escaped = int(wait_until(lambda: _read(bots / "escaped.pid"), "the escaped grandchild"))
    # The marker walk cannot see it (no environment, not a descendant of anything of ours) ...
    assert escaped not in [p.pid for p in procs.members(None, "marker-escaper")]
    # ... the cgroup can, and the leftover sweep ends it although it ignores SIGTERM.
    assert cgroups.pids(cg) == [escaped]
    killed = asyncio.run(treestop.kill_leftovers(None, [], "marker-escaper", 0.5, cgroup=cg))
    assert killed == [escaped] and cgroups.is_empty(cg)
    wait_until(lambda: not _alive(escaped), "the escaped grandchild to be gone")
    assert cgroups.remove(cg) and not cg.exists()


def test_stop_tree_stops_the_whole_cgroup(containment: Containment, bots: Path, start_bot: Starter) -> None:
    bot = write_bot(bots, "stayer.py", ESCAPER.replace('"--stay" in sys.argv', "True"))
    cg = cgroups.create(containment, "stayer")
    popen = start_bot(bot, cg)
    escaped = int(wait_until(lambda: _read(bots / "escaped.pid"), "the escaped grandchild"))
    assert sorted(cgroups.pids(cg)) == sorted([popen.pid, escaped])

    async def stop() -> tuple[int | None, int | None, list[int]]:
        ident = procs.identify(popen.pid)
        assert ident is not None
        exit_task = asyncio.ensure_future(procs.wait_exit(ident, popen))
        return await treestop.stop_tree(ident, "marker-stayer", exit_task, 1.0, cgroup=cg)

    code, sig, killed = asyncio.run(stop())
    # The bot took SIGTERM (the bootstrap turns it into a clean exit or dies of it); the
    # grandchild ignored it and was killed after the timeout, through cgroup.kill.
    assert (code, sig) in ((0, None), (None, signal.SIGTERM), (128 + signal.SIGTERM, None))
    assert killed == [escaped] and cgroups.is_empty(cg)
    wait_until(lambda: not _alive(escaped), "the escaped grandchild to be gone")


def test_sampling_sums_the_tree(containment: Containment, bots: Path, start_bot: Starter) -> None:
    bot = write_bot(bots, "tree.py", """
        import os, subprocess, sys, time
        here = os.path.dirname(os.path.abspath(__file__))
        code = "import sys, time; b = bytearray(30 * 2**20); open(sys.argv[1], 'w').close(); time.sleep(600)"
        for i in range(2):
            subprocess.Popen([sys.executable, "-c", code, os.path.join(here, f"ready{i}")])
        time.sleep(600)
    """)
    cg = cgroups.create(containment, "tree")
    popen = start_bot(bot, cg)
    wait_until(lambda: (bots / "ready0").exists() and (bots / "ready1").exists(), "the children")
    ident = procs.identify(popen.pid)
    assert ident is not None
    walked = procs.sample_trees({"tree": ident}, 5.0)["tree"]
    got = cgroups.sample(cg, 5.0)
    assert got is not None and (got.at, got.procs) == (5.0, 3) == (walked.at, walked.procs)
    assert got.rss_bytes > 60 * 2**20 and got.threads >= 3 and got.num_fds >= 9
    if not containment.memory:  # RSS summed over the same processes as the walk
        assert abs(got.rss_bytes - walked.rss_bytes) < 0.1 * walked.rss_bytes
    assert got.cpu_seconds > 0  # three interpreters started: cpu.stat counted them
    gone = containment.bot("gone")
    assert set(cgroups.sample_all({"tree": cg, "gone": gone}, 5.0)) == {"tree"}
    assert cgroups.oom_kills(cg) == (0 if containment.memory else None)
    # A glance (issue 29) checks the root's identity in the read it makes anyway: another
    # process on the root's pid (other start ticks) is never read as the bot.
    assert ident.start_ticks is not None
    glanced = cgroups.glance(cg, got, 5.5, (popen.pid, ident.start_ticks))
    assert glanced is not None and glanced.pids == got.pids and glanced.at == 5.5
    assert cgroups.glance(cg, got, 5.5, (popen.pid, ident.start_ticks + 1)) is None
    cgroups.kill(cg)
    assert cgroups.wait_empty(cg, 10)
    assert popen.wait(10) == -signal.SIGKILL and cgroups.sample(cg, 6.0) is None


def test_wait_empty_wakes_on_the_kernels_event_and_is_bounded(containment: Containment) -> None:
    cg = cgroups.create(containment, "sleeper")
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; print(flush=True); time.sleep(600)"],
                             stdout=subprocess.PIPE)
    try:
        cgroups.join(cg, child.pid)
        assert child.stdout is not None and child.stdout.readline() == b"\n"
        assert not cgroups.is_empty(cg) and cgroups.wait_empty(cg, 0.2) is False
        result: list[bool] = []
        waiter = threading.Thread(target=lambda: result.append(cgroups.wait_empty(cg, 30)))
        waiter.start()
        child.kill()
        waiter.join(35)
        assert result == [True]
    finally:
        child.kill()
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()


def test_the_event_loop_waits_for_empty_without_a_thread(containment: Containment) -> None:
    cg = cgroups.create(containment, "loop")
    child = subprocess.Popen(["sleep", "600"])
    try:
        cgroups.join(cg, child.pid)

        async def scenario() -> tuple[bool, bool, int]:
            loop = asyncio.get_running_loop()
            timed_out = await cgroups.wait_empty_async(cg, 0.2)
            loop.call_soon(child.kill)  # only once the wait below has begun
            emptied = await cgroups.wait_empty_async(cg, 30)
            return timed_out, emptied, threading.active_count()

        before = threading.active_count()
        assert asyncio.run(scenario()) == (False, True, before)
        assert await_gone(cg)
    finally:
        child.kill()
        child.wait(10)


def await_gone(cgroup: Path) -> bool:
    """The async wait on a cgroup that is empty, or removed, answers at once."""
    emptied = asyncio.run(cgroups.wait_empty_async(cgroup, 30))
    assert cgroups.remove(cgroup)
    return emptied and asyncio.run(cgroups.wait_empty_async(cgroup, 30))


def test_nested_cgroups_a_bot_made_are_counted_killed_and_removed(containment: Containment) -> None:
    cg = cgroups.create(containment, "nest")
    inner = cg / "worker"
    inner.mkdir()
    children = [subprocess.Popen(["sleep", "600"]) for _ in range(2)]
    try:
        cgroups.join(cg, children[0].pid)
        cgroups.join(inner, children[1].pid)
        assert sorted(cgroups.pids(cg)) == sorted(c.pid for c in children)
        assert cgroups.remove(cg) is False and inner.exists()  # populated: nothing removed
        assert sorted(cgroups.kill(cg)) == sorted(c.pid for c in children)
        assert cgroups.wait_empty(cg, 10)
        assert cgroups.remove(cg) and not cg.exists()
    finally:
        for child in children:
            child.kill()
            child.wait(10)


def test_the_kill_without_cgroup_kill_freezes_and_kills_each(containment: Containment) -> None:
    cg = cgroups.create(containment, "old-kernel")
    child = subprocess.Popen(["sleep", "600"])
    try:
        cgroups.join(cg, child.pid)
        assert cgroups.kill_each(cg, cgroups.pids(cg)) == [child.pid]
        assert child.wait(10) == -signal.SIGKILL and cgroups.wait_empty(cg, 10)
        assert (cg / "cgroup.freeze").read_text().strip() == "0"  # thawed again
    finally:
        child.kill()
        child.wait(10)


def _procs_at(cgroup: Path) -> list[int]:
    """The processes directly in ``cgroup`` (not below)."""
    return [int(pid) for pid in (cgroup / "cgroup.procs").read_text().split()]


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


DELEGATED = """
    import json, os, pathlib, subprocess, sys
    from watchdog_runtime.supervisor import cgroups
    cgroups.join(pathlib.Path(sys.argv[1]), os.getpid())  # as systemd starts a unit's main process
    found = cgroups.detect("unused")
    ready = cgroups.prepare(found)
    cg = cgroups.create(ready, "bot")
    child = subprocess.Popen(["sleep", "600"])
    cgroups.join(cg, child.pid)
    members = cgroups.pids(cg)
    killed = cgroups.kill(cg)
    child.wait()
    print(json.dumps({"layout": ready.layout.value, "base": str(ready.base),
                      "own": open("/proc/self/cgroup").read(), "members": members, "child": child.pid,
                      "killed": killed, "empty": cgroups.wait_empty(cg, 10), "removed": cgroups.remove(cg)}))
"""


@pytest.mark.parametrize("start_in", ["", "supervisor"])
def test_a_delegated_cgroup_holds_the_bots_beside_the_supervisor(containment: Containment,
                                                                  start_in: str) -> None:
    # A cgroup of its own stands for a systemd unit's with Delegate=yes (owned by our uid);
    # systemd >= 254 starts the main process in the leaf that DelegateSubgroup= names.
    unit = containment.base / "unit.service"
    (unit / start_in).mkdir(parents=True)
    with subprocess.Popen(["sleep", "600"]) as stray:  # another process at the unit's top
        try:
            cgroups.join(unit, stray.pid)
            done = subprocess.run([sys.executable, "-c", textwrap.dedent(DELEGATED), str(unit / start_in)],
                                  capture_output=True, text=True, timeout=60)
            # In the leaf, the supervisor moves it there too (a cgroup that enables controllers
            # may hold no process); at the top, nothing is moved.
            where = unit / SUPERVISOR_LEAF if start_in else unit
            assert stray.pid in _procs_at(where)
        finally:
            stray.kill()
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert (got["layout"], got["base"]) == ("delegated", str(unit))
    own = cgroupplan.own_cgroup(got["own"])
    assert own is not None and containment.mount / own.lstrip("/") == unit / start_in  # not moved
    assert got["members"] == got["killed"] == [got["child"]]
    assert got["empty"] and got["removed"]
    assert [name for name in os.listdir(unit) if (unit / name).is_dir()] == ([start_in] if start_in else [])
    if not start_in:  # at the top: no controllers enabled, so systemd can restart the unit
        assert (unit / "cgroup.subtree_control").read_text().strip() == ""


def test_without_root_or_delegation_there_is_no_cgroup_to_be_had() -> None:
    """The unprivileged child runs a world-readable copy of the package: a checkout in a
    private folder (root's ``/root``, any ``mktemp -d``) is fine (issue 23 point 10: the child
    could not import it, and only "Permission denied" made the test skip)."""
    if cgroups.detect("x") is None or shutil.which("setpriv") is None:
        pytest.skip("needs cgroup v2 as root and setpriv, to drop to an unprivileged user")
    nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", sys.executable, "-I", "-c"]
    with _package_anyone_may_read() as folder:
        alone = subprocess.run([*nobody, "pass"], capture_output=True, text=True, timeout=60, cwd=folder)
        if alone.returncode != 0:  # Python itself (or its standard library) is out of reach
            pytest.skip(f"this Python cannot run as an unprivileged user ({sys.executable}): "
                        f"{alone.stderr.strip()}")
        code = (f"import sys; sys.path.insert(0, {str(folder)!r})\n"
                "from watchdog_runtime.supervisor import cgroupplan, cgroups\n"
                "print(cgroupplan.describe(cgroups.detect('x')))")
        done = subprocess.run([*nobody, code], capture_output=True, text=True, timeout=60, cwd=folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "process marker walk (no delegated cgroup v2)\n"


@contextlib.contextmanager
def _package_anyone_may_read() -> Iterator[Path]:
    """A copy of ``watchdog_runtime`` in a fresh folder under /tmp, every folder on its way
    open to all; removed after."""
    folder = Path(tempfile.mkdtemp(prefix="wdbot-anyone-", dir="/tmp"))
    try:
        package = Path(cgroups.__file__).resolve().parents[1]
        shutil.copytree(package, folder / package.name, ignore=shutil.ignore_patterns("__pycache__"))
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)  # whatever the umask of the checkout
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_cgroup_that_is_gone_is_empty_and_has_nothing_to_kill(containment: Containment) -> None:
    gone = containment.bot("never-made")
    assert not cgroups.exists(gone) and cgroups.pids(gone) == [] and cgroups.is_empty(gone)
    assert cgroups.kill(gone) == [] and cgroups.wait_empty(gone, 1) and cgroups.remove(gone)
    assert cgroups.sample(gone, 1.0) is None and cgroups.oom_kills(gone) is None
    assert cgroups.signal_all(gone, signal.SIGTERM) == []
    assert cgroups.create(containment, "twice") == cgroups.create(containment, "twice")  # idempotent


def test_a_bot_that_could_not_join_its_cgroup_is_stopped_by_the_marker_walk(
        containment: Containment, bots: Path) -> None:
    cg = cgroups.create(containment, "outside")
    bot = write_bot(bots, "outside.py", """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open(__file__ + ".ready", "w").close()
        time.sleep(600)
    """)
    env = {**os.environ, "WDBOT_BOT_ID": "marker-outside"}  # no WDBOT_CGROUP: never joined
    popen = subprocess.Popen([sys.executable, "-c", BOOTSTRAP, str(bot)], env=env, start_new_session=True)
    try:
        wait_until(lambda: Path(f"{bot}.ready").exists(), "the bot")

        async def stop() -> tuple[int | None, int | None, list[int]]:
            ident = procs.identify(popen.pid)
            assert ident is not None
            exit_task = asyncio.ensure_future(procs.wait_exit(ident, popen))
            return await treestop.stop_tree(ident, "marker-outside", exit_task, 0.5, cgroup=cg)

        assert asyncio.run(stop()) == (None, signal.SIGKILL, [popen.pid])
    finally:
        popen.kill()
        popen.wait(10)
