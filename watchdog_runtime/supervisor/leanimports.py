"""The running supervisor imports only what it uses (issue 29): asyncio without ``ssl``,
``shutil`` without ``bz2`` and ``lzma``.

asyncio imports ``ssl`` (``_ssl``, libssl, libcrypto: about 4 MiB of RSS) for TLS streams the
supervisor never opens: its sockets are Unix sockets and the metrics server is plain HTTP in a
thread. Importing asyncio while ``ssl`` is marked missing takes asyncio's own "Python built
without ssl" branch; the mark is lifted at once, so a later ``import ssl`` (apprise sending an
alert) still works, only asyncio's TLS stays off in this process. ``shutil`` imports ``bz2`` and
``lzma`` (their extension modules and libraries: about 0.3 MiB) only to know whether its archive
functions may offer ``bztar``/``xztar``, which the supervisor never makes or unpacks; a later
``import bz2`` (``tarfile``, ``zipfile``) still works.
"""

from __future__ import annotations

import sys


def import_lean() -> None:
    """Both imports below; called by ``wdbot daemon`` before its parser (argparse's help
    formatter imports ``shutil``)."""
    import_asyncio_without_ssl()
    _import_without("shutil", ("bz2", "lzma"))


def import_asyncio_without_ssl() -> bool:
    """Import asyncio without ssl, in a process that has imported neither; True when done so.
    Called first thing by ``wdbot daemon``, before anything imports asyncio."""
    return _import_without("asyncio", ("ssl",))


def _import_without(module: str, missing: tuple[str, ...]) -> bool:
    """Import ``module`` while ``missing`` raise ImportError; False (nothing done) when any
    of them is imported already."""
    if any(name in sys.modules for name in (module, *missing)):
        return False
    for name in missing:
        sys.modules[name] = None  # type: ignore[assignment]  # None: "import NAME" raises ImportError
    try:
        __import__(module)
    finally:
        for name in missing:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return True
