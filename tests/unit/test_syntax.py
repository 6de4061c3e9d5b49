"""common.syntax: the same trees and the same walk as the ``ast`` module, without importing it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from watchdog_runtime.common.syntax import parse, walk

SOURCES = [
    "import os, sys as system\nfrom a.b import c\n",
    "try:\n    import ccxt\nexcept* ImportError:\n    ccxt = None\n",
    "def recover(ctx):\n    x: int = 1\n    return [y for y in range(x) if y]\n\nasync def main():\n"
    "    async with a as b:\n        await b\n\nif __name__ == '__main__':\n    main()\n",
    "class A(B, metaclass=M):\n    @dec\n    def f(self, *a, k=1, **kw): ...\n"
    "match p:\n    case [1, *rest] if rest: pass\n    case {'k': v}: pass\n",
    "",
]


@pytest.mark.parametrize("source", SOURCES)
def test_the_tree_and_the_walk_are_the_ast_modules(source: str) -> None:
    theirs = ast.dump(ast.parse(source), include_attributes=True)
    assert ast.dump(parse(source), include_attributes=True) == theirs
    ours = [ast.dump(node) for node in walk(parse(source.encode()))]
    assert ours == [ast.dump(node) for node in ast.walk(ast.parse(source))]


def test_errors_are_the_ast_modules() -> None:
    with pytest.raises(SyntaxError) as ours:
        parse("def f(:\n", "bot.py")
    with pytest.raises(SyntaxError) as theirs:
        ast.parse("def f(:\n", "bot.py")
    assert (ours.value.filename, ours.value.lineno, ours.value.msg) == (
        theirs.value.filename, theirs.value.lineno, theirs.value.msg)
    for bad in (b"x = 1\0\n", "x = 1\0\n"):  # a NUL byte: whatever this Python's ast says
        with pytest.raises((SyntaxError, ValueError)) as theirs:
            ast.parse(bad)
        with pytest.raises(type(theirs.value)):
            parse(bad)


def test_a_bot_files_entry_is_read_without_the_ast_module(tmp_path: Path) -> None:
    """What the supervisor and the bootstrap read of a bot file leaves ``ast`` unimported."""
    bot = tmp_path / "bot.py"
    bot.write_text("import ccxt\n\ndef recover(ctx):\n    pass\n\ndef main():\n    pass\n")
    code = (
        "import sys\n"
        "from watchdog_runtime.bot.entry import analyse, defines_recover\n"
        "from watchdog_runtime.common.syntax import parse\n"
        "from watchdog_runtime.installs.discovery import scan_bot\n"
        f"assert defines_recover({str(bot)!r})\n"
        f"assert analyse(parse(open({str(bot)!r}).read())).calls_main\n"
        f"print([i.module for i in scan_bot(__import__('pathlib').Path({str(bot)!r})).imports])\n"
        "print('ast' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["['ccxt']", "False"]
