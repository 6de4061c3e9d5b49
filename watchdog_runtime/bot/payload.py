"""Defensive reading of untrusted payloads: exchanges answer ``null``, ``"NaN"``, strings
instead of numbers, and drop keys without notice. Stdlib only.

Each helper walks a path of keys and indexes and returns the value, or ``default`` (None
unless given) when anything along the way is missing or of the wrong kind: a bot decides
what to do about a missing price instead of dying of ``KeyError`` or ``TypeError`` at 4 AM.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

T = TypeVar("T")
_MISSING = object()


def get(payload: Any, *path: str | int, default: Any = None) -> Any:
    """``payload[path[0]][path[1]]...``, or ``default`` when any step is missing.

    >>> book = {"bids": [["64000.5", "0.3"]], "asks": None}
    >>> get(book, "bids", 0, 0)
    '64000.5'
    >>> get(book, "asks", 0, 0) is None, get(book, "bids", 5, 0, default="none")
    (True, 'none')
    """
    node = payload
    for step in path:
        if isinstance(step, str) and isinstance(node, Mapping):
            node = node.get(step, _MISSING)
        elif (isinstance(step, int) and isinstance(node, Sequence)
              and not isinstance(node, (str, bytes)) and -len(node) <= step < len(node)):
            node = node[step]
        else:
            return default
        if node is _MISSING:
            return default
    return default if node is None else node


def num(payload: Any, *path: str | int, default: T | None = None) -> float | T | None:
    """A finite number at ``path`` as a float (numeric strings too), else ``default``.

    >>> ticker = {"last": "64000.5", "bid": None, "ask": "n/a", "volume": float("nan")}
    >>> num(ticker, "last"), num(ticker, "bid"), num(ticker, "ask"), num(ticker, "volume")
    (64000.5, None, None, None)
    >>> num(ticker, "high", default=0.0), num(True), num(42)
    (0.0, None, 42.0)
    """
    value = get(payload, *path) if path else payload
    if isinstance(value, bool) or value is None:
        return default
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        return default
    return number if math.isfinite(number) else default


def dec(payload: Any, *path: str | int, default: T | None = None) -> Decimal | T | None:
    """Like :func:`num` but an exact ``Decimal`` (amounts, prices you compare or sum).

    >>> dec({"amount": "0.1"}, "amount") + dec({"amount": 0.2}, "amount")
    Decimal('0.3')
    >>> dec({"amount": "Infinity"}, "amount") is None
    True
    """
    value = get(payload, *path) if path else payload
    if isinstance(value, bool) or value is None:
        return default
    try:
        # Through str, so 0.2 is Decimal('0.2'), not the binary float's long expansion.
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except (InvalidOperation, TypeError, ValueError):
        return default
    return number if number.is_finite() else default
