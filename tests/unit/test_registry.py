from __future__ import annotations

from pathlib import Path

import pytest

from watchdog_runtime import registry
from watchdog_runtime.lifecycle import ExitInfo
from watchdog_runtime.registry import BotRecord, CorruptRegistry, RunRecord
from watchdog_runtime.spec import BotSpec
from watchdog_runtime.states import BotState, ExitReason


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    rec = BotRecord(spec=BotSpec(name="a", path="/a.py"), should_run=True, state=BotState.RUNNING,
                    restarts=3, failures=2, last_exit=ExitInfo(1, None, ExitReason.CRASH, "E: x", "t"),
                    run=RunRecord(123, 1700000000.25, "abc", "t"), extra={"later": [1]})
    registry.save(path, {"a": rec})
    assert registry.load(path) == {"a": rec}
    assert path.stat().st_mode & 0o777 == 0o600


def test_missing_is_empty_and_stale_temporaries_are_swept(tmp_path: Path) -> None:
    stale = tmp_path / ".registry.json.abc123.tmp"
    stale.write_text('{"bots": [')  # left by a supervisor killed mid-save
    assert registry.load(tmp_path / "registry.json") == {}
    assert not stale.exists()


@pytest.mark.parametrize("content", [b'{"bots": [', b"[]", b'{"bots": [{"spec": {}}]}', b"\x00" * 10])
def test_corrupt_registry_is_moved_aside_never_emptied(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "registry.json"
    path.write_bytes(content)
    with pytest.raises(CorruptRegistry, match="moved to") as info:
        registry.load(path)
    assert not path.exists()
    assert info.value.moved_to.read_bytes() == content
