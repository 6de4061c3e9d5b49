"""Importing a module while some of its optional imports are marked missing (issue 29).

The supervisor runs for months: a standard-library module that imports an optional one only
to know whether it may offer a feature (asyncio's ``ssl``, shutil's ``bz2`` and ``lzma``) puts
that module, its C extension and library into the supervisor's memory for life. Imported
while those are marked missing, the module takes its own "built without" branch; the marks
are lifted at once, so a later ``import ssl`` (apprise sending an alert) still works.
"""

from __future__ import annotations

import sys


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
