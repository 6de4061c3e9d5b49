"""The supervisor's large allocations stay out of glibc's heap (issue 29, ``common.heappin``):
the command that launches it pins glibc's mmap threshold in the new process's environment,
and the supervisor takes that out of its own before it starts anything, so its bots run
with the environment they were given (a threshold the user set reaches them unchanged)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_until, write_bot
from watchdog_runtime.common.heappin import MARK_ENV, THRESHOLD_BYTES, THRESHOLD_ENV

ENV_BOT = f"""
import json, os, time
print(json.dumps({{k: v for k, v in os.environ.items() if "MALLOC" in k or k == {MARK_ENV!r}}}), flush=True)
time.sleep(600)
"""


def environ(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def bot_line(wd: Wdbot, name: str) -> dict[str, str]:
    lines = wait_until(lambda: wd.own_lines(name), f"{name}'s line")
    found: dict[str, str] = json.loads(lines[-1])
    return found


@pytest.mark.slow
def test_the_supervisor_is_pinned_and_its_bots_are_not(wd: Wdbot, bots: Path) -> None:
    wd("start", str(write_bot(bots, "plain.py", ENV_BOT)))
    pid = wd.supervisor_pid()
    assert pid is not None
    assert environ(pid).get(THRESHOLD_ENV) == str(THRESHOLD_BYTES) and environ(pid).get(MARK_ENV) == "1"
    assert bot_line(wd, "plain") == {}
    # A restart (another spawn by the same supervisor) inherits nothing either.
    wd("restart", "plain")
    wd.wait_state("plain", "running")
    assert bot_line(wd, "plain") == {}


@pytest.mark.slow
def test_a_threshold_the_user_set_is_theirs_and_reaches_the_bots(wd: Wdbot, bots: Path) -> None:
    wd.env[THRESHOLD_ENV] = "65536"
    wd("start", str(write_bot(bots, "own.py", ENV_BOT)))
    pid = wd.supervisor_pid()
    assert pid is not None and environ(pid).get(THRESHOLD_ENV) == "65536" and MARK_ENV not in environ(pid)
    assert bot_line(wd, "own") == {THRESHOLD_ENV: "65536"}
