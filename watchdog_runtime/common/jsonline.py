"""One JSON line each way over a Unix stream socket: the client half shared by the control
socket (the CLI) and the secrets socket (``wd.connection`` in bots). Stdlib only."""

from __future__ import annotations

import json
import socket
from typing import Any

MAX_REPLY_BYTES = 16 * 1024 * 1024


def encode(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def exchange(path: str, message: Any, timeout_s: float) -> Any:
    """Send ``message`` and return the decoded reply line.

    Connecting raises what ``connect`` raises (FileNotFoundError, ConnectionRefusedError,
    ...); a silent peer raises TimeoutError; no reply or a line that is not JSON raises
    ValueError.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(path)
        sock.sendall(encode(message))
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
        raise ValueError("the connection closed without an answer")
    return json.loads(data)
