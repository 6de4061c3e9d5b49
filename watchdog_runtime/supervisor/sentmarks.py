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

On a full disk the line cannot be written, and a supervisor killed then would signal those
processes again (``make chaos`` saw it once in three runs). So a mark that cannot be
appended is made an empty file instead, named like the line, in the folder beside
(``sigterms.d``, made before the first signal of every stop): an empty file needs an inode
and a name in a folder that exists, not a data block, so it is made when no byte can be
written.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from ..common.durable import atomic_write_bytes, open_regular, read_regular
from .identity import ProcessIdentity

MAX_BYTES = 1 << 20
MAX_SPARE_MARKS = 4096
"""At most this many marks are read from the folder (a stop marks a few dozen processes)."""


def prepare(path: Path) -> None:
    """Make the folder of full-disk marks beside ``path`` while there is room (before a stop
    signals anyone); kept between stops, so a stop on a full disk finds it there."""
    with contextlib.suppress(OSError):
        os.mkdir(_spare(path), 0o700)


def note(path: Path, sent: Iterable[ProcessIdentity]) -> None:
    """Append ``sent`` (just signalled) in one write; on a full disk, an empty file per
    process in the folder beside. Raises ``OSError`` when neither can be done. The write
    starts with a newline: a line torn by a full disk ends there, alone."""
    idents = list(sent)
    data = "".join(_line(ident) for ident in idents).encode()
    if not data:
        return
    fd = open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        whole = os.write(fd, b"\n" + data) == len(data) + 1
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        whole = False
    finally:
        os.close(fd)
    if not whole:  # the disk is full (a short write tore the line: the marks go as names too)
        _note_as_names(path, idents)


def _note_as_names(path: Path, idents: list[ProcessIdentity]) -> None:
    """The full-disk marks: an empty file per process, named like its line (no data block)."""
    folder = _open_spare(path)
    try:
        for ident in idents:
            name = _line(ident).strip().replace(" ", "_")
            with contextlib.suppress(FileExistsError):
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                                 dir_fd=folder))
    finally:
        os.close(folder)


def _spare(path: Path) -> Path:
    return path.with_name(path.name + ".d")


def _open_spare(path: Path) -> int:
    """The folder of full-disk marks, opened only if it is a real folder (never a symlink a
    bot put in its place); raises ``OSError`` otherwise."""
    fd = os.open(_spare(path), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    if not stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{_spare(path)}: not a folder")
    return fd


def _spare_marks(path: Path) -> dict[str, ProcessIdentity]:
    """The full-disk marks (file name to process); none when the folder is missing."""
    try:
        folder = _open_spare(path)
    except OSError:
        return {}
    try:
        with os.scandir(folder) as entries:  # bounded: a bot may fill its own run folder
            names = [entry.name for entry in itertools.islice(entries, MAX_SPARE_MARKS)]
    finally:
        os.close(folder)
    return {name: ident for name in names if (ident := _parse(name.replace("_", " "))) is not None}


def read(path: Path) -> list[ProcessIdentity]:
    """The processes marked; none when the file is missing, unreadable or no regular file.
    At most ``MAX_BYTES`` are read (a stop notes a line per process, a few dozen bytes)."""
    try:
        text = read_regular(path, MAX_BYTES).decode(errors="replace")
    except OSError:
        text = ""
    found = [ident for line in text.splitlines() if (ident := _parse(line)) is not None]
    found += _spare_marks(path).values()
    return list(dict.fromkeys(found))  # each once, however often a line repeats


def prune(path: Path, alive: Callable[[ProcessIdentity], bool]) -> None:
    """Keep the marks of processes still alive; remove the file when none is left."""
    _prune_spare(path, alive)
    marks = read(path)
    left = [ident for ident in marks if alive(ident)]
    with contextlib.suppress(OSError):  # a mark kept too long spares nobody: pids are checked
        if not left and not path.is_dir():  # a folder in its place is not ours to remove
            path.unlink(missing_ok=True)
        elif len(left) < len(marks):
            atomic_write_bytes(path, "".join(_line(ident) for ident in left).encode())


def _prune_spare(path: Path, alive: Callable[[ProcessIdentity], bool]) -> None:
    """Remove the full-disk marks of processes that are gone (the folder stays)."""
    dead = [name for name, ident in _spare_marks(path).items() if not alive(ident)]
    if not dead:
        return
    with contextlib.suppress(OSError):
        folder = _open_spare(path)
        try:
            for name in dead:
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=folder)
        finally:
            os.close(folder)


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
