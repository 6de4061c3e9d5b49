"""Which distribution provides an import name: the curated table shipped as package data
(``data/modules.txt``), the operator's own pairs, and the names that must be validated before
anything is installed. Pure: no processes, no venv.
"""

from __future__ import annotations

import _ast as ast  # the node classes; parse and walk from common.syntax (issue 29)
import re
from collections.abc import Iterable
from functools import lru_cache

from ..common.leandataclass import dataclass
from ..common.syntax import parse, walk

# The names and the operator's pairs are validated by config too, so they live below the rooms.
from ..modnames import Entry as Entry
from ..modnames import TableError as TableError
from ..modnames import is_dist_name as is_dist_name
from ..modnames import is_import_name as is_import_name
from ..modnames import normalize_dist as normalize_dist
from ..modnames import pairs_to_entries as pairs_to_entries
from ..modnames import parse_key as parse_key


def parse_table(text: str) -> tuple[Entry, ...]:
    """Entries of a table in the ``KEY DISTRIBUTION`` line format (comments start with #)."""
    entries: list[Entry] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) not in (2, 3) or (len(fields) == 3 and not _SPEC_RE.fullmatch(fields[2])):
            raise TableError(f"line {number}: expected 'KEY DISTRIBUTION [BOUND]', got {raw!r}")
        key, dist = fields[:2]
        module, name = parse_key(key)
        if not is_dist_name(dist):
            raise TableError(f"line {number}: bad distribution name {dist!r}")
        if key in seen:
            raise TableError(f"line {number}: {key} is listed twice")
        seen.add(key)
        entries.append(Entry(module, name, dist, fields[2] if len(fields) == 3 else ""))
    return tuple(entries)


_SPEC_RE = re.compile(r"(?:[<>]=?|==|!=|~=)[0-9][0-9a-z.*]*(?:,(?:[<>]=?|==|!=|~=)[0-9][0-9a-z.*]*)*")


def parse_generated(text: str) -> tuple[tuple[Entry, ...], frozenset[tuple[str, str]]]:
    """The generated map (``scripts/build_modmap.py``): ``MODULE DIST`` lines, a module on
    several lines when several distributions provide it, and ``!conflict TOP A B`` lines
    (A and B write the same files); returns the entries and the conflicting pairs."""
    entries: list[Entry] = []
    conflicts: set[tuple[str, str]] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split("#", 1)[0].split()
        if not fields:
            continue
        if fields[0] == "!conflict" and len(fields) == 4 and all(map(is_dist_name, fields[2:])):
            one, other = sorted((normalize_dist(fields[2]), normalize_dist(fields[3])))
            conflicts.add((one, other))
        elif len(fields) == 2 and is_import_name(fields[0]) and is_dist_name(fields[1]):
            entries.append(Entry(fields[0], None, fields[1]))
        else:
            raise TableError(f"generated map, line {number}: {raw!r}")
    return tuple(entries), frozenset(conflicts)


@lru_cache(maxsize=1)
def _generated() -> tuple[tuple[Entry, ...], frozenset[tuple[str, str]]]:
    from importlib import resources  # five modules the supervisor needs only for an install (issue 29)

    data = resources.files("watchdog_runtime.installs").joinpath("data/provides.txt")
    return parse_generated(data.read_text("utf-8")) if data.is_file() else ((), frozenset())


def conflicting(one: str, other: str) -> bool:
    """Whether two distributions write the same files (the generated map says so)."""
    pair = tuple(sorted((normalize_dist(one), normalize_dist(other))))
    return pair in _generated()[1]


@lru_cache(maxsize=1)
def shipped_table() -> tuple[Entry, ...]:
    """The table shipped with wdbot: the curated lines, then the generated map's (read from
    real wheels) for the modules the curated lines do not name."""
    from importlib import resources

    text = resources.files("watchdog_runtime.installs").joinpath("data/modules.txt").read_text("utf-8")
    curated = parse_table(text)
    keys = {e.module for e in curated}
    return curated + tuple(e for e in _generated()[0] if e.module not in keys)


