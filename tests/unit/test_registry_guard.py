"""The supervisor's side of an unreadable registry, in process (no loop, no bots): which file
it writes in each state, and that a file it never read is never written."""

from __future__ import annotations

from pathlib import Path

from watchdog_runtime import registry
from watchdog_runtime.common.home import Home
from watchdog_runtime.registry import BotRecord
from watchdog_runtime.spec import BotSpec
from watchdog_runtime.supervisor.runner import BotRunner
from watchdog_runtime.supervisor.supervisor import RequestError, Supervisor


def supervisor(root: Path) -> Supervisor:
    home = Home(root)
    home.ensure()
    return Supervisor(home, sleep_clocks=None)


def add_bot(sup: Supervisor, name: str) -> None:
    spec = BotSpec(name=name, path=f"/{name}.py")
    sup.runners[name] = BotRunner(sup, BotRecord(spec=spec))
    sup.persist_now()


def refused(sup: Supervisor) -> str:
    try:
        sup.refuse_while_unreadable()
    except RequestError as exc:
        return str(exc)
    return ""


def test_a_file_broken_under_a_supervisor_is_left_and_the_copy_is_written(tmp_path: Path) -> None:
    sup = supervisor(tmp_path)
    sup.load()
    add_bot(sup, "a")
    good = tmp_path / "registry.json.last-good"
    assert good.read_bytes() == (tmp_path / "registry.json").read_bytes()
    (tmp_path / "registry.json").write_text("{,")  # in place, as an editor writes
    add_bot(sup, "b")
    assert (tmp_path / "registry.json").read_text() == "{,", "left as the person left it"
    assert set(registry.load(good).bots) == {"a", "b"}, "the copy has the latest state"
    assert refused(sup).startswith("registry.json unreadable: line 1: ")
    good_bytes = good.read_bytes()
    (tmp_path / "registry.json").write_bytes(good_bytes)  # the restore
    sup.check_registry()
    assert refused(sup) == "" and sup.unreadable is None
    sup.flush()
    assert set(registry.load(tmp_path / "registry.json").bots) == {"a", "b"}


def test_a_supervisor_that_never_read_the_file_writes_nothing(tmp_path: Path) -> None:
    sup = supervisor(tmp_path)
    sup.load()
    add_bot(sup, "a")
    (tmp_path / "registry.json").write_text('{"bots": [,]}')
    before = (tmp_path / "registry.json.last-good").read_bytes()
    fresh = supervisor(tmp_path)
    fresh.load()
    assert not fresh.loaded and fresh.runners == {} and refused(fresh)
    fresh.persist_now()
    fresh.flush()
    assert (tmp_path / "registry.json").read_text() == '{"bots": [,]}'
    assert (tmp_path / "registry.json.last-good").read_bytes() == before, "never emptied"
    assert [e["kind"] for e in _events(tmp_path)].count("registry_unreadable") == 1


def test_a_new_home_gets_no_copy_beside_no_registry(tmp_path: Path) -> None:
    sup = supervisor(tmp_path)
    sup.load()
    assert not (tmp_path / "registry.json.last-good").exists()
    again = supervisor(tmp_path)
    again.load()
    assert again.loaded and again.unreadable is None


def _events(root: Path) -> list[dict[str, object]]:
    import json

    return [json.loads(line) for line in (root / "events.jsonl").read_text().splitlines()]
