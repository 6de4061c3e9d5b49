"""Log rotation by the writing process itself: real files and descriptors, no threads (the
watch loop is ``rotate_if_due`` on a timer)."""

from __future__ import annotations

import os
from pathlib import Path

from watchdog_runtime.common.logheld import Retired
from watchdog_runtime.common.logrotate import RotationPolicy, backup, prune, rotate_if_due

POLICY = RotationPolicy(max_bytes=1000, backups=3)


def open_log(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


def test_a_descriptor_is_moved_to_a_fresh_file_without_losing_a_write(tmp_path: Path) -> None:
    log = tmp_path / "stdout.log"
    fd = open_log(log)
    try:
        os.write(fd, b"a" * 999)
        assert not rotate_if_due(log, (fd,), POLICY)  # not due yet
        os.write(fd, b"b\n")
        assert rotate_if_due(log, (fd,), POLICY)
        os.write(fd, b"after\n")
    finally:
        os.close(fd)
    assert backup(log, 1).read_bytes() == b"a" * 999 + b"b\n"
    assert log.read_bytes() == b"after\n"
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_copies_shift_up_and_the_oldest_go(tmp_path: Path) -> None:
    log = tmp_path / "stderr.log"
    fd = open_log(log)
    try:
        for n in range(6):
            os.write(fd, str(n).encode() * 1000)
            assert rotate_if_due(log, (fd,), POLICY)
    finally:
        os.close(fd)
    assert [backup(log, i).read_bytes()[:1] for i in (1, 2, 3)] == [b"5", b"4", b"3"]
    assert not backup(log, 4).exists()


def test_copies_are_pruned_to_the_total_budget(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    for n, size in ((1, 2500), (2, 900), (3, 500)):  # .1 overshot: written fast between checks
        backup(log, n).write_bytes(b"x" * size)
    prune(log, POLICY)
    assert backup(log, 1).exists() and not backup(log, 2).exists() and not backup(log, 3).exists()
    backup(log, 1).write_bytes(b"x" * 9000)  # far over the budget alone: still the newest lines
    prune(log, POLICY)
    assert backup(log, 1).exists()


def test_only_the_file_the_descriptor_writes_to_is_rotated(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    fd = open_log(tmp_path / "other.log")
    log.write_bytes(b"x" * 5000)
    try:
        assert not rotate_if_due(log, (fd,), POLICY)
    finally:
        os.close(fd)
    assert log.stat().st_size == 5000 and not backup(log, 1).exists()


def test_stdout_and_stderr_sharing_one_file_both_move(tmp_path: Path) -> None:
    log = tmp_path / "supervisor.log"
    out = open_log(log)
    err = os.dup(out)
    try:
        os.write(out, b"x" * 1000)
        assert rotate_if_due(log, (out, err), POLICY)
        os.write(out, b"out\n")
        os.write(err, b"err\n")
    finally:
        os.close(out)
        os.close(err)
    assert log.read_bytes() == b"out\nerr\n"


def test_a_copy_a_helper_holds_is_emptied_before_it_is_deleted(tmp_path: Path) -> None:
    """Issue 23 point 4: a pruned copy that a helper still held kept its space, a deleted
    file neither ls nor du showed."""
    log = tmp_path / "stdout.log"
    bot = open_log(log)
    helper = os.dup(bot)  # a child that inherited stdout before the rotations
    try:
        os.write(bot, b"a" * 1000)
        for _ in range(POLICY.backups + 1):
            assert rotate_if_due(log, (bot,), POLICY)
            os.write(bot, b"b" * 1000)
        info = os.fstat(helper)
        assert info.st_nlink == 0 and info.st_size == 0  # deleted, and emptied first
    finally:
        os.close(bot)
        os.close(helper)


def test_a_retired_file_that_someone_still_writes_to_stays_bounded(tmp_path: Path) -> None:
    log = tmp_path / "stdout.log"
    bot = open_log(log)
    helper = os.dup(bot)
    retired = Retired(POLICY.max_bytes)
    try:
        os.write(bot, b"a" * 1000)
        assert rotate_if_due(log, (bot,), POLICY, retired) and not retired.tend()
        os.write(helper, b"h" * 3000)  # the helper writes to stdout.log.1
        assert retired.tend()
        assert backup(log, 1).read_text().startswith("[wdbot: 4000 bytes that a process still holding")
        for _ in range(POLICY.backups + 1):  # the copy is pruned away: deleted
            os.write(bot, b"b" * 1000)
            assert rotate_if_due(log, (bot,), POLICY, retired)
        for _ in range(3):
            os.write(helper, b"h" * 5000)
            assert retired.tend()
            info = os.fstat(helper)
            assert info.st_nlink == 0 and info.st_size == 0
        assert not retired.tend()  # quiet: nothing to do
    finally:
        retired.close()
        os.close(bot)
        os.close(helper)


def test_the_held_descriptors_are_few_those_that_grew_kept_first(tmp_path: Path) -> None:
    log = tmp_path / "stdout.log"
    retired = Retired(POLICY.max_bytes, limit=2)
    first = open_log(log)
    try:
        retired.keep(os.dup(first))
        os.write(first, b"x")
        assert retired.tend()
        for _ in range(3):
            retired.keep(open_log(tmp_path / "quiet.log"))
        assert len(retired.held) == 2 and retired.held[0].grew
    finally:
        retired.close()
        os.close(first)


def test_a_symlinked_copy_is_deleted_but_its_target_never_emptied(tmp_path: Path) -> None:
    """Emptying a copy before deleting it must not follow a link a bot planted among them."""
    log = tmp_path / "stdout.log"
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    backup(log, 3).symlink_to(precious)
    log.write_bytes(b"x" * 1000)
    for n in (1, 2):
        backup(log, n).write_bytes(b"y" * 10)
    fd = open_log(log)
    try:
        assert rotate_if_due(log, (fd,), POLICY)
    finally:
        os.close(fd)
    assert precious.read_text() == "keep me"
    assert not backup(log, 3).is_symlink()
