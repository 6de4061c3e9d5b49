"""Where the supervisor finds uv (issue 29): beside its Python without a child process, else
by asking the ``uv`` package in a child, so the package (and ``sysconfig``) never loads in
the supervisor itself."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from watchdog_runtime.installs import uvtool


@pytest.fixture(autouse=True)
def _fresh_lookup() -> None:
    uvtool._find_uv_bin.cache_clear()


def test_uv_beside_this_python_is_taken_as_it_is() -> None:
    found = uvtool.uv_bin()
    assert found == os.path.join(sys.prefix, "bin", "uv")


def test_without_uv_beside_this_python_the_package_is_asked_in_a_child(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = uvtool.uv_bin()
    uvtool._find_uv_bin.cache_clear()
    monkeypatch.setattr(uvtool.sys, "prefix", str(tmp_path))  # a prefix with no bin/uv
    assert Path(uvtool.uv_bin()).resolve() == Path(real).resolve()
