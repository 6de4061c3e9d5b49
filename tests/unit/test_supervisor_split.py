"""The supervisor's side of issue 25, in process (no daemon, no bots): the registry's one
writer and its error, and the control operations keeping the protocol's names and arguments."""

from __future__ import annotations

import asyncio
import errno
import inspect
import json
from pathlib import Path

import pytest

from watchdog_runtime import registry
from watchdog_runtime.common.home import Home
from watchdog_runtime.events import EventLog
from watchdog_runtime.registry import BotRecord, Quarantined
from watchdog_runtime.spec import BotSpec
from watchdog_runtime.supervisor.registryguard import RegistryGuard
from watchdog_runtime.supervisor.registrywriter import RegistryWriteError, RegistryWriter
from watchdog_runtime.supervisor.request_error import RequestError
from watchdog_runtime.supervisor.runner import BotRunner
from watchdog_runtime.supervisor.supervisor import Supervisor


class Source:
    """What the writer writes: one bot, readable file, nothing quarantined."""

    def __init__(self) -> None:
        self.loaded = True
        self.unreadable: registry.Unreadable | None = None
        self.quarantined: tuple[Quarantined, ...] = ()
        self.bots = {"a": BotRecord(spec=BotSpec(name="a", path="/a.py"))}
        self.looks = 0

    def check_registry(self) -> None:
        self.looks += 1

    def records(self) -> dict[str, BotRecord]:
        return dict(self.bots)


def writer(root: Path, source: Source) -> RegistryWriter:
    path = root / "registry.json"
    return RegistryWriter(path, root, EventLog(root / "events.jsonl"), RegistryGuard(path), source)


def kinds(root: Path) -> list[str]:
    events = root / "events.jsonl"
    lines = events.read_text().splitlines() if events.exists() else []
    return [json.loads(line)["kind"] for line in lines]


def test_a_write_goes_to_the_registry_then_to_its_last_good_copy(tmp_path: Path) -> None:
    source = Source()
    out = writer(tmp_path, source)
    out.flush()
    assert not (tmp_path / "registry.json").exists(), "nothing pending, nothing written"
    out.now()
    assert set(registry.load(tmp_path / "registry.json").bots) == {"a"}
    assert (tmp_path / "registry.json.last-good").read_bytes() == (tmp_path / "registry.json").read_bytes()
    assert source.looks == 1, "a file broken since the last write is looked for first"
    assert not out.pending and out.error is None


def test_a_failed_write_is_one_error_said_once_and_the_change_stays_pending(tmp_path: Path) -> None:
    source = Source()
    out = writer(tmp_path, source)
    (tmp_path / "registry.json").mkdir()  # the rename onto it fails, as on a full disk
    for _ in range(2):
        with pytest.raises(RegistryWriteError) as caught:
            out.now()
        assert isinstance(caught.value, RequestError), "the control server replies with it"
        assert str(caught.value).startswith(f"cannot write the registry {tmp_path / 'registry.json'}: ")
        assert "free space (or fix the permissions)" in str(caught.value)
    assert out.pending and out.error == str(caught.value)
    assert kinds(tmp_path) == ["registry_write_failed"], "said once, not at every retry"
    out.flush_quietly()  # the watch's and the read-only replies' way: no raise
    (tmp_path / "registry.json").rmdir()
    out.flush()
    assert not out.pending and out.error is None
    assert set(registry.load(tmp_path / "registry.json").bots) == {"a"}


def test_a_supervisor_that_never_read_the_file_writes_nothing(tmp_path: Path) -> None:
    source = Source()
    source.loaded = False
    out = writer(tmp_path, source)
    out.now()
    assert not (tmp_path / "registry.json").exists() and not out.pending


def test_changes_of_one_loop_turn_share_one_write(tmp_path: Path) -> None:
    source = Source()
    out = writer(tmp_path, source)

    async def turn() -> tuple[bool, bool]:
        out.soon()
        out.soon()
        pending = out.pending
        await asyncio.sleep(0)  # the turn ends: its one write runs
        return pending, (tmp_path / "registry.json").exists()

    assert asyncio.run(turn()) == (True, True)
    assert source.looks == 1, "one write for the two changes"


PROTOCOL = {
    "ping": [],
    "start": ["spec", "name", "update"],
    "stop": ["names", "all"],
    "restart": ["names", "all"],
    "remove": ["name", "purge"],
    "status": ["name"],
    "shutdown": ["keep_bots"],
    "mode": ["mode", "names", "all", "reason", "source"],
}
"""The control protocol's operations and their arguments, as the commands and the web send them."""


def test_the_operations_keep_the_protocols_names_and_arguments(tmp_path: Path) -> None:
    sup = Supervisor(Home(tmp_path), sleep_clocks=None)
    table = sup.ops.table()
    assert {op: list(inspect.signature(run).parameters) for op, run in table.items()} == PROTOCOL


def test_status_names_a_failed_write_among_the_warnings(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    home = Home(tmp_path)
    home.ensure()
    sup = Supervisor(home, sleep_clocks=None)
    sup.load()
    sup.runners["a"] = BotRunner(sup, BotRecord(spec=BotSpec(name="a", path="/a.py")))

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(registry, "save", full)
    with pytest.raises(RegistryWriteError, match="No space left on device"):
        sup.persist_now()
    status = asyncio.run(sup.ops.op_status())
    assert sup.write_error is not None and sup.write_error in status["supervisor"]["warnings"]
    monkeypatch.undo()
    sup.flush()
    assert sup.write_error is None and set(registry.load(home.registry).bots) == {"a"}
