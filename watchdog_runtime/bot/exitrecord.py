"""The bootstrap's exit record, written at the bot's exit: atomically (a temporary file in
the same folder renamed over the record), with none of ``common.durable``'s imports.

It is on the restart path of every crash: ``durable`` pulls in ``json`` (and ``re``),
``tempfile`` (and ``random``, ``shutil``), ``pathlib`` and ``typing``, about 20 ms on a busy
machine before the record is written, and as many modules to tear down at the exit (issue 29).
Here the JSON comes from the ``_json`` accelerator's string encoder, which ``json`` itself
uses; where it is missing (another Python), from ``json``.

The record is not fsynced (``sync=False``; its two fsyncs took 1 ms on a quiet disk and 25 ms
on a busy one, before the bot could exit): who reads it is the supervisor that sees the exit,
or the next one after a supervisor's crash, and both read the page cache. Only a power cut
could lose it, and then the exit is told by its status alone, as the power cut's own is.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing's: its import is the downtime this module saves
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def _string_encoder() -> Callable[[str], str]:
    try:
        from _json import encode_basestring_ascii
    except ImportError:  # a Python without the accelerator: json's own (slower to import)
        from json.encoder import py_encode_basestring_ascii as encode_basestring_ascii
    return encode_basestring_ascii


def dumps(value: Any, quote: Callable[[str], str] | None = None) -> str:
    """``value`` (None, bool, int, float, str, lists and dicts of them) as the JSON
    ``json.dumps`` gives, without importing ``json``; anything else (an OSError's bytes or
    path-like ``filename``) as its ``str``: the record is never lost to one odd field.

    >>> dumps({"code": 1, "message": 'a "b"\\n\\u00e9', "mro": ["x.Y"], "retried": False, "line": None})
    '{"code": 1, "message": "a \\\\"b\\\\"\\\\n\\\\u00e9", "mro": ["x.Y"], "retried": false, "line": null}'
    """
    quote = quote or _string_encoder()
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(dumps(v, quote) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{quote(str(k))}: {dumps(v, quote)}" for k, v in value.items()) + "}"
    return quote(str(value))


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def write(path: str, fields: dict[str, Any], *, sync: bool = True) -> None:
    """Replace ``path`` with ``fields`` as JSON, atomically (mode 0600), and durably unless
    ``sync`` is False; OSError when it cannot be (the temporary file is removed then)."""
    data = (dumps(fields) + "\n").encode()
    folder, name = os.path.split(path)
    # One writer per run (the bot's own process, at its exit): its pid makes the name unique.
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        _unlink(tmp)  # a stale one of an earlier process with this pid
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)  # a failed write stays invisible
        raise
    if sync:
        _fsync_folder(folder or ".")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass  # not there (or already renamed)


def _fsync_folder(folder: str) -> None:
    """The rename made durable (as ``durable.fsync_dir``: a no-op where folders cannot be)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass  # unsupported on a few file systems; the rename is still atomic
    finally:
        os.close(dfd)
