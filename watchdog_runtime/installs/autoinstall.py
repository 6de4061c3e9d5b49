"""Auto-install policy: whether, and what, to install for a bot that died of a missing module.

Pure: the supervisor gathers the facts (is the name in the bot's standard library, a file of
its own folder, a submodule of a package already installed) and this module decides. Every
refusal is one line saying why and exactly what the user can do.

The safety rules come first and no policy overrides them: the name must be a valid import
name; never a relative import, a standard-library name, a module of the bot's own folder,
or a submodule of an installed package (that is a broken install, and installing something
else under that name is how typosquatting works); at most three installs until the bot next
runs healthy; never the same module twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ..common.leandataclass import dataclass
from ..spec import AutoInstall
from .missing import MissingModule
from .modmap import (
    Entry,
    ImportStmt,
    is_dist_name,
    is_import_name,
    normalize_dist,
    parse_import_line,
    resolve,
)

MAX_ATTEMPTS = 3
_REQ_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Facts:
    """What the supervisor found out about the missing name, in the bot's own world."""

    stdlib: bool
    """Its top-level name is in the standard library of the bot's Python."""
    local: bool
    """Its top-level name is a file or folder of the bot's folder."""
    parent_installed: bool
    """It is dotted and its parent is a regular package installed in the bot's venv."""


@dataclass(frozen=True)
class Budget:
    """Auto-install's attempts for one bot since it last ran healthy: the modules installed
    and the rounds (uv calls) spent, against ``basis``, a fingerprint of the bot's declared
    dependencies and the operator's pairs. A restart keeps the budget; changing either of
    those (declaring a dependency, ``wdbot allow``) gives the three rounds back.

    >>> Budget(("yaml",), 3, "a").rebased("a").rounds, Budget(("yaml",), 3, "a").rebased("b").rounds
    (3, 0)
    """

    modules: tuple[str, ...] = ()
    rounds: int = 0
    basis: str = ""

    @property
    def exhausted(self) -> bool:
        return self.rounds >= MAX_ATTEMPTS

    def rebased(self, basis: str) -> Budget:
        """The budget against ``basis``: a fresh one when the dependencies changed."""
        return self if basis == self.basis else Budget(basis=basis)

    def spent(self, modules: Sequence[str]) -> Budget:
        """After one install round that installed ``modules``."""
        return Budget((*self.modules, *modules), self.rounds + 1, self.basis)

    def healthy(self) -> Budget:
        """The bot ran healthy: the rounds are given back."""
        return Budget(basis=self.basis)


@dataclass(frozen=True)
class Install:
    """Install ``requirement`` (distribution ``dist``) for ``module``; ``source`` says why it
    is allowed: ``table``, ``declared``, ``allowed`` (the operator's pairs) or ``any``."""

    module: str
    dist: str
    requirement: str
    source: str


@dataclass(frozen=True)
class Refuse:
    """Nothing is installed; ``message`` says why and what to do."""

    module: str
    message: str


def requirement_name(requirement: str) -> str | None:
    """The distribution name a requirement string starts with (``foo[x]>=1`` -> ``foo``)."""
    match = _REQ_NAME_RE.match(requirement)
    return match.group(1) if match and is_dist_name(match.group(1)) else None


def _broken_parent(name: str, facts: Facts, entries: Iterable[Entry]) -> str | None:
    """Why a submodule missing from an installed parent is not installed, or None. A
    submodule the map gives to its own distribution (google.cloud.storage beside an
    installed google.cloud) is another package of a shared namespace, not a broken install."""
    if facts.parent_installed and not any(e.module == name or e.module.startswith(name + ".")
                                          for e in entries):
        parent = name.rsplit(".", 1)[0]
        return (f"the installed {parent!r} has no {name!r}: a broken install or another "
                f"version than the bot needs; pin the right version in its dependencies")
    return None


