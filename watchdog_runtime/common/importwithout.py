"""Importing a module while some of its optional imports are marked missing (issue 29).

The supervisor runs for months: a standard-library module that imports an optional one only
to know whether it may offer a feature (asyncio's ``ssl``, shutil's ``bz2`` and ``lzma``) puts
that module, its C extension and library into the supervisor's memory for life. Imported
while those are marked missing, the module takes its own "built without" branch; the marks
are lifted at once, so a later ``import ssl`` (apprise sending an alert) still works.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def import_without(module: str, missing: tuple[str, ...]) -> bool:
    """Import ``module`` while ``missing`` raise ImportError; True when done so, False (nothing
    done) when ``module`` or any of ``missing`` is imported already."""
    if any(name in sys.modules for name in (module, *missing)):
        return False
    with marked_missing(missing):
        __import__(module)
    return True


@contextmanager
def marked_missing(names: tuple[str, ...]) -> Iterator[None]:
    """Within: ``import NAME`` of any of ``names`` not imported yet raises ImportError."""
    marked = [name for name in names if name not in sys.modules]
    for name in marked:
        sys.modules[name] = None  # type: ignore[assignment]  # None: "import NAME" raises ImportError
    try:
        yield
    finally:
        for name in marked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def import_deferring(module: str, source: str, names: tuple[str, ...] = (),
                     answers: dict[str, Callable[..., Any]] | None = None) -> bool:
    """Import ``module`` while ``source`` is a stand-in that loads the real ``source`` on
    first need; True when done so, False (nothing done) when either is imported already.

    For a module that imports a heavy one for rarely called functions: pathlib imports
    ``urllib.parse`` (and with it ``ipaddress``, about 0.4 MiB) for ``Path.as_uri``; asyncio
    and dataclasses import ``inspect`` (and ``dis``, ``ast``: about 0.9 MiB) for a repr, a
    generated docstring, a check on what the event loop is handed. ``names`` are functions
    that import the real ``source`` on their first call and call through it (for a
    ``from source import name`` run at import); ``answers`` are the stand-in's own functions,
    which answer without it; any other attribute read loads the real ``source`` and is its.
    The stand-in leaves ``sys.modules`` at once: a later ``import source`` loads the real one."""
    if module in sys.modules or source in sys.modules:
        return False
    stand_in = types.ModuleType(source)
    stand_in.__getattr__ = _reading_through(source, stand_in)  # type: ignore[method-assign]
    for name in names:
        setattr(stand_in, name, _calling_through(source, stand_in, name))
    for name, answer in (answers or {}).items():
        setattr(stand_in, name, answer)
    sys.modules[source] = stand_in
    try:
        __import__(module)
    finally:
        if sys.modules.get(source) is stand_in:
            del sys.modules[source]
    return True


def _real(source: str, stand_in: types.ModuleType) -> types.ModuleType:
    """The real ``source``, imported now if it is not (the stand-in taken out of the way: a
    first need while ``module`` is still being imported)."""
    if sys.modules.get(source) is stand_in:
        del sys.modules[source]
    __import__(source)
    return sys.modules[source]


def _reading_through(source: str, stand_in: types.ModuleType) -> Callable[[str], Any]:
    def read(name: str) -> Any:
        if name.startswith("__"):  # dunders (``__path__``, ``__spec__``) are the stand-in's
            raise AttributeError(name)
        return getattr(_real(source, stand_in), name)

    return read


def _calling_through(source: str, stand_in: types.ModuleType, name: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(_real(source, stand_in), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call
