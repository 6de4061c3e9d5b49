"""Importing a module while some of its submodules load only on first use (issue 29).

asyncio's ``base_events`` imports ``sslproto`` (TLS) and ``staggered`` (happy eyeballs for
TCP connections) at its top, for methods the supervisor never calls: it opens no TLS or TCP
connection from its event loop. Their module objects are created up front as the standard
library's ``importlib.util.LazyLoader`` makes them: empty, executed on the first attribute
access, which only those methods make, from the event loop's thread (LazyLoader's loading is
not thread-safe before Python 3.12, so nothing that another thread may touch first is listed).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from types import ModuleType


class _LazyFinder:
    """A ``sys.meta_path`` finder: the path finder's spec for ``names``, with a lazy loader."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if name not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        loader = spec.loader if spec is not None else None
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            return spec  # not found, or a loader LazyLoader cannot wrap: imported as it would be
        spec.loader = importlib.util.LazyLoader(loader)
        return spec


@contextmanager
def lazily(names: Sequence[str]) -> Iterator[None]:
    """Within: a first import of any of ``names`` makes its module empty until first used."""
    finder = _LazyFinder(names)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def deferred(module: object) -> bool:
    """A module ``LazyLoader`` made that nothing has used yet: any attribute read (even
    ``__file__``, even through ``isinstance``, which reads ``__class__``) would load it, so
    code that walks ``sys.modules`` asks this first. ``type()`` does not load it."""
    return type(module).__name__ == "_LazyModule"
