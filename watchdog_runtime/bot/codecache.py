"""The bot file's entry plan (``entry``), compiled, cached by the file's identity (issue 29).

Every start used to read, parse and compile the bot's file, and analyse it for ``recover``,
before its first line: ``ast`` alone is about 10 ms to import, the parse a few more for a
large file. The bootstrap now keeps the compiled plan (its code objects, marshalled, and the
two facts ``entry`` found) in the bot's run folder, keyed by what identifies that version of
the file: its path, device, inode, size and modification time in nanoseconds, and the
Python that compiled it. Any edit (in place, or a new file renamed over it) changes one of
them, and the next start parses the file again; a cache that cannot be read or written is
ignored (the file is parsed as before). Stdlib only, and nothing imported that the
interpreter has not already loaded.
"""

from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False  # not typing's: its import is downtime at every restart
if TYPE_CHECKING:
    from types import CodeType

    from .entry import Entry

BYTECODE_LATER_ENV = "WDBOT_BYTECODE_LATER"
"""Set by the supervisor on a start right after an install: the bot's imports write no
``.pyc`` files (issue 26). Writing one per module imported cost ccxt and pandas about 0.5 s
of CPU before the bot's first useful line; the supervisor compiles the venv at low priority
once the bot is up, so that a restart imports from bytecode all the same. Here, not in
``bootstrap``: the supervisor needs the name, not the bootstrap and its imports (issue 29)."""

FORMAT = b"wdbot-entry-1"
MAX_BYTES = 64 * 2**20
"""A cache larger than this is not one (the bot's file itself is compiled at most once)."""


class Compiled:
    """An ``entry.Entry`` with its parts compiled: what the bootstrap runs."""

    __slots__ = ("body", "guards", "has_recover", "calls_main")

    def __init__(self, body: CodeType, guards: CodeType | None, has_recover: bool,
                 calls_main: bool) -> None:
        self.body = body
        self.guards = guards
        self.has_recover = has_recover
        self.calls_main = calls_main


def identity(path: str, st: os.stat_result | None = None) -> bytes | None:
    """What identifies this version of the file at ``path`` (None when it cannot be read).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".py") as f:
    ...     first = identity(f.name); _ = f.write("x = 1"); f.flush()
    ...     first != identity(f.name)
    True
    """
    try:
        st = st or os.stat(path)
    except OSError:
        return None
    fields = (FORMAT.decode(), sys.hexversion, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, path)
    return " ".join(str(f) for f in fields).encode("utf-8", "surrogateescape")


def compile_plan(plan: Entry, path: str) -> Compiled:
    """Compile ``plan``'s parts as the bootstrap always has: from this module, so with the
    same inherited flags (its ``from __future__ import annotations``) as before."""
    guards = compile(plan.guards, path, "exec") if plan.guards is not None else None
    return Compiled(compile(plan.body, path, "exec"), guards, plan.has_recover, plan.calls_main)


def load(cache: str, path: str) -> Compiled | None:
    """The plan cached for the file at ``path`` as it is now, or None (no cache, another
    version of the file, another Python, or a cache that cannot be read)."""
    key = identity(path)
    if key is None:
        return None
    try:
        # A regular file only: a FIFO put there blocked the open for ever, a symlink was
        # followed anywhere (red team rt29).
        fd = os.open(cache, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        with open(fd, "rb") as fh:
            if os.fstat(fd).st_mode & 0o170000 != 0o100000:
                return None
            data = fh.read(MAX_BYTES + 1)
        head, _, payload = data.partition(b"\n")
        if head != key or len(data) > MAX_BYTES:
            return None
        body, guards, has_recover, calls_main = marshal.loads(payload)
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(body, type(load.__code__)) or not isinstance(has_recover, bool):
        return None
    return Compiled(body, guards, has_recover, bool(calls_main))


def store(cache: str, key: bytes, compiled: Compiled) -> None:
    """Keep ``compiled`` for the file version ``key`` (taken before the file was read): a
    temporary file renamed over the cache, so a reader sees the old cache or the new one.
    Not fsynced: a cache lost to a power cut is parsed again. Failures are ignored."""
    tmp = f"{cache}.{os.getpid()}.tmp"
    try:
        payload = marshal.dumps((compiled.body, compiled.guards, compiled.has_recover,
                                 compiled.calls_main))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with open(fd, "wb") as fh:
            fh.write(key + b"\n" + payload)
        os.replace(tmp, cache)
    except (OSError, ValueError):
        try:
            os.unlink(tmp)
        except OSError:
            pass  # never created


class RecoverMemo:
    """The supervisor's side: whether the bot's file defines ``recover`` (``entry``), parsed
    again only when the file's identity changed since the last look."""

    def __init__(self) -> None:
        self._key: bytes | None = None
        self._has_recover = False

    def __call__(self, path: str) -> bool:
        key = identity(path)  # before the read: an edit during it is seen at the next start
        if key is None or key != self._key:
            from .entry import defines_recover

            self._has_recover = defines_recover(path)
            self._key = key
        return self._has_recover
