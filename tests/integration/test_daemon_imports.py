"""Issue 29: the running supervisor imports what it uses. A real ``wdbot daemon`` with a bot and
nothing configured has loaded neither rich nor apprise, prometheus_client, watchfiles, nor
OpenSSL (``ssl``, ``_hashlib``: asyncio's TLS and hashlib's constructors, ~4 MiB of RSS); each
optional one is loaded once configured and needed."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from tests.helpers import Wdbot, free_port, wait_until, write_bot
from watchdog_runtime.common.control import RequestFailed, request
from watchdog_runtime.common.home import Home

IDLE = "import time\nprint('idle', flush=True)\ntime.sleep(600)\n"
OPTIONAL = {"rich", "apprise", "prometheus_client", "watchfiles", "ssl", "hashlib", "_hashlib"}


def loaded(wd: Wdbot) -> set[str]:
    """The modules the supervisor has imported (its ``debug_modules`` operation)."""
    return set(request(Home(wd.home), "debug_modules", timeout_s=10)["modules"])


def deferred(wd: Wdbot) -> set[str]:
    """The modules made lazily that the supervisor has not used yet (``debug_modules``)."""
    return set(request(Home(wd.home), "debug_modules", timeout_s=10).get("deferred", ()))


def mapped_openssl(pid: int) -> list[str]:
    """OpenSSL's libraries and extension modules in the process's memory map."""
    text = Path(f"/proc/{pid}/maps").read_text()
    return sorted({line.split()[-1] for line in text.splitlines()
                   if any(part in line for part in ("/_ssl.", "/_hashlib.", "libcrypto", "libssl"))})


@pytest.mark.slow
def test_the_running_daemon_loads_optional_modules_only_when_configured(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 29): the daemon's RSS held OpenSSL (asyncio's ssl, hashlib) it never
    used; alerts, reload and rich must stay out until a bot needs them."""
    with wd.daemon(tmp_path / "daemon.log") as daemon:
        wd("start", str(write_bot(bots, "plain.py", IDLE)))
        wd.wait_state("plain", "running")
        assert mapped_openssl(daemon.pid) == []
        assert loaded(wd) & OPTIONAL == set()

        wd("start", str(write_bot(bots, "watched.py", IDLE)), "--watch")
        wd.wait_state("watched", "running")
        wait_until(lambda: "watchfiles" in loaded(wd), "watchfiles once a bot is watched")

        # An alert URL nobody answers (port 9, discard): apprise is loaded to send the alert.
        crash = write_bot(bots, "fragile.py", "raise KeyError('bids')\n")
        wd("start", str(crash), "--restart", "never", "--notify", "json://127.0.0.1:9/x")
        wd.wait_state("fragile", "errored")
        wait_until(lambda: "apprise" in loaded(wd), "apprise once an alert is sent")
        assert "rich" not in loaded(wd) and "prometheus_client" not in loaded(wd)


def test_metrics_load_prometheus_client_and_never_rich(wd: Wdbot, tmp_path: Path) -> None:
    """Regression (issue 29): ``--metrics`` is what loads prometheus_client; rich never is."""
    port = free_port()
    with wd.daemon(tmp_path / "daemon.log", "--metrics", f"127.0.0.1:{port}"):
        modules = loaded(wd)
        assert "prometheus_client" in modules
        assert modules & {"rich", "apprise", "watchfiles"} == set()


# What an idle supervisor with bots never needs (issue 29's second round): the other commands'
# modules (the CLI's parser loaded all of them), the web and chat packages they import, and
# standard-library modules loaded only for a first need that an idle daemon never has.
LEAN_OUT = {
    "watchdog_runtime.cli.commands.lifecycle", "watchdog_runtime.cli.commands.status",
    "watchdog_runtime.cli.commands.up", "watchdog_runtime.cli.commands.web",
    "watchdog_runtime.cli.commands.telegram", "watchdog_runtime.cli.client",
    "watchdog_runtime.web", "watchdog_runtime.chat",
    "importlib.metadata", "email", "zipfile", "csv",  # installed distributions: a repair's
    "uuid", "platform",  # run and mode ids: common/randomid.py
    "tomllib",  # no config.toml, no '# /// script' block
    "bz2", "lzma",  # shutil's archive formats
}

# Issue 29's third round: what only an exit, an install or a look-up needs, imported there.
DEFERRED_OUT = {
    "watchdog_runtime.supervisor.diagnosis",  # explains an exit
    "watchdog_runtime.installs.constraints", "watchdog_runtime.installs.newest",  # an install round
    "watchdog_runtime.installs.upfront",  # a refused name
    "watchdog_runtime.installs.causes", "watchdog_runtime.installs.namespaces",  # something missing
    "importlib.resources",  # the shipped module table: something is missing
    "watchdog_runtime.bot.bootstrap", "watchdog_runtime.bot.shutdown", "faulthandler",  # the bot's own
    "uv", "sysconfig",  # the uv binary, looked up in a child
    "asyncio.sslproto", "asyncio.staggered",  # TLS and TCP races: made lazily, never used
    "zlib",  # shutil's zip and gzip formats
}

# Issue 29's fourth round: standard-library modules the daemon kept for life for one use each.
STDLIB_OUT = {
    "argparse", "gettext",  # one command line read at start (cli/daemonargs.py reads it)
    "tempfile",  # a temporary name per durable write, the temporary folder's name
    "random",  # tempfile's names, and the backoff's jitter after a crash (common/randomid.py)
}

