"""Which refusals of the up-front scan stop a start before the bot runs.

The scan before a start finds what the bot's files import and its venv lacks. A module the
entry file imports at its own top level (not in a function, a branch or a ``try``) that
auto-install refuses is one the bot cannot get past: starting it only to watch it die of that
import would say "running" to ``wdbot start`` and then ``errored``. Such a refusal is reported
by the start itself instead (exit 1, the one line, the bot ``errored``).

Pure: the facts in, a verdict out.
"""

from __future__ import annotations

import re
from collections.abc import Collection

# A bot that extends its import path at run time (``sys.path.insert(0, "lib")``,
# ``site.addsitedir``) may find at run time what the scan cannot: its refusals are left to
# the crash path, which sees what really happened.
_PATH_TWEAK_RE = re.compile(r"\bsys\.path\b|\baddsitedir\b|\bPYTHONPATH\b|\bimportlib\b")


def stops_the_start(module: str, certain: Collection[str], entry_source: str) -> bool:
    """True when a refusal of ``module`` (found by the scan, not by a crash) must stop the
    start: the entry file imports it at its top level and finds its modules the plain way.

    >>> stops_the_start("wdnotallowed", {"wdnotallowed"}, "import wdnotallowed\\n")
    True
    >>> stops_the_start("lib_mod", {"lib_mod"}, "import sys\\nsys.path.insert(0, 'lib')\\nimport lib_mod\\n")
    False
    >>> stops_the_start("optional", set(), "def f():\\n    import optional\\n")
    False
    """
    return module in certain and _PATH_TWEAK_RE.search(entry_source) is None
