"""A bot that died of a fatal signal raised inside itself (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
SIGABRT): which extension module was at the top of its stack. Pure: reads the
``faulthandler`` dump the bootstrap makes Python write to stderr.

A dump looks like::

    Fatal Python error: Segmentation fault

    Current thread 0x00007f... (most recent call first):
      File "/home/u/.../site-packages/numpy/core/_methods.py", line 49 in _sum
      File "/bots/grid.py", line 12 in <module>
"""

from __future__ import annotations

import re

from ..common.signums import SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGSEGV

NATIVE_SIGNALS = frozenset({SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT})
"""Signals a process raises in itself when its native code fails."""

_FRAME_RE = re.compile(r'^\s+File "(?P<file>[^"]+)", line \d+')
_PACKAGE_RE = re.compile(r"[/\\](?:site|dist)-packages[/\\](?P<top>[A-Za-z_][A-Za-z0-9_]*)")


def crashed_module(stderr: str) -> str | None:
    """The installed package at the top of the crashing thread's stack in the last
    ``faulthandler`` dump of ``stderr``, or None.

    >>> crashed_module('Fatal Python error: Segmentation fault\\n\\nCurrent thread 0x1 (most '
    ...     'recent call first):\\n  File "/v/lib/python3.11/site-packages/talib/__init__.py", '
    ...     'line 3 in f\\n  File "/b/bot.py", line 1 in <module>\\n')
    'talib'
    """
    start = stderr.rfind("Fatal Python error")
    if start < 0:
        return None
    current = stderr.find("Current thread", start)
    frames = stderr[current if current >= 0 else start:].splitlines()
    for line in frames[1:]:
        match = _FRAME_RE.match(line)
        if match is None:
            if line.strip():
                break  # the end of this thread's frames
            continue
        found = _PACKAGE_RE.search(match.group("file"))
        if found:
            return found.group("top")
    return None
