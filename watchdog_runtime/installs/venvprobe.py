"""Ask a bot's own interpreter which module paths it cannot find, without importing them.

The venv is the only judge of what it holds: ``.pth`` files, namespace packages shared by
several distributions (``google.protobuf`` beside ``google.auth``) and the standard library
of the bot's Python (which may not be the supervisor's) all count. ``find_spec`` of a
top-level name runs no package code; for a dotted name only namespace packages are walked,
since a missing submodule of a regular package is a broken install, not a missing package.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from pathlib import Path

# Runs in the bot's Python (any version >= 3.8): names on stdin, the missing ones on stdout.
_PROBE = r"""
import importlib.machinery, importlib.util, json, sys
missing = []
for name in json.load(sys.stdin):
    parts = name.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        missing.append(name)
        continue
    for depth in range(1, len(parts)):
        if spec.origin not in (None, "namespace") or not spec.submodule_search_locations:
            break
        spec = importlib.machinery.PathFinder.find_spec(
            ".".join(parts[:depth + 1]), list(spec.submodule_search_locations))
        if spec is None:
            missing.append(name)
            break
json.dump(missing, sys.stdout)
"""


class ProbeError(Exception):
    """The bot's interpreter could not be asked."""


def missing_modules(python: Path, names: Iterable[str], timeout_s: float = 60.0) -> set[str]:
    """The module paths of ``names`` that the interpreter ``python`` cannot find."""
    wanted = sorted(set(names))
    if not wanted:
        return set()
    try:
        # -I: no user site, no PYTHON* variables, no current folder: only the venv decides.
        done = subprocess.run([str(python), "-I", "-c", _PROBE], input=json.dumps(wanted),
                              capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ProbeError(f"cannot ask {python} what it has: {exc}") from None
    if done.returncode != 0:
        raise ProbeError(f"cannot ask {python} what it has: {done.stderr.strip()[-300:]}")
    try:
        found = json.loads(done.stdout)
    except ValueError:
        raise ProbeError(f"cannot ask {python} what it has: unexpected answer") from None
    return {str(n) for n in found if n in wanted}
