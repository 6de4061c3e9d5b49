"""Numbers for people: durations and byte sizes. Pure, stdlib only."""

from __future__ import annotations


def duration(seconds: float | None) -> str:
    """``1h02m``, ``3m05s``, ``12s``; ``-`` for None.

    >>> duration(3725), duration(185), duration(12.4), duration(None)
    ('1h02m', '3m05s', '12s', '-')
    """
    if seconds is None:
        return "-"
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600:02d}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds:.1f}s"


def size(n: float | None) -> str:
    """Binary units, three significant digits: ``512B``, ``1.5K``, ``612M``, ``2.00G``.

    >>> size(512), size(1536), size(612 * 1024**2), size(2 * 1024**3), size(None)
    ('512B', '1.50K', '612M', '2.00G', '-')
    """
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if abs(value) < 1024 or unit == "T":
            break
        value /= 1024
    if unit == "B":
        return f"{value:.0f}B"
    digits = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:.{digits}f}{unit}"
