"""``wd.retry`` against real local servers that refuse, stall and drop, called through the
standard library (``urllib.request.urlopen``, ``http.client``, ``socket``), one test per
class of error (issue 24, point 3); and the retry agrees with the diagnosis on what is
transient. Real sockets on loopback; the retry's sleeps are injected (no waiting)."""

from __future__ import annotations

import builtins
import contextlib
import http.client
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from watchdog_runtime.bot.retrying import Retry, is_transient
from watchdog_runtime.supervisor.diagnosis import NETWORK_ERRORS, RATE_LIMIT_ERRORS

CLIENT_TIMEOUT_S = 0.3


@contextlib.contextmanager
def refusing() -> Iterator[int]:
    """A loopback port nothing listens on: every connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield port


@contextlib.contextmanager
def stalling() -> Iterator[int]:
    """A server whose kernel accepts connections (the backlog) that it never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


@contextlib.contextmanager
def dropping() -> Iterator[int]:
    """A server that accepts each connection, reads the request and closes without a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed: the test is over
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)  # wakes the accept (a close alone does not)
        server.close()
        thread.join(5)
        assert not thread.is_alive()


def urlopen(port: int) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ticker", timeout=CLIENT_TIMEOUT_S) as resp:
        return resp.read()


def http_client(port: int) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT_S)
    try:
        conn.request("GET", "/ticker")
        return conn.getresponse().read()
    finally:
        conn.close()


def raw_socket(port: int) -> Any:
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT_S) as sock:
        sock.sendall(b"ping\n")
        data = sock.recv(16)
        if not data:
            raise ConnectionResetError("the server closed the connection")
        return data


def attempts_of(call: Callable[[int], Any], port: int) -> tuple[int, BaseException]:
    """Calls made by ``wd.retry(attempts=4)`` around ``call(port)``, and what it raised."""
    calls = 0

    def counted() -> Any:
        nonlocal calls
        calls += 1
        return call(port)

    with pytest.raises(Exception) as raised:
        Retry(attempts=4, sleep=lambda s: False).call(counted)
    return calls, raised.value


SERVERS = {"refuses": refusing, "stalls": stalling, "drops": dropping}
CASES = [
    # Regression (issue 24): urlopen's URLError(ConnectionRefusedError) made one call only.
    ("refuses", urlopen, urllib.error.URLError),
    ("refuses", http_client, ConnectionRefusedError),
    ("refuses", raw_socket, ConnectionRefusedError),
    ("stalls", urlopen, TimeoutError),          # the answer never comes: a read timeout
    ("stalls", http_client, TimeoutError),
    ("stalls", raw_socket, TimeoutError),       # socket.timeout is TimeoutError
    ("drops", urlopen, http.client.RemoteDisconnected),
    ("drops", http_client, http.client.RemoteDisconnected),
    ("drops", raw_socket, ConnectionError),
]


@pytest.mark.parametrize(("server", "call", "error"), CASES,
                         ids=[f"{s}-{c.__name__}" for s, c, _ in CASES])
def test_wd_retry_retries_the_standard_librarys_network_errors(server: str, call: Callable[[int], Any],
                                                              error: type[BaseException]) -> None:
    with SERVERS[server]() as port:
        calls, raised = attempts_of(call, port)
    assert isinstance(raised, error), repr(raised)
    assert calls == 4, f"{raised!r} was not retried"
    assert is_transient(raised)


def test_a_dns_failure_wrapped_by_urlopen_is_transient() -> None:
    # A real lookup would depend on the machine's resolver: the exception urlopen raises for
    # one, built as urlopen builds it.
    lookup = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert is_transient(urllib.error.URLError(lookup)) and is_transient(lookup)
    assert is_transient(urllib.error.URLError(TimeoutError("timed out")))


def diagnosed_network(module: str, name: str) -> BaseException:
    """An instance of a class the diagnosis calls network (or rate limit), by name."""
    if module in ("builtins", "socket"):  # the diagnosis's bare names: gaierror is socket's
        cls: type[BaseException] = getattr(builtins, name, None) or getattr(socket, name)
        return cls()
    if (module, name) == ("urllib", "URLError"):
        return urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
    exc: BaseException = type(name, (Exception,), {"__module__": f"{module}.errors"})("simulated")
    return exc


@pytest.mark.parametrize(("module", "name"), sorted(
    (module, name) for table in (NETWORK_ERRORS, RATE_LIMIT_ERRORS)
    for module, names in table.items() for name in names))
def test_wd_retry_retries_what_the_diagnosis_calls_transient(module: str, name: str) -> None:
    """Regression (issue 24): the diagnosis told a user to wrap a call in wd.retry for
    errors wd.retry does not retry."""
    assert is_transient(diagnosed_network(module, name)), f"{module}.{name}"
