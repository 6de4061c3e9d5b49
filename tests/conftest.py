from __future__ import annotations

import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Wdbot

# A suite started as a background job (`make test &`, `nohup`) inherits SIGINT and SIGQUIT
# (and SIGHUP) ignored, and so would every process a test starts: the tests that end a
# follower or a bot with Ctrl-C would wait out their bounds (nine did, 2026-12-04).
for _signum in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
    if signal.getsignal(_signum) == signal.SIG_IGN:
        signal.signal(_signum, signal.default_int_handler if _signum == signal.SIGINT else signal.SIG_DFL)


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
