"""The running supervisor imports only what it uses (issue 29): asyncio without ``ssl``.

asyncio imports ``ssl`` (``_ssl``, libssl, libcrypto: about 4 MiB of RSS) for TLS streams the
supervisor never opens: its sockets are Unix sockets and the metrics server is plain HTTP in a
thread. Importing asyncio while ``ssl`` is marked missing takes asyncio's own "Python built
without ssl" branch; the mark is lifted at once, so a later ``import ssl`` (apprise sending an
alert) still works, only asyncio's TLS stays off in this process.
"""

from __future__ import annotations

import sys


def import_asyncio_without_ssl() -> bool:
    """Import asyncio without ssl, in a process that has imported neither; True when done so.
    Called first thing by ``wdbot daemon``, before anything imports asyncio."""
    if "asyncio" in sys.modules or "ssl" in sys.modules:
        return False
    sys.modules["ssl"] = None  # type: ignore[assignment]  # None: "import ssl" raises ImportError
    try:
        import asyncio  # noqa: F401  (imported for its side effect: loaded without ssl)
    finally:
        if sys.modules.get("ssl", 0) is None:
            del sys.modules["ssl"]
    return True
