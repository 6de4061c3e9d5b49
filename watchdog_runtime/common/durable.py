"""Atomic, durable file writes. Stdlib only: the bot SDK uses this module too.

A kill at any instant leaves either the previous or the new content, never a torn file:
the data goes to a temporary file in the same folder, is flushed and fsynced, replaces the
target with ``os.replace`` (atomic on POSIX), and the folder itself is fsynced so the rename
survives a power cut.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


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
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
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
