"""``wd.State``: durable, atomic, and never silently empty. The crash test kills a real
saving process with SIGKILL at random instants, 200 times."""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from watchdog_runtime.bot.store import State, StateCorrupt, StateWarning


def test_a_first_start_is_empty_and_a_save_round_trips(tmp_path: Path) -> None:
    state = State(tmp_path / "state.json")
    assert dict(state) == {} and state.loaded_from is None
    state.update(positions={"BTC/USDT": {"amount": 0.5}}, cycle=3)
    state.save()
    again = State(tmp_path / "state.json")
    assert dict(again) == {"positions": {"BTC/USDT": {"amount": 0.5}}, "cycle": 3}
    assert again.loaded_from == tmp_path / "state.json"
    assert oct((tmp_path / "state.json").stat().st_mode & 0o777) == "0o600"


def test_the_default_path_is_the_bot_state_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WDBOT_STATE_DIR", str(tmp_path / "st"))
    assert State().path == tmp_path / "st" / "state.json"
    assert State("orders.json").path == tmp_path / "st" / "orders.json"


def test_the_previous_version_is_kept(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json")
    for n in (1, 2, 3):
        state["n"] = n
        state.save()
    assert json.loads((tmp_path / "s.json.prev").read_text()) == {"n": 2}


@pytest.mark.parametrize("damage", [b'{"n": 3, "positions": {"BTC', b"", b"[1, 2]", b"\xff\xfe"])
def test_a_torn_or_corrupt_file_falls_back_to_the_previous_one(tmp_path: Path, damage: bytes) -> None:
    state = State(tmp_path / "s.json")
    for n in (1, 2):
        state["n"] = n
        state.save()
    (tmp_path / "s.json").write_bytes(damage)
    with pytest.warns(StateWarning, match="unreadable"):
        recovered = State(tmp_path / "s.json")
    assert dict(recovered) == {"n": 1} and recovered.loaded_from == tmp_path / "s.json.prev"
    aside = list(tmp_path.glob("s.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == damage  # kept for inspection
    recovered["n"] = 5
    recovered.save()  # the corrupt file never becomes the previous version
    assert json.loads((tmp_path / "s.json.prev").read_text()) == {"n": 1}


def test_both_unreadable_is_an_error_and_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_bytes(b"{torn")
    (tmp_path / "s.json.prev").write_bytes(b"also torn")
    with pytest.raises(StateCorrupt, match=r"s\.json is unreadable .* and so is its previous"):
        State(tmp_path / "s.json")
    assert (tmp_path / "s.json").read_bytes() == b"{torn"
    assert (tmp_path / "s.json.prev").read_bytes() == b"also torn"


def test_a_value_json_cannot_hold_fails_before_writing(tmp_path: Path) -> None:
    state = State(tmp_path / "s.json")
    state["n"] = 1
    state.save()
    state["bad"] = float("nan")
    with pytest.raises(ValueError):
        state.save()
    assert json.loads((tmp_path / "s.json").read_text()) == {"n": 1}
    assert not list(tmp_path.glob(".s.json.*"))


def test_temporaries_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".s.json.abc.tmp").write_text('{"half')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        State(tmp_path / "s.json")
    assert not (tmp_path / ".s.json.abc.tmp").exists()


SAVER = """
import sys
from watchdog_runtime.bot.store import State
state = State(sys.argv[1])
n = state.get("n", 0)
print("ready", n, flush=True)
while True:
    n += 1
    state["n"] = n
    state["check"] = [n] * (n % 50)  # the content depends on n: a mix of versions shows
    state.save()
    print(n, flush=True)
"""


@pytest.mark.slow
def test_200_kills_at_random_instants_never_lose_a_saved_version(tmp_path: Path) -> None:
    """Every load after a SIGKILL returns the last version whose save returned, or the one
    being saved when the kill came: whole, never torn, never older, never empty."""
    path = tmp_path / "state.json"
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    rng = random.Random(20261123)
    kills = mid_save = 0
    for _ in range(200):
        proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                                bufsize=0)
        assert proc.stdout is not None
        lines = LineReader(proc.stdout.fileno())
        floor = int(lines.next().split()[1])  # "ready N"
        # A random instant: a random number of completed saves, then a random delay.
        for _ in range(rng.randrange(0, 4)):
            floor = int(lines.next())
        _kill_after(proc, rng)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        kills += 1
        floor = max([floor, *(int(x) for x in lines.rest().split())])
        proc.stdout.close()
        mid_save += bool(list(tmp_path.glob(".state.json.*.tmp")))
        state = State(path)
        n = state.get("n", 0)
        assert n in (floor, floor + 1), f"loaded {n}, last confirmed save {floor}"
        assert dict(state) == ({"n": n, "check": [n] * (n % 50)} if n else {})
    assert kills == 200
    assert mid_save >= 10, f"only {mid_save} kills landed inside a save: the test lost its aim"


class LineReader:
    """Lines of a pipe, read with ``os.read`` and a bounded ``select``: no buffer of its own
    that a later read could miss (the trap of mixing ``select`` with a buffered stream)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def next(self, timeout_s: float = 30.0) -> str:
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.fd], [], [], timeout_s)
            chunk = os.read(self.fd, 65536) if ready else b""
            if not chunk:
                raise AssertionError("no line from the child (timed out or closed)")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    def rest(self) -> str:
        """Everything until end of file (the writer is dead)."""
        while chunk := os.read(self.fd, 65536):
            self.buffer += chunk
        text, self.buffer = self.buffer.decode(), b""
        return text


def _kill_after(proc: subprocess.Popen[bytes], rng: random.Random) -> None:
    # Busy-wait a random few hundred microseconds: sleeping is far too coarse to land inside
    # a save, which takes about as long.
    import time

    deadline = time.perf_counter() + rng.uniform(0, 0.002)
    while time.perf_counter() < deadline:
        pass
    os.kill(proc.pid, signal.SIGKILL)
