"""``ast.parse`` and ``ast.walk`` on the interpreter's built-in ``_ast`` alone (issue 29).

The supervisor reads every bot file it starts (``recover``, the imports auto-install looks
for), and the bootstrap reads it before the bot's first line. The ``ast`` module adds nothing
to that but Python code of its own (the unparser, ``literal_eval``, the visitors): about
0.3 MiB the supervisor would hold for life, and an import before every bot's start. The node
classes are ``_ast``'s (``ast.Import`` is ``_ast.Import``): modules name them through
``import _ast as ast`` and take these two functions from here. Standard library only.
"""

from __future__ import annotations

import _ast
from collections import deque
from collections.abc import Iterator


def parse(source: str | bytes, filename: str = "<unknown>") -> _ast.Module:
    """The syntax tree of a module's ``source`` (as ``ast.parse(source, filename)``); raises
    SyntaxError as it does (or ValueError for a NUL byte, as older Pythons' ``ast`` does)."""
    tree = compile(source, filename, "exec", _ast.PyCF_ONLY_AST)
    return tree  # type: ignore[return-value]  # a Module: mode "exec" with PyCF_ONLY_AST


def walk(node: _ast.AST) -> Iterator[_ast.AST]:
    """``node`` and every node below it, breadth first (as ``ast.walk``)."""
    todo = deque([node])
    while todo:
        node = todo.popleft()
        for name in node._fields:
            child = getattr(node, name, None)
            if isinstance(child, _ast.AST):
                todo.append(child)
            elif isinstance(child, list):
                todo.extend(item for item in child if isinstance(item, _ast.AST))
        yield node