def plan(
    missing: MissingModule,
    *,
    bot: str,
    policy: AutoInstall,
    facts: Facts,
    table: Iterable[Entry],
    allowed: Iterable[Entry] = (),
    declared: Sequence[str] = (),
    installed_before: Sequence[str] = (),
    rounds: int = 0,
    preferred: Sequence[str] = (),
) -> Install | Refuse:
    """Decide for one missing module. ``installed_before`` lists the modules already
    installed for this bot since it last ran healthy, in ``rounds`` install rounds (one uv
    call each, however many modules it installed)."""
    name = missing.name

    def refuse(why: str) -> Refuse:
        return Refuse(name, why)

    if policy is AutoInstall.OFF:
        return refuse(f"auto-install is off for {bot}: add the package to the bot's dependencies "
                      f"(or start it with --auto-install allowlist), then 'wdbot restart {bot}'")
    if not is_import_name(name):
        return refuse("not a valid import name: nothing was installed")
    stmts = [s for s in parse_import_line(missing.import_line) if _mentions(s, name)]
    if any(s.level for s in stmts):
        return refuse("a relative import of the bot's own package, not a missing package: "
                      "fix the import")
    top = name.split(".")[0]
    if (why := _not_a_package(top, facts)) is not None:
        return refuse(why)
    table, allowed = list(table), list(allowed)
    if (why := _broken_parent(name, facts, (*table, *allowed))) is not None:
        return refuse(why)
    if name in installed_before:
        return refuse(f"still missing after wdbot installed a package for it: the package does "
                      f"not provide it; add the right one to the bot's dependencies, then "
                      f"'wdbot restart {bot}'")
    if rounds >= MAX_ATTEMPTS:
        return refuse(f"still missing after {MAX_ATTEMPTS} install rounds (wdbot installed "
                      f"{', '.join(installed_before) or 'nothing'}): declare the bot's "
                      f"dependencies, then 'wdbot restart {bot}'")
    choice = _choose(name, bot, policy, stmts, table, allowed, declared, preferred)
    from .causes import needs_windows  # a decision for a missing module only (issue 29)

    if isinstance(choice, Install) and (windows := needs_windows(top, choice.dist)) is not None:
        return refuse(windows)
    return choice


def _not_a_package(top: str, facts: Facts) -> str | None:
    """Why ``top`` is nothing PyPI provides for this bot: Windows-only, the standard library,
    a file of the bot's own."""
    from .causes import needs_windows  # only with something missing: its tables (issue 29)

    if (windows := needs_windows(top)) is not None:
        # Before the standard library: sys.stdlib_module_names lists winsound on Linux too.
        return windows
    if facts.stdlib:
        return (f"{top!r} is part of Python's standard library, which nothing from PyPI "
                f"replaces: check the bot's Python (--python)")
    if facts.local:
        return (f"{top!r} is a file or folder beside the bot, not a package: fix the import "
                f"or the file's name")
    return None


def _mentions(stmt: ImportStmt, name: str) -> bool:
    top = name.split(".")[0]
    return stmt.level > 0 or any(p.split(".")[0] == top for p in stmt.paths())


