"""The registry writer's ``soon`` and ``hold`` (issue 29), on a real file and event loop."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from watchdog_runtime import registry
from watchdog_runtime.events import EventLog
from watchdog_runtime.registry import BotRecord, Quarantined
from watchdog_runtime.spec import BotSpec
from watchdog_runtime.supervisor.registryguard import RegistryGuard
from watchdog_runtime.supervisor.registrywriter import RegistryWriter


class Source:
    loaded = True
    unreadable: registry.Unreadable | None = None
    quarantined: tuple[Quarantined, ...] = ()

    def __init__(self) -> None:
        self.restarts = 0

    def check_registry(self) -> None:
        pass

    def records(self) -> dict[str, BotRecord]:
        return {"a": BotRecord(BotSpec(name="a", path="/a.py"), restarts=self.restarts)}


def _setup(tmp_path: Path) -> tuple[RegistryWriter, Source, Path]:
    path, source = tmp_path / "registry.json", Source()
    writer = RegistryWriter(path, tmp_path, EventLog(tmp_path / "events.jsonl"), RegistryGuard(path), source)
    return writer, source, path


def _restarts(path: Path) -> int:
    return int(json.loads(path.read_text())["bots"][0]["restarts"])


def test_a_change_asked_soon_after_a_marked_one_is_written_this_turn(tmp_path: Path) -> None:
    """Regression (issue 29): after ``mark()`` (a change left for the watch's next flush),
    ``soon()`` returned at once, so nothing was written until that flush: a restart whose run
    was written ahead alone left its pid out of the registry for seconds."""
    writer, source, path = _setup(tmp_path)

    async def scenario() -> None:
        writer.mark()
        source.restarts = 7
        writer.soon()
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(scenario())
    assert path.exists() and _restarts(path) == 7 and not writer.pending


def test_a_hold_delays_soon_writes_until_released_never_flush(tmp_path: Path) -> None:
    writer, source, path = _setup(tmp_path)

    async def scenario() -> None:
        release = writer.hold()
        source.restarts = 1
        writer.soon()
        await asyncio.sleep(0.01)
        assert not path.exists() and writer.pending  # held back
        release()
        await asyncio.sleep(0.01)
        assert _restarts(path) == 1
        release = writer.hold()
        source.restarts = 2
        writer.mark()
        writer.flush()  # a command's reply: never waits
        assert _restarts(path) == 2
        source.restarts = 3
        writer.soon()
        await asyncio.sleep(0.7)  # a hold never released: written after HOLD_MAX_S all the same
        assert _restarts(path) == 3
        release()

    asyncio.run(scenario())
