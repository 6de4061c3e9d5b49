"""How a bot file is entered (pure, on parsed source), and the recovery context."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from watchdog_runtime.bot.recovery import Context, analyse, defines_recover, encode_context


def entry_of(source: str) -> tuple[bool, list[str], list[str] | None, bool]:
    entry = analyse(ast.parse(source))
    body = [type(n).__name__ for n in entry.body.body]
    guards = [type(n).__name__ for n in entry.guards.body] if entry.guards else None
    return entry.has_recover, body, guards, entry.calls_main


def test_a_plain_script_runs_whole() -> None:
    assert entry_of("import time\nprint(1)\n") == (False, ["Import", "Expr"], None, False)


def test_main_without_a_guard_is_called() -> None:
    assert entry_of("def main(): pass\n") == (False, ["FunctionDef"], None, True)
    assert entry_of("async def main(): pass\n")[3] is True


@pytest.mark.parametrize("call", ["main()", "asyncio.run(main())",
                                  "try:\n    main()\nexcept KeyboardInterrupt:\n    pass"])
def test_a_main_the_file_calls_itself_is_not_called_again(call: str) -> None:
    """Regression (issue 24): ``asyncio.run(main())`` at the top of a file without a guard ran
    main a second time once the first returned: a bot that returned from a stop (its
    ``except KeyboardInterrupt``) traded again until its SIGKILL."""
    assert entry_of(f"import asyncio\nasync def main(): pass\n{call}\n")[3] is False


def test_without_recover_the_guard_stays_in_place() -> None:
    src = "def main(): pass\nif __name__ == '__main__':\n    main()\nx = 1\n"
    assert entry_of(src) == (False, ["FunctionDef", "If", "Assign"], None, False)


@pytest.mark.parametrize("guard", ["__name__ == '__main__'", "'__main__' == __name__"])
def test_with_recover_the_guards_run_after_it(guard: str) -> None:
    src = f"import os\ndef recover(ctx): pass\nif {guard}:\n    print('trade')\nx = 1\n"
    assert entry_of(src) == (True, ["Import", "FunctionDef", "Assign"], ["If"], False)


def test_other_ifs_and_nested_definitions_do_not_count() -> None:
    src = "if __name__ != '__main__':\n    pass\nclass Bot:\n    def recover(self, ctx): pass\n"
    assert entry_of(src)[0] is False and entry_of(src)[1] == ["If", "ClassDef"]


def test_defines_recover_reads_the_file_and_tolerates_broken_ones(tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text("async def recover(ctx):\n    pass\n")
    broken = tmp_path / "broken.py"
    broken.write_text("def recover(ctx:\n")
    assert defines_recover(good) is True
    assert defines_recover(broken) is False and defines_recover(tmp_path / "gone.py") is False


def test_the_context_round_trips_through_the_environment(tmp_path: Path) -> None:
    last = {"code": None, "signal": 9, "reason": "memory_limit", "error": "RSS 900 MiB", "at": "x"}
    env = {"WDBOT_BOT_NAME": "grid", "WDBOT_STATE_DIR": str(tmp_path),
           "WDBOT_CONTEXT": encode_context("memory_limit", 4, last, 12.3456)}
    ctx = Context.from_env(env)
    assert (ctx.name, ctx.reason, ctx.restarts, ctx.downtime_s) == ("grid", "memory_limit", 4, 12.346)
    assert ctx.last_exit is not None and (ctx.last_exit.signal, ctx.last_exit.reason) == (9, "memory_limit")
    assert ctx.state_dir == tmp_path
    assert "at" not in json.loads(env["WDBOT_CONTEXT"])["last_exit"]


def test_outside_wdbot_the_context_is_a_first_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ctx = Context.from_env({"WDBOT_CONTEXT": "not json"})
    assert (ctx.name, ctx.reason, ctx.restarts, ctx.last_exit, ctx.downtime_s) == \
        ("bot", "first_start", 0, None, None)
    assert ctx.state_dir == tmp_path / ".wdbot-state"
