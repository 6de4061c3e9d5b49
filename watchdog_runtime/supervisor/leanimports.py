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

from ..common.importlazily import lazily
from ..common.importwithout import import_deferring, import_without

DEFERRED = ("asyncio.sslproto", "asyncio.staggered")
"""asyncio's modules loaded on first use only (``common.importlazily``): TLS and TCP connection
races, which the supervisor never uses (its sockets are Unix sockets; the metrics server is a
thread of its own). Each is used, if ever, from the event loop's thread."""


def import_asyncio_without_ssl() -> bool:
    """Import asyncio without ssl, in a process that has imported neither; True when done so.
    Called first thing by ``wdbot daemon``, before anything imports asyncio."""
    with lazily(DEFERRED):
        return import_without("asyncio", ("ssl",))


def import_pathlib_without_urllib() -> bool:
    """Import pathlib while ``urllib.parse`` is a stand-in (``common.importwithout``): pathlib
    imports it, and with it ``ipaddress`` (about 0.3 MiB of the supervisor's RSS), for
    ``Path.as_uri`` alone, which then imports the real one. The daemon's first step, before
    wdbot's own modules (they all use pathlib); True when done so."""
    return import_deferring("pathlib", "urllib.parse", ("quote_from_bytes",))
