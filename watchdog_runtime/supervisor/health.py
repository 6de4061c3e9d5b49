"""The ``--metrics`` listener: ``/metrics`` for Prometheus, ``/livez`` and ``/readyz`` for
orchestrators (Kubernetes probes, a load balancer's health check).

Both health answers go through the control socket, the machinery every command uses, from
the listener's own thread: ``/livez`` is 200 when the supervisor answers ``ping`` within
``PROBE_TIMEOUT_S`` (a wedged event loop, a stopped process or a gone socket is 503, or no
answer at all), and never looks at a bot; ``/readyz`` asks the supervisor which bots that
should run do not, and is 503 with one line per bot when any does not (``readiness``).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ..common.control import NoSupervisor, RequestFailed, request
from ..common.home import Home

PROBE_TIMEOUT_S = 3.0
"""The longest a probe waits for the supervisor; keep a probe's own timeout above it."""
CLIENT_TIMEOUT_S = 10.0
"""A client that connects and says nothing is let go after this."""
MAX_CLIENTS = 32
"""Requests served at once; past it the oldest connection without a whole request is let go,
and with none such a new one is closed unanswered (each may wait PROBE_TIMEOUT_S)."""
HEALTH_PATHS = ("/livez", "/readyz")

StartResponse = Callable[..., Any]
Answer = tuple[int, str]


def live(home: Home, timeout_s: float = PROBE_TIMEOUT_S) -> Answer:
    """(200, text) when the supervisor answers its control socket, else (503, why)."""
    try:
        pid = request(home, "ping", timeout_s=timeout_s)["pid"]
    except NoSupervisor:
        return 503, f"not live: no supervisor listens on {home.socket}\n"
    except (RequestFailed, OSError, KeyError, TypeError) as exc:
        return 503, f"not live: {exc}\n"
    return 200, f"live: supervisor {pid} answers\n"


def ready(home: Home, timeout_s: float = PROBE_TIMEOUT_S) -> Answer:
    """(200, text) when every bot that should run runs, else (503, one line per bot)."""
    try:
        result = request(home, "ready", timeout_s=timeout_s)
        lines, count = list(result["not_ready"]), int(result["bots"])
    except NoSupervisor:
        return 503, f"not ready: no supervisor listens on {home.socket}\n"
    except (RequestFailed, OSError, KeyError, TypeError, ValueError) as exc:
        return 503, f"not ready: the supervisor did not answer: {exc}\n"
    if lines:
        return 503, "".join(f"{line}\n" for line in lines)
    return 200, f"ready: every bot that should run runs ({count} registered)\n"


def application(home: Home, metrics: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """The WSGI app: the health paths here, anything else to prometheus_client's app (which
    served every path before these existed)."""
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "").rstrip("/")  # /livez/ too: never metrics' 200
        if path not in HEALTH_PATHS:
            return metrics(environ, start_response)
        code, text = live(home) if path == "/livez" else ready(home)
        body = text.encode("utf-8", errors="replace")
        start_response("200 OK" if code == 200 else "503 Service Unavailable",
                       [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                        ("Cache-Control", "no-store")])
        return [body] if environ.get("REQUEST_METHOD") != "HEAD" else []
    return app


class _Server(WSGIServer):
    """One daemon thread per request (a probe left waiting never keeps the process alive), at
    most ``MAX_CLIENTS`` at once. When every slot is taken, the connection that has waited
    longest without a whole request is let go for the new one: silent or slow clients (a
    scanner, a pool of idle keep-alives, a slowloris) cannot keep a probe out, and the threads
    stay bounded (at most twice ``MAX_CLIENTS`` while the evicted ones end)."""

    # The kernel's queue of connections not yet accepted: socketserver's 5 made a burst of
    # connects wait a second for the SYN to be sent again.
    request_queue_size = 128

    def server_activate(self) -> None:
        super().server_activate()
        self._lock = threading.Lock()
        self._active = 0
        self._reading: dict[Any, None] = {}  # connections without a whole request, oldest first

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            if self._active >= MAX_CLIENTS and not self._evict_oldest():
                self.shutdown_request(request)
                return
            self._active += 1
            self._reading[request] = None
        threading.Thread(target=self._serve_one, args=(request, client_address), daemon=True).start()

    def _evict_oldest(self) -> bool:
        """Shut the oldest connection still sending its request (its thread's read ends at
        once); False when none is (every slot answers a request) or too many are ending."""
        if not self._reading or self._active >= 2 * MAX_CLIENTS:
            return False
        oldest = next(iter(self._reading))
        del self._reading[oldest]
        try:
            oldest.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return True

    def request_read(self, request: Any) -> None:
        """The handler has a whole request line and headers: no longer evictable."""
        with self._lock:
            self._reading.pop(request, None)

    def _serve_one(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001,S110 - a broken client must not print a traceback per probe
            pass
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._reading.pop(request, None)
                self._active -= 1


class _Quiet(WSGIRequestHandler):
    timeout = CLIENT_TIMEOUT_S

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        if parsed and isinstance(self.server, _Server):
            self.server.request_read(self.connection)
        return parsed

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Probes every few seconds would flood the supervisor's log."""


def listen(host: str, port: int, app: Callable[..., Iterable[bytes]]) -> WSGIServer:
    """Serve ``app`` on (host, port) from a daemon thread; raises OSError."""
    family, _, _, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                   flags=socket.AI_PASSIVE)[0]
    server_class: type[_Server] = type("Listener", (_Server,), {"address_family": family})
    server: WSGIServer = make_server(str(sockaddr[0]), port, app, server_class, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
