"""Noticing a registry file that someone else changed: a hand edit with a stray comma, a bad
restore, a deleted file. The supervisor is the file's only writer, so a file that differs from
what it last wrote or read (inode, size, times) was changed by a person; it is read again,
never overwritten while it cannot be read (``registry.Unreadable``).
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import registry
from ..common.leandataclass import dataclass

Signature = tuple[int, int, int, int]


def signature(path: Path) -> Signature | None:
    """What tells one content of ``path`` from another without reading it; None if absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass
class RegistryGuard:
    """The registry file as the supervisor last saw it."""

    path: Path
    seen: Signature | None = None

    def written(self) -> None:
        """The supervisor has just written (or read) the file: this is its content now."""
        self.seen = signature(self.path)

    def look(self) -> registry.Registry | registry.Unreadable | None:
        """The file read again if it changed since it was last seen, else None."""
        now = signature(self.path)
        if now == self.seen:
            return None
        self.seen = now
        return registry.read(self.path)