# Issue 29's fifth round: what only an option needs (--metrics, --up, --watch, --tee-logs).
FEATURES_OUT = {"watchdog_runtime.supervisor.metrics", "watchdog_runtime.supervisor.upstart",
                "watchdog_runtime.supervisor.reload"}
# Issue 29's sixth round: what only one bot's option or its own process needs: the warm spare's
# machinery (--warm-spare) and the bot's recovery side (the supervisor writes its context alone).
SPARE_AND_RECOVERY_OUT = {
    "watchdog_runtime.supervisor.warmspare", "watchdog_runtime.bot.spare",  # spareident suffices
    "watchdog_runtime.bot.recovery", "watchdog_runtime.bot.store",  # bot.startcontext suffices
    "watchdog_runtime.bot.crashpoints",
}
# Issue 29's seventh round: introspection the daemon held for life (about 0.9 MiB): inspect,
# with dis and opcode, which asyncio and dataclasses import for a repr, a generated docstring,
# a check on what the event loop is handed, and the control server bound each request's
# arguments with; ast, with which the bot files are read (common.syntax reads them on _ast).
INTROSPECTION_OUT = {"inspect", "dis", "opcode", "ast"}
TEE = {"watchdog_runtime.supervisor.tee", "watchdog_runtime.supervisor.outbox",
       "watchdog_runtime.supervisor.teeplaces"}

# Crashes on its first run, then idles: the supervisor has decided one restart.
CRASH_ONCE = ("import pathlib, time\nmark = pathlib.Path(__file__).with_suffix('.ran')\n"
              "if not mark.exists():\n    mark.write_text('ran')\n    raise SystemExit(3)\n"
              "print('idle', flush=True)\ntime.sleep(600)\n")


@pytest.mark.slow
@pytest.mark.parametrize("entry", ["launched", "foreground"])
def test_an_idle_daemon_with_bots_loads_only_its_own_command(
        wd: Wdbot, bots: Path, tmp_path: Path, entry: str) -> None:
    """Regression (issue 29): ``wdbot daemon`` entered through the whole CLI parser, which
    imported every command module (with the web's and the chat's packages), and the idle
    supervisor held ``importlib.metadata`` (with ``email``, ``zipfile``), ``uuid`` (with
    ``platform``), ``tomllib`` and shutil's ``bz2``/``lzma``: about 1.5 MiB it never used; then
    (``DEFERRED_OUT``) the exit diagnosis's tables, the install-only modules, the bot's
    bootstrap (for one constant), the ``uv`` package with ``sysconfig`` (to find a binary)
    and asyncio's TLS and TCP-race modules; then (``STDLIB_OUT``) argparse with gettext for the
    command line, tempfile for its temporary names and random for the backoff's jitter, still
    out after a bot crashed and was restarted; then (``SPARE_AND_RECOVERY_OUT``) the warm
    spare's machinery and the bot's recovery side, for bots without ``--warm-spare``; then
    (``INTROSPECTION_OUT``) inspect, dis and ast, with requests answered and a crash restarted.
    Both entries: launched by a command (``python -m watchdog_runtime daemon --ready-fd``) and
    in the foreground (what a service manager runs)."""
    with contextlib.ExitStack() as stack:
        if entry == "foreground":
            stack.enter_context(wd.daemon(tmp_path / "daemon.log", "--tee-logs"))
        for name in ("first.py", "second.py"):
            wd("start", str(write_bot(bots, name, IDLE)))
        wd.wait_state("first", "running")
        wd.wait_state("second", "running")
        modules = loaded(wd)
        assert "watchdog_runtime.cli.commands.daemon" in modules  # the check sees the daemon's modules
        assert modules & LEAN_OUT == set()
        assert modules & DEFERRED_OUT == set()
        assert {"asyncio.sslproto", "asyncio.staggered"} <= deferred(wd)  # created, not run
        # A crash and its restart (which explain the exit with the diagnosis, by design).
        wd("start", str(write_bot(bots, "shaky.py", CRASH_ONCE)))
        wait_until(lambda: wd.bot("shaky")["restarts"] == 1 and "idle" in wd.stdout("shaky"),
                   "the shaky bot restarted once and idle")
        modules = loaded(wd)
        assert modules & STDLIB_OUT == set()
        assert modules & LEAN_OUT == set()
        assert modules & FEATURES_OUT == set()
        assert modules & SPARE_AND_RECOVERY_OUT == set()
        assert modules & INTROSPECTION_OUT == set()
        assert modules & TEE == (TEE if entry == "foreground" else set())  # foreground: --tee-logs
        heap = request(Home(wd.home), "debug_heap", top=5, timeout_s=10)
        assert heap["rss_bytes"] > 0 and len(heap["types"]) == 5 and heap["objects"] > 0


def test_debug_heap_refuses_a_bad_count(wd: Wdbot, tmp_path: Path) -> None:
    """``debug_heap`` (issue 29's soak looks inside the supervisor with it) answers a bad
    ``top`` with one usage error, and the supervisor serves on."""
    with wd.daemon(tmp_path / "daemon.log"):
        for bad in (0, 501, "5", True, 2.5):
            with pytest.raises(RequestFailed, match="top must be a whole number") as caught:
                request(Home(wd.home), "debug_heap", top=bad, timeout_s=10)
            assert caught.value.usage
        assert request(Home(wd.home), "debug_heap", timeout_s=10)["objects"] > 0
