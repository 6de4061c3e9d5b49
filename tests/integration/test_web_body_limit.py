"""Request bodies are bounded whatever their framing (issue 23, point 7), against the real
``wdbot web`` (uvicorn) over raw sockets: a chunked body (no ``Content-Length`` to check) past
64 KB gets 413 before any parsing, before login, and the web process neither grows with it
nor spools a file part to a temporary file; no form takes a file part at all."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_for_line
from watchdog_runtime.web import auth

MB = 1 << 20
GROWTH_BOUND = 20 * MB
"""What the web process's peak memory may grow by while refusing a 150 MB body (generous:
the body itself is 7 times as much)."""


@dataclass
class Web:
    proc: subprocess.Popen[str]
    port: int
    tmp: Path
    """The process's TMPDIR: where Starlette would spool a file part."""

    def peak_rss(self) -> int:
        """The process's peak resident memory so far (VmHWM), in bytes."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        assert found, status
        return int(found.group(1)) * 1024

    def temp_files(self) -> list[str]:
        """Files under TMPDIR the process holds open (a spooled part is unlinked at once)."""
        held = []
        for fd in Path(f"/proc/{self.proc.pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue  # closed meanwhile
            if target.startswith(str(self.tmp)):
                held.append(target)
        return held


@pytest.fixture
def web(wd: Wdbot, tmp_path: Path) -> Iterator[Web]:
    tmp = tmp_path / "web-tmp"
    tmp.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "web", "--listen", "127.0.0.1:0"],
                            env={**wd.env, "TMPDIR": str(tmp)}, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        port = re.search(r"127\.0\.0\.1:(\d+)", wait_for_line(proc.stdout, "serving http://127.0.0.1:"))
        assert port, "the ready line names the port"
        yield Web(proc, int(port.group(1)), tmp)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def post_chunked(web: Web, path: str, content_type: str, chunks: Iterable[bytes],
                 between: Callable[[], None] = lambda: None) -> str:
    """POST ``chunks`` with ``Transfer-Encoding: chunked`` (no length announced), until the
    server answers or the body ends; the reply's status line. ``between`` runs after each
    chunk sent (a look at the server)."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{web.port}\r\nContent-Type: {content_type}\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", web.port), timeout=60) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                if select.select([sock], [], [], 0)[0]:
                    break  # answered before the end: a refusal
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                between()
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed after its answer; the answer is still there to read
        return status_line(sock)


def status_line(sock: socket.socket) -> str:
    got = b""
    try:
        while b"\r\n" not in got:
            more = sock.recv(65536)
            if not more:
                break
            got += more
    except ConnectionResetError:
        pass
    return got.split(b"\r\n", 1)[0].decode(errors="replace")


def urlencoded_150mb() -> Iterator[bytes]:
    yield b"secret=guess"
    for i in range(150):  # fields under a megabyte each: Starlette's own per-field cap is 1 MB
        yield b"&f%d=" % i + b"x" * 1_000_000


def multipart_file(boundary: str, size: int) -> Iterator[bytes]:
    yield (f'--{boundary}\r\nContent-Disposition: form-data; name="secret"\r\n\r\nguess\r\n'
           f'--{boundary}\r\nContent-Disposition: form-data; name="upload"; filename="big.bin"\r\n'
           f"Content-Type: application/octet-stream\r\n\r\n").encode()
    for _ in range(size // (64 * 1024)):
        yield b"\x00" * (64 * 1024)
    yield f"\r\n--{boundary}--\r\n".encode()


@pytest.mark.slow
def test_a_chunked_body_past_the_limit_is_refused_before_parsing(web: Web) -> None:
    """Regression: the guard read only ``Content-Length``; ``/login`` parsed a chunked body
    with no session: a 150 MB form took the web process from 32 MB to 183 MB, a file part
    was spooled to a temporary file."""
    before = web.peak_rss()
    status = post_chunked(web, "/login", "application/x-www-form-urlencoded", urlencoded_150mb())
    grown = web.peak_rss() - before
    assert status.startswith("HTTP/1.1 413") and grown < GROWTH_BOUND, (status, f"{grown / MB:.0f} MB")

    spooled: list[str] = []
    status = post_chunked(web, "/login", "multipart/form-data; boundary=XyZ", multipart_file("XyZ", 8 * MB),
                          between=lambda: spooled.extend(web.temp_files()))
    assert status.startswith("HTTP/1.1 413") and not spooled, (status, spooled)
    assert list(web.tmp.iterdir()) == [] and web.proc.poll() is None


def test_no_form_takes_a_file_part_and_small_forms_still_work(wd: Wdbot, web: Web) -> None:
    """A file part within the limit is refused too (no form has a file field), before the
    login is even judged; an ordinary login, read whole by the guard first, still works."""
    import http.client

    body = ('--b\r\nContent-Disposition: form-data; name="secret"\r\n\r\nguess\r\n'
            '--b\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nhello\r\n--b--\r\n')
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    conn.request("POST", "/login", body, {"content-type": "multipart/form-data; boundary=b"})
    reply = conn.getresponse()
    assert reply.status == 400 and "no form here takes a file" in reply.read().decode()
    conn.request("POST", "/login", urllib.parse.urlencode({"secret": auth.load_secret(wd.home)}),
                 {"content-type": "application/x-www-form-urlencoded"})
    reply = conn.getresponse()
    reply.read()
    assert reply.status == 303, "logged in"
    status = post_chunked(web, "/login", "application/x-www-form-urlencoded", [b"secret=", b"guess"])
    assert status.startswith("HTTP/1.1 403"), "a small chunked form is read and judged"
    conn.close()
