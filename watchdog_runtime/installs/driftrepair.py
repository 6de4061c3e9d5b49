"""Repairing a version drift within the install budget (issue 26): the bot died of an
``ImportError`` (``cannot import name X from Y``, or ``No module named pkg.sub`` while
``pkg`` is installed) or of another import-time ``ImportError`` of an installed package.
Either the newest older release that has the name is installed and pinned (with why), or
the bot ends ``errored`` with one line: never an endless crash loop."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from ..config import Config, ConfigError
from ..spec import AutoInstall, BotSpec
from .autoinstall import MAX_ATTEMPTS, Budget, Install, requirement_name
from .causes import failed_line
from .deps import DependencyError, declared_dependencies
from .drift import Drift, ProbeFailed, blind, find_drift, last_with, owner_of, pin_note, refusal
from .missing import MissingModule
from .modmap import (
    conflicting,
    normalize_dist,
    pairs_to_entries,
    parse_import_line,
    resolve,
    shipped_table,
)
from .repair import AutoInstaller, Outcome, add_to_record, facts_for, install_all
from .venvs import installing, mark_current, site_packages


def after_drift(repairs: AutoInstaller, spec: BotSpec, missing: MissingModule, budget: Budget,
                config: Config) -> Outcome | None:
    """The outcome for a drift; None when ``missing`` is no drift (the usual path decides)."""
    site = site_packages(repairs.paths.venv)
    if missing.error is not None:
        line = _shadowed(site, missing, spec, repairs.paths.venv) or _broken(site, missing, spec.name)
        return _refuse(repairs, spec, missing, budget, line)
    facts = facts_for(missing.name, repairs.paths.python, repairs.paths.venv, Path(spec.path).parent)
    if facts.local:
        return None  # the bot's own file or folder shadows the package: the usual path says so
    drift = find_drift(site, missing, facts.parent_installed)
    if drift is None:
        return None
    other = _elsewhere(missing, drift)
    if other is not None:
        return _refuse(repairs, spec, missing, budget, other)
    if _provided_elsewhere(missing, drift):
        return None  # another distribution of a shared namespace: the usual path installs it
    if budget.rounds >= MAX_ATTEMPTS or _key(drift) in budget.modules:
        return _refuse(repairs, spec, missing, budget, f"{drift.dist} {drift.version} has no "
                       f"{drift.lacks()}, still after wdbot's installs for this bot: declare the "
                       f"version it needs, then 'wdbot restart {spec.name}'")
    try:
        found, tried = last_with(repairs.paths.python, drift, config.index.uv_args(),
                                 config.install_timeout_s)
    except ProbeFailed as exc:
        return _refuse(repairs, spec, missing, budget, blind(drift, str(exc), spec.name), str(exc))
    # Auto-install off: nothing is installed, but the line still names the release to pin.
    eligible = (spec.auto_install or config.auto_install) is not AutoInstall.OFF \
        and _may_pin(repairs, spec, drift.dist)
    if found is None or not eligible:
        return _refuse(repairs, spec, missing, budget, refusal(drift, found, tried, eligible, spec.name))
    return _pin(repairs, spec, missing, budget, config, drift, found)


def _pin(repairs: AutoInstaller, spec: BotSpec, missing: MissingModule, budget: Budget,
         config: Config, drift: Drift, found: str) -> Outcome:
    choice = Install(missing.name, drift.dist, f"{drift.dist}=={found}", _source(repairs, spec, drift.dist))
    repairs.host.events.write("auto_install_started", spec.name, module=missing.name,
                              requirement=choice.requirement, source="drift", round=budget.rounds + 1,
                              reason=pin_note(drift, found))
    started = repairs.host.clock()
    with installing(repairs.paths.venv):
        done, failures = install_all(repairs.paths.venv, [choice], config,
                                     repairs.keep(spec, [drift.dist]))
        item = replace(done[0], note=pin_note(drift, found)) if done and not failures else None
        if item is not None:
            repairs.recorded = add_to_record(repairs.paths.auto_requirements, item, repairs.recorded)
            mark_current(repairs.paths.venv, spec.python, repairs.declared(spec))
    budget = budget.spent([_key(drift)])
    if item is None:
        error = failures.get(choice, "")
        line = _unbuilt(drift, found, choice, error, spec.name) \
            or failed_line(spec.name, spec.path, choice.requirement, "for a version drift", error)
        repairs.host.events.write("auto_install_failed", spec.name, module=missing.name,
                                  requirement=choice.requirement, detail=error)
        return Outcome(budget, line, error, missing.name)
    repairs.host.events.write("auto_install", spec.name, **item.to_json(), source="drift",
                              round=budget.rounds, seconds=round(repairs.host.clock() - started, 3))
    return Outcome(budget)


def _unbuilt(drift: Drift, found: str, choice: Install, error: str, bot: str) -> str | None:
    """The line when the release that has the name ships only an sdist and the name is on no
    allowlist (``auto_install = any``): a source build runs its code, so it was not tried."""
    if choice.source != "any" or "no usable wheels" not in error:
        return None
    return (f"{drift.dist} {drift.version} has no {drift.lacks()}; {drift.dist} {found} has it but "
            f"ships only an sdist, and building it runs its code: allow the name ('wdbot allow "
            f"{drift.module.split('.')[0]}={drift.dist}') or pin {drift.dist}=={found} in the bot's "
            f"dependencies, then 'wdbot restart {bot}'")


def _source(repairs: AutoInstaller, spec: BotSpec, dist: str) -> str:
    """Why the pinned release may be installed: ``drift`` when an allowlisted or declared name
    (a source-only release may then be built, as any allowlisted install may), ``any`` when
    only ``auto_install = any`` put it there (wheels only, unless ``allow_sdist = true``)."""
    key = normalize_dist(dist)
    try:
        entries = (*shipped_table(), *pairs_to_entries(repairs.host.allowed_pairs()))
        listed = declared_dependencies(Path(spec.path), spec.requirements).listed()
    except (ConfigError, DependencyError, ValueError):
        return "any"
    if any(normalize_dist(e.dist) == key for e in entries):
        return "drift"
    return "drift" if any(normalize_dist(requirement_name(r) or r) == key for r in listed) else "any"


def _other_provider(missing: MissingModule, drift: Drift) -> str | None:
    """The distribution the map gives the module to, when it is not the installed owner."""
    found = resolve(shipped_table(), drift.module, parse_import_line(missing.import_line))
    if found.dist is None or normalize_dist(found.dist) == normalize_dist(drift.dist):
        return None
    return found.dist


def _provided_elsewhere(missing: MissingModule, drift: Drift) -> bool:
    return drift.name is None and _other_provider(missing, drift) is not None


def _elsewhere(missing: MissingModule, drift: Drift) -> str | None:
    """A shared namespace: the map says another distribution than the installed owner
    provides the module (binance.um_futures is binance-futures-connector's, binance/ is
    binance-connector's here), and the two write the same files. Not a drift."""
    other = _other_provider(missing, drift)
    if other is None or not conflicting(other, drift.dist):
        return None
    return (f"{drift.module} is in {other}, not in the installed {drift.dist} {drift.version}"
            f" and would overwrite its files (they share the package "
            f"{drift.module.split('.')[0]!r}): declare the one the bot uses and remove the other "
            f"from its venv")


def _key(drift: Drift) -> str:
    """The budget's entry for a drift repair (a module path never has a colon)."""
    return f"{drift.module}:{drift.name or ''}"


def _may_pin(repairs: AutoInstaller, spec: BotSpec, dist: str) -> bool:
    """wdbot changes only what it installed itself, or a dependency declared without a version."""
    key = normalize_dist(dist)
    if any(normalize_dist(i.package) == key for i in repairs.recorded):
        return True
    try:
        listed = declared_dependencies(Path(spec.path), spec.requirements).listed()
    except DependencyError:
        return False
    return any(requirement_name(r) == r.strip() and normalize_dist(r.strip()) == key for r in listed)


_FROM_WHERE = re.compile(r"cannot import name '[^']+' from '(?P<module>[^']+)' \((?P<where>[^()]+)\)")


def _shadowed(site: Path | None, missing: MissingModule, spec: BotSpec, venv: Path) -> str | None:
    """A file or folder of the bot's own, named like a package a dependency imports
    (telegram.py, binance.py): no install or pin fixes that, a rename does."""
    found = _FROM_WHERE.search(missing.error or "")
    if found is None:
        return None
    where, folder = Path(found.group("where")).resolve(), Path(spec.path).parent.resolve()
    if not where.is_relative_to(folder) or where.is_relative_to(venv.resolve()):
        return None
    shown = where.parent if where.name == "__init__.py" else where
    owner = owner_of(site, missing.name) if site is not None else None
    which = f"{owner[0]} {owner[1]}" if owner else repr(missing.name)
    return (f"the bot's own {shown} shadows the package {found.group('module')!r} that {which} "
            f"imports: rename it (and its __pycache__), then 'wdbot restart {spec.name}'")


def _broken(site: Path | None, missing: MissingModule, bot: str) -> str:
    owner = owner_of(site, missing.name) if site is not None else None
    which = f"{owner[0]} {owner[1]}" if owner else repr(missing.name)
    return (f"importing {which} failed: {missing.error}; a restart does not change that: fix the "
            f"install or pin another version in the bot's dependencies, then 'wdbot restart {bot}'")


def _refuse(repairs: AutoInstaller, spec: BotSpec, missing: MissingModule, budget: Budget,
            line: str, detail: str | None = None) -> Outcome:
    repairs.host.events.write("auto_install_refused", spec.name, module=missing.name, reason=line)
    return Outcome(budget, line, detail, module=missing.name)
