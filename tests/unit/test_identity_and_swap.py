"""Process identity without the wall clock, venv swaps cut short, and which preparation
failures need a person (issue 13)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from watchdog_runtime.installs import venvs
from watchdog_runtime.installs.venvs import VenvError
from watchdog_runtime.supervisor import identity
from watchdog_runtime.supervisor.botprocess import _needs_a_person
from watchdog_runtime.supervisor.identity import Deadline, ProcessIdentity
from watchdog_runtime.supervisor.runner import RegistryUnwritable

LINUX = sys.platform.startswith("linux")


@pytest.mark.skipif(not LINUX, reason="start ticks and boot ids are Linux's")
def test_identity_is_start_ticks_and_boot_id() -> None:
    me = identity.identify(os.getpid())
    assert me is not None and me.start_ticks and me.boot_id == identity.boot_id()
    assert identity.matches(me)
    # The wall-clock start is for people only: a different create_time still matches ...
    ident = identity.ProcessIdentity
    assert identity.matches(ident(me.pid, me.create_time + 7200, me.start_ticks, me.boot_id))
    # ... while other ticks or another boot do not (a recycled pid).
    assert not identity.matches(ident(me.pid, me.create_time, me.start_ticks + 1, me.boot_id))
    assert not identity.matches(ident(me.pid, me.create_time, me.start_ticks, "other-boot"))
    assert 0 <= identity.age_s(me) < 3600


@pytest.mark.skipif(not LINUX, reason="start ticks and boot ids are Linux's")
def test_a_zombie_is_not_alive_and_a_name_with_parentheses_parses() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(0)"])
    ident = identity.identify(child.pid)
    assert ident is not None
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert not identity.matches(ident)
    child.wait()
    fields = identity.stat_fields(os.getpid())
    assert fields is not None and fields[0] in "RS"


def test_a_swap_cut_between_its_renames_is_completed(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    old = tmp_path / "venv.old"
    old.mkdir()
    (old / venvs.MARKER).write_text("{}")
    venvs.recover_swap(venv)  # killed after 'venv -> venv.old', before 'venv.new -> venv'
    assert (venv / venvs.MARKER).exists() and not old.exists()
    venvs.recover_swap(venv)  # nothing to do: unchanged
    assert (venv / venvs.MARKER).exists()


@pytest.mark.parametrize(("exc", "person"), [
    (VenvError("Python 3.2 is not installed here", permanent=True), True),
    (VenvError("installing the bot's dependencies failed: Failed to download"), False),
    (FileNotFoundError(2, "No such file", "/gone/bot.py"), True),
    (OSError(28, "No space left on device"), False),
    (RegistryUnwritable("cannot write the registry"), False),
    (RuntimeError("a bug"), True),
])
def test_which_preparation_failures_need_a_person(exc: Exception, person: bool) -> None:
    assert _needs_a_person(exc) is person


@pytest.mark.parametrize(("detail", "malformed"), [
    ("error: Failed to parse: `wdtiny===`", True),
    ("error: Failed to fetch: `https://pypi.org/simple/x/`\n  Caused by: dns error", False),
    ("No solution found when resolving dependencies: wdtiny==2.0 was not found", False),
])
def test_a_malformed_requirement_is_told_from_a_network_fault(detail: str, malformed: bool) -> None:
    assert venvs._malformed(detail) is malformed


def test_the_oom_killer_is_named_exactly_when_the_cgroup_counted_it() -> None:
    import signal as sig

    from watchdog_runtime.states import ExitReason
    from watchdog_runtime.supervisor.diagnosis import Pattern, diagnose

    counted = diagnose(ExitReason.CRASH, None, sig.SIGKILL, None, oom_killed=True)
    assert counted is not None and counted.pattern is Pattern.MEMORY and "memory.events" in counted.seen
    # A big bot killed by someone else is not put down to the OOM killer when the kernel says no.
    guessed = diagnose(ExitReason.CRASH, None, sig.SIGKILL, None, 9 << 30, 10 << 30)
    assert guessed is not None and guessed.pattern is Pattern.MEMORY
    told = diagnose(ExitReason.CRASH, None, sig.SIGKILL, None, 9 << 30, 10 << 30, oom_killed=False)
    assert told is not None and told.pattern is Pattern.SYSTEM and "not the OOM killer" in told.seen


def test_oom_kills_are_read_from_memory_events(tmp_path: Path) -> None:
    from watchdog_runtime.supervisor import cgroups

    assert cgroups.oom_kills(tmp_path) is None  # no memory controller: nobody counts
    (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n")
    assert cgroups.oom_kills(tmp_path) == 2


# ---------------------------------------------------------------- graces
def _deadline(boot_at: float, delay_s: float = 3.0) -> Deadline:
    return Deadline(delay_s, "b", boot_at=boot_at, wall_at=0.0)


def test_each_process_keeps_its_own_grace_and_the_batch_waits_for_the_longest() -> None:
    from watchdog_runtime.supervisor import graces

    old, young = ProcessIdentity(10, 1.0, 500, "b"), ProcessIdentity(11, 2.0, 600, "b")
    known = [graces.Signalled(old, _deadline(boot_at=100.0))]
    remaining = lambda d: max(0.0, d.boot_at - 102.5)  # noqa: E731 - a clock at boot 102.5 s

    alone = graces.grace(known, [old], 3.0, _deadline, remaining)
    assert (alone.seconds, alone.added) == (0.0, ())  # overdue: SIGKILL at once
    # young appeared during the stop of old (overdue): it shares that stop's deadline, else
    # every fork after every supervisor kill would put the SIGKILL off again.
    batch = graces.grace(known, [old, young], 3.0, _deadline, remaining)
    assert batch.seconds == 0.0 and batch.added == (graces.Signalled(young, known[0].kill_at),)
    fresh = graces.grace([], [young], 3.0, _deadline, remaining)  # a stop that begins
    assert fresh.seconds == 3.0 and [s.ident for s in fresh.added] == [young]
    recycled = ProcessIdentity(10, 9.0, 999, "b")  # the pid again, another process
    assert graces.grace(known, [recycled], 3.0, _deadline, remaining).seconds == 3.0
    other_boot = ProcessIdentity(10, 1.0, 500, "c")
    assert not graces.same_process(old, other_boot)
    assert graces.grace(known, [], 3.0, _deadline, remaining).seconds == 3.0  # none identified
    assert graces.prune(known, lambda ident: ident != old) == ()


def test_a_process_sent_its_sigterm_is_spared_a_second_one() -> None:
    from watchdog_runtime.supervisor import graces

    old, young = ProcessIdentity(10, 1.0, 500, "b"), ProcessIdentity(11, 2.0, 600, "b")
    remaining = lambda d: 1.0  # noqa: E731
    written = graces.grace([], [old, young], 3.0, _deadline, remaining)
    assert written.spare == frozenset()  # on disk before any signal: nobody spared yet
    resumed = graces.grace(written.added, [old, young], 3.0, _deadline, remaining, sent=[old])
    assert resumed.spare == frozenset({10}) and resumed.added == ()  # young: killed before its signal
    recycled = ProcessIdentity(10, 9.0, 999, "b")  # pid 10 again, another process: signalled
    assert graces.grace(written.added, [recycled], 3.0, _deadline, remaining, sent=[old]).spare == frozenset()


def test_the_sigterms_sent_are_noted_read_back_and_pruned(tmp_path: Path) -> None:
    from watchdog_runtime.supervisor import sentmarks

    path = tmp_path / "sigterms"
    assert sentmarks.read(path) == []
    a, b = ProcessIdentity(10, 1.5, 500, "b"), ProcessIdentity(11, 2.25, None, None)
    sentmarks.note(path, [a])
    sentmarks.note(path, [])
    with open(path, "a") as fh:
        fh.write("12 5")  # torn by a full disk: marks nobody, and the next line still reads
    sentmarks.note(path, [b])
    assert sentmarks.read(path) == [a, b]
    path.write_text(path.read_text() + "garbage\n0 1 b 1.0\nx y z w\n")
    assert sentmarks.read(path) == [a, b]
    sentmarks.prune(path, lambda ident: ident == b)
    assert sentmarks.read(path) == [b] and path.stat().st_mode & 0o777 == 0o600
    sentmarks.prune(path, lambda ident: False)
    assert not path.exists()


def test_a_stored_grace_survives_its_json_and_garbage_is_refused() -> None:
    from watchdog_runtime.supervisor import graces

    entry = graces.Signalled(ProcessIdentity(10, 1.5, 500, "b"), _deadline(100.0))
    assert graces.Signalled.from_json(json.loads(json.dumps(entry.to_json()))) == entry
    for bad in ({"process": {"pid": 0, "create_time": 1}, "kill_at": entry.kill_at.to_json()},
                {"process": entry.to_json()["process"], "kill_at": {**entry.kill_at.to_json(),
                                                                     "boot_at": float("inf")}},
                {"process": "x", "kill_at": {}}):
        with pytest.raises((ValueError, TypeError, KeyError)):
            graces.Signalled.from_json(bad)


@pytest.mark.parametrize("kind", ["fifo", "symlink", "folder", "huge"])
def test_a_sigterms_file_a_bot_replaced_is_never_trusted(tmp_path: Path, kind: str) -> None:
    """Red team: the bot runs as the same user and may replace its run folder's files. A FIFO
    blocked every supervisor in open(); a symlink had the (root) supervisor append to its
    target; a huge file took 50 s to read."""
    from watchdog_runtime.registry import RunRecord
    from watchdog_runtime.supervisor import runfiles, sentmarks

    path, target = tmp_path / "sigterms", tmp_path / "precious"
    target.write_text("precious\n")
    mark = ProcessIdentity(10, 1.5, 500, "b")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        path.symlink_to(target)
    elif kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"10 500 b 1.5\n" * (sentmarks.MAX_BYTES // 10))
    assert sentmarks.read(path) == ([mark] if kind == "huge" else [])  # read up to MAX_BYTES
    if kind != "huge":
        with pytest.raises(OSError):
            sentmarks.note(path, [mark])
        assert runfiles.exit_record(path, RunRecord.__new__(RunRecord)) is None  # no block either
    sentmarks.prune(path, lambda ident: False)
    assert target.read_text() == "precious\n"
    assert path.is_dir() if kind == "folder" else not path.exists()


def test_an_event_log_that_ends_mid_line_is_cut_back_to_its_last_whole_line(tmp_path: Path) -> None:
    """Red team: a supervisor killed between a write cut short and its undoing left the torn
    piece in the log for good."""
    from watchdog_runtime.events import EventLog

    path = tmp_path / "events.jsonl"
    path.write_text('{"kind": "first"}\n{"at": "2026-12-02", "kind": "cu')
    EventLog(path).write("after", "b")
    assert [json.loads(line)["kind"] for line in path.read_text().splitlines()] == ["first", "after"]
    path.write_text('{"at": "torn alone')  # nothing whole before it
    EventLog(path).write("next", "b")
    assert [json.loads(line)["kind"] for line in path.read_text().splitlines()] == ["next"]
