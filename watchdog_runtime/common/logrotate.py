"""Size-based rotation of a log that a process writes through a file descriptor, done by
that process itself, so the writer never stops and never depends on anyone. Stdlib only:
the bootstrap runs it in every bot (for its stdout and stderr) and the supervisor for its
own log.

Rotating ``stdout.log`` renames it to ``stdout.log.1`` (older copies move up one, beyond
``backups`` they are deleted), opens a fresh ``stdout.log`` and puts it in place of the
descriptor with ``dup2``, which is atomic: every write lands whole in the old file or the
new one. The check is a ``stat`` every second, every 0.1 s while the log grows fast, so a
file may pass ``max_bytes`` by what is written in one interval; after each rotation the
oldest copies are deleted until the copies together hold at most ``max_bytes * backups``;
when the newest copy alone is larger (a burst written faster than the checks), it is cut to
its newest part, with a note at the top saying so. The total then stays within
``max_bytes * (backups + 1)`` plus what is written in one check interval.

Processes the writer started before a rotation keep their own descriptor, and so write to
the renamed file, and to a deleted one once it is pruned. So a copy is emptied before it is
deleted or cut (its space is freed even while another process holds it open), and the
files a rotation left behind are watched for growth and bounded (``logheld``).
"""

from __future__ import annotations

import _thread
import fcntl
import os
import stat
import threading

from .logheld import Retired

TYPE_CHECKING = False  # not typing's: every bot imports this module at start
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any, TextIO, TypeAlias

    Where: TypeAlias = str | os.PathLike[str]

MAX_BYTES_ENV = "WDBOT_LOG_MAX_BYTES"
BACKUPS_ENV = "WDBOT_LOG_BACKUPS"


class RotationPolicy:
    """When to rotate, and how many old copies to keep (``[logs]`` in ``config.toml``).

    A plain immutable class rather than a dataclass, and paths as ``os.PathLike`` rather than
    pathlib: every bot imports this before its first line, where milliseconds count.
    """

    __slots__ = ("max_bytes", "backups", "interval_s", "busy_interval_s")
    max_bytes: int
    backups: int
    interval_s: float
    """Between size checks of a quiet log (an idle bot pays a few microseconds a second)."""
    busy_interval_s: float
    """Between checks while a log grows by more than a tenth of ``max_bytes`` per interval."""

    def __init__(self, max_bytes: int = 10 * 1024 * 1024, backups: int = 5, interval_s: float = 1.0,
                 busy_interval_s: float = 0.1) -> None:
        for name, value in (("max_bytes", max_bytes), ("backups", backups), ("interval_s", interval_s),
                            ("busy_interval_s", busy_interval_s)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("RotationPolicy is immutable")

    def _key(self) -> tuple[int, int, float, float]:
        return (self.max_bytes, self.backups, self.interval_s, self.busy_interval_s)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RotationPolicy) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"RotationPolicy(max_bytes={self.max_bytes}, backups={self.backups}, "
                f"interval_s={self.interval_s}, busy_interval_s={self.busy_interval_s})")

    def to_env(self) -> dict[str, str]:
        return {MAX_BYTES_ENV: str(self.max_bytes), BACKUPS_ENV: str(self.backups)}

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str]) -> RotationPolicy:
        """The policy the supervisor passed, the defaults for anything missing or odd.

        >>> RotationPolicy.from_env({"WDBOT_LOG_MAX_BYTES": "1048576", "WDBOT_LOG_BACKUPS": "x"})
        RotationPolicy(max_bytes=1048576, backups=5, interval_s=1.0, busy_interval_s=0.1)
        """
        default = cls()
        return cls(max_bytes=_positive(env.get(MAX_BYTES_ENV), default.max_bytes),
                   backups=_positive(env.get(BACKUPS_ENV), default.backups))


def _positive(text: str | None, fallback: int) -> int:
    try:
        value = int(text or "")
    except ValueError:
        return fallback
    return value if value > 0 else fallback


def backup(path: Where, n: int) -> Path:
    """``stdout.log.N`` beside ``path`` (a Path when given a Path, else a string)."""
    name = f"{os.fspath(path)}.{n}"
    return type(path)(name) if not isinstance(path, str) else name  # type: ignore[return-value,call-arg]


