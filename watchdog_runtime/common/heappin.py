"""The supervisor's large allocations kept out of glibc's heap (issue 29, the soak's steps).

glibc serves an allocation of 128 KiB or more with its own ``mmap``, given back whole when
freed, until a freed one of that kind raises the threshold to its size (up to 32 MiB): from
then on such blocks come from the heap. In a long-running supervisor they come often (asyncio
receives into a 256 KiB buffer, a bounded file read takes its bound first), and a small
survivor left where one was holds the heap's space resident: the soak's RSS rose in steps of
about 1 MiB an hour that never came back. ``MALLOC_MMAP_THRESHOLD_`` fixes the threshold at
128 KiB, which glibc reads at the process's start only, so the command that starts a
supervisor (the launcher, the lean re-execution) sets it in the new process's environment,
with a mark, and the supervisor takes both out of its own environment first thing: the bots
it starts inherit neither (a threshold the user set is theirs and left alone). Other C
libraries ignore the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

THRESHOLD_ENV = "MALLOC_MMAP_THRESHOLD_"
MARK_ENV = "WDBOT_HEAP_PINNED"
"""Set with ``THRESHOLD_ENV`` by wdbot: the supervisor takes both out; without it, the
threshold is the user's and stays for the bots."""
THRESHOLD_BYTES = 128 * 1024
"""glibc's own starting threshold, kept from then on."""


def supervisor_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the threshold pinned, for a supervisor about to be started (unchanged
    when the user set a threshold of their own)."""
    if THRESHOLD_ENV in env:
        return dict(env)
    return {**env, THRESHOLD_ENV: str(THRESHOLD_BYTES), MARK_ENV: "1"}


def forget_pin() -> None:
    """The supervisor's first step: what ``supervisor_env`` added leaves its environment,
    so that no bot, install or hook it starts inherits it."""
    if os.environ.pop(MARK_ENV, None) is not None:
        os.environ.pop(THRESHOLD_ENV, None)
