"""Every example in the package's docstrings runs, and says what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import watchdog_runtime

MODULES = sorted(m.name.removeprefix("watchdog_runtime.")
                 for m in pkgutil.walk_packages(watchdog_runtime.__path__, "watchdog_runtime.")
                 if not m.name.endswith(("__main__", ".bootstrap")))
OWN_PROCESS = {"bot.shutdown"}
"""Modules whose examples change the process itself (signal handlers, a SIGTERM to itself)."""


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    if name in OWN_PROCESS:
        code = ("import doctest, importlib, sys\n"
                f"m = importlib.import_module('watchdog_runtime.{name}')\n"
                "r = doctest.testmod(m, optionflags=doctest.ELLIPSIS)\n"
                "sys.exit(1 if r.failed or not r.attempted else 0)\n")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return
    module = importlib.import_module(f"watchdog_runtime.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"


def test_package_docstring_examples() -> None:
    result = doctest.testmod(watchdog_runtime, optionflags=doctest.ELLIPSIS)
    assert result.attempted and result.failed == 0


def test_every_sdk_name_is_exported_and_has_an_example() -> None:
    lazy = set(watchdog_runtime._LAZY)
    assert lazy <= set(watchdog_runtime.__all__)
    for name in set(watchdog_runtime.__all__) - {"__version__"}:
        doc = getattr(watchdog_runtime, name).__doc__ or ""
        assert ">>>" in doc, f"wd.{name} has no example in its docstring"


def test_the_sdk_needs_nothing_but_the_standard_library(tmp_path: Path) -> None:
    """In an interpreter without site-packages (-S), every SDK name loads: no psutil, rich,
    or other third-party import hides in the bot's side."""
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "import watchdog_runtime as wd\n"
            "names = [getattr(wd, n) for n in wd.__all__]\n"
            "import watchdog_runtime.bot.bootstrap\n"
            "print(len(names))\n")
    package_parent = str(Path(watchdog_runtime.__file__).resolve().parent.parent)
    done = subprocess.run([sys.executable, "-S", "-I", "-c", code, package_parent], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(watchdog_runtime.__all__))
