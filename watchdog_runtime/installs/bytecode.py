"""Bytecode of a bot's packages, compiled after the bot is up instead of before it starts.

``uv pip install --compile-bytecode`` compiled every module of every package before the
first start (ccxt and pandas: about 7 s of the 11.7 s from ``wdbot start`` to past the
imports, against 3.5-4.5 s for ``uv run --script``). Installs now skip it and leave a marker
in the venv; once the bot has been up a while, the supervisor compiles the venv's packages in
a low-priority child (``nice 19``, ``SCHED_IDLE`` where Linux has it, one worker), so that a
restart still imports from ``.pyc`` files even where the environment says
``PYTHONDONTWRITEBYTECODE=1``. The child removes the marker when it has compiled everything
and no install touched the marker meanwhile: a compile cut short (the bot stopped, the
supervisor died) or overtaken by an install is simply done again next time.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..common.lowpriority import LOWEST_PRIORITY

PENDING = ".wdbot-bytecode-pending"
"""In the venv: its packages were installed without compiling their bytecode."""

# Runs in the venv's own Python (the .pyc files must carry its magic number), at the lowest
# priority this machine offers, then removes the marker it was handed.
_COMPILE = LOWEST_PRIORITY + """
import compileall, os, sys, sysconfig, time
started = time.time()
ok = True
for key in ("purelib", "platlib"):
    ok = compileall.compile_dir(sysconfig.get_paths()[key], quiet=2, workers=1) and ok
try:
    if ok and os.stat(sys.argv[1]).st_mtime <= started:  # no install came while compiling
        os.unlink(sys.argv[1])
except FileNotFoundError:
    pass
"""


def mark_pending(python: Path) -> None:
    """After an install into the venv of ``python`` that compiled nothing."""
    with contextlib.suppress(OSError):  # no marker: the bot imports from sources, still correct
        (python.parent.parent / PENDING).touch()


def pending(venv: Path) -> bool:
    """The venv has packages whose bytecode is still to be compiled."""
    return (venv / PENDING).exists()


def compile_argv(venv: Path) -> list[str]:
    """The command that compiles the venv's packages at low priority and clears the marker."""
    return [str(venv / "bin" / "python"), "-I", "-c", _COMPILE, str(venv / PENDING)]
