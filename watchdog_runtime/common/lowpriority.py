"""The first lines of a background child's code (``python -c``): the lowest priority this
machine offers (``nice 19``, and ``SCHED_IDLE`` where Linux has it), so the compiles the
supervisor runs after a start (a venv's packages, its own lean bytecode) never slow a bot."""

from __future__ import annotations

LOWEST_PRIORITY = """
import os
os.nice(19)
if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        pass
"""
