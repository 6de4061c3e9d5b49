"""The control socket shrugs off bad requests; the registry survives and never silently empties."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.helpers import Wdbot, write_bot


def raw(wd: Wdbot, payload: bytes) -> dict[str, object]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(str(wd.home / "wdbot.sock"))
    try:
        sock.sendall(payload)
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    reply: dict[str, object] = json.loads(data)
    return reply


@pytest.mark.parametrize("payload, problem", [
    (b"hello\n", "not JSON"),
    (b'{"op": "self_destruct"}\n', "unknown operation"),
    (b'{"op": "status", "args": {"nonsense": 1}}\n', "bad arguments"),
    (b'{"op": "stop", "args": {"names": ["nobody"]}}\n', "no bot named"),
    (b"{" + b"x" * 200_000 + b"\n", "larger than"),
])
def test_bad_requests_get_an_error_reply_and_the_supervisor_lives_on(
        wd: Wdbot, bots: Path, payload: bytes, problem: str) -> None:
    wd("start", str(write_bot(bots, "calm.py", "import time\ntime.sleep(600)\n")))
    pid = wd.status()["supervisor"]["pid"]
    reply = raw(wd, payload)
    assert reply["ok"] is False and problem in str(reply["error"])
    assert wd.status()["supervisor"]["pid"] == pid
    assert wd.bot("calm")["state"] == "running"


def test_registry_keeps_bots_and_options_across_supervisors(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "kept.py", "import time\ntime.sleep(600)\n")
    wd("start", str(bot), "--max-memory", "500M", "--restart", "always", "--stop-timeout", "3")
    wd("stop", "kept")
    wd("shutdown")
    reg = json.loads((wd.home / "registry.json").read_text())
    spec = reg["bots"][0]["spec"]
    assert (spec["max_memory_bytes"], spec["restart"], spec["stop_timeout_s"]) == (500 * 2**20, "always", 3.0)
    status = wd.bot("kept")  # a new supervisor reads the registry back
    assert status["state"] == "stopped" and status["restart_policy"] == "always"


def test_a_torn_registry_is_left_in_place_with_a_clear_error(wd: Wdbot, bots: Path) -> None:
    """A torn file is neither moved aside nor emptied: a start is refused with the line to
    fix and the copy to restore (it used to start over with no bots; issue 23, point 3)."""
    wd("start", str(write_bot(bots, "lost.py", "import time\ntime.sleep(600)\n")))
    wd("shutdown")
    (wd.home / "registry.json").write_text('{"bots": [{"spec": ')  # torn by hand
    start = wd("start", str(write_bot(bots, "fresh.py", "import time\ntime.sleep(600)\n")), check=False)
    assert start.code == 1 and "registry.json unreadable: line 1:" in start.err
    assert "restore registry.json.last-good" in start.err
    assert (wd.home / "registry.json").read_text() == '{"bots": [{"spec": '
    assert list(wd.home.glob("registry.json.corrupt-*")) == []
    assert "warning: registry.json unreadable: line 1:" in " ".join(wd("status").out.split())
    assert str(wd.home / "registry.json") in (wd.home / "supervisor.log").read_text()