def rotate_if_due(path: Where, fds: tuple[int, ...], policy: RotationPolicy,
                  retired: Retired | None = None, others: bool = False) -> bool:
    """Rotate ``path`` when it reached ``max_bytes``, moving those of ``fds`` that write to it
    (stdout and stderr may share one file) to the fresh file, and with ``others`` every other
    descriptor of this process open for writing on it; the file left behind is handed to
    ``retired``, to be bounded if someone else still writes to it."""
    try:
        on_disk = os.stat(path)
    except OSError:
        return False  # the file is gone: nothing of ours to rotate
    ours = [fd for fd in fds if _same_file(fd, on_disk)]
    if not ours or on_disk.st_size < policy.max_bytes:
        return False  # not (or no longer) the file these descriptors write to, or not due
    # The process's other writers of the file move too (a duplicate of stdout that a log
    # setup made): left on the copy, their lines would be emptied away with it, unseen.
    if others:
        ours += _other_writers(on_disk, {*ours, *(retired.fds() if retired is not None else ())})
    _shift(path, policy)
    fresh = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    if retired is not None:
        try:
            retired.keep(os.dup(ours[0]))  # before dup2: the last descriptor of the old file
        except OSError:
            pass  # out of descriptors: the move to the fresh file matters more
    try:
        for fd in ours:
            os.dup2(fresh, fd)
    finally:
        os.close(fresh)
    prune(path, policy)
    return True


def _other_writers(on_disk: os.stat_result, skip: set[int]) -> list[int]:
    """This process's descriptors, beyond ``skip``, open for writing on the file ``on_disk``
    (none where ``/proc/self/fd`` cannot be listed)."""
    try:
        numbers = [int(n) for n in os.listdir("/proc/self/fd")]
    except (OSError, ValueError):
        return []
    found = []
    for fd in numbers:
        if fd in skip or not _same_file(fd, on_disk):
            continue
        try:
            writable = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor among them)
        if writable:
            found.append(fd)
    return found


def _same_file(fd: int, on_disk: os.stat_result) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), on_disk)
    except OSError:
        return False  # a closed descriptor


def rotate_file(path: Where, policy: RotationPolicy) -> bool:
    """Rotate ``path`` if it reached ``max_bytes`` and nobody writes to it (before a start).

    >>> import tempfile
    >>> from pathlib import Path
    >>> log = Path(tempfile.mkdtemp()) / "stdout.log"
    >>> _ = log.write_bytes(b"x" * 2048)
    >>> rotate_file(log, RotationPolicy(max_bytes=1024, backups=2)), log.exists(), backup(log, 1).exists()
    (True, False, True)
    """
    if _size(path) < policy.max_bytes:
        return False
    _shift(path, policy)
    prune(path, policy)
    return True


def _shift(path: Where, policy: RotationPolicy) -> None:
    for n in range(policy.backups - 1, 0, -1):
        if os.path.exists(backup(path, n)):
            _discard(backup(path, n + 1))  # os.replace would delete it, unemptied
            os.replace(backup(path, n), backup(path, n + 1))
    _discard(backup(path, 1))  # only there when backups is 1
    os.replace(path, backup(path, 1))


def _discard(path: Where) -> None:
    """Empty, then delete: a process that still holds the file open would otherwise keep its
    space, invisible to ``ls`` and ``du``, for as long as it runs."""
    _empty(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _empty(path: Where) -> None:
    """Truncate ``path`` to nothing if it is a regular file: never through a symlink (a bot
    could point one of its copies at a file of the supervisor's user), never blocking on a
    FIFO; a file that is gone or not ours is left to ``unlink``."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.ftruncate(fd, 0)
    except OSError:
        pass
    finally:
        os.close(fd)


def prune(path: Where, policy: RotationPolicy) -> None:
    """Delete copies beyond ``backups``, then the oldest until they fit ``max_bytes * backups``
    (the newest copy is always kept, however large)."""
    n = policy.backups + 1
    while os.path.exists(backup(path, n)):
        _discard(backup(path, n))
        n += 1
    copies = [backup(path, i) for i in range(1, policy.backups + 1) if os.path.exists(backup(path, i))]
    total = sum(_size(c) for c in copies)
    budget = policy.max_bytes * policy.backups
    while len(copies) > 1 and total > budget:  # the newest copy goes last
        oldest = copies.pop()
        total -= _size(oldest)
        _discard(oldest)
    if copies and total > max(budget, 2 * policy.max_bytes):
        # A burst written faster than the checks (a tight error loop): keep its newest part.
        # (Twice max_bytes at least: one copy may overshoot by a check interval's writing.)
        cut_to_newest(copies[0], budget)


CUT_NOTE = "[wdbot: {0} bytes written faster than the log rotation were cut here; the newest {1} kept]\n"


def cut_to_newest(path: Where, keep_bytes: int) -> None:
    """Replace ``path`` with a note and its last ``keep_bytes`` bytes (from a line start),
    through a temporary file and an atomic rename: never a torn copy."""
    size = _size(path)
    tmp = f"{os.fspath(path)}.cut"
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        src.seek(max(0, size - keep_bytes))
        first = src.readline() if size > keep_bytes else b""  # a partial line: drop it
        start = max(0, size - keep_bytes) + len(first)
        dst.write(CUT_NOTE.format(start, size - start).encode())
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            dst.write(chunk)
    os.chmod(tmp, 0o600)
    _empty(path)  # the old file's space is freed even while someone holds it open
    os.replace(tmp, path)


def _size(path: Where) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


class Nudge:
    """Cuts short a quiet wait of the watch (``start`` with ``quiet_s``) when its own process
    writes the file (called by :class:`NudgedStream` after each write). A line after a long
    quiet is then checked at once, so the waits between the checks of a log that does not
    grow can be long; a line while the watch checks often costs one attribute test."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.listening = False
        """The watch is in a quiet wait: the next line ends it."""

    def __call__(self) -> None:
        if self.listening:
            self.listening = False
            self.event.set()


class NudgedStream:
    """A text stream that calls ``nudge`` after each write to ``stream``: the supervisor's
    ``sys.stderr`` and its log handler's stream, so its log records, warnings, tracebacks of
    threads and unraisable exceptions all end the own-log watch's quiet wait (issue 29)."""

    def __init__(self, stream: TextIO, nudge: Nudge) -> None:
        self.stream = stream
        self._nudge = nudge

    def write(self, text: str) -> int:
        written = self.stream.write(text)
        self._nudge()  # after the write: the check the nudge brings must see it
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)  # flush, fileno, isatty, encoding...


