"""The daemon's stdout and stderr under ``--tee-logs``: bounded queues of bytes, each
drained by a thread of its own with plain blocking writes, so whoever reads them (a log
collector, a terminal) can be slow or stuck without the supervisor or a bot ever waiting:
what does not fit is dropped and counted, and said once there is room.
"""

from __future__ import annotations

import logging
import os
import select
import sys
import threading
from collections import deque

OUTBOX_BYTES = 1024 * 1024


class Outbox:
    """A bounded queue of bytes in front of a descriptor, drained by its own thread."""

    def __init__(self, fd: int, max_bytes: int = OUTBOX_BYTES) -> None:
        self.fd = fd
        self.max_bytes = max_bytes
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._cond = threading.Condition()
        self.broken = False
        """The descriptor failed (its reader closed it): everything is dropped from then on."""
        self.queued = 0
        """Chunks taken so far (a sequence number: the last one queued)."""
        self.written = 0
        """Chunks written so far, in the order queued: all up to ``queued`` when equal."""
        self.thread = threading.Thread(target=self._drain, name="tee-writer", daemon=True)

    def start(self) -> None:
        if not self.thread.is_alive():
            self.thread.start()

    def flush(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until all queued is written; False if it was not."""
        with self._cond:
            return self._cond.wait_for(lambda: self._size == 0 or self.broken, timeout_s)

    def put(self, data: bytes) -> bool:
        """Queue ``data`` whole, or nothing (False: no room, or the descriptor is broken)."""
        with self._cond:
            if self.broken or self._size + len(data) > self.max_bytes:
                return False
            self._chunks.append(data)
            self._size += len(data)
            self.queued += 1
            self._cond.notify()
            return True

    def _drain(self) -> None:
        while True:
            with self._cond:
                while not self._chunks:
                    self._cond.wait()
                data, count = b"".join(self._chunks), len(self._chunks)
                self._chunks.clear()
            try:
                _write_all(self.fd, data)
            except OSError:
                with self._cond:
                    self.broken = True
                    self._chunks.clear()
                    self._size = 0
                return
            with self._cond:
                self._size -= len(data)
                self.written += count
                self._cond.notify_all()  # flush() may be waiting


def _write_all(fd: int, data: bytes) -> None:
    """Blocking writes (this thread only), also on a descriptor someone made non-blocking."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [], 1.0)


class OutboxStream:
    """A text stream for ``logging.StreamHandler`` over an :class:`Outbox`: the supervisor's
    own log lines, which never block it either (a log collector stuck on stdout is stuck on
    stderr too); lines without room are counted, and said once there is room."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.dropped = 0

    def write(self, text: str) -> int:
        if self.dropped and self.outbox.put(f"wdbot | {self.dropped} supervisor log line(s) dropped: "
                                            f"stderr was not read fast enough\n".encode()):
            self.dropped = 0
        if not self.outbox.put(text.encode("utf-8", "replace")):
            self.dropped += 1
        return len(text)

    def flush(self) -> None:
        """Nothing to do: the outbox's thread writes."""


def open_outputs() -> tuple[Outbox, Outbox]:
    """The outboxes of stdout (the bots' lines) and stderr (the supervisor's log, whose root
    handlers now write through it): one outbox when both are the same pipe or file, so the
    lines of both never interleave mid-line."""
    out = Outbox(1)
    try:
        same = os.path.samestat(os.fstat(1), os.fstat(2))
    except OSError:
        same = False
    err = out if same else Outbox(2)
    for outbox in (out, err):
        outbox.start()
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
            handler.setStream(OutboxStream(err))
    return out, err
