from __future__ import annotations

from pathlib import Path

import pytest

from watchdog_runtime import registry
from watchdog_runtime.registry import BotRecord, CorruptRegistry, RunRecord
from watchdog_runtime.spec import BotSpec
from watchdog_runtime.states import BotState, ExitReason
from watchdog_runtime.supervisor.identity import Deadline
from watchdog_runtime.supervisor.lifecycle import ExitInfo


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    rec = BotRecord(spec=BotSpec(name="a", path="/a.py"), should_run=True, state=BotState.RUNNING,
                    restarts=3, failures=2, last_exit=ExitInfo(1, None, ExitReason.CRASH, "E: x", "t"),
                    run=RunRecord(123, 1700000000.25, "abc", "t", start_ticks=4711, boot_id="b"),
                    pending_run=RunRecord(0, 0.0, "next", "t", 10, 20), held=True,
                    backoff=Deadline(30.0, "b", 100.0, 1700000030.0), extra={"later": [1]})
    registry.save(path, {"a": rec})
    assert registry.load(path).bots == {"a": rec}
    assert path.stat().st_mode & 0o777 == 0o600


def test_missing_is_empty_and_stale_temporaries_are_swept(tmp_path: Path) -> None:
    stale = tmp_path / ".registry.json.abc123.tmp"
    stale.write_text('{"bots": [')  # left by a supervisor killed mid-save
    assert registry.load(tmp_path / "registry.json").bots == {}
    assert not stale.exists()


@pytest.mark.parametrize("content", [b'{"bots": [', b"[]", b'{"bots": {}}', b"\x00" * 10])
def test_corrupt_registry_is_moved_aside_never_emptied(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "registry.json"
    path.write_bytes(content)
    with pytest.raises(CorruptRegistry, match="moved to") as info:
        registry.load(path)
    assert not path.exists()
    assert info.value.moved_to.read_bytes() == content


def test_one_unreadable_entry_is_quarantined_alone_and_written_back_verbatim(tmp_path: Path) -> None:
    """Regression (issue 13, point 8): an unknown enum value in one entry used to move the
    whole registry aside, so status showed no bots and a second copy was started."""
    path = tmp_path / "registry.json"
    good = BotRecord(spec=BotSpec(name="good", path="/g.py"), should_run=True)
    registry.save(path, {"good": good})
    import json

    doc = json.loads(path.read_text())
    bad = {**good.to_json(), "spec": {**good.spec.to_json(), "name": "bad"}, "state": "hibernating"}
    doc["bots"] += [bad, {"spec": "garbage"}]
    path.write_text(json.dumps(doc))
    loaded = registry.load(path)
    assert set(loaded.bots) == {"good"}
    assert [q.name for q in loaded.quarantined] == ["bad", None]
    assert "hibernating" in loaded.quarantined[0].error
    assert "wdbot remove bad" in loaded.quarantined[0].describe(path)
    registry.save(path, loaded.bots, loaded.quarantined)
    again = json.loads(path.read_text())["bots"]
    assert bad in again and {"spec": "garbage"} in again


def test_a_duplicate_name_quarantines_both_entries(tmp_path: Path) -> None:
    import json

    path = tmp_path / "registry.json"
    entry = BotRecord(spec=BotSpec(name="twin", path="/t.py")).to_json()
    path.write_text(json.dumps({"format": 1, "bots": [entry, entry]}))
    loaded = registry.load(path)
    assert loaded.bots == {} and [q.name for q in loaded.quarantined] == ["twin", "twin"]


@pytest.mark.parametrize("change", [
    {"restarts": 1e400}, {"run": {"pid": 1e400, "create_time": 1, "run_id": "r"}},
    {"spec": {"name": 5, "path": "/x.py"}}, {"spec": {"name": "../../../tmp/escape", "path": "/x.py"}},
    {"spec": {"name": "typed", "path": "/x.py", "stop_timeout_s": "x"}},
    {"spec": {"name": "typed", "path": "/x.py", "max_memory_bytes": "500M"}},
    {"spec": {"name": "typed", "path": "/x.py", "backoff_initial_s": float("nan")}},
])
def test_garbage_in_one_entry_is_quarantined_never_fatal(tmp_path: Path, change: dict[str, object]) -> None:
    """Regression (red team of issue 13): an overflowing number, a non-string name or a
    wrongly typed option stopped the supervisor from starting, or broke stops much later; a
    name with '/' put a bot's folder outside the home."""
    import json

    path = tmp_path / "registry.json"
    good = BotRecord(spec=BotSpec(name="good", path="/g.py")).to_json()
    bad = {**BotRecord(spec=BotSpec(name="typed", path="/x.py")).to_json(), **change}
    path.write_text(json.dumps({"format": 1, "bots": [good, bad]}))  # 1e400: Infinity
    loaded = registry.load(path)
    assert set(loaded.bots) == {"good"} and len(loaded.quarantined) == 1


def test_a_deeply_nested_file_is_moved_aside_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text('{"bots": [' + "[" * 100000 + "]" * 100000 + "]}")
    with pytest.raises(CorruptRegistry):
        registry.load(path)
    assert registry.read_only(path) == {}


def test_a_holds_kind_is_kept_and_a_hold_of_unknown_kind_never_starts() -> None:
    """Issue 23, point 1: the kind of a hold decides what may start the bot again. A file
    written before the field existed counts as 'wdbot shutdown' (a held bot never starts by
    doubt); a kind this version does not know is one line naming the field (quarantine)."""
    from watchdog_runtime.states import Hold

    base = BotRecord(spec=BotSpec(name="a", path="/a.py"), held=True, held_by=Hold.SIGNAL)
    assert BotRecord.from_json(base.to_json()) == base
    old = {k: v for k, v in base.to_json().items() if k != "held_by"}
    assert BotRecord.from_json(old).held_by is Hold.SHUTDOWN
    assert BotRecord(spec=base.spec).to_json()["held_by"] is None  # not held: no kind
    with pytest.raises(ValueError, match="field 'held_by'"):
        BotRecord.from_json({**base.to_json(), "held_by": "reboot"})
