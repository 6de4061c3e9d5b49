"""Which processes of a bot have had their SIGTERM: one line each in an append-only file,
written the moment the signal is out.

A second SIGTERM means "exit now" to many programs (the SDK's graceful shutdown among them),
so a supervisor that finishes a stop begun by one that was killed must know whom that one
signalled. The registry cannot say it in time: its write takes milliseconds, and a
supervisor killed in between left the process unmarked and signalled twice (``make chaos``
hit that window three times in four). One ``write`` of a line right after the ``kill``
narrows it to microseconds. No ``fsync``: a supervisor killed with ``kill -9`` loses
nothing the kernel already has, and after a power loss the processes are gone anyway.

A line is ``pid start_ticks boot_id create_time``; a torn or foreign line is skipped (it
marks nobody), and the file is pruned to the processes still alive when a stop is over.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from ..common.durable import atomic_write_bytes, open_regular, read_regular
from .identity import ProcessIdentity

MAX_BYTES = 1 << 20


def note(path: Path, sent: Iterable[ProcessIdentity]) -> None:
    """Append ``sent`` (just signalled) in one write; raises ``OSError`` (a full disk).
    The write starts with a newline: a line torn by a full disk ends there, alone."""
    data = "".join(_line(ident) for ident in sent).encode()
    if not data:
        return
    data = b"\n" + data
    fd = open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read(path: Path) -> list[ProcessIdentity]:
    """The processes marked; none when the file is missing, unreadable or no regular file.
    At most ``MAX_BYTES`` are read (a stop notes a line per process, a few dozen bytes)."""
    try:
        text = read_regular(path, MAX_BYTES).decode(errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        ident = _parse(line)
        if ident is not None:
            found.append(ident)
    return list(dict.fromkeys(found))  # each once, however often a line repeats


def prune(path: Path, alive: Callable[[ProcessIdentity], bool]) -> None:
    """Keep the marks of processes still alive; remove the file when none is left."""
    marks = read(path)
    left = [ident for ident in marks if alive(ident)]
    with contextlib.suppress(OSError):  # a mark kept too long spares nobody: pids are checked
        if not left and not path.is_dir():  # a folder in its place is not ours to remove
            path.unlink(missing_ok=True)
        elif len(left) < len(marks):
            atomic_write_bytes(path, "".join(_line(ident) for ident in left).encode())


def _line(ident: ProcessIdentity) -> str:
    return f"{ident.pid} {ident.start_ticks if ident.start_ticks is not None else '-'} " \
           f"{ident.boot_id or '-'} {ident.create_time!r}\n"


def _parse(line: str) -> ProcessIdentity | None:
    words = line.split()
    if len(words) != 4:
        return None
    pid, ticks, boot, created = words
    try:
        ident = ProcessIdentity(int(pid), float(created), None if ticks == "-" else int(ticks),
                                None if boot == "-" else boot)
    except ValueError:
        return None
    return ident if ident.pid > 0 else None
