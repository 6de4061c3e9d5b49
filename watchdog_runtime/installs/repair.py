"""Auto-install's side effects: the facts about a bot's world that the pure policy
(``autoinstall.plan``) needs, the uv install itself, and the per-bot record of what it added.

Called from a worker thread of the supervisor; every uv call goes through ``uvtool``.
"""

from __future__ import annotations

import functools
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from ..common.digest import sha256_hex
from ..common.durable import atomic_write_bytes
from ..common.home import BotPaths
from ..common.leandataclass import dataclass
from ..config import Config, ConfigError
from ..events import EventLog, wall_iso
from ..modnames import normalize_dist, pairs_to_entries
from ..spec import AutoInstall, BotSpec
from .autoinstall import (
    Budget,
    Facts,
    Install,
    Installed,
    Refuse,
    format_record,
    parse_record,
    plan,
    requirement_name,
)
from .deps import Declared, DependencyError, declared_dependencies
from .discovery import FoundImport, fingerprint, scan_bot
from .missing import MissingModule
from .uvtool import UvError, pip_install
from .venvprobe import ProbeError, missing_modules
from .venvs import MARKER, installing, mark_current, site_packages

log = logging.getLogger(__name__)

class RepairHost(Protocol):
    """What a repair needs from the supervisor."""

    events: EventLog
    clock: Callable[[], float]

    def settings(self) -> Config:
        """The home's config, read now; raises ConfigError."""
        ...

    def allowed_pairs(self) -> dict[str, str]:
        """The operator's auto-install pairs (config and ``wdbot allow``); raises ConfigError."""
        ...


@dataclass(frozen=True)
class Outcome:
    """After an install round for a missing module: the budget left, and, when the module
    was not installed, why (one line) and uv's whole error if uv failed."""

    budget: Budget
    refused: str | None = None
    detail: str | None = None
    module: str | None = None
    """The module that was not installed (when ``refused``)."""


@dataclass(frozen=True)
class _Planned:
    installs: tuple[Install, ...]
    required_refusal: str | None
    refused_module: str | None = None


