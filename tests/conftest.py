from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Wdbot


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """uv's cache for the whole session, never the user's own."""
    return tmp_path_factory.mktemp("uv-cache")


@pytest.fixture
def home() -> Iterator[Path]:
    """A private, short WDBOT_HOME (deep homes have their own test)."""
    with tempfile.TemporaryDirectory(prefix="wdh-") as folder:
        yield Path(folder)


@pytest.fixture
def wd(home: Path, uv_cache: Path) -> Iterator[Wdbot]:
    """The real ``wdbot`` command on a private home; everything it started is stopped after."""
    cli = Wdbot(home, uv_cache)
    try:
        yield cli
    finally:
        cli.teardown()


@pytest.fixture
def bots(tmp_path: Path) -> Path:
    """A folder for the test's bot files."""
    folder = tmp_path / "bots"
    folder.mkdir()
    return folder
