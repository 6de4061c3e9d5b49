"""The warm spare's pure parts (issue 29): what a waiting spare's environment hides, what it
preloads, when it may be used, and how the next supervisor adopts a released one."""

from __future__ import annotations

from pathlib import Path

from watchdog_runtime.bot import spare as protocol
from watchdog_runtime.registry import RunRecord
from watchdog_runtime.supervisor.adoption import choose_own
from watchdog_runtime.supervisor.identity import ProcessIdentity
from watchdog_runtime.supervisor.procs import Marked
from watchdog_runtime.supervisor.warmspare import key_for, preload_names, spare_env


def test_a_waiting_spare_names_no_bot_and_keeps_the_lengths() -> None:
    env = {"WDBOT_BOT_ID": "abc123:grid", "WDBOT_RUN_ID": "f" * 32, "WDBOT_HOME": "/h",
           "WDBOT_BOT_NAME": "grid", "WDBOT_CGROUP": "/sys/fs/cgroup/x/bot-grid", "PATH": "/bin"}
    out = spare_env(env, "WDBOT_BOT_ID", 7, ["ccxt", "pandas"], Path("/sys/fs/cgroup/x/spare-grid"))
    for name in ("WDBOT_BOT_ID", "WDBOT_RUN_ID", "WDBOT_HOME", "WDBOT_BOT_NAME"):
        assert set(out[name]) == {"~"} and len(out[name]) == len(env[name])  # overwritten in place
    assert "WDBOT_CGROUP" not in out  # it joins the bot's cgroup only at the release
    assert out[protocol.FD_ENV] == "7" and out[protocol.PRELOAD_ENV] == "ccxt,pandas"
    assert out[protocol.LEAF_ENV] == "/sys/fs/cgroup/x/spare-grid" and out["PATH"] == "/bin"


def test_only_the_top_level_third_party_imports_are_preloaded(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("")
    (tmp_path / "strategies").mkdir()
    bot = tmp_path / "bot.py"
    bot.write_text("import ccxt, helpers\nfrom pandas import DataFrame\nimport strategies.grid\n"
                   "try:\n    import ujson\nexcept ImportError:\n    ujson = None\n"
                   "def main():\n    import numpy\n")
    assert preload_names(str(bot)) == ["ccxt", "pandas"]


def test_a_spare_is_for_its_own_start_only(tmp_path: Path) -> None:
    python, venv = tmp_path / "venv/bin/python", tmp_path / "venv"
    base = key_for(python, "/b/grid.py", ("--x",), {"PATH": "/bin", "LANG": "C"}, (("A", "1"),), venv)
    assert base == key_for(python, "/b/grid.py", ("--x",), {"PATH": "/usr/bin", "LANG": "C",
                                                             "WDBOT_RUN_ID": "r"}, (("A", "1"),), venv)
    assert base != key_for(python, "/b/grid.py", ("--x",), {"LANG": "C.UTF-8"}, (("A", "1"),), venv)
    assert base != key_for(python, "/b/grid.py", ("--x",), {"LANG": "C"}, (("A", "2"),), venv)
    assert base != key_for(python, "/b/grid.py", (), {"LANG": "C"}, (("A", "1"),), venv)


def test_a_released_spare_is_adopted_by_its_pid_written_ahead() -> None:
    """The spare's pid is in the write-ahead record before it runs the bot: a supervisor that
    died before recording the run adopts it by identity, when the process is the bot's (it
    carries the run's id, or it is the bot's spare not yet released); never any other process
    a foreign record names (red team rt29)."""
    ident = ProcessIdentity(42, 1.0, 500, "b")
    pending = RunRecord(42, 1.0, "r2", "t", start_ticks=500, boot_id="b")
    marked = [Marked(ident, "r2", True)]
    assert choose_own(None, pending, marked, lambda i: i == ident) == (ident, pending)
    assert choose_own(None, pending, [], lambda i: i == ident, lambda i: True) == (ident, pending)
    assert choose_own(None, pending, [], lambda i: i == ident) is None  # not the bot's process
    assert choose_own(None, pending, [], lambda i: False, lambda i: True) is None  # it read its end of file