class AutoInstaller:
    """One bot's auto-install: discover what its files import and its venv lacks, decide
    (``autoinstall.plan``), install it all in one round, and keep the record
    (``auto-requirements.txt``) that a rebuilt venv installs up front."""

    def __init__(self, host: RepairHost, paths: BotPaths) -> None:
        self.host = host
        self.paths = paths
        self.recorded: list[Installed] = read_record(paths.auto_requirements)
        self._failed: tuple[str, ...] = ()  # a tuple: each bot has one, an empty set is 216 bytes
        """Distributions whose install failed for a discovered import: not retried until the
        supervisor restarts (the crash path still tries one the bot really needs)."""
        self._certain: tuple[str, ...] = ()
        """Modules the entry file imports at its top level (from the last scan)."""
        self._scanned: tuple[tuple[str, ...], str] | None = None
        """The bot's files at the last discovery that found nothing to do, and their
        fingerprint with the venv's marker: a restart with nothing changed skips the scan."""

    def declared(self, spec: BotSpec, base: Declared | None = None) -> Declared:
        """The bot's declared dependencies plus what auto-install recorded for it. A package
        the bot now declares itself is dropped from the record: the user's pin wins."""
        declared = base or declared_dependencies(Path(spec.path), spec.requirements)
        self._drop_superseded(spec, declared)
        return declared.plus(tuple(i.requirement for i in self.recorded))

    def _drop_superseded(self, spec: BotSpec, declared: Declared) -> None:
        mine = {normalize_dist(n) for r in declared.listed() if (n := requirement_name(r))}
        bare = {normalize_dist(r.strip()) for r in declared.listed() if requirement_name(r) == r.strip()}
        # A pin wdbot made for a version drift stays under a dependency declared without one.
        dropped = [i for i in self.recorded if normalize_dist(i.package) in mine
                   and not (i.note and normalize_dist(i.package) in bare)]
        if not dropped:
            return
        kept = [i for i in self.recorded if i not in dropped]
        atomic_write_bytes(self.paths.auto_requirements, format_record(kept).encode())
        self.recorded = kept
        where = ", ".join(declared.requirement_files) or f"the '# /// script' block of {spec.path}"
        self.host.events.write(
            "auto_install_superseded", spec.name, packages=", ".join(i.requirement for i in dropped),
            message=f"declared in {where}: the bot's own pin replaces what auto-install chose "
                    f"(removed from {self.paths.auto_requirements})")

    def keep(self, spec: BotSpec, installing: Sequence[str]) -> tuple[str, ...]:
        """The versions this round must not change: the bot's pins and auto-install's record,
        less the distributions it installs (``constraints``)."""
        try:
            declared = declared_dependencies(Path(spec.path), spec.requirements).listed()
        except DependencyError:
            declared = ()
        from .constraints import constraint_lines  # only for a round that installs (issue 29)

        return constraint_lines((*declared, *(i.requirement for i in self.recorded)), installing)

    def basis(self, spec: BotSpec) -> str:
        """What the install budget is spent against: the declared dependencies and the
        operator's pairs (``Budget.rebased``). Unreadable settings count as a change."""
        try:
            declared = declared_dependencies(Path(spec.path), spec.requirements).fingerprint()
            pairs = json.dumps(self.host.allowed_pairs(), sort_keys=True)
        except (ConfigError, DependencyError, OSError):
            return "unreadable"
        return sha256_hex(f"{declared}\n{pairs}".encode())[:16]

    def before_start(self, spec: BotSpec, budget: Budget) -> Outcome:
        """Blocking: before a start, install in one round what the bot's files import and its
        venv lacks (allowlisted names only). ``refused`` is set only when the install of a
        module the entry file imports at its top level failed: the bot could not get past it,
        so it is not started to die of it. Anything else that cannot be installed now is left
        to the bot's run (the crash path says why if the bot really needs it)."""
        budget = budget.rebased(self.basis(spec))
        state = self._state()
        if state is not None and self._scanned == state:
            return Outcome(budget)  # nothing changed since the last look
        try:
            config = self.host.settings()
        except ConfigError:
            return Outcome(budget)  # reported where the config is needed: the venv, the crash path
        if (spec.auto_install or config.auto_install) is AutoInstall.OFF:
            return Outcome(budget)
        outcome = self._round(spec, None, budget, config)
        self._scanned = self._state()
        return outcome

    def after_missing(self, spec: BotSpec, missing: MissingModule, budget: Budget) -> Outcome:
        """Blocking: the bot died of ``missing``. One round installs it and whatever else its
        files import and the venv lacks. The text says why ``missing`` was not installed."""
        budget = budget.rebased(self.basis(spec))
        try:
            config = self.host.settings()
        except ConfigError as exc:
            self.host.events.write("auto_install_refused", spec.name, module=missing.name,
                                   reason=str(exc))
            return Outcome(budget, f"auto-install cannot read its settings: {exc}")
        self._scanned = None
        if missing.imported or missing.error or "." in missing.name:
            from .driftrepair import after_drift  # it builds on this module's install steps

            fixed = after_drift(self, spec, missing, budget, config)
            if fixed is not None:
                return fixed
        return self._round(spec, missing, budget, config)

    def _state(self) -> tuple[tuple[str, ...], str] | None:
        if self._scanned is None:
            return None
        files = self._scanned[0]
        return files, fingerprint((*files, str(self.paths.venv / MARKER)))

    def _round(self, spec: BotSpec, required: MissingModule | None, budget: Budget,
               config: Config) -> Outcome:
        planned = self._plan(spec, required, budget, config)
        if planned.required_refusal is not None:
            return Outcome(budget, planned.required_refusal, module=planned.refused_module)
        if not planned.installs:
            return Outcome(budget)
        name = spec.name
        requirements = [c.requirement for c in planned.installs]
        self.host.events.write("auto_install_started", name,
                               module=", ".join(c.module for c in planned.installs),
                               requirement=", ".join(requirements),
                               source=", ".join(sorted({c.source for c in planned.installs})),
                               round=budget.rounds + 1)
        started = self.host.clock()
        keep = self.keep(spec, [c.dist for c in planned.installs])
        with installing(self.paths.venv):
            done, failures = install_all(self.paths.venv, planned.installs, config, keep)
            done = settle_round(self.paths.venv, planned.installs, done, config, keep)
            for item in done:
                self.recorded = add_to_record(self.paths.auto_requirements, item, self.recorded)
            if done:
                mark_current(self.paths.venv, spec.python, self.declared(spec))
        budget = budget.spent([i.module for i in done])
        if done:
            seconds = round(self.host.clock() - started, 3)
            source = {c.module: c.source for c in planned.installs}
            for item in done:
                self.host.events.write("auto_install", name, **item.to_json(),
                                       source=source.get(item.module), round=budget.rounds,
                                       seconds=seconds)
        from .causes import uv_decisive_line  # only once a round ran (issue 29)

        for choice, error in failures.items():
            self._failed = (*self._failed, normalize_dist(choice.dist))
            self.host.events.write("auto_install_failed", name, module=choice.module,
                                   requirement=choice.requirement, error=uv_decisive_line(error),
                                   detail=error)
            if choice.module == (required.name if required else None) or choice.module in self._certain:
                return Outcome(budget, self._failed_text(spec, choice, error, config), error,
                               choice.module)
        return Outcome(budget)

    def _failed_text(self, spec: BotSpec, choice: Install, error: str, config: Config) -> str:
        """What was tried, the cause a user can act on (``causes``), and the one command that
        moves forward."""
        source = config.allow_sdist is True or (config.allow_sdist is None and choice.source != "any")
        tried = "wheels, then a source build" if source else "wheels only"
        from .causes import failed_line

        return failed_line(spec.name, spec.path, choice.requirement, tried, error)

    def _plan(self, spec: BotSpec, required: MissingModule | None, budget: Budget,
              config: Config) -> _Planned:
        """Every module to install this round, one per distribution; the refusal of the one
        the bot died of, if it was refused. Discovered names are allowlisted ones only."""
        try:
            allowed = pairs_to_entries(self.host.allowed_pairs())
            declared = declared_dependencies(Path(spec.path), spec.requirements)
        except (ConfigError, DependencyError) as exc:
            if required is not None:
                self.host.events.write("auto_install_refused", spec.name, module=required.name,
                                       reason=str(exc))
            return _Planned((), f"auto-install cannot read its settings: {exc}")
        policy = spec.auto_install or config.auto_install

        def decide(missing: MissingModule, preferred: tuple[str, ...]) -> Install | Refuse:
            from .modmap import shipped_table  # read only when something is missing (issue 29)

            facts = facts_for(missing.name, self.paths.python, self.paths.venv,
                              Path(spec.path).parent)
            return plan(missing, bot=spec.name, policy=policy, facts=facts,
                        table=shipped_table(), allowed=allowed, declared=declared.listed(),
                        installed_before=budget.modules, rounds=budget.rounds, preferred=preferred)

        def wanted(choice: Install) -> bool:
            return choice.source != "any" and normalize_dist(choice.dist) not in self._failed

        items = ([required] if required else []) + self.discover(spec, required)
        if not items:
            return _Planned((), None)  # nothing missing: the usual start (issue 29)
        from .namespaces import choose_all, installed_dists

        installs, refusal = choose_all(items, required, decide, wanted,
                                       installed_dists(site_packages(self.paths.venv)),
                                       fatal=lambda missing: self._stops_the_start(spec, missing.name))
        if refusal is not None:
            self.host.events.write("auto_install_refused", spec.name, module=refusal.module,
                                   reason=refusal.message)
            return _Planned((), refusal.message, refusal.module)
        return _Planned(tuple(installs), None)

    def _stops_the_start(self, spec: BotSpec, module: str) -> bool:
        """The scan's refusal of ``module`` stops the start (``upfront``: issue 26)."""
        try:
            source = Path(spec.path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
        from .upfront import stops_the_start  # only for a refused name (issue 29)

        return stops_the_start(module, self._certain, source)

    def discover(self, spec: BotSpec, required: MissingModule | None = None) -> list[MissingModule]:
        """The imports of the bot's files that its venv cannot satisfy (``discovery``)."""
        scan = scan_bot(Path(spec.path))
        self._scanned = (scan.files, "")
        self._certain = tuple({i.module for i in scan.imports if i.certain and i.filename == spec.path})
        first: dict[str, FoundImport] = {}
        for item in scan.imports:
            first.setdefault(item.module, item)
        try:
            absent = missing_modules(self.paths.python, first)
        except ProbeError as exc:
            log.warning("%s: %s", spec.name, exc)
            return []
        skip = required.name if required else None
        return [MissingModule(name=m, import_line=first[m].import_line, filename=first[m].filename)
                for m in sorted(absent) if m != skip]


def facts_for(name: str, python: Path, venv: Path, bot_dir: Path) -> Facts:
    """Look up, in the bot's own venv and folder, what the policy must know about ``name``."""
    top = name.split(".")[0]
    local = ((bot_dir / f"{top}.py").exists() or (bot_dir / top).is_dir()
             or any(bot_dir.glob(f"{top}.*.so")) or any(bot_dir.glob(f"{top}.*.pyd")))
    parent_installed = False
    site = site_packages(venv)
    if "." in name and site is not None:
        parent = site.joinpath(*name.split(".")[:-1])
        parent_installed = (parent / "__init__.py").exists()
    return Facts(stdlib=top in stdlib_names(str(python)), local=local,
                 parent_installed=parent_installed)


@functools.lru_cache(maxsize=16)
def stdlib_names(python: str) -> frozenset[str]:
    """The standard-library module names of the bot's interpreter (which may be another
    Python than the supervisor's); the supervisor's own list if it cannot be asked."""
    code = ("import sys; "
            "print('\\n'.join(sorted(set(sys.stdlib_module_names) | set(sys.builtin_module_names))))")
    try:
        done = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
        if done.returncode == 0 and done.stdout.strip():
            return frozenset(done.stdout.split())
    except (OSError, subprocess.SubprocessError):
        pass  # fall back below: the supervisor's Python is at least 3.10 and has the list
    return frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)


