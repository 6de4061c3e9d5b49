"""Version drift (issue 26): a bot written for an older release of a package it imports.

``from web3.middleware import geth_poa_middleware`` fails on web3 7 (the name was removed;
web3 6.20 has it); ``from telegram.ext.dispatcher import run_async`` fails on
python-telegram-bot 20. This module finds the distribution that owns the failing module in
the bot's venv, then the newest older release that still has the name: newest release of
each lower major first, then of each lower minor of the current major, at most
``MAX_PROBES`` releases, each unpacked (no dependencies, its wheel, or its sdist where no
wheel fits: nothing of the package runs) into a scratch folder and read, not imported. uv's cache
makes each cheap.
"""

from __future__ import annotations

import _ast as ast  # the node classes; parse and walk from common.syntax (issue 29)
import importlib.metadata
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..common.syntax import parse, walk
from .causes import uv_decisive_line
from .missing import MissingModule
from .modmap import is_dist_name, is_import_name, normalize_dist
from .scratch import scratch
from .sdist import SdistError, fetch, newest_below, places, source_roots, unpack
from .uvtool import UvError, run_uv

MAX_PROBES = 6
PROBE_TIMEOUT_S = 120.0
"""Each probe's bound (a wheel download and unpack): six of them never hold a repair long."""
_RELEASE = re.compile(r"^(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Drift:
    """``dist`` ``version`` is installed and lacks ``name`` in ``module`` (or the submodule
    ``module`` itself when ``name`` is None)."""

    dist: str
    version: str
    module: str
    name: str | None

    def lacks(self) -> str:
        """What is missing: ``'geth_poa_middleware' in web3.middleware``."""
        return f"{self.name!r} in {self.module}" if self.name else repr(self.module)


def find_drift(site: Path | None, missing: MissingModule, parent_installed: bool) -> Drift | None:
    """The drift behind ``missing``, when an installed distribution owns its module."""
    if site is None:
        return None
    if missing.imported is not None:
        module, name = missing.name, missing.imported
        if not (is_import_name(module) and is_import_name(name)):
            return None  # error text is untrusted: only import names become paths and patterns
    elif parent_installed and "." in missing.name and is_import_name(missing.name):
        module, name = missing.name, None
    else:
        return None
    owner = owner_of(site, module if name else module.rsplit(".", 1)[0])
    return Drift(owner[0], owner[1], module, name) if owner else None


def owner_of(site: Path, module: str) -> tuple[str, str] | None:
    """(name, version) of the installed distribution whose files hold ``module`` (the
    deepest package of it that one owns: namespaces are shared)."""
    parts = module.split(".")
    wanted = {"/".join(parts[:i]) + suffix for i in range(len(parts), 0, -1)
              for suffix in ("/__init__.py", ".py")}
    best: tuple[int, str, str] | None = None
    for dist in importlib.metadata.distributions(path=[str(site)]):
        for file in dist.files or ():
            path = str(file).replace("\\", "/")
            if path in wanted and (best is None or path.count("/") > best[0]):
                best = (path.count("/"), dist.metadata["Name"] or "", dist.version)
    return (best[1], best[2]) if best and best[1] else None


def probe_bounds(version: str) -> list[str]:
    """The upper bounds to ask for, newest first: each lower major, then each lower minor
    of the current one; ``MAX_PROBES`` at most.

    >>> probe_bounds("7.5.1")
    ['<7', '<6', '<5', '<7.5', '<7.4', '<7.3']
    >>> probe_bounds("0.3")
    ['<0.3', '<0.2', '<0.1']
    """
    found = _RELEASE.match(version)
    if not found:
        return []
    major, minor = int(found.group(1)), int(found.group(2) or 0)
    majors = [f"<{m + 1}" for m in range(major - 1, max(major - 4, -1), -1)]
    minors = [f"<{major}.{m + 1}" for m in range(minor - 1, max(minor - 4, -1), -1)]
    return (majors + minors)[:MAX_PROBES]


def has_it(root: Path, drift: Drift) -> bool:
    """Whether the release unpacked at ``root`` has what the bot imports: the submodule,
    or the name defined, imported or listed in the module's source."""
    parts = drift.module.split(".")
    package = root.joinpath(*parts)
    sources = [package / "__init__.py", package.with_suffix(".py")]
    if drift.name is None:
        return any(p.is_file() for p in sources) or any(package.parent.glob(f"{parts[-1]}.*.so"))
    if (package / f"{drift.name}.py").is_file() or (package / drift.name / "__init__.py").is_file():
        return True
    return any(p.is_file() and binds(p.read_text(encoding="utf-8", errors="replace"), drift.name)
               for p in sources)


def binds(source: str, name: str) -> bool:
    """Whether a module's ``source`` binds ``name`` at its top level (defines, assigns,
    imports it, or lists it in ``__all__``); a word in a comment or a docstring is not the
    name. Where the source cannot tell (a star import, a module ``__getattr__``, a syntax
    of another Python), the word anywhere counts.

    >>> binds("# geth_poa was here\\nother = 1\\n", "geth_poa"), binds("from .m import geth_poa", "geth_poa")
    (False, True)
    """
    word = re.search(rf"\b{re.escape(name)}\b", source) is not None
    try:
        tree = parse(source)
    except (SyntaxError, ValueError):
        return word
    bound: set[str] = set()
    for node in _top_level(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound.update(n.id for t in targets for n in walk(t) if isinstance(n, ast.Name))
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and node.value:
                bound.update(c.value for c in walk(node.value)
                             if isinstance(c, ast.Constant) and isinstance(c.value, str))
    if "*" in bound or "__getattr__" in bound:
        return word
    return name in bound


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements run at a module's top level, those inside if/try/with blocks included."""
    for node in body:
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(node, field, None)
            if isinstance(inner, list):
                yield from _top_level([n for n in inner if isinstance(n, ast.stmt)])
        for handler in getattr(node, "handlers", None) or ():
            yield from _top_level(handler.body)


def last_with(python: Path, drift: Drift, index_args: Sequence[str], timeout_s: float
              ) -> tuple[str | None, tuple[str, ...]]:
    """The newest older release of ``drift.dist`` that has what the bot imports (None when
    none of those probed has it), and the releases probed. Where no wheel fits a bound, the
    newest sdist below it is read (pybit before 5.15 is source-only). Raises ProbeFailed
    when uv could not look at all (its index or wheel folder unreachable)."""
    tried: list[str] = []
    for bound in probe_bounds(drift.version):
        with scratch("drift") as folder:
            probed = _probe(python, drift, bound, folder, index_args, timeout_s)
            if probed is None:
                if bound.count(".") == 0:
                    continue  # no older major: the minors may still have it
                break  # nothing older in this major
            version, roots = probed
            if version is None or version in tried:
                continue
            tried.append(version)
            if any(has_it(root, drift) for root in roots):
                return version, tuple(tried)
    return None, tuple(tried)


def _probe(python: Path, drift: Drift, bound: str, folder: Path, index_args: Sequence[str],
           timeout_s: float) -> tuple[str | None, list[Path]] | None:
    """(version, folders to read) of the newest release below ``bound`` unpacked into
    ``folder``: its wheel, else its sdist (read, never built); None when there is none."""
    try:
        run_uv(["pip", "install", "--quiet", "--no-deps", "--only-binary", ":all:",
                "--target", str(folder), "--python", str(python), *index_args, "--",
                f"{drift.dist}{bound}"], timeout_s=min(timeout_s, PROBE_TIMEOUT_S))
    except UvError as exc:
        if not _no_release(exc.detail):
            raise ProbeFailed(exc.detail or str(exc)) from None
        return _probe_sdist(drift, bound, folder, index_args)
    return _unpacked_version(folder, drift.dist), [folder]


def _probe_sdist(drift: Drift, bound: str, folder: Path, index_args: Sequence[str]
                 ) -> tuple[str | None, list[Path]] | None:
    if not is_dist_name(drift.dist):
        return None  # read from a venv's metadata: only a real name goes into a URL
    try:
        found = newest_below(drift.dist, bound, places(index_args))
        if found is None:
            return None
        (folder / "file").mkdir()
        (folder / "tree").mkdir()
        root = unpack(fetch(found, folder / "file"), folder / "tree")
    except SdistError as exc:
        raise ProbeFailed(f"the sdist of {drift.dist}{bound}: {exc}") from None
    return found.version, source_roots(root)


class ProbeFailed(Exception):
    """uv could not look for older releases; the text is uv's error."""


_NO_SUCH_RELEASE = ("No solution found", "unsatisfiable", "not found in the package registry",
                    "not found in the provided package locations", "no version of",
                    "has no usable wheels", "no wheels with a matching")


def _no_release(detail: str) -> bool:
    """uv answered that no release fits the bound (as opposed to: it could not ask)."""
    return any(words in detail for words in _NO_SUCH_RELEASE)


def _unpacked_version(root: Path, dist: str) -> str | None:
    for found in importlib.metadata.distributions(path=[str(root)]):
        if normalize_dist(found.metadata["Name"] or "") == normalize_dist(dist):
            return found.version
    return None


def refusal(drift: Drift, found: str | None, tried: Sequence[str], eligible: bool, bot: str) -> str:
    """The one line when wdbot does not (or cannot) install the release that has the name.

    >>> refusal(Drift("web3", "7.5.0", "web3.middleware", "geth_poa_middleware"), "6.20.3", ["6.20.3"],
    ...         False, "b")[:96]
    "web3 7.5.0 has no 'geth_poa_middleware' in web3.middleware; web3 6.20.3 has it: pin web3==6.20.3"
    """
    head = f"{drift.dist} {drift.version} has no {drift.lacks()}"
    if found is not None and not eligible:
        return (f"{head}; {drift.dist} {found} has it: pin {drift.dist}=={found} in the bot's "
                f"dependencies (wdbot changes only what it installed itself, or a dependency "
                f"declared without a version), then 'wdbot restart {bot}'")
    looked = f" (nor had {', '.join(tried)})" if tried else " (no older release to look at)"
    return (f"{head}{looked}: the bot was written for another package or an older API; "
            f"declare the distribution and version it needs, then 'wdbot restart {bot}'")


def blind(drift: Drift, error: str, bot: str) -> str:
    """The one line when uv could not look for an older release (``ProbeFailed``).

    >>> blind(Drift("w", "7", "w.m", "x"), "error: Request failed", "b")[:80]
    "w 7 has no 'x' in w.m; wdbot could not look for an older release that has it (uv"
    """
    lines = [line.strip() for line in error.splitlines() if line.strip()] or ["uv failed"]
    head, cause = lines[0].removeprefix("error:").strip(), uv_decisive_line(error)
    said = head if cause in head else f"{head}: {cause}"
    return (f"{drift.dist} {drift.version} has no {drift.lacks()}; wdbot could not look for an "
            f"older release that has it (uv: {said}): check the package index, "
            f"then 'wdbot restart {bot}'")


def pin_note(drift: Drift, found: str) -> str:
    """Why the pin: ``web3 6.20.3: 7.5.0 has no 'geth_poa_middleware' in web3.middleware``."""
    return f"{drift.dist} {found}: {drift.version} has no {drift.lacks()}"
