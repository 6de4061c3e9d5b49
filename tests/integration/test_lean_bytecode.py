"""The supervisor's lean bytecode (issue 29, ``common.leanbytecode``): a first supervisor fills
its cache after a while; the next one, launched by a command or started plainly as a service
manager does, runs with ``-OO -X no_debug_ranges`` from that cache (about 1 MiB less RSS),
while its bots keep their own bytecode, flags and environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_until, write_bot
from watchdog_runtime.common.control import request
from watchdog_runtime.common.heappin import THRESHOLD_BYTES, THRESHOLD_ENV
from watchdog_runtime.common.home import Home
from watchdog_runtime.common.leanbytecode import FILL_AFTER_ENV, OFF_ENV, READY

FLAGS_BOT = """
import json, os, sys, time
theirs = [k for k in os.environ if "PYCACHE" in k or "MALLOC" in k
          or k.startswith("WDBOT_") and ("BYTECODE" in k or "HEAP" in k)]
print(json.dumps({"optimize": sys.flags.optimize, "prefix": sys.pycache_prefix, "env": sorted(theirs)}),
      flush=True)
time.sleep(600)
"""


def supervisor_flags(wd: Wdbot) -> tuple[int, str | None]:
    found = request(Home(wd.home), "debug_modules", timeout_s=10)
    return found["optimize"], found["pycache_prefix"]


def environ(pid: int) -> dict[str, str]:
    """The environment ``pid`` was started (or last executed) with."""
    pairs = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def filled(wd: Wdbot) -> Path:
    """Start a bot under a first supervisor and wait until it filled the cache."""
    wd.env[FILL_AFTER_ENV] = "0"
    wd("start", str(write_bot(wd.home.parent / "bots", "flags.py", FLAGS_BOT)))
    ready = wait_until(lambda: next(iter((wd.home / "cache" / "bytecode").glob(f"*/{READY}")), None),
                       "the first supervisor to fill its lean bytecode cache", 120)
    assert supervisor_flags(wd) == (0, None)  # the first one runs plain
    # Filling it loaded nothing into the supervisor: a walk of its modules once read every
    # lazily made one's __file__, which loaded asyncio's TLS module, ssl and libcrypto (4 MiB).
    found = request(Home(wd.home), "debug_modules", timeout_s=10)
    assert "ssl" not in found["modules"] and "asyncio.sslproto" in found["deferred"]
    return ready.parent


@pytest.mark.slow
def test_the_next_supervisor_runs_lean_and_its_bots_do_not(wd: Wdbot) -> None:
    cache = filled(wd)
    assert list(cache.rglob("*.opt-2.pyc")), "no -OO bytecode in the cache"
    # A module missing from the cache (new since the fill) is written there by the lean one,
    # though its environment says PYTHONDONTWRITEBYTECODE=1 (the tests' does).
    [missing] = cache.rglob("watchdog_runtime/supervisor/pacing.*.opt-2.pyc")
    missing.unlink()
    wd("shutdown")
    wd("start", "flags")
    assert supervisor_flags(wd) == (2, str(cache))
    assert wd.env.get("PYTHONDONTWRITEBYTECODE") == "1" and missing.exists()
    # No site (an editable install's finder imports pathlib with urllib.parse and ipaddress),
    # and pathlib without urllib.parse: about 0.4 MiB.
    modules = set(request(Home(wd.home), "debug_modules", timeout_s=10)["modules"])
    assert not {"site", "urllib.parse", "ipaddress"} & modules, modules
    pid = wd.supervisor_pid()
    assert pid is not None and "-OO" in cmdline(pid) and "no_debug_ranges" in cmdline(pid)
    # The bot: its own flags, no cache prefix, none of the supervisor's settings.
    line = wait_until(lambda: [ln for ln in wd.stdout("flags").splitlines() if ln.startswith("{")],
                      "the bot's line")[-1]
    assert json.loads(line) == {"optimize": 0, "prefix": None, "env": []}
    # A crash and its restart under the lean supervisor: all still works.
    wd("restart", "flags")
    wd.wait_state("flags", "running")


@pytest.mark.slow
def test_a_plainly_started_supervisor_re_executes_itself_lean_on_the_same_pid(
        wd: Wdbot, tmp_path: Path) -> None:
    """What a service manager or a container runs: ``python -m watchdog_runtime daemon``; the
    same process goes on lean (systemd's main pid, a container's PID 1 stay the same)."""
    filled(wd)
    wd("shutdown")
    with wd.daemon(tmp_path / "daemon.log") as proc:
        assert supervisor_flags(wd)[0] == 2
        assert wd.supervisor_pid() == proc.pid and "-OO" in cmdline(proc.pid)
        # Re-executed with its large allocations out of the heap (``common.heappin``).
        assert environ(proc.pid).get(THRESHOLD_ENV) == str(THRESHOLD_BYTES)


@pytest.mark.slow
def test_turned_off_the_supervisor_stays_plain_and_fills_nothing(wd: Wdbot) -> None:
    wd.env[OFF_ENV] = "0"
    wd.env[FILL_AFTER_ENV] = "0"
    wd("start", str(write_bot(wd.home.parent / "bots", "flags.py", FLAGS_BOT)))
    wait_until(lambda: wd.own_lines("flags"), "the bot's line")
    wd("shutdown")
    wd("start", "flags")
    assert supervisor_flags(wd) == (0, None)
    assert not (wd.home / "cache").exists()


@pytest.mark.slow
def test_a_damaged_cache_file_is_said_and_compiled_again_whenever_it_is_imported(wd: Wdbot) -> None:
    """A .pyc cut short in the cache (a full disk, a crash mid-write): Python does not fall back
    to the source for it, so the lean supervisor died at its imports and 'wdbot start' failed;
    then one imported at a first need (``--watch``'s module, red team rt37) failed the command
    that needed it, for every later supervisor too. Each is now said in the supervisor's log,
    compiled again from its source, and written back; the supervisor stays lean."""
    cache = filled(wd)
    wd("shutdown")
    damaged = [next(cache.rglob(f"watchdog_runtime/supervisor/{name}.*.opt-2.pyc"))
               for name in ("runner", "reload")]
    for pyc in damaged:
        pyc.write_bytes(pyc.read_bytes()[:40])
    wd("start", "flags")
    wd.wait_state("flags", "running")
    assert supervisor_flags(wd) == (2, str(cache))
    assert damaged[0].stat().st_size > 40 and damaged[1].stat().st_size == 40  # not needed yet
    watched = write_bot(wd.home.parent / "bots", "watched.py", "import time\nprint('w', flush=True)\n"
                        "time.sleep(600)\n")
    wd("start", str(watched), "--watch")
    wd.wait_state("watched", "running")
    assert damaged[1].stat().st_size > 40
    log = (wd.home / "supervisor.log").read_text()
    assert all(f"{pyc} of the lean bytecode cache is damaged" in log for pyc in damaged), log
    assert (cache / READY).exists() and supervisor_flags(wd) == (2, str(cache))