def _choose(name: str, bot: str, policy: AutoInstall, stmts: Sequence[ImportStmt],
            table: list[Entry], allowed: list[Entry], declared: Sequence[str],
            preferred: Sequence[str] = ()) -> Install | Refuse:
    by_name = {normalize_dist(n): r for r in declared if (n := requirement_name(r))}
    operator = resolve(allowed, name, stmts, preferred)
    shipped = resolve(table, name, stmts, preferred)
    # 1. The operator's own pair wins.
    if operator.dist:
        return _install(name, operator.dist, by_name.get(normalize_dist(operator.dist)), "allowed")
    # 2. A declared dependency: its own name, or the table's candidate the bot declared.
    top = name.split(".")[0]
    for dist in (top, *([shipped.dist] if shipped.dist else shipped.candidates)):
        if dist and normalize_dist(dist) in by_name:
            declared_req = by_name[normalize_dist(dist)]
            return _install(name, requirement_name(declared_req) or dist, declared_req, "declared")
    # 3. The shipped table.
    if shipped.dist:
        return _install(name, shipped.dist, None, "table", shipped.spec)
    if len(shipped.candidates) > 1:
        return Refuse(name, f"{name!r} comes from several packages ({', '.join(shipped.candidates)}) "
                            f"and the failing import does not say which: declare the one the bot "
                            f"uses, or run 'wdbot allow {name}=DIST', then 'wdbot restart {bot}'")
    # 4. Under ``any``, a name in none of them is installed under its own name.
    if policy is AutoInstall.ANY and is_dist_name(top):
        return _install(name, top, None, "any")
    return Refuse(name, f"{top!r} is not in the auto-install allowlist: if you trust the package, "
                        f"run 'wdbot allow {top}=DIST' (DIST its name on PyPI) or declare it in the "
                        f"bot's dependencies, then 'wdbot restart {bot}'")


def _install(module: str, dist: str, declared: str | None, source: str, spec: str = ""
             ) -> Install | Refuse:
    if not is_dist_name(dist):
        return Refuse(module, f"{dist!r} is not a valid distribution name: nothing was installed")
    requirement = declared.strip() if declared else dist + spec
    if requirement.startswith("-") or "\n" in requirement:
        return Refuse(module, f"the declared requirement {requirement!r} is not one: fix it")
    return Install(module=module, dist=dist, requirement=requirement, source=source)


# ------------------------------------------------------------------ the record
@dataclass(frozen=True)
class Installed:
    """One auto-install, as ``status --json`` shows it and the record file keeps it."""

    module: str
    package: str
    version: str
    at: str = ""
    from_source: bool = False
    """Installed by a uv call that could build from source (no wheel fitted)."""
    note: str = ""
    """Why this release and not the newest, or why this pin (issue 26): "lumibot 0.0.3
    instead of 4.6.30: ibapi has no wheel"."""

    def to_json(self) -> dict[str, str | bool]:
        out: dict[str, str | bool] = {"module": self.module, "package": self.package,
                                      "version": self.version, "from_source": self.from_source}
        if self.note:
            out["note"] = self.note
        return out

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}" if self.version else self.package


RECORD_HEADER = (
    "# Packages wdbot auto-installed for this bot. A rebuilt venv installs them up front.\n"
    "# To make a fix permanent, move its line into the bot's own dependencies.\n"
)


def format_record(items: Iterable[Installed]) -> str:
    """The record file: a requirements file whose comments keep the module and the time.

    >>> print(format_record([Installed("yaml", "PyYAML", "6.0.2", "2026-11-23T04:17:00Z")]), end="")
    # Packages wdbot auto-installed for this bot. A rebuilt venv installs them up front.
    # To make a fix permanent, move its line into the bot's own dependencies.
    PyYAML==6.0.2  # module=yaml at=2026-11-23T04:17:00Z
    """
    lines = [f"{i.requirement}  # module={i.module} at={i.at}{' built=source' if i.from_source else ''}"
             f"{' why=' + i.note.replace(chr(10), ' ') if i.note else ''}\n" for i in items]
    return RECORD_HEADER + "".join(lines)


def parse_record(text: str) -> list[Installed]:
    """The inverse of :func:`format_record`; foreign or broken lines are skipped."""
    out: list[Installed] = []
    for line in text.splitlines():
        requirement, _, comment = line.partition("#")
        requirement = requirement.strip()
        if not requirement:
            continue
        package, _, version = requirement.partition("==")
        comment, _, note = comment.partition(" why=")  # the note is free text: last
        fields = dict(f.split("=", 1) for f in comment.split() if "=" in f)
        if is_dist_name(package) and is_import_name(fields.get("module", "")):
            out.append(Installed(fields["module"], package, version, fields.get("at", ""),
                                 fields.get("built") == "source", note.strip()))
    return out
