"""Read-only control operations for looking inside a running supervisor (tests, benchmarks)."""

from __future__ import annotations

import gc
import os
import sys
from collections import Counter
from typing import Any

from ..common.importlazily import deferred
from .request_error import RequestError


async def debug_modules() -> dict[str, Any]:
    """The ``debug_modules`` operation: every module this supervisor has imported, so a test
    can check it loads apprise, prometheus_client, watchfiles only once configured and rich
    never (issue 29); ``deferred``: those made lazily and not used yet (``common.importlazily``),
    not counted as loaded; ``optimize`` and ``pycache_prefix``: whether it runs lean
    (``common.leanbytecode``)."""
    present = [(name, module) for name, module in sys.modules.items() if module is not None]
    return {"modules": sorted(name for name, module in present if not deferred(module)),
            "deferred": sorted(name for name, module in present if deferred(module)),
            "optimize": sys.flags.optimize, "pycache_prefix": sys.pycache_prefix}


async def debug_heap(top: int = 25, collect: bool = False) -> dict[str, Any]:
    """The ``debug_heap`` operation: the supervisor's RSS, pymalloc's allocated blocks and its
    ``top`` most numerous object types, so a soak run can tell which Python objects grow
    (issue 29); cheap enough to poll: no tracemalloc, one pass over the GC's objects.
    ``collect``: a full garbage collection first, so the figures are the live objects only
    (a test comparing them across bot counts)."""
    if not isinstance(top, int) or isinstance(top, bool) or not 0 < top <= 500:
        raise RequestError("debug_heap: top must be a whole number from 1 to 500", usage=True)
    if not isinstance(collect, bool):
        raise RequestError("debug_heap: collect must be true or false", usage=True)
    if collect:
        gc.collect()
    counts = Counter(type(obj).__qualname__ for obj in gc.get_objects())
    return {"rss_bytes": _rss_bytes(), "blocks": sys.getallocatedblocks(), "objects": sum(counts.values()),
            "types": counts.most_common(top), "gc_counts": list(gc.get_count())}


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux
        return 0