def start(files: Sequence[tuple[Where, tuple[int, ...]]], policy: RotationPolicy,
          quiet_s: float | None = None, nudge: Nudge | None = None) -> None:
    """Watch ``(path, fds)`` pairs in a thread that lives as long as the process.
    With ``quiet_s`` (the supervisor's own log), the checks of files that did not grow at all
    space out, doubling up to ``quiet_s``; a file that grew brings back ``interval_s``, and
    ``nudge`` (called at each write of the process itself) ends a wait longer than it at
    once. What others write to the file (a child with our stderr) waits for a check, so a
    burst from them after a long quiet may pass ``max_bytes`` by what ``quiet_s`` lets through."""
    wake = nudge.event if nudge is not None else threading.Event()  # never set without a nudge

    def watch() -> None:
        sizes = {path: _size(path) for path, _ in files}
        left = {path: Retired(policy.max_bytes) for path, _ in files}
        interval = policy.interval_s
        while True:
            if nudge is not None:
                nudge.listening = interval > policy.interval_s
            wake.wait(interval)
            wake.clear()
            busy = grew = False
            for path, fds in files:
                try:
                    rotated = rotate_if_due(path, fds, policy, left[path], others=True)
                except OSError:
                    rotated = False  # a full disk or a vanished folder: the writer goes on
                size = _size(path)
                busy = left[path].tend() or busy or rotated or size - sizes[path] > policy.max_bytes / 10
                grew = grew or size != sizes[path]
                sizes[path] = size
            interval = _next_interval(interval, policy, busy, grew, quiet_s)

    # A bare thread, as a daemon one is at the exit: ``Thread.start()`` waits until the new
    # thread has run, which a busy machine makes milliseconds of every start (issue 29).
    _thread.start_new_thread(watch, ())


def _next_interval(interval: float, policy: RotationPolicy, busy: bool, grew: bool,
                   quiet_s: float | None) -> float:
    """The wait before the next check.

    >>> p = RotationPolicy(interval_s=1.0, busy_interval_s=0.1)
    >>> _next_interval(1.0, p, False, False, 8.0), _next_interval(8.0, p, False, False, 8.0)
    (2.0, 8.0)
    >>> _next_interval(8.0, p, False, True, 8.0), _next_interval(8.0, p, True, True, 8.0)
    (1.0, 0.1)
    >>> _next_interval(1.0, p, False, False, None)
    1.0
    """
    if busy:
        return policy.busy_interval_s
    if grew or quiet_s is None:
        return policy.interval_s
    return min(max(interval, policy.interval_s) * 2, max(quiet_s, policy.interval_s))


def empty_all(path: Where) -> int:
    """``wdbot flush``: empty ``path`` and its rotated copies in place (truncated, never
    unlinked: the bot's descriptors, opened with ``O_APPEND``, go on writing at the new end,
    and a reader following the file starts it again). Returns the bytes freed."""
    freed = 0
    copies = [path]
    n = 1
    while os.path.lexists(backup(path, n)):
        copies.append(backup(path, n))
        n += 1
    for one in copies:
        try:
            size = os.lstat(one).st_size if stat.S_ISREG(os.lstat(one).st_mode) else 0
        except OSError:
            continue
        _empty(one)
        freed += size
    return freed
