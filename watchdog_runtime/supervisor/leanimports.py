"""The running supervisor imports only what it uses (issue 29): asyncio without ``ssl``.

asyncio imports ``ssl`` (``_ssl``, libssl, libcrypto: about 4 MiB of RSS) for TLS streams the
supervisor never opens: its sockets are Unix sockets and the metrics server is plain HTTP in a
thread. Importing asyncio while ``ssl`` is marked missing takes asyncio's own "Python built
without ssl" branch; the mark is lifted at once, so a later ``import ssl`` (apprise sending an
alert) still works, only asyncio's TLS stays off in this process. (``wdbot daemon`` imports
``shutil`` without ``bz2``/``lzma``/``zlib`` the same way before its parser: ``cli.main.lean_command``.)
And before anything else, pathlib without ``urllib.parse`` (``import_pathlib_without_urllib``).
"""

from __future__ import annotations

import functools
import sys
import types
from typing import Any

from ..common.importlazily import lazily
from ..common.importwithout import import_deferring, marked_missing

DEFERRED = ("asyncio.sslproto", "asyncio.staggered")
"""asyncio's modules loaded on first use only (``common.importlazily``): TLS and TCP connection
races, which the supervisor never uses (its sockets are Unix sockets; the metrics server is a
thread of its own). Each is used, if ever, from the event loop's thread."""


def import_asyncio_without_ssl() -> bool:
    """Import asyncio without ssl, in a process that has imported neither; True when done so.
    Called first thing by ``wdbot daemon``, before anything imports asyncio. Its ``inspect``
    is loaded on first need (``import_deferring``): the three functions below answer what the
    event loop asks of it (every ``to_thread``; a task's repr, which Python 3.11's ``signal``
    makes at each ``add_signal_handler`` after ``asyncio.run`` took SIGINT)."""
    if "ssl" in sys.modules or "asyncio" in sys.modules:
        return False
    with lazily(DEFERRED), marked_missing(("ssl",)):
        if not import_deferring("asyncio", "inspect", answers={
                "iscoroutinefunction": iscoroutinefunction, "isfunction": isfunction, "unwrap": unwrap}):
            # inspect is loaded already (Python 3.12's dataclasses read annotations with it):
            # asyncio still comes without ssl.
            __import__("asyncio")
    return True


def iscoroutinefunction(obj: object) -> bool:
    """``inspect.iscoroutinefunction`` for the ``inspect`` asyncio holds, which its
    ``run_in_executor`` asks at every ``to_thread``: a function's code flag read here, once
    bound methods and partials are unwrapped as ``inspect`` unwraps them; a builtin is never
    one. Anything else, and every call once the real ``inspect`` is loaded (it may have
    marked a function as one), is its answer."""
    real = sys.modules.get("inspect")
    if real is None or real.__spec__ is None:  # not loaded, or the stand-in (while importing)
        func = obj
        while isinstance(func, types.MethodType):
            func = func.__func__
        while isinstance(func, functools.partial):
            func = func.func
        if isinstance(func, types.FunctionType):
            return bool(func.__code__.co_flags & CO_COROUTINE)
        if isinstance(func, _BUILTINS):
            return False
    import inspect

    return inspect.iscoroutinefunction(obj)


def isfunction(obj: object) -> bool:
    """``inspect.isfunction``, for asyncio's repr of a callback (a task's, in a log line)."""
    return isinstance(obj, types.FunctionType)


def unwrap(func: Any) -> Any:
    """``inspect.unwrap``, for asyncio's repr of a callback: ``func`` itself when it wraps
    nothing (a ``__wrapped__`` chain is followed by the real ``inspect``)."""
    if not hasattr(func, "__wrapped__"):
        return func
    import inspect

    return inspect.unwrap(func)


CO_COROUTINE = 0x80  # inspect.CO_COROUTINE
_BUILTINS = (types.BuiltinFunctionType, types.MethodWrapperType, types.WrapperDescriptorType,
             types.MethodDescriptorType, types.ClassMethodDescriptorType)


def import_pathlib_without_urllib() -> bool:
    """Import pathlib while ``urllib.parse`` is a stand-in (``common.importwithout``): pathlib
    imports it, and with it ``ipaddress`` (about 0.3 MiB of the supervisor's RSS), for
    ``Path.as_uri`` alone, which then imports the real one. The daemon's first step, before
    wdbot's own modules (they all use pathlib); True when done so."""
    return import_deferring("pathlib", "urllib.parse", ("quote_from_bytes",))
