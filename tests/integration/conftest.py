"""Fixtures shared by integration tests: a real cgroup v2, a local wheel mirror."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Wdbot
from watchdog_runtime.supervisor import cgroups
from watchdog_runtime.supervisor.cgroupplan import Containment, Layout


@pytest.fixture
def containment() -> Iterator[Containment]:
    """A prepared containment with a base unique to this test; everything under it killed and
    removed afterwards (and ``wdbot/`` too when no other test still uses it)."""
    found = cgroups.detect(f"test-{uuid.uuid4().hex[:12]}")
    if found is None:
        pytest.skip("no writable cgroup v2 here (not root in the root cgroup, no delegation)")
    if found.layout is Layout.DELEGATED:
        pytest.skip("a delegated cgroup: preparing it would move the test runner into a leaf")
    try:
        ready = cgroups.prepare(found)
    except OSError as exc:
        pytest.skip(f"cannot make a cgroup under {found.base.parent}: {exc}")
    try:
        yield ready
    finally:
        for folder, _dirs, _files in os.walk(ready.base, topdown=False):
            if cgroups.kill(Path(folder)):
                cgroups.wait_empty(Path(folder), 10)
        assert cgroups.remove(ready.base)
        with contextlib.suppress(OSError):
            ready.base.parent.rmdir()  # wdbot/: busy while another test's base is in it


@pytest.fixture
def mirror(tmp_path: Path, wd: Wdbot) -> Path:
    """A wheel folder the supervisor's uv uses instead of an index (through the env)."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    wd.env.update({"UV_FIND_LINKS": str(folder), "UV_NO_INDEX": "1"})
    return folder
