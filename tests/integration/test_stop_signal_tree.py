"""``--stop-signal`` reaches every process of the bot's tree, in both containments (the
cgroup, and the marker walk without one): real processes and real signals, through
``treestop`` as the runner calls it (issue 24)."""

from __future__ import annotations

import asyncio
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

# Notes each signal it gets as "NAME PID" in SIGNALS, then ends; SIGTERM and SIGINT alike.
NOTE = """
import os, signal, sys, time
def note(signum, frame):
    with open(os.environ["SIGNALS"], "a") as out:
        out.write(f"{signal.Signals(signum).name} {os.getpid()}\\n")
    os._exit(0)
for signum in (signal.SIGTERM, signal.SIGINT):
    signal.signal(signum, note)
"""

BOT = NOTE + """
import subprocess
here = os.path.dirname(os.path.abspath(__file__))
helper = [sys.executable, os.path.join(here, "helper.py")]
kids = [subprocess.Popen(helper), subprocess.Popen(helper, start_new_session=True)]
with open(os.path.join(here, "kids.tmp"), "w") as out:
    out.write(" ".join(str(k.pid) for k in kids))
os.rename(os.path.join(here, "kids.tmp"), os.path.join(here, "kids"))
while True:
    time.sleep(0.05)
"""

HELPER = NOTE + """
open(os.environ["SIGNALS"] + f".ready{os.getpid()}", "w").close()
while True:
    time.sleep(0.05)
"""


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    popens: list[subprocess.Popen[bytes]] = []
    yield popens
    for popen in popens:
        popen.kill()
        popen.wait(10)



@pytest.mark.parametrize("contained", [False, True], ids=["marker-walk", "cgroup"])
def test_the_stop_signal_reaches_the_whole_tree_once(request: pytest.FixtureRequest, bots: Path,
                                                     started: list[subprocess.Popen[bytes]],
                                                     contained: bool) -> None:
    cgroup = None
    if contained:
        containment: Containment = request.getfixturevalue("containment")
        cgroup = cgroups.create(containment, "int")
    marker = f"marker-int-{uuid.uuid4().hex[:8]}"
    bot = write_bot(bots, "bot.py", BOT)
    write_bot(bots, "helper.py", HELPER)
    env = {**os.environ, "WDBOT_BOT_ID": marker, "SIGNALS": str(bots / "signals")}
    if cgroup is not None:
        env["WDBOT_CGROUP"] = str(cgroup)
    popen = subprocess.Popen([sys.executable, "-c", BOOTSTRAP, str(bot)], env=env, start_new_session=True)
    started.append(popen)
    kids = [int(w) for w in wait_until(lambda: read_or_empty(bots / "kids"), "the helpers").split()]
    wait_until(lambda: all((bots / f"signals.ready{k}").exists() for k in kids), "the helpers' handlers")

    async def stop() -> tuple[int | None, int | None, list[int]]:
        ident = procs.identify(popen.pid)
        assert ident is not None
        exit_task = asyncio.ensure_future(procs.wait_exit(ident, popen))
        grace = treestop.Term(10.0, signum=signal.SIGINT)
        return await treestop.stop_tree(ident, marker, exit_task, grace, cgroup=cgroup)

    code, sig, killed = asyncio.run(stop())
    assert killed == [] and (code, sig) == (0, None)
    got = Counter(read_or_empty(bots / "signals").split("\n")[:-1])
    assert got == Counter(f"SIGINT {pid}" for pid in (popen.pid, *kids))
