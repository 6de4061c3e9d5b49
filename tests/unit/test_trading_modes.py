"""Trading modes' pure parts (issue 27): the files, the SDK's cached reader, the circuit
breaker on a fake clock, the alerts, and the MODE column."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from watchdog_runtime.bot import mode as sdk
from watchdog_runtime.cli.render import advice, bots_table
from watchdog_runtime.common.home import Home
from watchdog_runtime.common.tradingmode import (
    Mode,
    ModeFiles,
    ModeRecord,
    effective,
    parse_reduce_after,
    read_ack,
    write_record,
)
from watchdog_runtime.spec import SpecError, parse_on_halt
from watchdog_runtime.spec import parse_reduce_after as spec_reduce_after
from watchdog_runtime.supervisor.alerts import AlertPolicy, AlertSettings
from watchdog_runtime.supervisor.modes import NOT_ACKNOWLEDGED, ModeKeeper


def test_the_newer_of_the_bot_s_and_the_home_s_record_is_in_force(tmp_path: Path) -> None:
    files = ModeFiles(tmp_path, "grid")
    assert effective(files).mode is Mode.ACTIVE
    write_record(files.home_file, ModeRecord.new(Mode.HALTED, "all", "cli", "2026-01-01T00:00:00Z", 1))
    assert effective(files).mode is Mode.HALTED
    write_record(files.bot_file, ModeRecord.new(Mode.REDUCING, None, "web", "2026-01-01T00:00:01Z", 2))
    found = effective(files)
    assert (found.mode, found.source) == (Mode.REDUCING, "web")
    assert ModeRecord.from_json(found.to_json()) == found
    write_record(files.home_file, ModeRecord.new(Mode.ACTIVE, None, "cli", "2026-01-01T00:00:02Z", 3))
    assert effective(files).mode is Mode.ACTIVE  # 'resume --all' after it: the newer record wins


@pytest.mark.parametrize("content", [b"{not json", b'{"mode": "yolo", "id": "x"}', b"[]"])
def test_a_damaged_mode_file_reads_as_halted(tmp_path: Path, content: bytes) -> None:
    """In doubt a kill switch must not read as "trade"."""
    files = ModeFiles(tmp_path, "grid")
    files.bot_file.parent.mkdir(parents=True)
    files.bot_file.write_bytes(content)
    assert effective(files).mode is Mode.HALTED


def test_a_symlinked_mode_file_is_not_followed(tmp_path: Path) -> None:
    files = ModeFiles(tmp_path, "grid")
    files.bot_file.parent.mkdir(parents=True)
    (tmp_path / "elsewhere.json").write_text(ModeRecord(Mode.ACTIVE).to_json().__repr__())
    files.bot_file.symlink_to(tmp_path / "elsewhere.json")
    assert effective(files).mode is Mode.HALTED


@pytest.mark.parametrize("bad", ["3", "0/5", "3/0", "x/y", "3/10/2", "-1/4"])
def test_reduce_after_refuses_what_is_not_n_over_minutes(bad: str) -> None:
    with pytest.raises(ValueError, match="N/MINUTES"):
        parse_reduce_after(bad)
    with pytest.raises(SpecError):
        spec_reduce_after(bad)
    with pytest.raises(SpecError, match="warn or stop"):
        parse_on_halt("maybe")


def test_the_sdk_reads_once_per_change_and_acknowledges(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WDBOT_HOME", str(tmp_path))
    monkeypatch.setenv("WDBOT_BOT_NAME", "grid")
    monkeypatch.setenv("WDBOT_RUN_ID", "run1")
    files = ModeFiles(tmp_path, "grid")
    files.bot_file.parent.mkdir(parents=True)
    reader = sdk._Reader()
    assert reader.current().mode is Mode.ACTIVE and read_ack(files)[:2] == ("default", os.getpid())
    halted = ModeRecord.new(Mode.HALTED, "why", "cli", "2026-01-01T00:00:00Z", 1)
    write_record(files.home_file, halted)
    assert reader.current() == halted and read_ack(files)[:2] == (halted.id, os.getpid())
    files.ack_file.unlink()
    assert reader.current() == halted and not files.ack_file.exists()  # cached: no second ack

    changed = threading.Event()
    seen: list[str] = []
    reader.on_mode(lambda new: (seen.append(new), changed.set()))
    reader.on_mode(lambda new: 1 / 0)  # a broken callback never stops the others
    write_record(files.bot_file, ModeRecord.new(Mode.REDUCING, None, "cli", "2026-01-01T00:00:02Z", 2))
    assert changed.wait(5) and seen == ["reducing"]


def test_outside_wdbot_everything_is_active(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WDBOT_BOT_NAME", raising=False)
    assert sdk.mode() == "active" and sdk.may_open() and sdk.mode_reason() is None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def keeper(tmp_path: Path, reduce_after: str | None) -> tuple[ModeKeeper, list[tuple[Any, ...]], Clock]:
    written: list[tuple[Any, ...]] = []
    clock = Clock()
    runner = SimpleNamespace(spec=SimpleNamespace(name="loop", reduce_after=reduce_after))
    sup = SimpleNamespace(home=Home(tmp_path), runners={"loop": runner}, clock=clock,
                          events=SimpleNamespace(write=lambda *a, **k: written.append((a, k)), listeners=[]))
    return ModeKeeper(sup), written, clock  # type: ignore[arg-type]  # a fake supervisor


def crash(error: str = "boom") -> dict[str, Any]:
    return {"kind": "exit", "bot": "loop", "reason": "crash", "error": error}


def test_the_breaker_trips_on_n_crashes_within_the_window_only(tmp_path: Path) -> None:
    modes, written, clock = keeper(tmp_path, "3/1")
    files = ModeFiles(tmp_path, "loop")
    for _ in range(2):
        modes.on_event(crash())
        clock.now += 40
    modes.on_event(crash())  # the first one is 80 s old: out of the 60 s window
    assert effective(files).mode is Mode.ACTIVE and not written
    modes.on_event({"kind": "exit", "bot": "loop", "reason": "stopped"})  # asked for: not counted
    modes.on_event(crash("ValueError: bad"))
    record = effective(files)
    assert record.mode is Mode.REDUCING and record.source == "circuit-breaker"
    assert "crashed 3 times within 1 min" in str(record.reason) and "ValueError: bad" in str(record.reason)
    assert [w[0] for w in written] == [("mode", "loop")]
    for _ in range(5):
        modes.on_event(crash())
    assert len(written) == 1  # already reducing: told once


def test_no_breaker_without_the_option(tmp_path: Path) -> None:
    modes, written, _ = keeper(tmp_path, None)
    for _ in range(10):
        modes.on_event(crash())
    assert effective(ModeFiles(tmp_path, "loop")).mode is Mode.ACTIVE and not written


def test_a_mode_change_alerts_once_even_for_all() -> None:
    policy = AlertPolicy(AlertSettings(urls=("json://localhost",)))
    one = policy.on_event({"kind": "mode", "bot": "grid", "mode": "halted", "reason": "news",
                           "source": "telegram:42"}, 0.0)
    assert one is not None and one.title == "wdbot: grid halted" and "telegram:42: news" in one.body
    assert policy.on_event({"kind": "mode", "bot": "grid", "mode": "active", "source": "cli"}, 1.0)
    assert policy.on_event({"kind": "mode", "bot": "x", "mode": "halted", "all": True}, 2.0) is None
    home = {"kind": "mode", "bot": None, "mode": "halted", "all": True, "source": "web"}
    every = policy.on_event(home, 3.0)
    assert every is not None and every.title == "wdbot: every bot halted"


def status_bot(**fields: Any) -> dict[str, Any]:
    return {"name": "grid", "state": "running", "pid": 5, "restarts": 0, "uptime_s": 3.0,
            "next_start_in_s": None, "last_exit": None, **fields}


def render(bots: list[dict[str, Any]]) -> str:
    console = Console(width=150, record=True)
    console.print(bots_table(bots, 150))
    console.print(*advice(bots))
    return console.export_text()


def test_the_mode_column_shows_only_when_a_bot_is_not_active() -> None:
    assert "MODE" not in render([status_bot(mode="active")])
    text = render([status_bot(mode="halted", mode_note=NOT_ACKNOWLEDGED, mode_reason="news")])
    assert "MODE" in text and "halted (not acknowledged)" in text
    assert ("grid: halted (not acknowledged: this bot does not read wd.mode(); `wdbot stop` it to be "
            "sure), because news") in " ".join(text.split())


def test_all_is_one_write_that_every_bot_follows_and_a_damaged_file_goes(tmp_path: Path) -> None:
    """'--all' writes the home's record only (atomic: nothing half done when the supervisor
    dies), newer than every bot's own; a bot's damaged file (halted) is removed by it."""
    modes, written, _ = keeper(tmp_path, None)
    runners = {n: SimpleNamespace(spec=SimpleNamespace(name=n, reduce_after=None)) for n in ("a", "b")}
    modes._sup.runners = runners
    modes._sup.ops = SimpleNamespace(
        targets=lambda names, all: list(runners.values()) if all else [runners[n] for n in names])
    mode_of = {n: lambda n=n: effective(ModeFiles(tmp_path, n)).mode.value for n in runners}
    halted = modes.set(["a"], False, "halted", None, "cli")
    assert halted == [{"name": "a", "mode": "halted", "changed": True}]
    reply = modes.set(None, True, "active", "all clear", "web 127.0.0.1")
    assert reply == [{"name": "a", "mode": "active", "changed": True},
                     {"name": "b", "mode": "active", "changed": False}]
    modes.set(["b"], False, "reducing", None, "cli")
    assert (mode_of["a"](), mode_of["b"]()) == ("active", "reducing")
    ModeFiles(tmp_path, "a").bot_file.write_text("{torn")
    assert mode_of["a"]() == "halted"
    modes.set(None, True, "active", None, "cli")
    assert (mode_of["a"](), mode_of["b"]()) == ("active", "active")
    assert not ModeFiles(tmp_path, "a").bot_file.exists()
    assert [(e[0], e[1].get("all")) for e in written][-1] == (("mode", None), True)
    with pytest.raises(Exception, match="mode must be one of"):
        modes.set(["a"], False, "yolo", None, "cli")
    with pytest.raises(Exception, match="source must be"):
        modes.set(["a"], False, "halted", None, "cli\nrm -rf")
    assert mode_of["a"]() == "active"
