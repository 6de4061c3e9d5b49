"""One SIGTERM per process, however a stop goes (real processes, real signals).

A second SIGTERM means "exit now" to many programs (the SDK's graceful shutdown among
them). A stop signals the bot's group and the members outside it, then sweeps what outlived
the bot: that sweep used to signal the survivors again. And a supervisor finishing a stop
begun by one that was killed must spare what that one signalled (``treestop.Graces``).
Each process here appends its pid to a file at every SIGTERM and outlives the bot by a
second, so a second signal would be counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import read_or_empty, wait_until, write_bot
from watchdog_runtime.supervisor import cgroups, procs, treestop
from watchdog_runtime.supervisor.cgroupplan import Containment

BOOTSTRAP = "import watchdog_runtime.bot.bootstrap as b; b.main()"

# Counts its SIGTERMs in TERMS, then lives 1 s more (the bot, with --bot, exits at once).
COUNTER = """
import os, signal, sys, time
due = None
def on_term(signum, frame):
    global due
    with open(os.environ["TERMS"], "a") as out:
        out.write(f"{os.getpid()}\\n")
    if "--bot" in sys.argv:
        sys.exit(0)
    due = due or time.monotonic() + 1.0
signal.signal(signal.SIGTERM, on_term)
"""

# The bot: a helper in its process group and one in a session of its own (marker kept).
BOT = COUNTER + """
import subprocess
here = os.path.dirname(os.path.abspath(__file__))
helper = [sys.executable, os.path.join(here, "counter.py")]
kids = [subprocess.Popen(helper), subprocess.Popen(helper, start_new_session=True)]
with open(os.path.join(here, "kids.tmp"), "w") as out:
    out.write(" ".join(str(k.pid) for k in kids))
os.rename(os.path.join(here, "kids.tmp"), os.path.join(here, "kids"))
while True:
    time.sleep(0.05)
"""

HELPER = COUNTER + """
open(os.environ["TERMS"] + f".ready{os.getpid()}", "w").close()
while due is None or time.monotonic() < due:
    time.sleep(0.02)
"""


class Remembered:
    """The graces of a supervisor that takes over a stop: ``spare`` had their SIGTERM."""

    def __init__(self, spare: set[int]) -> None:
        self.spare = frozenset(spare)
        self.marked: list[int] = []

    def before(self, pids: list[int], late: bool = False) -> treestop.Term:
        return treestop.Term(5.0, self.spare)

    def sent(self, pids: list[int]) -> None:
        self.marked.extend(pids)


@pytest.fixture
def started(bots: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    popens: list[subprocess.Popen[bytes]] = []
    yield popens
    for popen in popens:
        popen.kill()
        popen.wait(10)
    # The helpers, which live until their SIGTERM: a failed test must not leave them behind
    # (only the processes this test started: their command line names this test's folder).
    for pid in (int(word) for word in read_or_empty(bots / "kids").split()):
        with contextlib.suppress(OSError):
            if str(bots).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)


def _start(bots: Path, marker: str, cgroup: Path | None,
           started: list[subprocess.Popen[bytes]]) -> tuple[subprocess.Popen[bytes], list[int]]:
    bot = write_bot(bots, "bot.py", BOT)
    write_bot(bots, "counter.py", HELPER)
    env = {**os.environ, "WDBOT_BOT_ID": marker, "TERMS": str(bots / "terms")}
    if cgroup is not None:
        env["WDBOT_CGROUP"] = str(cgroup)
    popen = subprocess.Popen([sys.executable, "-c", BOOTSTRAP, str(bot), "--bot"], env=env,
                             start_new_session=True)
    started.append(popen)
    kids = [int(w) for w in wait_until(lambda: read_or_empty(bots / "kids"), "the helpers").split()]
    wait_until(lambda: all((bots / f"terms.ready{k}").exists() for k in kids), "the helpers' handlers")
    return popen, kids



def _terms(bots: Path) -> Counter[int]:
    return Counter(int(line) for line in read_or_empty(bots / "terms").split())


@pytest.mark.parametrize("resumed", [False, True], ids=["one-stop", "resumed-stop"])
@pytest.mark.parametrize("contained", [False, True], ids=["marker-walk", "cgroup"])
def test_a_stop_never_signals_a_process_twice(request: pytest.FixtureRequest, bots: Path,
                                              started: list[subprocess.Popen[bytes]],
                                              contained: bool, resumed: bool) -> None:
    cgroup = None
    if contained:
        containment: Containment = request.getfixturevalue("containment")
        cgroup = cgroups.create(containment, "counted")
    marker = f"marker-counted-{uuid.uuid4().hex[:8]}"  # tests run side by side
    popen, kids = _start(bots, marker, cgroup, started)
    everyone = [popen.pid, *kids]
    grace: treestop.Grace = 5.0
    if resumed:  # the supervisor that began the stop had signalled the bot and one helper
        spare = {popen.pid, kids[1]}
        for pid in spare:
            os.kill(pid, signal.SIGTERM)
        wait_until(lambda: set(_terms(bots)) == spare, "the first supervisor's SIGTERMs")
        grace = Remembered(spare)

    async def stop() -> tuple[int | None, int | None, list[int]]:
        ident = procs.identify(popen.pid)
        assert ident is not None
        exit_task = asyncio.ensure_future(procs.wait_exit(ident, popen))
        return await treestop.stop_tree(ident, marker, exit_task, grace, cgroup=cgroup)

    code, sig, killed = asyncio.run(stop())
    assert killed == [], "every helper ended within its grace, of its own"
    assert _terms(bots) == Counter({pid: 1 for pid in everyone})
    if isinstance(grace, Remembered):
        assert sorted(grace.marked) == [kids[0]]  # what this stop signalled, marked sent


def test_copies_stopped_after_a_takeover_are_not_signalled_again(
        bots: Path, started: list[subprocess.Popen[bytes]]) -> None:
    marker = f"marker-copy-{uuid.uuid4().hex[:8]}"
    popen, kids = _start(bots, marker, None, started)
    os.kill(popen.pid, signal.SIGTERM)  # the supervisor that was killed got this far
    wait_until(lambda: popen.poll() is not None, "the copy's own exit")
    os.kill(kids[0], signal.SIGTERM)
    grace = Remembered({kids[0]})
    found = procs.as_processes(m for m in procs.marked_processes(marker).get(marker, [])
                               if m.ident.pid in kids)
    assert sorted(p.pid for p in found) == sorted(kids)
    assert asyncio.run(treestop.stop_processes(found, grace)) == []
    assert _terms(bots) == Counter({popen.pid: 1, kids[0]: 1, kids[1]: 1})
    assert grace.marked == [kids[1]]
