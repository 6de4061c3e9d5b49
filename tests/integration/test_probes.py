"""``/livez`` and ``/readyz`` on the real ``wdbot daemon --metrics`` listener, real HTTP."""

from __future__ import annotations

import os
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Wdbot, free_port, wait_until, write_bot


def get(port: int, path: str, timeout_s: float = 10.0) -> tuple[int, str]:
    """(status, body) of a GET; (0, why) when no answer came within ``timeout_s``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
    except OSError as exc:  # refused, or timed out
        return 0, str(exc)


def daemon(wd: Wdbot, log: Path, *args: str) -> Any:
    """The real ``wdbot daemon ARGS`` until the block ends, once it serves."""
    return wd.daemon(log, *args)


@pytest.mark.slow
def test_one_bot_in_backoff_is_not_ready_but_the_supervisor_stays_live(wd: Wdbot, bots: Path,
                                                                          tmp_path: Path) -> None:
    """Issue 23 point 12: the documented probe (``status --check``) failed when one bot was in
    backoff, so Kubernetes killed the pod and every healthy bot with it. Liveness is now the
    supervisor answering (``/livez``, ``status --live``); the bot in backoff only makes the
    daemon not ready (``/readyz``), named with its state."""
    port = free_port()
    with daemon(wd, tmp_path / "daemon.log", "--metrics", f"127.0.0.1:{port}") as proc:
        wd("start", str(write_bot(bots, "steady.py", "import time\ntime.sleep(600)\n")))
        wd("start", str(write_bot(bots, "trader.py", "raise SystemExit(3)\n")),
           "--backoff-initial", "1000", "--backoff-max", "1000")
        wait_until(lambda: (b := wd.bot("trader"))["state"] == "backoff" and b["next_start_in_s"],
                   "trader in its backoff")

        assert get(port, "/livez")[0] == 200
        code, body = get(port, "/readyz")
        assert code == 503
        assert body.startswith("trader: backoff (next start in ") and body.rstrip().endswith(" s)")
        assert "steady" not in body
        assert wd("status", "--check", check=False).code == 1, "--check stays the readiness check"
        live = wd("status", "--live", check=False)
        assert live.code == 0 and f"supervisor {proc.pid} answers" in live.out
        assert "wdbot_bot_up" in get(port, "/metrics")[1]

        wd("stop", "trader")  # a person's stop: nothing that should run is missing any more
        code, body = get(port, "/readyz")
        assert code == 200 and body.startswith("ready"), body

        os.kill(proc.pid, signal.SIGSTOP)  # the whole supervisor frozen: not live, within a bound
        try:
            code, _ = get(port, "/livez", timeout_s=5.0)
            assert code != 200
            assert wd("status", "--live", check=False, timeout_s=30).code == 1
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        assert get(port, "/livez")[0] == 200


def test_an_unreadable_registry_is_not_ready_and_still_live(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Issue 23 points 3 and 12 together: a registry the supervisor cannot read makes it adopt,
    start and stop nothing; an orchestrator must not route to it as ready (``/readyz`` names the
    file and the line), nor kill the pod over it (``/livez`` stays 200: the bots run on)."""
    port = free_port()
    with daemon(wd, tmp_path / "daemon.log", "--metrics", f"127.0.0.1:{port}"):
        wd("start", str(write_bot(bots, "steady.py", "import time\ntime.sleep(600)\n")))
        path = wd.home / "registry.json"
        path.write_text(path.read_text().replace("{", "{,", 1))  # a stray comma, by hand
        wait_until(lambda: get(port, "/readyz")[0] == 503, "/readyz to see the broken file")
        code, body = get(port, "/readyz")
        assert "registry.json unreadable: line 1" in body and "registry.json.last-good" in body
        assert get(port, "/livez")[0] == 200
