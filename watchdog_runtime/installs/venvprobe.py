"""Ask a bot's own interpreter which module paths it cannot find, without importing them.

The venv is the only judge of what it holds: ``.pth`` files, namespace packages shared by
several distributions (``google.protobuf`` beside ``google.auth``) and the standard library
of the bot's Python (which may not be the supervisor's) all count. ``find_spec`` of a
top-level name runs no package code; for a dotted name only namespace packages are walked,
since a missing submodule of a regular package is a broken install, not a missing package.

When the venv is one of the supervisor's own interpreter (``samepython``) and every name is
found as a file of its standard library or its site-packages, nothing is missing and that
Python is not started (issue 26: one start less before a bot's first line). Anything not
found so plainly (a ``.pth`` path, a namespace package) is asked of the venv as before.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from .samepython import same_as_ours

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
    if not wanted or (same_as_ours(python) and all(_plainly_there(python, n) for n in wanted)):
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


def _plainly_there(python: Path, name: str) -> bool:
    """``name`` is a builtin, or its top-level module is a file of this Python's standard
    library or of the venv's site-packages (a regular package, for a dotted name: the probe
    looks no deeper). False means "ask the venv", never "missing"."""
    top = name.split(".")[0]
    if not top.isidentifier():
        return False  # not a module name: the venv's own answer, whatever it is
    if top in sys.builtin_module_names:
        return True
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    site = python.parent.parent / "lib" / version / "site-packages"
    stdlib = Path(os.__file__).parent
    for folder in (stdlib, stdlib / "lib-dynload", site, *_pth_folders(site)):
        package = folder / top
        if package.is_dir():
            return "." not in name or (package / "__init__.py").is_file()
        if any((folder / f"{top}{suffix}").is_file()
               for suffix in (".py", *importlib.machinery.EXTENSION_SUFFIXES)):
            return True
    return False


def _pth_folders(site: Path) -> list[Path]:
    """The folders the venv's ``.pth`` files put on its path (the SDK's, an editable
    install's); their ``import`` lines are not run here: what only they find is asked of
    the venv."""
    found: list[Path] = []
    for pth in sorted(site.glob("*.pth")):
        try:
            lines = pth.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        found += [site / line.strip() for line in lines
                  if line.strip() and not line.startswith(("#", "import ", "import\t"))]
    return found
