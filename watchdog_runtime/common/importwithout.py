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
from typing import Any


def import_without(module: str, missing: tuple[str, ...]) -> bool:
    """Import ``module`` while ``missing`` raise ImportError; True when done so, False (nothing
    done) when ``module`` or any of ``missing`` is imported already."""
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


def import_deferring(module: str, source: str, names: tuple[str, ...]) -> bool:
    """Import ``module`` while ``source`` is a stand-in whose ``names`` are functions that
    import the real ``source`` on their first call, and call through it; True when done so,
    False (nothing done) when either is imported already. For a module that imports a heavy
    one for a rarely called function only: pathlib imports ``urllib.parse`` (and with it
    ``ipaddress``, about 0.4 MiB) for ``Path.as_uri``. The stand-in leaves ``sys.modules``
    at once: a later ``import source`` loads the real one."""
    if module in sys.modules or source in sys.modules:
        return False
    stand_in = types.ModuleType(source)
    for name in names:
        setattr(stand_in, name, _calling_through(source, name))
    sys.modules[source] = stand_in
    try:
        __import__(module)
    finally:
        if sys.modules.get(source) is stand_in:
            del sys.modules[source]
    return True


def _calling_through(source: str, name: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        __import__(source)
        return getattr(sys.modules[source], name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call