def install_all(venv: Path, choices: Sequence[Install], config: Config, keep: Sequence[str] = ()
                ) -> tuple[list[Installed], dict[Install, str]]:
    """Install ``choices`` into ``venv``: all in one uv call, wheels only. When that fails,
    each alone, wheels first and then (for an allowlisted name, unless the config says
    wheels only) allowing a source build: one bad name does not sink the others, and only
    what needed a build is said to be built. ``keep``: the versions no install may change
    (``constraints``). Returns what was installed and uv's full error for each failure."""
    from .constraints import constraint_options  # as every install step: imported when run (issue 29)

    with constraint_options(keep) as pins:
        return _install_all(venv, choices, config, pins)


def _install_all(venv: Path, choices: Sequence[Install], config: Config, pins: Sequence[str]
                 ) -> tuple[list[Installed], dict[Install, str]]:
    try:
        _pip(venv, [c.requirement for c in choices], (*pins, *_WHEELS_ONLY), config)
        return [_installed(venv, c, False) for c in choices], {}
    except UvError as exc:
        if len(choices) == 1:
            return _with_source(venv, choices[0], config, exc, pins)
    done: list[Installed] = []
    failures: dict[Install, str] = {}
    for choice in choices:
        one_done, one_failed = _install_all(venv, [choice], config, pins)
        done += one_done
        failures.update(one_failed)
    return done, failures


