"""The peek at a bot in a stretch of flat buckets (issue 29): between the readings of a bot
read every third bucket, its memory alone is looked at once a bucket (``cgroups.memory_now``
from the real ``/proc`` of a real child), and memory that moved has it read at once, so a
leak that starts in a long flat run keeps its ramp. The sampler runs on a stand-in
supervisor with a fake clock; the process and its ``statm`` are real."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from watchdog_runtime.supervisor import cgroups
from watchdog_runtime.supervisor.pacing import memory_moved
from watchdog_runtime.supervisor.resources import TreeSample, WatchSettings
from watchdog_runtime.supervisor.sampler import Sampler

BUCKET_S = 20.0


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    # Ready once started: read just after the exec, its RSS was a few hundred KiB, so "three
    # times" it moved by less than the noise (CI saw a moved memory.current read as unchanged).
    source = "import sys; print('ready', flush=True); sys.stdin.read()"
    proc = subprocess.Popen([sys.executable, "-c", source], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    yield proc
    proc.kill()
    proc.wait(10)
    assert proc.stdin is not None
    proc.stdin.close()
    proc.stdout.close()


def stand_in(pid: int, rss: int) -> Any:
    last = TreeSample(0.0, rss, 3, 1, 0.0, 1, (pid,))
    runner = SimpleNamespace(joined_cgroup=None, watch=SimpleNamespace(readings=SimpleNamespace(last=last)))
    return SimpleNamespace(clock=lambda: 0.0, runners={"bot": runner}, watch_settings=WatchSettings)


def test_memory_now_reads_the_members_rss_as_a_reading_does(child: subprocess.Popen[bytes]) -> None:
    reading = cgroups._proc_reading(child.pid)       # what a reading sums: stat's RSS
    assert reading
    peeked = cgroups.memory_now(None, (child.pid,))
    assert peeked and not memory_moved(reading[0], peeked)
    assert cgroups.memory_now(None, (child.pid, 2 ** 22 + 7)) is None  # a member gone: read


def test_a_stretched_bot_whose_memory_holds_is_peeked_at_and_read_every_third_bucket(
        child: subprocess.Popen[bytes]) -> None:
    rss = cgroups.memory_now(None, (child.pid,))
    assert rss
    sampler = Sampler(stand_in(child.pid, rss))
    sampler._peeks["bot"] = (2, BUCKET_S)          # as planned after a settled flat reading
    sampler.schedule.plan("bot", 21.0)
    due: dict[str, Any] = {"bot": object()}
    assert sampler._peeked(dict(due), 21.0) == {}  # peek: unchanged, planned a bucket on
    assert sampler.schedule.when("bot") == 41.0
    assert sampler._peeked(dict(due), 41.5) == {}  # late by half a second: same point
    assert sampler.schedule.when("bot") == 61.0
    assert sampler._peeked(dict(due), 61.0) == due  # the third bucket: read


def test_a_stretched_bot_whose_memory_moved_is_read_at_once(child: subprocess.Popen[bytes]) -> None:
    rss = cgroups.memory_now(None, (child.pid,))
    assert rss
    sampler = Sampler(stand_in(child.pid, rss - (8 << 20)))  # read 8 MiB lower last time
    sampler._peeks["bot"] = (2, BUCKET_S)
    sampler.schedule.plan("bot", 21.0)
    due: dict[str, Any] = {"bot": object()}
    assert sampler._peeked(dict(due), 21.0) == due
    assert "bot" not in sampler._peeks             # its pace is planned afresh from the reading


def test_a_cgroup_without_memory_current_is_looked_at_once_then_its_members_are_peeked(
        child: subprocess.Popen[bytes], tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the memory controller (a hybrid layout's, every bot's), a peek tried to open the
    cgroup's ``memory.current`` and failed each time: now one look a cgroup, then ``statm``."""
    rss = cgroups.memory_now(None, (child.pid,))
    assert rss
    supervisor = stand_in(child.pid, rss)
    supervisor.runners["bot"].joined_cgroup = tmp_path  # a cgroup folder with no memory.current
    sampler = Sampler(supervisor)
    looks: list[Any] = []
    real = cgroups.has_memory_current
    monkeypatch.setattr(cgroups, "has_memory_current", lambda c: looks.append(c) or real(c))
    sampler._peeks["bot"] = (2, BUCKET_S)
    sampler.schedule.plan("bot", 21.0)
    assert sampler._peeked({"bot": object()}, 21.0) == {}   # peeked by statm: unchanged
    assert sampler._peeked({"bot": object()}, 41.0) == {}
    assert looks == [tmp_path]                              # looked at once
    other = tmp_path / "next-run"                            # another cgroup: looked at again
    other.mkdir()
    (other / "memory.current").write_text(f"{rss + (64 << 20)}\n")  # moved, as memory.current says
    supervisor.runners["bot"].joined_cgroup = other
    sampler._peeks["bot"] = (2, BUCKET_S)
    assert "bot" in sampler._peeked({"bot": object()}, 61.0)  # moved: read now
    assert looks == [tmp_path, other]
