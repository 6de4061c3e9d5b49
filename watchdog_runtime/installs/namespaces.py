"""One namespace, the right distribution (issue 26): the modules to install in one round,
chosen together. Several distributions share an import package (``binance`` is
python-binance, binance-connector and binance-futures-connector): each import is resolved
by its deepest submodule, a name that several provide sides with the distribution already
chosen for another import of the bot, and two distributions that write the same files
(the generated map's ``!conflict`` pairs) are never both installed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from .autoinstall import Install, Refuse
from .missing import MissingModule
from .modmap import conflicting, normalize_dist

Decide = Callable[[MissingModule, tuple[str, ...]], "Install | Refuse"]


def choose_all(items: Sequence[MissingModule], required: MissingModule | None, decide: Decide,
               wanted: Callable[[Install], bool], installed: Sequence[str] = (),
               fatal: Callable[[MissingModule], bool] = lambda _: False,
               ) -> tuple[list[Install], Refuse | None]:
    """One install per distribution for ``items``; the refusal of ``required`` (the module
    the bot died of) when it cannot be installed, or, before a start (no ``required``), of a
    discovered module that would stop it (``fatal``: a top-level import, ``upfront``).
    ``wanted`` filters the choices for discovered modules; ``installed``: the distributions
    the venv holds already."""
    chosen: dict[str, Install] = {}
    refused: dict[str, Refuse] = {}
    pending = list(items)
    for _ in range(2):  # the second pass: an undecided name may side with a choice made since
        later = []
        for missing in pending:
            choice = decide(missing, tuple(c.dist for c in chosen.values()))
            if isinstance(choice, Refuse):
                refused[missing.name] = choice
                later.append(missing)
            elif missing is required or wanted(choice):
                refused.pop(missing.name, None)
                chosen.setdefault(normalize_dist(choice.dist), choice)
        pending = later
    if required is not None and required.name in refused:
        return [], refused[required.name]
    if required is None:
        stopping = next((m for m in pending if fatal(m)), None)
        if stopping is not None:
            return [], refused[stopping.name]
    return _without_conflicts(list(chosen.values()), required, installed)


def _without_conflicts(choices: list[Install], required: MissingModule | None,
                       installed: Sequence[str]) -> tuple[list[Install], Refuse | None]:
    """The choices less those that would overwrite another's files (the required one's
    choice kept first)."""
    ordered = sorted(choices, key=lambda c: required is None or c.module != required.name)
    kept: list[Install] = []
    for choice in ordered:
        clash = next((d for d in [*installed, *(k.dist for k in kept)]
                      if normalize_dist(d) != normalize_dist(choice.dist)
                      and conflicting(d, choice.dist)), None)
        if clash is None:
            kept.append(choice)
        elif required is not None and choice.module == required.name:
            return [], Refuse(choice.module, f"{choice.dist} would overwrite files of {clash} "
                              f"(they share the package {choice.module.split('.')[0]!r}): declare "
                              f"the one the bot uses and remove the other from its venv")
    return kept, None


def installed_dists(site: Path | None) -> list[str]:
    """The distributions installed in a venv's site-packages."""
    if site is None:
        return []
    import importlib.metadata  # here: with email, zipfile, csv, about 1 MiB the idle daemon never needs

    return [d.metadata["Name"] for d in importlib.metadata.distributions(path=[str(site)])
            if d.metadata["Name"]]
