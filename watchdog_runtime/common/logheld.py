"""Files a log rotation moved the writer away from, watched for other writers. Stdlib only:
the bootstrap's rotation thread runs it in every bot.

A process the bot started before a rotation (a ``subprocess`` or ``multiprocessing`` child
that inherited stdout) keeps its own descriptor, so it goes on writing to the renamed copy,
and, once the copy is pruned, to a deleted file that neither ``ls`` nor ``du`` shows. The
rotation keeps a descriptor of each file it moved away from (the bot no longer writes
there, so any growth is another process's) and bounds it: a deleted file that grows is
emptied at once (nobody can read it), a visible copy that grows past ``max_bytes`` is
emptied with a note saying so. Kept: the last few such files, those that grew first.
"""

from __future__ import annotations

import os

HELD_MAX = 4
"""Descriptors kept per log when no helper holds them: the rest are dropped, quiet ones first."""
HELD_HARD_MAX = 64
"""Descriptors kept per log at most, files a helper of the bot still holds included."""

NOTE = ("[wdbot: {0} bytes that a process still holding this rotated copy wrote were dropped, "
        "to keep the log within its budget]\n")


class _Held:
    __slots__ = ("fd", "size", "grew")

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.size, self.grew = fd, size, False


class Retired:
    """The files one log's rotations left behind, by descriptor."""

    def __init__(self, max_bytes: int, limit: int = HELD_MAX, hard_limit: int = HELD_HARD_MAX) -> None:
        self.max_bytes = max_bytes
        self.limit = limit
        self.hard_limit = hard_limit
        self.held: list[_Held] = []

    def keep(self, fd: int) -> None:
        """Watch ``fd`` (our own duplicate, closed here in time), the file just rotated away."""
        try:
            size = os.fstat(fd).st_size
        except OSError:
            os.close(fd)
            return
        self.held.append(_Held(fd, size))
        if len(self.held) > self.limit:
            self._drop_one()

    def _drop_one(self) -> None:
        # Never a file a helper of the bot still holds, grown or not: a helper quiet while
        # the bot's own output rotated the log several times writes there later, unbounded.
        # Of the others, one that never grew first.
        used = _open_by_descendants()
        free = [h for h in self.held if _key(h.fd) not in used]
        if not free and len(self.held) <= self.hard_limit:
            return
        victim = next((h for h in free if not h.grew), free[0] if free else self.held[0])
        self.held.remove(victim)
        os.close(victim.fd)

    def fds(self) -> set[int]:
        """The descriptors held (ours: never to be moved to a fresh file)."""
        return {held.fd for held in self.held}

    def tend(self) -> bool:
        """Bound every held file that grew since the last look; True when one did."""
        grew = False
        for held in self.held:
            try:
                grew = self._tend_one(held) or grew
            except OSError:
                continue  # a full disk: try again next time
        return grew

    def _tend_one(self, held: _Held) -> bool:
        info = os.fstat(held.fd)
        if info.st_size <= held.size:
            held.size = info.st_size
            return False
        held.grew = True
        if info.st_nlink == 0:
            os.ftruncate(held.fd, 0)  # deleted: unreadable, so only its space is left to free
        elif info.st_size > self.max_bytes:
            os.ftruncate(held.fd, 0)
            os.write(held.fd, NOTE.format(info.st_size).encode())  # the descriptor appends
        held.size = os.fstat(held.fd).st_size
        return True

    def close(self) -> None:
        for held in self.held:
            os.close(held.fd)
        self.held = []


def _key(fd: int) -> tuple[int, int]:
    try:
        info = os.fstat(fd)
    except OSError:
        return (-1, -1)
    return (info.st_dev, info.st_ino)


def _open_by_descendants() -> set[tuple[int, int]]:
    """(device, inode) of every file a descendant of this process has open (``/proc``; an
    empty set where it cannot be read)."""
    found: set[tuple[int, int]] = set()
    for pid in _descendants(os.getpid()):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # gone, or not ours to read
        for fd in fds:
            try:
                info = os.stat(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            found.add((info.st_dev, info.st_ino))
    return found


def _descendants(root: int) -> list[int]:
    """Every process under ``root`` (``/proc/PID/task/TID/children``)."""
    found: list[int] = []
    stack = [root]
    while stack:
        parent = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{parent}/task/{tid}/children") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except (OSError, ValueError):
                continue
            found += kids
            stack += kids
    return found