_WHEELS_ONLY = ("--only-binary", ":all:")


def settle_round(venv: Path, choices: Sequence[Install], done: list[Installed], config: Config,
                 keep: Sequence[str] = ()) -> list[Installed]:
    """``done`` with every release older than the newest replaced or noted (``newest``),
    under the constraints ``keep``."""
    bare = [c.dist for c in choices if requirement_name(c.requirement) == c.requirement.strip()]
    if not done or not bare:
        return done
    by_dist = {normalize_dist(c.dist): c for c in choices}
    from .constraints import constraint_options
    from .newest import newest_releases, settle

    newest = newest_releases(venv / "bin" / "python", bare, config.index.uv_args(),
                             config.install_timeout_s)

    def install(requirement: str, source: bool) -> Installed:
        with constraint_options(keep) as pins:
            _pip(venv, [requirement], (*pins, *(() if source else _WHEELS_ONLY)), config)
        choice = by_dist[normalize_dist(requirement_name(requirement) or requirement)]
        return _installed(venv, choice, source)

    def source_ok(package: str) -> bool:
        choice = by_dist.get(normalize_dist(package))
        return choice is not None and (config.allow_sdist is True or (
            config.allow_sdist is None and choice.source != "any"))

    return settle(done, bare, newest, install, source_ok)


