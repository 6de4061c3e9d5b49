"""SHA-256 without OpenSSL: ``hashlib`` loads ``_hashlib`` and with it libcrypto (about 3.5 MiB
of the supervisor's RSS, issue 29) just to be imported; CPython's own ``_sha2`` (3.12+) or
``_sha256`` (3.10, 3.11) gives the same digest from the interpreter itself."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Protocol, cast


class Digest(Protocol):
    """The part of a ``hashlib`` hash object used here."""

    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


@functools.cache
def _constructor() -> Callable[[bytes], Digest]:
    for name in ("_sha2", "_sha256"):  # the builtin module, by CPython version
        try:
            return cast("Callable[[bytes], Digest]", importlib.import_module(name).sha256)
        except ImportError:
            continue
    import hashlib  # an interpreter built without them: OpenSSL's then

    return hashlib.sha256


def sha256(data: bytes = b"") -> Digest:
    """A SHA-256 hash object fed ``data``, as ``hashlib.sha256(data)``.

    >>> sha256(b"abc").hexdigest()[:16]
    'ba7816bf8f01cfea'
    """
    return _constructor()(data)


def sha256_hex(data: bytes) -> str:
    """The hex SHA-256 of ``data``, as ``hashlib.sha256(data).hexdigest()``."""
    return sha256(data).hexdigest()
