"""Issue 29: the running supervisor imports what it uses. A real ``wdbot daemon`` with a bot and
nothing configured has loaded neither rich nor apprise, prometheus_client, watchfiles, nor
OpenSSL (``ssl``, ``_hashlib``: asyncio's TLS and hashlib's constructors, ~4 MiB of RSS); each
optional one is loaded once configured and needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Wdbot, free_port, wait_until, write_bot
from watchdog_runtime.common.control import request
from watchdog_runtime.common.home import Home

IDLE = "import time\nprint('idle', flush=True)\ntime.sleep(600)\n"
OPTIONAL = {"rich", "apprise", "prometheus_client", "watchfiles", "ssl", "hashlib", "_hashlib"}


def loaded(wd: Wdbot) -> set[str]:
    """The modules the supervisor has imported (its ``debug_modules`` operation)."""
    return set(request(Home(wd.home), "debug_modules", timeout_s=10)["modules"])


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
