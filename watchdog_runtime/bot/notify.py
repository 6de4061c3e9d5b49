"""``wd.heartbeat()`` and the bot's other messages to its supervisor. Stdlib only.

Under wdbot a bot sends one-line datagrams to its supervisor's notify socket
(``WDBOT_NOTIFY_SOCKET``), tagged with its run id: ``heartbeat``, and from the bootstrap
``recovering`` and ``running``. A datagram never blocks the bot: when the supervisor is gone
(restarting, say) or its buffer is full, the message is dropped, and the next one counts.

Where ``NOTIFY_SOCKET`` is set (a systemd service with ``Type=notify`` and ``WatchdogSec=``),
``heartbeat()`` also sends systemd's ``READY=1`` (the first time) and ``WATCHDOG=1``, so the
same bot runs under a systemd watchdog without wdbot. wdbot does not pass its own
``NOTIFY_SOCKET`` on to its bots.
"""

from __future__ import annotations

import os
import socket
import time

PROTOCOL = "wdbot1"
SOCKET_ENV = "WDBOT_NOTIFY_SOCKET"
MIN_INTERVAL_S = 0.25
"""Heartbeats closer together than this are coalesced, so calling it in a hot loop is cheap."""

_last_beat = float("-inf")
_sock: tuple[int, socket.socket] | None = None
_systemd_ready = False


def heartbeat() -> None:
    """Tell the supervisor (and systemd, if it watches) that the bot is alive and working.

    Call it from the loop that does the bot's work, not from a timer thread: a thread would
    keep beating while the loop is stuck. A bot started with ``--heartbeat-timeout S`` that
    stays silent longer than S seconds is restarted with reason ``hang``. Outside wdbot and
    systemd it does nothing.

    >>> heartbeat()  # outside wdbot: a no-op
    """
    global _last_beat, _systemd_ready
    now = time.monotonic()
    if now - _last_beat < MIN_INTERVAL_S:
        return
    _last_beat = now
    send("heartbeat")
    systemd_address = os.environ.get("NOTIFY_SOCKET")
    if systemd_address:
        _send_to(systemd_address, b"WATCHDOG=1" if _systemd_ready else b"READY=1\nWATCHDOG=1")
        _systemd_ready = True


def send(kind: str, *, wait_s: float = 0.0) -> None:
    """Send one message (``heartbeat``, ``recovering``, ``running``) to the supervisor.

    ``wait_s`` > 0 waits that long for room in a full receive buffer (the bootstrap's phase
    messages, sent once each); heartbeats never wait: the next one will do.
    """
    address = os.environ.get(SOCKET_ENV)
    run_id = os.environ.get("WDBOT_RUN_ID")
    if address and run_id:
        _send_to(address, f"{PROTOCOL} {run_id} {kind}".encode(), wait_s)


def systemd(message: str) -> bool:
    """Send ``message`` (``READY=1``, ``WATCHDOG=1``, ``STOPPING=1``) to systemd when it
    watches this process (``NOTIFY_SOCKET``); False when it does not."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    _send_to(address, message.encode(), wait_s=1.0)
    return True


def parse(data: bytes) -> tuple[str, str] | None:
    """(run id, kind) of a message, or None for anything else (the supervisor's side).

    >>> parse(b"wdbot1 0f3a heartbeat")
    ('0f3a', 'heartbeat')
    >>> parse(b"READY=1") is None
    True
    """
    parts = data.decode("ascii", errors="replace").split()
    if len(parts) != 3 or parts[0] != PROTOCOL:
        return None
    return parts[1], parts[2]


def _send_to(address: str, data: bytes, wait_s: float = 0.0) -> None:
    target = "\0" + address[1:] if address.startswith("@") else address  # Linux abstract names
    sock = _socket()
    try:
        if wait_s > 0:
            sock.settimeout(wait_s)
        sock.sendto(data, target)
    except OSError:
        pass  # no listener (restarting), or its buffer is full: a heartbeat is never worth a stall
    finally:
        if wait_s > 0:
            sock.setblocking(False)


def _socket() -> socket.socket:
    """One non-blocking datagram socket per process (a forked child makes its own)."""
    global _sock
    if _sock is None or _sock[0] != os.getpid():
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        _sock = (os.getpid(), sock)
    return _sock[1]
