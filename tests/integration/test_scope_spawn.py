"""Issue 28: a bot with ``--max-memory`` under a supervisor whose delegated cgroup has no
memory controller (systemd < 254, a hybrid layout) runs in a transient systemd scope of its
own (``systemd-run --scope``). Through the real ``wdbot daemon``, started the way systemd
starts a unit's main process (in a delegated cgroup of its own, ``INVOCATION_ID`` set), with a
``systemd-run`` of the test's on the PATH that does what the real one does: it moves itself
into the scope's cgroup once "the manager" answers (here after a second, so the window cannot
be missed; systemd 252 took 40 to 65 ms), then execs the bot in place.

Regression (``make fleet-check``, systemd step ``max_memory``): ``wdbot start`` answered
"running" as soon as the child was forked, while it was still ``systemd-run`` waiting for the
manager in the service's cgroup, so the bot was found there and not in its scope, although
``wdbot status`` said "a systemd scope of its own". Now a start (and a restart) is answered
once the bot is in its scope, and ``status`` names the scope it was seen in.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers import Wdbot, roots, wait_until, write_bot
from watchdog_runtime.supervisor import scopes
from watchdog_runtime.supervisor.cgroupplan import Containment

SYSTEMD_RUN = """#!/bin/sh
# A stand-in for systemd-run --scope: the trial ('true', no --unit) runs at once; a bot's
# scope is made (a cgroup named like the unit) once the manager has answered, then the bot
# is exec'd in place, as systemd-run does.
unit=""
while [ $# -gt 0 ]; do
  case "$1" in
    --unit=*) unit="${1#--unit=}" ;;
    --) shift; break ;;
    --*) ;;
    *) break ;;
  esac
  shift
done
if [ -n "$unit" ]; then
  sleep "${FAKE_SCOPE_DELAY:-1}"
  mkdir -p "SCOPES/$unit" && echo $$ > "SCOPES/$unit/cgroup.procs" || exit 1
fi
exec "$@"
"""
SLEEPER = "import time\ntime.sleep(600)\n"
SCOPE_RE = re.compile(r"wdbot-0123abcd-capped-[0-9a-f]{8}\.scope")


def _as_a_unit(containment: Containment, wd: Wdbot, tmp_path: Path) -> tuple[str, ...]:
    """The prefix that starts the daemon as systemd starts a unit's main process, with the
    stand-in ``systemd-run`` on the PATH."""
    unit = containment.base / "wdbot-0123abcd.service"  # the unit's delegated cgroup
    unit.mkdir()
    fake = tmp_path / "bin" / "systemd-run"
    fake.parent.mkdir()
    fake.write_text(SYSTEMD_RUN.replace("SCOPES", str(containment.base)))
    fake.chmod(0o755)
    wd.env.update(INVOCATION_ID=uuid.uuid4().hex, PATH=f"{fake.parent}{os.pathsep}{wd.env['PATH']}")
    return ("sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(unit))


@pytest.mark.slow
def test_a_bot_with_max_memory_is_in_its_scope_when_its_start_is_answered(
        containment: Containment, wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    as_a_unit = _as_a_unit(containment, wd, tmp_path)
    with wd.daemon(tmp_path / "daemon.log", prefix=as_a_unit):
        bot = write_bot(bots, "capped.py", SLEEPER)
        said = wd("start", str(bot), "--name", "capped", "--max-memory", "200M").out
        first = _pid(said)
        scope = scopes.scope_of(first)  # at once: the answer came after the move
        assert scope is not None and SCOPE_RE.fullmatch(scope), (said, _cgroup(first))
        assert f"({scope}, MemoryMax={200 << 20})" in wd.bot("capped")["containment"]

        said = wd("restart", "capped").out
        second = wd.bot("capped")["pid"]
        again = scopes.scope_of(second)
        assert second != first and again is not None and SCOPE_RE.fullmatch(again), (said, _cgroup(second))
        assert again != scope  # a run's own scope: the old one goes with the old process


@pytest.mark.slow
def test_a_bot_adopted_before_systemd_run_moved_it_is_seen_in_its_scope_after(
        containment: Containment, wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """kill -9 of the supervisor while the bot is still systemd-run waiting for the manager:
    the next supervisor adopts it (same pid) before the move, and ``status`` names its scope
    once it is there (it said "no systemd scope" for good when it looked only at adoption)."""
    as_a_unit = _as_a_unit(containment, wd, tmp_path)
    wd.env["FAKE_SCOPE_DELAY"] = "5"  # the new supervisor adopts it well before the move
    log = tmp_path / "daemon.log"
    bot = write_bot(bots, "capped.py", SLEEPER)
    with wd.daemon(log, prefix=as_a_unit) as first:
        start = [sys.executable, "-m", "watchdog_runtime", "start", str(bot), "--name", "capped",
                 "--max-memory", "200M"]
        quiet = subprocess.DEVNULL
        with subprocess.Popen(start, env=wd.env, stdout=quiet, stderr=quiet) as starting:
            pid = wait_until(lambda: roots(wd.home, "capped"), "the bot's process, before the move")[0]
            first.kill()
            first.wait(10)
            starting.wait(60)
    assert scopes.scope_of(pid) is None, _cgroup(pid)  # killed in the window
    with wd.daemon(log, prefix=as_a_unit):
        assert wd.wait_state("capped", "running")["pid"] == pid, "adopted, not restarted"
        scope = wait_until(lambda: scopes.scope_of(pid), "the stand-in systemd-run to move the bot")
        assert SCOPE_RE.fullmatch(scope)
        assert f"({scope}, MemoryMax={200 << 20})" in wd.bot("capped")["containment"]


def _pid(said: str) -> int:
    found = re.search(r"pid (\d+)", said)
    assert found, said
    return int(found.group(1))


def _cgroup(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return "gone"
