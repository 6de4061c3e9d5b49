"""Read-only control operations for looking inside a running supervisor (tests, benchmarks)."""

from __future__ import annotations

import sys
from typing import Any


async def debug_modules() -> dict[str, Any]:
    """The ``debug_modules`` operation: every module this supervisor has imported, so a test
    can check it loads apprise, prometheus_client, watchfiles only once configured and rich
    never (issue 29)."""
    return {"modules": sorted(name for name, module in sys.modules.items() if module is not None)}
