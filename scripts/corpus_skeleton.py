"""Make a corpus entry from a real bot file: its import skeleton.

The corpus keeps, for each real public bot, every import statement in the place the author
put it (module level, a function, a ``try: ... except ImportError``, an ``if`` block) and
nothing else of its code: the bodies are reduced to what holds an import. That is all
dependency discovery reads, and all the corpus test needs; the bot's own code stays with its
authors (the header names where it lives, at which commit, and under which licence).

    python scripts/corpus_skeleton.py BOT.py --origin URL --licence SPDX [--drop config] \
        > tests/corpus/NAME.py
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

MARKER = "wdbot-corpus: past its imports"


def skeleton(source: str, drop: frozenset[str] = frozenset()) -> str:
    """The import skeleton of ``source`` as Python text, without the imports of the top-level
    names in ``drop`` (the bot's own modules beside it: ``config``, ``credentials``)."""
    tree = ast.parse(source)
    tree.body = _reduce(tree.body) or [ast.Pass()]
    if drop:
        _Dropper(drop).visit(tree)
        ast.fix_missing_locations(tree)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _reduce(body: list[ast.stmt]) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for node in body:
        kept = _reduce_one(node)
        if kept is not None:
            out.append(kept)
    return out


def _reduce_one(node: ast.stmt) -> ast.stmt | None:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return node
    if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
        inner = _reduce(node.body)  # type: ignore[attr-defined]
        reduced = [(h.type, _reduce(h.body)) for h in node.handlers]  # type: ignore[attr-defined]
        orelse, final = _reduce(node.orelse), _reduce(node.finalbody)  # type: ignore[attr-defined]
        if not (inner or any(body for _, body in reduced) or orelse or final):
            return None
        handlers = [ast.ExceptHandler(type=t, name=None, body=body or [ast.Pass()]) for t, body in reduced]
        return ast.Try(body=inner or [ast.Pass()], handlers=handlers or [
            ast.ExceptHandler(type=ast.Name("ImportError"), name=None, body=[ast.Pass()])],
            orelse=orelse, finalbody=final)
    if isinstance(node, ast.If):
        body, orelse = _reduce(node.body), _reduce(node.orelse)
        if not (body or orelse):
            return None
        # The condition stays only when it is a plain name (TYPE_CHECKING, __name__ tests).
        test = node.test if _plain(node.test) else ast.Constant(True)
        return ast.If(test=test, body=body or [ast.Pass()], orelse=orelse)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        body = _reduce(node.body)
        if not body:
            return None
        if isinstance(node, ast.ClassDef):
            return ast.ClassDef(name=node.name, bases=[], keywords=[], body=body, decorator_list=[],
                                type_params=[])
        return ast.FunctionDef(name=node.name, args=ast.arguments(
            posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]),
            body=body, decorator_list=[], returns=None, type_params=[])
    for field in ("body", "orelse", "finalbody"):  # with, for, while, match: their imports
        inner = getattr(node, field, None)
        if isinstance(inner, list):
            kept = _reduce(inner)
            if kept:
                return ast.If(test=ast.Constant(True), body=kept, orelse=[])
    return None


class _Dropper(ast.NodeTransformer):
    """Removes the imports of the bot's own modules (a lone bot file runs without them)."""

    def __init__(self, drop: frozenset[str]) -> None:
        self.drop = drop

    def visit_Import(self, node: ast.Import) -> ast.AST | None:
        node.names = [a for a in node.names if a.name.split(".")[0] not in self.drop]
        return node if node.names else None

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST | None:
        if node.level or (node.module or "").split(".")[0] in self.drop:
            return None
        return node


def _plain(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return True
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__")


def entry(source: str, origin: str, licence: str, drop: frozenset[str] = frozenset()) -> str:
    """The corpus file: a header saying where the bot lives, its skeleton, a marker line."""
    dropped = f"# the bot's own modules, left out: {', '.join(sorted(drop))}\n" if drop else ""
    return (f"# wdbot corpus: the import skeleton of a real public bot (scripts/corpus_skeleton.py)\n"
            f"# origin: {origin}\n# licence: {licence}\n{dropped}\n"
            f"{skeleton(source, drop)}\nprint({MARKER!r}, flush=True)\n"
            f"import time\nwhile True:\n    time.sleep(3600)\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--origin", required=True, help="the file's URL at a fixed commit")
    parser.add_argument("--licence", required=True,
                        help="SPDX identifier (permissive only), or 'none stated' for a repository "
                             "without a licence (its import lines alone are kept)")
    parser.add_argument("--drop", action="append", default=[], metavar="MODULE",
                        help="a module of the bot's own repository, left out (repeatable)")
    ns = parser.parse_args(argv)
    sys.stdout.write(entry(ns.file.read_text(encoding="utf-8"), ns.origin, ns.licence, frozenset(ns.drop)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
