from __future__ import annotations

import os
from pathlib import Path

import pytest

from watchdog_runtime.common.home import SOCKET_PATH_MAX, Home
from watchdog_runtime.common.protocol import parse_request


def test_socket_stays_in_a_short_home(tmp_path: Path) -> None:
    home = Home(Path("/tmp/h"))
    assert home.socket == Path("/tmp/h/wdbot.sock")


def test_deep_home_gets_a_short_private_socket(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 8)
    home = Home(deep)
    sock = home.socket
    assert len(os.fsencode(sock)) <= SOCKET_PATH_MAX
    assert sock.parent.stat().st_mode & 0o077 == 0
    assert Home(deep / "other").socket != sock, "two homes never share a socket"


@pytest.mark.parametrize("line, problem", [
    (b"not json\n", "not JSON"),
    (b"[1,2]\n", "object"),
    (b'{"op": 3}\n', "op"),
    (b'{"op": "status", "args": [1]}\n', "args"),
    (b"\xff\xfe\n", "not JSON"),
])
def test_malformed_requests_are_named(line: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_request(line)


def test_good_request() -> None:
    assert parse_request(b'{"op":"stop","args":{"names":["a"]}}\n') == ("stop", {"names": ["a"]})


def test_a_supervisor_that_closes_mid_request_is_a_failed_request_not_a_broken_pipe(tmp_path: Path) -> None:
    """Regression: 'shutdown --keep-bots' under PID 1 asked the leaving supervisor for a ping
    while it closed its socket; the ECONNRESET came out of 'wdbot' as a traceback (and a
    BrokenPipeError would have been taken for a closed stdout, exit 0)."""
    import socket
    import threading

    from watchdog_runtime.common.control import RequestFailed, request

    home = Home(tmp_path / "h")
    home.ensure()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(home.socket))
    server.listen(1)

    def close_unread() -> None:
        conn, _ = server.accept()
        conn.recv(1)  # part of the request read, the rest left unread: the close resets
        conn.close()

    thread = threading.Thread(target=close_unread)
    thread.start()
    try:
        with pytest.raises(RequestFailed, match="closed the connection"):
            request(home, "ping", timeout_s=5.0)
    finally:
        thread.join(5)
        server.close()
