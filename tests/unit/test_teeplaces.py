"""Issue 28: where ``--tee-logs`` stands in each bot's file, kept for the next supervisor
(``teeplaces``; the real daemons in tests/integration/test_tee_resume.py): saved only once
the lines before it are written, never trusted when stale or garbage, and a follower resumes
there (from the start of a file that is another one now)."""

from __future__ import annotations

import os
from pathlib import Path

from watchdog_runtime.supervisor import teeplaces
from watchdog_runtime.supervisor.logfollow import Follower, Position


def test_a_follower_resumes_where_the_last_one_stood(tmp_path: Path) -> None:
    log = tmp_path / "stdout.log"
    log.write_bytes(b"one\ntwo\nthr")
    first = Follower(log, at_end=False)
    assert first.read(1 << 16).lines == [b"one", b"two"]
    place = first.position()
    first.close()
    assert place is not None and place.offset == len(b"one\ntwo\n")  # the held part is read again
    with open(log, "ab") as fh:
        fh.write(b"ee\nfour\n")
    assert _lines_from(log, place) == [b"three", b"four"]
    log.unlink()
    log.write_bytes(b"new\n")  # rotated meanwhile: the new file from its start
    assert _lines_from(log, place) == [b"new"]


def _lines_from(log: Path, place: Position) -> list[bytes]:
    follower = Follower(log, resume=place)
    try:
        return follower.read(1 << 16).lines
    finally:
        follower.close()


def test_places_are_saved_only_once_their_lines_are_written(tmp_path: Path) -> None:
    path = tmp_path / teeplaces.FILE_NAME
    now = [100.0]
    marks = teeplaces.Checkpoints(path, clock=lambda: now[0])
    places: teeplaces.Places = {"a": (Position(1, 2, 30), None)}
    marks.note(5, places)
    marks.save_written(4)
    assert not path.exists()
    marks.save_written(5)
    assert teeplaces.load(path) == places
    later: teeplaces.Places = {"a": (Position(1, 2, 60), None)}
    marks.note(6, later)
    marks.save_written(6)  # within the second: not yet (one write a second at most)
    assert teeplaces.load(path) == places
    marks.save_written(6, last=True)  # a stop's last save comes whenever it comes
    assert teeplaces.load(path) == later


def test_stale_or_garbage_places_are_not_used(tmp_path: Path) -> None:
    path = tmp_path / teeplaces.FILE_NAME
    assert teeplaces.save(path, {"a": (Position(1, 2, 3), Position(1, 4, 5))})
    assert teeplaces.load(path, now=lambda: os.stat(path).st_mtime + teeplaces.FRESH_S + 1) == {}
    for garbage in (b"", b"[]", b'{"bots": {"a": [[1, 2]]}}', b'{"bots": {"a": [[1, 2, -3], null]}}',
                    b'{"bots": {"a": [[1, 2, 1e30], null]}}', b'{"bots": {"a": [[1, 2, 1e23], null]}}',
                    b'{"bots": {"a": [[1, 2, 100000000000000000000000], null]}}', b"\xff\xfe",
                    b'{"bots": 7}'):
        path.write_bytes(garbage)
        assert teeplaces.load(path) == {}, garbage
    assert teeplaces.load(tmp_path / "missing") == {}
    assert not teeplaces.save(tmp_path / "no" / "such" / "folder.json", {})
