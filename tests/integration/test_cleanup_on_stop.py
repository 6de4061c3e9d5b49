"""Every stop runs the bot's clean-up, SDK or not (issue 24, point 2), through the real
``wdbot``: ``stop``, ``restart``, ``shutdown`` and a memory-limit restart, each with six
real bots at once:

- ``plain``: never imports the SDK; cleans up in ``finally``;
- ``pm2``: written for PM2, started with ``--stop-signal INT``; cleans up in
  ``except KeyboardInterrupt``;
- ``own``: installs its own SIGTERM handler, then uses ``wd.on_shutdown``: its handler wins,
  and the callback runs at the exit it asks for;
- ``hup``: the plain bot, started with ``--stop-signal HUP`` (which would kill it outright);
- ``worker``: a non-daemon thread does the work until its ``atexit`` clean-up tells it to
  end (Python runs ``atexit`` only after such threads end: never, before the change);
- ``aio``: an ``asyncio.run`` main whose task cleans up in ``finally``.

Each bot writes ``NAME.ready`` once its clean-up is armed (the handshake), and ``NAME.cleaned``
from its clean-up. On the code before the change the plain and asyncio bots died of a raw
SIGTERM, ``--stop-signal`` did not exist, and ``wd.on_shutdown`` replaced the bot's own handler.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_until, write_bot

FAST = "[resources]\ninterval = 0.2\nconsecutive = 2\n"

# Every bot: mark() a file beside it; grow() past --max-memory once asked (a file named
# "grow"), on its first start only, so a memory-limit restart happens once.
PRELUDE = """
import os, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
NAME = os.environ["WDBOT_BOT_NAME"]
FIRST = os.environ["WDBOT_START_REASON"] == "first_start"
blocks = []

def mark(what):
    with open(os.path.join(HERE, f"{NAME}.{what}"), "a") as fh:
        fh.write(os.environ["WDBOT_START_REASON"] + "\\n")

def grow():
    if FIRST and os.path.exists(os.path.join(HERE, "grow")):
        blocks.append(b"\\x01" * (8 << 20))
"""

BOTS = {
    "plain": ((), PRELUDE + """
try:
    mark("ready")
    while True:
        grow()
        time.sleep(0.05)
finally:
    mark("cleaned")
"""),
    "pm2": (("--stop-signal", "INT"), PRELUDE + """
def main():
    try:
        mark("ready")
        while True:
            grow()
            time.sleep(0.05)
    except KeyboardInterrupt:
        mark("cleaned")  # cancel_orders()

main()  # no __main__ guard: the file calls main() itself, and it must not run twice
"""),
    "own": ((), PRELUDE + """
import signal
import watchdog_runtime as wd

def on_term(signum, frame):
    mark("cleaned")
    sys.exit(0)

signal.signal(signal.SIGTERM, on_term)
wd.on_shutdown(lambda: mark("callback"))
mark("ready")
while True:
    grow()
    time.sleep(0.05)
"""),
    "hup": (("--stop-signal", "HUP"), PRELUDE + """
try:
    mark("ready")
    while True:
        grow()
        time.sleep(0.05)
finally:
    mark("cleaned")
"""),
    "worker": ((), PRELUDE + """
import atexit, threading
done = threading.Event()

def work():
    while not done.wait(0.05):
        grow()

threading.Thread(target=work).start()  # not a daemon: the exit waits for it

@atexit.register
def clean():
    done.set()  # tells the worker to end
    mark("cleaned")

mark("ready")
while True:
    time.sleep(0.05)
"""),
    "aio": ((), PRELUDE + """
import asyncio

async def main():
    try:
        mark("ready")
        while True:
            grow()
            await asyncio.sleep(0.05)
    finally:
        mark("cleaned")

asyncio.run(main())
"""),
}


def marks(bots: Path, name: str, what: str) -> list[str]:
    path = bots / f"{name}.{what}"
    return path.read_text().split() if path.exists() else []


def start_all(wd: Wdbot, bots: Path) -> None:
    wd.home.mkdir(exist_ok=True)
    (wd.home / "config.toml").write_text(FAST)
    for name, (options, source) in BOTS.items():
        wd("start", str(write_bot(bots, f"{name}.py", source)), "--max-memory", "120M", *options)
    for name in BOTS:
        wait_until(lambda name=name: marks(bots, name, "ready"), f"{name} to be ready")


@pytest.mark.slow
@pytest.mark.parametrize("route", ["stop", "restart", "shutdown", "memory_limit"])
def test_every_stop_runs_the_bots_clean_up(wd: Wdbot, bots: Path, route: str) -> None:
    """Regression (issue 24): a stop killed a bot that never called the SDK with a raw
    SIGTERM (no finally, no except KeyboardInterrupt), and wd.on_shutdown replaced a
    handler the bot had installed itself."""
    start_all(wd, bots)
    if route == "shutdown":
        wd("shutdown")
    elif route == "memory_limit":
        (bots / "grow").write_text("")
    else:
        for name in BOTS:
            wd(route, name)
    for name in BOTS:
        wait_until(lambda name=name: marks(bots, name, "cleaned"), f"{name}'s clean-up after {route}")
        assert marks(bots, name, "cleaned") == ["first_start"], name
    wait_until(lambda: marks(bots, "own", "callback"), "own's wd.on_shutdown callback")
    if route == "stop":
        for name in BOTS:
            exited = wd.wait_state(name, "stopped")["last_exit"]
            assert exited["reason"] == "stopped", name
    if route == "shutdown":
        wait_until(lambda: not wd.serving(), "the supervisor to be gone")
    # Each bot ran once per start: none was entered again after its stop (a main() the file
    # calls itself ran a second time once it returned from its except KeyboardInterrupt).
    starts = {"restart": ["first_start", "restart"], "memory_limit": ["first_start", "memory_limit"]}
    wanted = starts.get(route, ["first_start"])
    for name in BOTS:
        wait_until(lambda name=name: len(marks(bots, name, "ready")) >= len(wanted), f"{name}'s starts")
        assert marks(bots, name, "ready") == wanted, name
    if route in starts:
        for name in BOTS:
            assert wd.bot(name)["last_exit"]["reason"] == ("memory_limit" if route == "memory_limit"
                                                          else "stopped"), name


def test_a_bad_stop_signal_is_one_line_and_changes_nothing(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "bad.py", "import time\ntime.sleep(600)\n")
    done = wd("start", str(bot), "--stop-signal", "KILL", check=False)
    assert done.code == 2
    assert done.err.strip().splitlines() == [
        "wdbot start: error: bad --stop-signal 'KILL': choose one of TERM, INT, HUP, QUIT"]
    assert not (wd.home / "registry.json").exists()
