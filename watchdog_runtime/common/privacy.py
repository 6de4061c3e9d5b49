"""Everything in the home is private to its owner: files 0600, folders 0700.

The supervisor runs with umask 077, so whatever it creates (its log, events, the registry,
the bots' logs, the venvs uv builds, run records) and whatever its bots create is private
from the first byte; the files a command creates (``spawn.lock``, ``supervisor.log``, the
secret store) are opened with an explicit mode. A home made more open by hand or by an
older version is tightened when the supervisor starts, and the log says so once.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .home import HomeError

UMASK = 0o077


def private_umask() -> int:
    """From now on this process (and its children) create private files; the old umask."""
    return os.umask(UMASK)


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_APPEND | os.O_CREAT) -> int:
    """``os.open`` with mode 0600: a file created here is never readable by others."""
    return os.open(path, flags, 0o600)


def tighten(root: Path) -> str | None:
    """Make ``root`` (0700) and what lies directly in it (files 0600, folders 0700) private;
    one sentence saying what was changed, or None when all was private already. A shared
    folder (someone else's, or sticky like ``/tmp``) is refused: it cannot be a home."""
    st = root.stat()
    if st.st_uid != os.getuid() or st.st_mode & stat.S_ISVTX:
        raise HomeError(f"home {root} is a shared folder (not yours alone); set WDBOT_HOME to a "
                        f"folder of your own")
    opened = _tighten_one(root, st)
    inside = sum(_tighten_one(Path(e.path), e.stat(follow_symlinks=False))
                 for e in os.scandir(root) if not e.is_symlink())
    if not opened and not inside:
        return None
    head = (f"home {root} was open to others (mode {stat.S_IMODE(st.st_mode):o}): made private (0700)"
            if opened else f"home {root}: made private")
    return f"{head}; {inside} entries in it made 0600/0700" if inside else head


def _tighten_one(path: Path, st: os.stat_result) -> bool:
    """chmod one file or folder to its owner's bits alone; True when it was more open."""
    if not stat.S_IMODE(st.st_mode) & 0o077 or not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        return False
    os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
    return True
