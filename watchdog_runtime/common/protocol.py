"""The wire between the supervisor and its clients, for both ends of a socket: a request
line's size bound and its parsing (the server's side of ``control``), and the one-line
handshake a launched supervisor sends back once it listens. Stdlib only."""

from __future__ import annotations

import json
from typing import Any

MAX_REQUEST_BYTES = 64 * 1024
READY = b"ready\n"
"""The launched supervisor listens."""
BUSY = b"busy\n"
"""Another supervisor holds the home."""


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
