"""The control protocol: one JSON request line, one JSON reply line, over the home's Unix
socket. The client half lives here too; it needs only the standard library."""

from __future__ import annotations

import json
from typing import Any

from .home import Home
from .jsonline import encode, exchange

__all__ = ["MAX_REQUEST_BYTES", "NoSupervisor", "RequestFailed", "encode", "is_running",
           "parse_request", "request"]

MAX_REQUEST_BYTES = 64 * 1024


class NoSupervisor(Exception):
    """No supervisor listens on this home's socket."""


class RequestFailed(Exception):
    """The supervisor refused or failed a request; ``usage`` marks a user mistake."""

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


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
    try:
        reply = exchange(str(home.socket), {"op": op, "args": args}, timeout_s)
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
        raise NoSupervisor(str(home.root)) from None
    except TimeoutError:
        raise RequestFailed(f"the supervisor did not answer '{op}' within {timeout_s:.0f} s") from None
    except ValueError:
        raise RequestFailed("the supervisor closed the connection without answering") from None
    if not isinstance(reply, dict):
        raise RequestFailed("the supervisor sent a malformed reply")
    if reply.get("ok"):
        return reply.get("result")
    raise RequestFailed(str(reply.get("error", "unknown error")), bool(reply.get("usage")))


def is_running(home: Home) -> bool:
    try:
        request(home, "ping", timeout_s=5.0)
    except NoSupervisor:
        return False
    except RequestFailed:
        return True  # something answers: a supervisor, busy or old
    return True
