"""The ``/proc`` readers that replace psutil in the running supervisor (issue 29) give what
psutil gives, read from real processes: identity, tree, readings, environment; a pid that
vanished or a zombie is gone, never an error."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psutil
import pytest

from watchdog_runtime.supervisor import identity, procs, proctable

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc: Linux")

# Two threads, five more descriptors, a child; prints the child's pid when both are idle.
BUSY = """
import subprocess, sys, threading, time
threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
files = [open("/dev/null") for _ in range(5)]
sum(i * i for i in range(200000))  # some CPU time
child = subprocess.Popen([sys.executable, "-c", "import time; print(flush=True); time.sleep(600)"],
                         stdout=subprocess.PIPE)
child.stdout.readline()  # the child is idle too: the readings hold still
print(child.pid, flush=True)
time.sleep(600)
"""


@pytest.fixture
def busy() -> Iterator[tuple[subprocess.Popen[bytes], int, str]]:
    """A real process (with a child) carrying a marker of its own, in its own session."""
    marker = f"test:{uuid.uuid4().hex}"
    env = {**os.environ, procs.MARKER_ENV: marker}
    proc = subprocess.Popen([sys.executable, "-c", BUSY], stdout=subprocess.PIPE, env=env,
                            start_new_session=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    try:
        yield proc, child, marker
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()


def test_identity_and_readings_are_psutils(busy: tuple[subprocess.Popen[bytes], int, str]) -> None:
    proc, child, _ = busy
    ident = identity.identify(proc.pid)
    ps = psutil.Process(proc.pid)
    assert ident is not None and ident.create_time == ps.create_time()
    assert ident.start_ticks == proctable.read_stat(proc.pid).start_ticks  # type: ignore[union-attr]
    [sample] = procs.sample_trees({"b": ident}, 1.0).values()
    assert set(sample.pids) == {proc.pid, child} and sample.procs == 2
    members = [ps, psutil.Process(child)]
    assert sample.rss_bytes == sum(p.memory_info().rss for p in members)
    assert sample.num_fds == sum(p.num_fds() for p in members)
    assert sample.threads == sum(p.num_threads() for p in members) == 3
    cpu = sum(p.cpu_times().user + p.cpu_times().system for p in members)
    assert sample.cpu_seconds == pytest.approx(cpu, abs=0.02) and sample.cpu_seconds > 0
    assert procs.fd_soft_limit(ident) == ps.rlimit(psutil.RLIMIT_NOFILE)[0]
    assert procs.machine_memory() == psutil.virtual_memory().total
    assert procs.lineage(child) == [child, *(p.pid for p in psutil.Process(child).parents())]


def test_walks_find_the_tree_the_group_and_the_marker(busy: tuple[subprocess.Popen[bytes], int, str]) -> None:
    proc, child, marker = busy
    ident = identity.identify(proc.pid)
    assert ident is not None
    assert {i.pid for i in procs.members(ident, marker, since=ident)} == {proc.pid, child}
    assert {i.pid for i in procs.members(None, marker)} == {proc.pid, child}  # by the marker alone
    assert {i.pid for i in procs.group_members(proc.pid)} == {proc.pid, child}
    [parent, kid] = sorted(procs.marked_processes(marker)[marker], key=lambda m: m.ident.pid != proc.pid)
    assert (parent.ident, parent.leader, kid.ident.pid, kid.leader) == (ident, True, child, False)
    env = proctable.environ(proc.pid)
    assert env is not None and env[procs.MARKER_ENV] == marker
    assert proctable.environ(proc.pid, b"no-such-needle") is None


def test_a_recycled_pid_is_never_signalled(busy: tuple[subprocess.Popen[bytes], int, str]) -> None:
    proc, _, _ = busy
    ident = identity.identify(proc.pid)
    assert ident is not None and ident.start_ticks is not None
    other = identity.ProcessIdentity(proc.pid, ident.create_time, ident.start_ticks + 1, ident.boot_id)
    assert procs.signal_each([other], signal.SIGKILL) == [] and procs.is_alive(ident)
    assert procs.handles([other, ident]) == [ident]


def test_a_vanished_pid_and_a_zombie_are_gone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "print('up', flush=True); import time; time.sleep(600)"],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline()
    ident = identity.identify(proc.pid)
    assert ident is not None and procs.running(ident)
    os.kill(proc.pid, signal.SIGKILL)
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # dead, not reaped: a zombie
    stat = proctable.read_stat(proc.pid)
    assert stat is not None and stat.gone and identity.identify(proc.pid) == ident
    assert not procs.running(ident)
    assert procs.signal_each([ident], signal.SIGKILL) == [proc.pid]  # as psutil: a stop's kill counts it
    assert asyncio.run(procs.wait_procs_gone([ident], 0.0)) == []
    assert procs.sample_trees({"b": ident}, 1.0) == {}
    proc.wait()  # now the pid is free
    proc.stdout.close()
    assert proctable.read_stat(proc.pid) is None and proctable.environ(proc.pid) is None
    assert identity.identify(proc.pid) is None and procs.lineage(proc.pid) == []
    assert procs.members(ident, "test:none", since=ident) == []
    assert procs.fd_soft_limit(ident) == psutil.Process().rlimit(psutil.RLIMIT_NOFILE)[0]  # ours, as ever


def test_a_stat_line_is_parsed_after_the_last_parenthesis() -> None:
    fields = " ".join(["S", "1", "77", *["0"] * 8, "5", "6", *["0"] * 4, "3", "0", "4242", "0", "9"])
    stat = proctable.parse_stat(42, b"42 (odd) (name) " + fields.encode())
    assert stat == proctable.Stat(42, "S", 1, 77, 4242, 3, 11)
    assert proctable.parse_stat(42, b"") is None and proctable.parse_stat(42, b"42 (cut) S 1") is None


def test_the_psutil_fallback_gives_the_same(busy: tuple[subprocess.Popen[bytes], int, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Where there is no ``/proc`` (macOS) psutil reads the table: the same walks, the same
    answers (run here with the Linux readers switched off)."""
    proc, child, marker = busy
    linux = identity.identify(proc.pid)
    monkeypatch.setattr(identity, "LINUX", False)
    monkeypatch.setattr(procs, "LINUX", False)
    ident = identity.identify(proc.pid)
    assert ident is not None and ident.start_ticks is None and linux is not None
    assert ident.create_time == linux.create_time and procs.is_alive(ident)
    assert {i.pid for i in procs.members(ident, marker, since=ident)} == {proc.pid, child}
    assert {i.pid for i in procs.group_members(proc.pid)} == {proc.pid, child}
    assert {m.ident.pid for m in procs.marked_processes(marker)[marker]} == {proc.pid, child}
    [sample] = procs.sample_trees({"b": ident}, 1.0).values()
    assert set(sample.pids) == {proc.pid, child} and sample.threads == 3
    assert procs.lineage(child)[:2] == [child, proc.pid]
    assert procs.machine_memory() == psutil.virtual_memory().total
    stale = identity.ProcessIdentity(proc.pid, ident.create_time - 5)
    assert procs.signal_each([stale], signal.SIGKILL) == [] and procs.is_alive(ident)
