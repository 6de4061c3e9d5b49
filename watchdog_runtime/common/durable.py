"""Atomic, durable file writes. Stdlib only: the bot SDK uses this module too.

A kill at any instant leaves either the previous or the new content, never a torn file:
the data goes to a temporary file in the same folder, is flushed and fsynced, replaces the
target with ``os.replace`` (atomic on POSIX), and the folder itself is fsynced so the rename
survives a power cut.

The temporary file is made here, not with ``tempfile.mkstemp``: importing ``tempfile`` brings
``random`` (and with them ``shutil``) into every process that writes a file, the supervisor
included, for one random name (issue 29).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import IO, Any


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.json"
    >>> atomic_write_bytes(p, b"{}")
    >>> p.read_bytes()
    b'{}'
    """
    target = Path(path)
    folder = target.parent
    fd, tmp = make_temp(folder, target.name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        # The temporary file is ours alone; removing it keeps a failed write invisible.
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass  # already renamed or never created: nothing to clean
        raise
    fsync_dir(folder)


# mkstemp's flags: created here or not at all, never through a symlink, closed across exec.
_TEMP_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_TEMP_TRIES = 100  # mkstemp's TMP_MAX is 10000; a clash of 32 random bits even twice is news


def make_temp(folder: str | os.PathLike[str], name: str) -> tuple[int, str]:
    """A new empty file ``.NAME.XXXXXXXX.tmp`` in ``folder`` (8 random hex digits), created
    exclusively with mode 0o600 (as ``tempfile.mkstemp``): its descriptor (open for reading
    and writing) and its path. A name already taken (another writer's, or a killed writer's
    leftover) is never opened: another name is drawn.

    >>> import tempfile, pathlib, re, stat
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> fd, path = make_temp(folder, "state.json")
    >>> os.close(fd)
    >>> bool(re.fullmatch(r"\\.state\\.json\\.[0-9a-f]{8}\\.tmp", pathlib.Path(path).name))
    True
    >>> oct(stat.S_IMODE(os.stat(path).st_mode) & 0o077)
    '0o0'
    """
    for _ in range(_TEMP_TRIES):
        path = os.path.join(folder, f".{name}.{os.urandom(4).hex()}.tmp")
        try:
            return os.open(path, _TEMP_FLAGS, 0o600), path
        except FileExistsError:
            continue  # taken: draw another name, as mkstemp does
    raise FileExistsError(f"{folder}: no free temporary name for {name} after {_TEMP_TRIES} tries")


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, mode: int = 0o600) -> None:
    """Serialise ``obj`` as indented JSON and write it with :func:`atomic_write_bytes`."""
    data = json.dumps(obj, indent=2, sort_keys=True).encode() + b"\n"
    atomic_write_bytes(path, data, mode=mode)


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename or a new file in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some platforms refuse to open folders; the rename is still atomic there
    try:
        os.fsync(dfd)
    except OSError:
        pass  # fsync on a folder is unsupported on a few file systems; atomicity still holds
    finally:
        os.close(dfd)


def open_regular(path: str | os.PathLike[str], flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """Open ``path`` only if it is a regular file (not a symlink, FIFO, device or folder), and
    return the descriptor. For files a bot can replace, since it runs as the same user: a
    FIFO would block the supervisor in ``open``, and a symlink would point its writes (as
    root, perhaps) anywhere. Raises ``OSError`` otherwise."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The first ``max_bytes`` of the regular file ``path`` (:func:`open_regular`)."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        return read_bounded(fh, max_bytes)


GROWTH_BYTES = 64 * 1024


def read_bounded(fh: IO[bytes], max_bytes: int) -> bytes:
    """The rest of the open regular file ``fh``, at most ``max_bytes``, taking the memory of
    what is there rather than of the bound (``fh.read(n)`` takes ``n`` bytes first: a 1 MiB
    bound read at each bot's exit, issue 29's soak); a file still growing is read on, up to
    the bound."""
    room = max(0, os.fstat(fh.fileno()).st_size - fh.tell()) + GROWTH_BYTES
    data = fh.read(min(max_bytes, room))
    if len(data) == room < max_bytes:
        data += fh.read(max_bytes - room)
    return data
