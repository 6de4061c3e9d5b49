"""Issue 29's lean pieces of the bot's side: the exit record's JSON without ``json``, and the
compiled plan's cache (what it refuses: another version of the file, a torn or foreign cache)."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

from watchdog_runtime.bot import codecache, entry, exitrecord

VALUES = [
    {"code": 1, "type": "ValueError", "message": 'bad "quote" \\ back\nline\ttab \x00\x1f é ☃ \U0001f600',
     "phase": "run", "filename": "/bots/a b.py", "line": None, "lineno": 12, "retried": False,
     "mro": ["builtins.ValueError"], "errno": -5, "ratio": 0.1, "big": 10**30, "nested": {"k": [1, [2]]}},
    {}, {"surrogate": "\udc80", "empty": "", "list": []},
]


def test_the_exit_records_json_reads_back_as_json_dumps_would() -> None:
    """The record ``json.loads`` reads is the one ``json.dumps`` would have written."""
    for value in VALUES:
        assert json.loads(exitrecord.dumps(value)) == json.loads(json.dumps(value))
        assert exitrecord.dumps(value) == json.dumps(value)


def test_an_odd_field_is_written_as_text_never_lost(tmp_path: Path) -> None:
    """Regression: an OSError whose filename was bytes made the old writer raise TypeError, so the
    bot ended with no record at all."""
    path = tmp_path / "exit.json"
    exitrecord.write(str(path), {"filename": b"/x", "path": tmp_path, "code": 1})
    assert json.loads(path.read_text()) == {"filename": "b'/x'", "path": str(tmp_path), "code": 1}
    assert oct(path.stat().st_mode & 0o777) == oct(0o600) and os.listdir(tmp_path) == ["exit.json"]


def _compiled(path: Path) -> codecache.Compiled:
    return codecache.compile_plan(entry.analyse(ast.parse(path.read_text())), str(path))


def test_the_cache_serves_only_the_version_it_was_made_for(tmp_path: Path) -> None:
    bot, cache = tmp_path / "bot.py", str(tmp_path / "entry.cache")
    bot.write_text("def recover(ctx):\n    pass\nx = 1\n")
    key = codecache.identity(str(bot))
    assert key is not None and codecache.load(cache, str(bot)) is None
    codecache.store(cache, key, _compiled(bot))
    found = codecache.load(cache, str(bot))
    assert found is not None and found.has_recover and found.guards is not None
    bot.write_text("x = 2\n")
    assert codecache.load(cache, str(bot)) is None  # another version of the file


def test_a_torn_or_foreign_cache_is_ignored(tmp_path: Path) -> None:
    bot, cache = tmp_path / "bot.py", tmp_path / "entry.cache"
    bot.write_text("x = 1\n")
    key = codecache.identity(str(bot))
    assert key is not None
    codecache.store(str(cache), key, _compiled(bot))
    whole = cache.read_bytes()
    for broken in (whole[: len(whole) - 5], key + b"\nnot marshal", b"", key):
        cache.write_bytes(broken)
        assert codecache.load(str(cache), str(bot)) is None