@dataclass(frozen=True)
class ImportStmt:
    """One import statement of the failing line: ``from MODULE import NAMES`` or
    ``import MODULE`` (``names`` empty); ``level`` > 0 for a relative import."""

    module: str
    names: tuple[str, ...] = ()
    level: int = 0

    def paths(self) -> tuple[str, ...]:
        """The module paths it may have been importing (``from a import b`` may mean ``a.b``)."""
        if not self.module:
            return ()
        return (self.module, *(f"{self.module}.{n}" for n in self.names if n != "*"))


_FALLBACK_RE = re.compile(r"^\s*(?:from\s+(\.*)([\w.]*)\s+import\b|import\s+([\w.]+))")


def parse_import_line(line: str | None) -> tuple[ImportStmt, ...]:
    """The import statements in a traceback's source line (one line, maybe cut short).

    >>> parse_import_line("from binance.client import Client")
    (ImportStmt(module='binance.client', names=('Client',), level=0),)
    """
    if not line or not line.strip():
        return ()
    text = line.strip()
    try:
        tree = parse(text)
    except SyntaxError:
        # A multi-line ``from x import (`` shows only its first line: the module still counts.
        match = _FALLBACK_RE.match(text)
        if not match:
            return ()
        dots, frm, imp = match.groups()
        return (ImportStmt(frm or "", (), len(dots or "")) if imp is None else ImportStmt(imp),)
    stmts: list[ImportStmt] = []
    for node in walk(tree):
        if isinstance(node, ast.Import):
            stmts.extend(ImportStmt(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            stmts.append(ImportStmt(node.module or "", tuple(a.name for a in node.names), node.level))
    return tuple(stmts)


@dataclass(frozen=True)
class Resolution:
    """The distribution for a missing module, or None with the candidates that tied."""

    dist: str | None
    candidates: tuple[str, ...] = ()
    spec: str = ""
    """The version bound of the chosen entry (``<81``), or ""."""


def _related(module: str, missing: str) -> bool:
    """``module`` is ``missing``, inside it, or one of its parents."""
    return (module == missing or module.startswith(missing + ".")
            or missing.startswith(module + "."))


def _within(path: str, module: str) -> bool:
    return path == module or path.startswith(module + ".")


def resolve(entries: Iterable[Entry], missing: str, stmts: Iterable[ImportStmt] = (),
            preferred: Iterable[str] = ()) -> Resolution:
    """The distribution of ``entries`` that provides ``missing``.

    One candidate: that one. Several (``binance`` is python-binance, binance-connector and
    binance-futures-connector): the failing import line decides when it names a module path
    or an imported name that only one of them has (the deepest submodule wins); when it
    names one that several have (``binance.lib``), the one of them in ``preferred`` (already
    chosen for another import of the bot: one distribution for one namespace); otherwise
    nothing is guessed.
    """
    stmts = tuple(stmts)
    related = [e for e in entries if _related(e.module, missing)
               and (e.name is None or not stmts or any(s.module == e.module and e.name in s.names
                                                      for s in stmts))]
    dists = _unique(e.dist for e in related)
    if len(dists) <= 1:
        return _resolved(related, dists[0] if dists else None, dists)
    chosen = _deepest(related, stmts)
    if len(chosen) > 1:
        liked = {normalize_dist(p) for p in preferred}
        chosen = [d for d in chosen if normalize_dist(d) in liked] or chosen
    return _resolved(related, chosen[0] if len(chosen) == 1 else None, dists)


def _resolved(related: list[Entry], dist: str | None, dists: list[str]) -> Resolution:
    spec = next((e.spec for e in related if e.dist == dist and e.spec), "")
    return Resolution(dist, tuple(dists), spec)


def _deepest(related: list[Entry], stmts: tuple[ImportStmt, ...]) -> list[str]:
    """The distributions of the deepest entries the import statements name."""
    best: list[Entry] = []
    best_len = -1
    for stmt in stmts:
        if stmt.level:
            continue
        for path in stmt.paths():
            for e in related:
                if not _within(path, e.module):
                    continue
                if e.name is not None and not (stmt.module == e.module and e.name in stmt.names):
                    continue
                depth = e.module.count(".") * 2 + (1 if e.name else 0)
                if depth > best_len:
                    best, best_len = [e], depth
                elif depth == best_len:
                    best.append(e)
    return _unique(e.dist for e in best)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
