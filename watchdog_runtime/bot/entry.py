"""How a bot file is entered: its top-level statements, ``recover(ctx)``, then its trading
code (see ``recovery`` for the rules). Pure, on the parsed source; stdlib only and light,
because the bootstrap imports it before every bot's first line.
"""

from __future__ import annotations

import _ast as ast  # the node classes; parse and walk from common.syntax (issue 29)
import os

from ..common.syntax import parse, walk


class Entry:
    """How a bot file is entered (see ``recovery``). A plain class, not a dataclass: this runs
    before every bot's first line, and ``dataclasses`` costs milliseconds to import."""

    __slots__ = ("body", "guards", "has_recover", "calls_main")

    def __init__(self, body: ast.Module, guards: ast.Module | None, has_recover: bool,
                 calls_main: bool) -> None:
        self.body = body
        """The top-level statements, ``__main__`` blocks excluded when the file has ``recover``."""
        self.guards = guards
        """The ``if __name__ == "__main__":`` blocks, run after ``recover``; None without it."""
        self.has_recover = has_recover
        self.calls_main = calls_main
        """Call ``main()`` after the body (and recovery): it exists, and neither a ``__main__``
        block nor the file's own top-level code calls it."""


def analyse(tree: ast.Module) -> Entry:
    """Split a parsed bot file into its entry steps.

    >>> src = "def recover(ctx): pass\\ndef main(): pass\\nif __name__ == '__main__':\\n    main()\\n"
    >>> entry = analyse(parse(src))
    >>> entry.has_recover, len(entry.body.body), len(entry.guards.body), entry.calls_main
    (True, 2, 1, False)
    """
    defined = {node.name for node in tree.body
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    guards = [node for node in tree.body if _is_main_guard(node)]
    has_recover = "recover" in defined
    calls_main = "main" in defined and not guards and not _calls_main(tree)
    if not has_recover:
        return Entry(tree, None, False, calls_main)
    body = [node for node in tree.body if not _is_main_guard(node)]
    return Entry(ast.Module(body=body, type_ignores=[]), ast.Module(body=guards, type_ignores=[]),
                 True, calls_main)


def defines_recover(path: str | os.PathLike[str]) -> bool:
    """Whether the bot file defines a top-level ``recover`` (False when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            tree = parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return False
    return analyse(tree).has_recover


def _calls_main(tree: ast.Module) -> bool:
    """Whether the file's own top-level code calls ``main`` (``main()``,
    ``asyncio.run(main())``): then it is not called a second time after the file ran."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for inner in walk(node):
            if (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name)
                    and inner.func.id == "main"):
                return True
    return False


def _is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (either operand order)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    consts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(consts) == 1
