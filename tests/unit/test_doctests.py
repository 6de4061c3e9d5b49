"""Every example in the package's docstrings runs, and says what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import watchdog_runtime

MODULES = sorted(m.name for m in pkgutil.iter_modules(watchdog_runtime.__path__)
                 if m.name not in ("__main__", "_bootstrap"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"watchdog_runtime.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
