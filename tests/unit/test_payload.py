"""Defensive payload reading: what real exchange answers look like when they lie."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from watchdog_runtime.bot.payload import dec, get, num

LIES: list[tuple[Any, tuple[Any, ...], float | None]] = [
    ({"last": None}, ("last",), None),              # null
    ({"last": ""}, ("last",), None),                # empty string
    ({"last": "NaN"}, ("last",), None),
    ({"last": "inf"}, ("last",), None),
    ({"last": " 64000.5 "}, ("last",), 64000.5),    # padded string
    ({"last": "6.4e4"}, ("last",), 64000.0),
    ({"last": True}, ("last",), None),              # a boolean is not a price
    ({"last": [64000]}, ("last",), None),
    ({"last": {"value": 1}}, ("last",), None),
    ({}, ("last",), None),                          # a dropped key
    (None, ("last",), None),                        # no body at all
    ("<html>502 Bad Gateway</html>", ("last",), None),
    ({"bids": []}, ("bids", 0, 0), None),           # an empty book
    ({"bids": [["64000", "1"]]}, ("bids", 0, 0), 64000.0),
    ({"bids": [["64000", "1"]]}, ("bids", -1, 1), 1.0),
    ({"bids": "64000"}, ("bids", 0), None),         # indexing a string is refused
    ({"data": [{"px": 10}]}, ("data", 0, "px"), 10.0),
]


@pytest.mark.parametrize(("payload", "path", "expected"), LIES)
def test_num_never_raises(payload: Any, path: tuple[Any, ...], expected: float | None) -> None:
    assert num(payload, *path) == expected


def test_defaults_and_decimals() -> None:
    assert num({}, "x", default=0.0) == 0.0
    assert get({"a": None}, "a", default="d") == "d"
    assert dec({"qty": "0.1"}, "qty") == Decimal("0.1")
    assert dec({"qty": 0.1}, "qty") == Decimal("0.1")
    assert dec({"qty": "abc"}, "qty", default=Decimal(0)) == Decimal(0)
    assert dec({"qty": {"nested": 1}}, "qty") is None