def _with_source(venv: Path, choice: Install, config: Config, wheels_error: UvError,
                 pins: Sequence[str] = ()) -> tuple[list[Installed], dict[Install, str]]:
    """The wheels-only install of ``choice`` failed: try once allowing a source build (its
    own or a dependency's), which runs the package's build code, so only for allowlisted
    names (``allow_sdist = true``: any)."""
    allowed = config.allow_sdist is True or (config.allow_sdist is None and choice.source != "any")
    if not allowed:
        return [], {choice: wheels_error.detail or str(wheels_error)}
    try:
        _pip(venv, [choice.requirement], pins, config)
    except UvError as exc:
        return [], {choice: exc.detail or str(exc)}
    return [_installed(venv, choice, True)], {}


def _pip(venv: Path, requirements: Sequence[str], options: Sequence[str], config: Config) -> None:
    pip_install(venv / "bin" / "python", requirements=requirements,
                options=[*config.index.uv_args(), *options], timeout_s=config.install_timeout_s)


def _installed(venv: Path, choice: Install, from_source: bool) -> Installed:
    name, version = installed_version(venv, choice.dist)
    return Installed(module=choice.module, package=name, version=version, at=wall_iso(),
                     from_source=from_source)


def installed_version(venv: Path, dist: str) -> tuple[str, str]:
    """(its name on PyPI, version) of ``dist`` in ``venv``; version "" if unknown. A wheel's
    metadata may spell the name otherwise (python-binance's says ``python_binance``): the
    name asked for wins when the two are the same project."""
    site = site_packages(venv)
    if site is not None:
        import importlib.metadata  # email, zipfile, csv: only when a repair looks

        for found in importlib.metadata.distributions(name=dist, path=[str(site)]):
            name = found.metadata["Name"] or dist
            return (dist if normalize_dist(name) == normalize_dist(dist) else name), found.version
    return dist, ""


def read_record(path: Path) -> list[Installed]:
    try:
        return parse_record(path.read_text(encoding="utf-8"))
    except OSError:
        return []


def add_to_record(path: Path, item: Installed, before: Sequence[Installed]) -> list[Installed]:
    """The record with ``item`` added (replacing an older line of the same package)."""
    items = [i for i in before if i.package.lower() != item.package.lower()] + [item]
    atomic_write_bytes(path, format_record(items).encode())
    return items
