"""The control protocol's client half: one JSON request line, one JSON reply line, over the
home's Unix socket (the server half parses with ``protocol``). Stdlib only."""

from __future__ import annotations

from typing import Any

from .home import Home
from .jsonline import exchange

__all__ = ["NoSupervisor", "RequestFailed", "is_running", "request"]

class NoSupervisor(Exception):
    """No supervisor listens on this home's socket."""


class RequestFailed(Exception):
    """The supervisor refused or failed a request; ``usage`` marks a user mistake."""

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


def request(home: Home, op: str, timeout_s: float = 30.0, **args: Any) -> Any:
    """Send one request and return its result; raise NoSupervisor or RequestFailed."""
    try:
        reply = exchange(str(home.socket), {"op": op, "args": args}, timeout_s)
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
        raise NoSupervisor(str(home.root)) from None
    except TimeoutError:
        raise RequestFailed(f"the supervisor did not answer '{op}' within {timeout_s:.0f} s") from None
    except (ValueError, ConnectionResetError, BrokenPipeError):
        # A supervisor exiting mid-request (a hand-over, a shutdown). Never let BrokenPipeError
        # through: main takes it for a reader that closed our stdout, and ends quietly with 0.
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
