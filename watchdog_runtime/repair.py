"""Auto-install's side effects: the facts about a bot's world that the pure policy
(``autoinstall.plan``) needs, the uv install itself, and the per-bot record of what it added.

Called from a worker thread of the supervisor; every uv call goes through ``uvtool``.
"""

from __future__ import annotations

import functools
import importlib.metadata
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from .autoinstall import Facts, Install, Installed, Refuse, format_record, parse_record, plan
from .config import Config, ConfigError
from .deps import Declared, DependencyError, declared_dependencies
from .durable import atomic_write_bytes
from .events import EventLog, wall_iso
from .home import BotPaths
from .modmap import pairs_to_entries, shipped_table
from .spec import BotSpec
from .tracebacks import MissingModule
from .uvtool import UvError, pip_install
from .venvs import mark_current, site_packages


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


class AutoInstaller:
    """One bot's auto-install: decide (``autoinstall.plan``), install, and keep the record
    (``auto-requirements.txt``) that a rebuilt venv installs up front."""

    def __init__(self, host: RepairHost, paths: BotPaths) -> None:
        self.host = host
        self.paths = paths
        self.recorded: list[Installed] = read_record(paths.auto_requirements)

    def declared(self, spec: BotSpec, base: Declared | None = None) -> Declared:
        """The bot's declared dependencies plus what auto-install recorded for it."""
        declared = base or declared_dependencies(Path(spec.path), spec.requirements)
        return declared.plus(tuple(i.requirement for i in self.recorded))

    def attempt(self, spec: BotSpec, missing: MissingModule, installed_before: tuple[str, ...]
                ) -> Installed | str:
        """Blocking (run it in a thread): decide, install, record. A string says why nothing was."""
        name = spec.name
        try:
            config = self.host.settings()
            allowed = pairs_to_entries(self.host.allowed_pairs())
            declared = declared_dependencies(Path(spec.path), spec.requirements)
        except (ConfigError, DependencyError) as exc:
            self.host.events.write("auto_install_refused", name, module=missing.name, reason=str(exc))
            return f"auto-install cannot read its settings: {exc}"
        facts = facts_for(missing.name, self.paths.python, self.paths.venv, Path(spec.path).parent)
        choice = plan(missing, bot=name, policy=spec.auto_install or config.auto_install,
                      facts=facts, table=shipped_table(), allowed=allowed,
                      declared=declared.listed(), installed_before=installed_before)
        if isinstance(choice, Refuse):
            self.host.events.write("auto_install_refused", name, module=missing.name,
                                   reason=choice.message)
            return choice.message
        self.host.events.write("auto_install_started", name, module=choice.module,
                               requirement=choice.requirement, source=choice.source)
        started = self.host.clock()
        try:
            installed = install(self.paths.venv, choice, config)
        except UvError as exc:
            detail = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            self.host.events.write("auto_install_failed", name, module=choice.module,
                                   requirement=choice.requirement, error=detail)
            return f"installing {choice.requirement} failed: {detail}"
        self.recorded = add_to_record(self.paths.auto_requirements, installed, self.recorded)
        mark_current(self.paths.venv, spec.python, self.declared(spec, declared))
        self.host.events.write("auto_install", name, **installed.to_json(), source=choice.source,
                               seconds=round(self.host.clock() - started, 3))
        return installed


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


def install(venv: Path, choice: Install, config: Config) -> Installed:
    """Install ``choice`` into ``venv`` (wheels only unless the config allows sdists);
    raises ``UvError`` with uv's message when it fails."""
    options = [*config.index.uv_args(), *([] if config.allow_sdist else ["--only-binary", ":all:"])]
    pip_install(venv / "bin" / "python", requirements=[choice.requirement], options=options,
                timeout_s=config.install_timeout_s)
    name, version = installed_version(venv, choice.dist)
    return Installed(module=choice.module, package=name, version=version, at=wall_iso())


def installed_version(venv: Path, dist: str) -> tuple[str, str]:
    """(name as the package spells it, version) of ``dist`` in ``venv``; version "" if unknown."""
    site = site_packages(venv)
    if site is not None:
        for found in importlib.metadata.distributions(name=dist, path=[str(site)]):
            return found.metadata["Name"] or dist, found.version
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
