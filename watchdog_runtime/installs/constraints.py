"""The versions an auto-install must never change (red team of issue 26).

uv makes room for a new requirement by changing what is installed: a drift repair's
``web3==6.20.3`` that needs an older ``eth-abi`` downgrades the ``eth-abi==5.1`` the bot
pinned, and a later round's newest release upgrades the pin a drift repair made, which
breaks the bot again. Every auto-install therefore runs under constraints: the bot's own
pinned requirements and what auto-install recorded, less the distributions being installed.
Pure, but for the scratch file uv reads them from.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Sequence

from .modmap import normalize_dist
from .scratch import scratch

_PINNED = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*"
                     r"((?:===|==|~=|!=|>=|<=|<|>)[^;@#]*?)\s*(;[^@#]*)?$")


def constraint_lines(requirements: Iterable[str], skip: Iterable[str] = ()) -> tuple[str, ...]:
    """The constraints from ``requirements`` that carry a version (no extras: uv refuses
    them in constraints; URLs, paths and bare names say nothing to keep), less ``skip``.

    >>> constraint_lines(["web3", "eth-abi[tools]==5.1 ; python_version >= '3.9'",
    ...                   "x @ https://h/x.whl", "ccxt>=4,<5", "lumibot==4.6.30"], ["lumibot"])
    ("eth-abi==5.1 ; python_version >= '3.9'", 'ccxt>=4,<5')
    """
    skipped = {normalize_dist(s) for s in skip}
    out = []
    for line in requirements:
        found = _PINNED.match(line)
        if found and normalize_dist(found.group(1)) not in skipped:
            marker = f" {found.group(3).strip()}" if found.group(3) else ""
            out.append(f"{found.group(1)}{found.group(2).strip()}{marker}")
    return tuple(out)


@contextlib.contextmanager
def constraint_options(lines: Sequence[str]) -> Iterator[tuple[str, ...]]:
    """uv's ``--constraint FILE`` options for ``lines`` (none when there are none); the
    scratch file is gone when the block ends."""
    if not lines:
        yield ()
        return
    with scratch("pins") as folder:
        path = folder / "constraints.txt"
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        yield ("--constraint", str(path))
