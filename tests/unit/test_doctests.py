"""Every example in the package's docstrings runs, and says what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import subprocess
import sys

import pytest

import watchdog_runtime

MODULES = sorted(m.name for m in pkgutil.iter_modules(watchdog_runtime.__path__)
                 if m.name not in ("__main__", "_bootstrap"))
OWN_PROCESS = {"shutdown"}
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


def test_every_sdk_name_is_exported_and_loads() -> None:
    lazy = set(watchdog_runtime._LAZY)
    assert lazy <= set(watchdog_runtime.__all__)
    for name in watchdog_runtime.__all__:
        assert getattr(watchdog_runtime, name) is not None
        if name in lazy:
            assert getattr(watchdog_runtime, name).__doc__, f"wd.{name} has no docstring"
