"""The supervisor's side of ``installs.bytecode``: once a bot has been up a while, compile its
venv's packages in a low-priority child, owned by the bot's run (cancelled, and the child
killed, when the run ends: the next run does it again). Until then, a start asked for or after
an install writes no bytecode of its own (``bot_env``): the compile does it, at low priority."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from pathlib import Path
from typing import Any

from ..bot.codecache import BYTECODE_LATER_ENV
from ..installs.bytecode import compile_argv, pending
from ..states import StartReason

log = logging.getLogger(__name__)

SETTLE_S = 5.0
"""How long a bot runs before its packages are compiled (less when ``--min-uptime`` is less):
its own first imports come first, undisturbed on a small machine."""


WRITES_ITS_OWN = frozenset({StartReason.CRASH, StartReason.HANG, StartReason.MEMORY_LIMIT,
                            StartReason.FD_LIMIT})
"""Starts after a failed run: a bot in a crash loop may never stay up long enough for the
compile, so it writes the bytecode of what it imports itself, as Python does."""


def bot_env(venv: Path, reason: StartReason) -> dict[str, str]:
    """What the bot's environment gains: its imports write no ``.pyc`` while the venv's
    compile is pending (issue 26: the first start does not pay for writing them)."""
    if reason in WRITES_ITS_OWN or not pending(venv):
        return {}
    return {BYTECODE_LATER_ENV: "1"}


def settle_s(min_uptime_s: float) -> float:
    """The wait before compiling: ``SETTLE_S``, or the bot's ``--min-uptime`` if shorter."""
    return max(0.0, min(SETTLE_S, min_uptime_s))


async def compile_when_up(venv: Path, wait_s: float) -> None:
    """After ``wait_s`` of the bot's run, compile its venv's pending bytecode (if any)."""
    await asyncio.sleep(wait_s)
    if not pending(venv):
        return
    code = await run_to_end(compile_argv(venv), stderr=subprocess.DEVNULL, start_new_session=True)
    if code:
        log.warning("compiling the bytecode of %s exited %s", venv, code)


async def run_to_end(argv: list[str], **options: Any) -> int:
    """A background child (a compile), its output nowhere unless ``options`` say; cancelled,
    it is killed and reaped first: no orphan goes on (the run ended, the supervisor stops)."""
    proc = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.DEVNULL,
                                                stdout=subprocess.DEVNULL, **options)
    try:
        return await proc.wait()
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(proc.wait())
