from __future__ import annotations

from pathlib import Path

import pytest

from watchdog_runtime import registry
from watchdog_runtime.registry import BotRecord, RegistryUnreadable, RunRecord
from watchdog_runtime.spec import BotSpec, StopSignal
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


def test_the_stop_signal_is_kept_and_an_old_registry_without_it_stops_with_term(tmp_path: Path) -> None:
    """Issue 24: ``--stop-signal`` survives a supervisor restart; a registry written before
    the option loads as TERM."""
    import json

    path = tmp_path / "registry.json"
    pm2 = BotRecord(spec=BotSpec(name="pm2", path="/p.py", stop_signal=StopSignal.INT))
    old = BotRecord(spec=BotSpec(name="old", path="/o.py")).to_json()
    del old["spec"]["stop_signal"]
    path.write_text(json.dumps({"format": 1, "bots": [pm2.to_json(), old]}))
    loaded = registry.load(path).bots
    assert loaded["pm2"] == pm2 and loaded["pm2"].spec.to_json()["stop_signal"] == "INT"
    assert loaded["old"].spec.stop_signal is StopSignal.TERM


def test_missing_is_empty_and_stale_temporaries_are_swept(tmp_path: Path) -> None:
    stale = tmp_path / ".registry.json.abc123.tmp"
    stale.write_text('{"bots": [')  # left by a supervisor killed mid-save
    assert registry.load(tmp_path / "registry.json").bots == {}
    assert not stale.exists()


@pytest.mark.parametrize("content, line", [
    (b'{"bots": [', 1), (b"[]", 1), (b'{"bots": {}}', 1), (b"\x00" * 10, 1), (b"", 1),
    (b'{\n  "bots": [\n    {"spec": {"name": "a", "path": "/a.py"}},\n  ],\n  "format": 1\n}\n', 4),
    (b'{"bots": []}\n\n\xff\xfe', 3),
])
def test_an_unreadable_registry_is_left_in_place_and_named_with_its_line(
        tmp_path: Path, content: bytes, line: int) -> None:
    """Regression (issue 23, point 3): a stray comma moved the file aside, and the supervisor
    that read it started with no bots, stopping every bot that still ran."""
    path = tmp_path / "registry.json"
    registry.save_last_good(path, {"a": BotRecord(spec=BotSpec(name="a", path="/a.py"))})
    path.write_bytes(content)
    with pytest.raises(RegistryUnreadable) as info:
        registry.load(path)
    assert path.read_bytes() == content, "left as it was"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.json", "registry.json.last-good"]
    why = info.value.unreadable
    assert why.line == line
    assert why.message.startswith(f"registry.json unreadable: line {line}: ")
    assert f"fix it or restore registry.json.last-good (cp {path}.last-good {path})" in why.message
    assert registry.read_only(path) == {} and registry.unreadable(path) == why


def test_the_last_good_copy_is_what_was_written_and_private(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    rec = BotRecord(spec=BotSpec(name="a", path="/a.py"), should_run=True)
    registry.save(path, {"a": rec})
    registry.save_last_good(path, {"a": rec})
    good = tmp_path / "registry.json.last-good"
    assert good.read_bytes() == path.read_bytes() and good.stat().st_mode & 0o777 == 0o600
    path.write_text("{,")
    registry.save_last_good(path, {})  # while the file is unreadable: the copy alone
    assert path.read_text() == "{," and registry.load(good).bots == {}


def test_a_missing_file_beside_its_last_good_copy_is_unreadable_not_empty(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    assert registry.load(path).bots == {}  # a new home
    registry.save_last_good(path, {"a": BotRecord(spec=BotSpec(name="a", path="/a.py"))})
    with pytest.raises(RegistryUnreadable, match="the file is missing; fix it or restore"):
        registry.load(path)


def test_without_a_last_good_copy_the_message_says_so(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text("{")
    assert "fix it (there is no registry.json.last-good to restore)" in registry.read(path).message  # type: ignore[union-attr]


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
    {"spec": {"name": "typed", "path": "/x.py", "stop_signal": "KILL"}},
    {"spec": {"name": "typed", "path": "/x.py", "stop_signal": ["TERM"]}},
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


def test_a_deeply_nested_file_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text('{"bots": [' + "[" * 100000 + "]" * 100000 + "]}")
    with pytest.raises(RegistryUnreadable):
        registry.load(path)
    assert registry.read_only(path) == {} and path.exists()


def test_a_fifo_or_a_folder_in_place_of_the_registry_is_unreadable_at_once(tmp_path: Path) -> None:
    """A FIFO would block every reader (the supervisor's loop, status, the web page)."""
    import os

    path = tmp_path / "registry.json"
    os.mkfifo(path)
    assert "not a regular file" in registry.read(path).error  # type: ignore[union-attr]
    path.unlink()
    path.mkdir()
    assert isinstance(registry.read(path), registry.Unreadable)


def test_newer_runs_only_add_a_live_process_never_drop_one() -> None:
    spec = BotSpec(name="a", path="/a.py")
    mine, theirs = RunRecord(1, 1.0, "r1", "t"), RunRecord(2, 2.0, "r2", "t")
    ahead = RunRecord(0, 0.0, "r3", "t")
    copy = registry.Registry({"a": BotRecord(spec, run=theirs)})
    live_mine = registry.Registry({"a": BotRecord(spec, run=mine)})
    assert registry.with_newer_runs(live_mine, copy, lambda i: True) == live_mine  # its own lives
    both_gone = registry.with_newer_runs(live_mine, copy, lambda i: False)
    assert both_gone == live_mine, "a dead run for a dead run gains nothing"
    written_ahead = registry.Registry({"a": BotRecord(spec, run=mine, pending_run=ahead)})
    kept = registry.with_newer_runs(written_ahead, copy, lambda i: i.pid == 2).bots["a"]
    assert (kept.run, kept.pending_run) == (theirs, ahead)
    other_file = registry.Registry({"a": BotRecord(BotSpec(name="a", path="/b.py"), run=theirs)})
    assert registry.with_newer_runs(live_mine, other_file, lambda i: i.pid == 2) == live_mine
    unreadable = registry.Unreadable(Path("x"), "e")
    assert registry.with_newer_runs(live_mine, unreadable, lambda i: True) == live_mine


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
