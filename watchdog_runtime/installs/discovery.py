"""Whole-file dependency discovery: the absolute imports of a bot's own files, read with
``ast`` before the bot runs, so every missing package is installed in one round instead of
one crash per module.

Pure parsing (:func:`imports_in_source`) plus reading the bot's folder (:func:`scan_bot`):
the entry file and the modules of its folder that it imports, transitively. What the venv
lacks is asked of the venv itself (``venvprobe``); what may be installed is the allowlist's
business (``autoinstall``). Static discovery is advisory: a refused or unneeded name is
skipped here, and the crash path (a real ``ModuleNotFoundError``) stays the safety net for
dynamic imports.
"""

from __future__ import annotations

import _ast as ast  # the node classes; parse and walk from common.syntax (issue 29)
from collections.abc import Iterator
from pathlib import Path

from ..common.leandataclass import dataclass
from ..common.syntax import parse
from .modmap import ImportStmt, is_import_name

MAX_FILES = 200
"""Bound on the local modules followed: a bot's folder may be a whole project."""
MAX_FILE_BYTES = 2_000_000

# ``ast.TryStar`` (except*, 3.11+) has the same fields as ``ast.Try``; mypy reads it as one.
_TRY: tuple[type[ast.Try], ...] = (ast.Try, *([ast.TryStar] if hasattr(ast, "TryStar") else []))
_OPTIONAL_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


@dataclass(frozen=True)
class FoundImport:
    """One absolute import of the bot's code: ``module`` as written, the statement (so a
    shared name like ``binance`` is resolved as the crash path would), where it is."""

    module: str
    stmt: ImportStmt
    filename: str
    line: int
    certain: bool = False
    """A statement of the module's own top level (not in a function, a branch or a ``try``):
    the file cannot run past it without the module."""

    @property
    def import_line(self) -> str:
        """The statement as source text, the form the crash path hands the policy."""
        if self.stmt.names:
            return f"from {self.stmt.module} import {', '.join(self.stmt.names)}"
        return f"import {self.stmt.module}"


def imports_in_source(source: str, filename: str = "<bot>") -> tuple[FoundImport, ...]:
    """The absolute imports of ``source`` that the bot needs.

    Left out: relative imports, imports under ``try: ... except ImportError`` (optional by
    the author's own design), and ``if TYPE_CHECKING:`` blocks. A file that does not parse
    gives nothing (``start`` reports the syntax error on its own).

    >>> [f.module for f in imports_in_source("import ccxt, os\\nfrom pandas import DataFrame\\n"
    ...  "try:\\n    import ujson\\nexcept ImportError:\\n    ujson = None\\n")]
    ['ccxt', 'os', 'pandas']
    """
    try:
        tree = parse(source, filename)
    except (SyntaxError, ValueError):
        return ()
    return tuple(_walk(tree.body, filename, top=True))


def _walk(body: list[ast.stmt], filename: str, top: bool = False) -> Iterator[FoundImport]:
    for node in body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if is_import_name(alias.name):
                    yield FoundImport(alias.name, ImportStmt(alias.name), filename, node.lineno, top)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and is_import_name(node.module):
                stmt = ImportStmt(node.module, tuple(a.name for a in node.names))
                yield FoundImport(node.module, stmt, filename, node.lineno, top)
        elif isinstance(node, _TRY) and _guards_imports(node):
            # The fallbacks in its handlers are optional too (``except ImportError: import json``).
            yield from _walk(node.orelse + node.finalbody, filename)
        elif isinstance(node, ast.If) and _name(node.test) == "TYPE_CHECKING":
            yield from _walk(node.orelse, filename)
        else:
            for field in ("body", "orelse", "finalbody"):
                inner = getattr(node, field, None)
                if isinstance(inner, list):
                    yield from _walk(inner, filename)
            for holder in (*getattr(node, "handlers", ()), *getattr(node, "cases", ())):
                yield from _walk(holder.body, filename)


def _guards_imports(node: ast.Try) -> bool:
    """``try`` whose handlers catch an import failure: what it tries is optional."""
    for handler in node.handlers:
        if handler.type is None:
            return True
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(_name(t) in _OPTIONAL_ERRORS for t in types):
            return True
    return False


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


@dataclass(frozen=True)
class Scan:
    """What :func:`scan_bot` found: the third-party-looking imports, and the bot's own files
    it read (their sizes and times make the fingerprint that spares a rescan)."""

    imports: tuple[FoundImport, ...]
    files: tuple[str, ...]
    local_names: frozenset[str]


def scan_bot(entry: Path) -> Scan:
    """Read ``entry`` and, transitively, the modules of its folder that it imports.

    Imports of the bot's own modules are followed, not reported; everything else is.
    """
    folder = entry.parent
    found: list[FoundImport] = []
    seen: set[Path] = set()
    local: set[str] = set()
    todo = [entry]
    while todo and len(seen) < MAX_FILES:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            source = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for item in imports_in_source(source, str(path)):
            own = _local_module(folder, item)
            if own is None:
                found.append(item)
            else:
                local.add(item.module.split(".")[0])
                todo.extend(own)
    return Scan(tuple(found), tuple(sorted(str(p) for p in seen)), frozenset(local))


def _local_module(folder: Path, item: FoundImport) -> list[Path] | None:
    """The files of the bot's folder that ``item`` imports, or None when it is not local."""
    parts = item.module.split(".")
    if (folder / f"{parts[0]}.py").is_file():
        return [folder / f"{parts[0]}.py"]
    if not (folder / parts[0]).is_dir():
        return None
    files: list[Path] = []
    base = folder.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py",
                      *(base / f"{n}.py" for n in item.stmt.names if is_import_name(n))):
        if candidate.is_file():
            files.append(candidate)
    return files


def fingerprint(scan_files: tuple[str, ...]) -> str:
    """Changes when one of the bot's files changes (size or modification time)."""
    parts = []
    for name in scan_files:
        try:
            st = Path(name).stat()
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{name}:-")
    return "|".join(parts)
