"""The control protocol: one JSON request line, one JSON reply line, over the home's Unix
socket. The client half lives here too; it needs only the standard library."""

from __future__ import annotations

import json
import socket
from typing import Any

from .home import Home

MAX_REQUEST_BYTES = 64 * 1024
MAX_REPLY_BYTES = 16 * 1024 * 1024


class NoSupervisor(Exception):
    """No supervisor listens on this home's socket."""


class RequestFailed(Exception):
    """The supervisor refused or failed a request; ``usage`` marks a user mistake."""

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


def encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def parse_request(line: bytes) -> tuple[str, dict[str, Any]]:
    """``(op, args)`` from one request line; ValueError with a reason when malformed."""
    try:
        doc = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("request is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("op"), str):
        raise ValueError('request must be an object with a string "op"')
    args = doc.get("args", {})
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise ValueError('"args" must be an object')
    return doc["op"], args


def request(home: Home, op: str, timeout_s: float = 30.0, **args: Any) -> Any:
    """Send one request and return its result; raise NoSupervisor or RequestFailed."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        try:
            sock.connect(str(home.socket))
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            raise NoSupervisor(str(home.root)) from None
        sock.sendall(encode({"op": op, "args": args}))
        reply = _read_line(sock)
    except TimeoutError:
        raise RequestFailed(f"the supervisor did not answer '{op}' within {timeout_s:.0f} s") from None
    finally:
        sock.close()
    if reply.get("ok"):
        return reply.get("result")
    raise RequestFailed(str(reply.get("error", "unknown error")), bool(reply.get("usage")))


def _read_line(sock: socket.socket) -> dict[str, Any]:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n") or size > MAX_REPLY_BYTES:
            break
    data = b"".join(chunks)
    if not data:
        raise RequestFailed("the supervisor closed the connection without answering")
    reply = json.loads(data)
    if not isinstance(reply, dict):
        raise RequestFailed("the supervisor sent a malformed reply")
    return reply


def is_running(home: Home) -> bool:
    try:
        request(home, "ping", timeout_s=5.0)
    except NoSupervisor:
        return False
    except RequestFailed:
        return True  # something answers: a supervisor, busy or old
    return True
