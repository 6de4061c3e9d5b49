"""``durable.read_bounded``/``read_regular``: what a bounded read returns, and what it costs.
``fh.read(n)`` takes ``n`` bytes before it reads: the supervisor's 1 MiB bound, read at every
bot's exit, was a 1 MiB block each time (issue 29's soak); the read now takes what is there."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from watchdog_runtime.common.durable import GROWTH_BYTES, read_bounded, read_regular

BOUND = 64 * 2**20


def peak_of(call: object) -> int:
    """The peak of Python's traced allocations while ``call()`` runs."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        assert callable(call)
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_small_file_under_a_large_bound_costs_its_size_not_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "exit.json"
    path.write_bytes(b'{"code": 1}')
    assert read_regular(path, BOUND) == b'{"code": 1}'
    assert peak_of(lambda: read_regular(path, BOUND)) < GROWTH_BYTES + 64 * 1024


@pytest.mark.parametrize("size,bound", [(0, 10), (10, 10), (11, 10), (5, 1), (300_000, 200_000),
                                        (300_000, 400_000)])
def test_the_bound_and_the_content_are_as_a_plain_read(tmp_path: Path, size: int, bound: int) -> None:
    path = tmp_path / "f"
    path.write_bytes(os.urandom(size))
    with open(path, "rb") as fh:
        assert read_bounded(fh, bound) == path.read_bytes()[:bound]


def test_from_where_the_file_stands_and_past_what_it_had_when_it_grows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"a" * 100)
    with open(path, "rb") as fh:
        fh.seek(40)
        assert read_bounded(fh, 1000) == b"a" * 60
    # Grown by more than the read's room between its size check and its read: read on.
    grown = tmp_path / "grown"
    grown.write_bytes(b"b" * 10)
    with open(grown, "rb") as fh, open(grown, "ab") as writer:
        before = os.fstat(fh.fileno())
        writer.write(b"c" * (GROWTH_BYTES + 500))
        writer.flush()
        real_fstat, fd = os.fstat, fh.fileno()
        monkeypatch.setattr(os, "fstat", lambda n: before if n == fd else real_fstat(n))
        data = read_bounded(fh, GROWTH_BYTES + 300)
        monkeypatch.undo()
    assert data == (b"b" * 10 + b"c" * (GROWTH_BYTES + 500))[:GROWTH_BYTES + 300]
