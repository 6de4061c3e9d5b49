"""The supervisor's end of the notify socket: bots' heartbeats and recovery progress.

One unix datagram socket per home (mode 0600). Its path is stable, so the bots of a
supervisor that died keep reaching the next one, which binds it again. Messages are parsed by
``notify.parse``; anything else is ignored, and nothing a bot sends can stall the supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from pathlib import Path

from ..bot.notes import MAX_MESSAGE_BYTES, parse_payload
from ..bot.notify import parse
from ..common.home import private_socket

log = logging.getLogger(__name__)

RECEIVE_BUFFER_BYTES = 1024 * 1024
"""Room for bursts: 50 bots beating 4 times a second fill a few KB per tick."""


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, deliver: Callable[..., None]) -> None:
        self.deliver = deliver

    def datagram_received(self, data: bytes, addr: object) -> None:
        # A note or figures (``wd.notify``, ``wd.report``) carries JSON after the kind.
        try:
            message: tuple[object, ...] | None = (parse_payload(data) if len(data) <= MAX_MESSAGE_BYTES
                                                  else None)
            if message is None:
                message = parse(data[:256])
            if message is not None:
                self.deliver(*message)
        except Exception:  # noqa: BLE001 - a bad message must not end the listener (asyncio closes it)
            log.exception("handling a bot message failed")

    def error_received(self, exc: Exception) -> None:
        log.warning("notify socket: %s", exc)


async def listen(path: Path, deliver: Callable[..., None]) -> asyncio.DatagramTransport:
    """Bind ``path`` (replacing a stale socket of a dead supervisor) and hand every
    well-formed message to ``deliver(run_id, kind)``, a note or figures to
    ``deliver(run_id, kind, payload)``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with private_socket(path):
        sock.bind(str(path))
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(deliver), sock=sock)
    return transport
