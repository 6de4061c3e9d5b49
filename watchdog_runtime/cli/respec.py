"""A bot's spec from the command line (``start BOT.py``, ``run BOT.py``), a registered bot's
options changed from it (``restart NAME --env ...``, ``start NAME --env ...``), and the one
line saying which stored options a start reuses.

Pure: a stored :class:`BotSpec` and the options given in, a new spec or a line out.
"""

from __future__ import annotations

import argparse
import dataclasses
from enum import Enum
from typing import Any

from ..common.home import BOT_NAME_RE
from ..spec import BotSpec, CliOption, SpecError, bot_file, cli_fields, requirements_file, spec_options
from .errors import UsageError


def build_spec(ns: argparse.Namespace) -> BotSpec:
    """The spec of ``PATH`` with the options given (``--name``, the start options, the
    arguments after ``--``); a bad one is a UsageError."""
    try:
        path = bot_file(ns.path)
        name = ns.name or path.stem
        if not BOT_NAME_RE.fullmatch(name):
            raise UsageError(f"bad bot name {name!r}: use letters, digits, '.', '_' or '-' (set --name)")
        return BotSpec(name=name, path=str(path), args=tuple(ns.bot_args), **given_options(ns))
    except SpecError as exc:
        raise UsageError(str(exc)) from None


def given_options(ns: argparse.Namespace) -> dict[str, Any]:
    """The spec options set on this command line, parsed (SpecError on a bad value)."""
    options = spec_options(ns)
    if options.get("requirements"):
        options["requirements"] = requirements_file(options["requirements"])
    return options


def respec(stored: BotSpec, options: dict[str, Any], args: list[str] | None) -> BotSpec:
    """``stored`` with each given option replacing its stored value (a repeatable option,
    like ``--env``, replaces the whole stored list: what is shown is what runs); ``args``
    (after ``--``) replace the bot's arguments when given."""
    changes = dict(options)
    if args:
        changes["args"] = tuple(args)
    try:
        return dataclasses.replace(stored, **changes)
    except SpecError:
        raise
    except (TypeError, ValueError) as exc:  # a combination __post_init__ refuses
        raise SpecError(str(exc)) from None


def _shown(opt: CliOption, value: Any) -> str:
    """One option as typed, values that may hold a secret left out (env values, URLs)."""
    if opt.flag_value is not None:
        return opt.flag
    if opt.flag == "--env":
        return " ".join(f"--env {key}=…" for key, _ in value)
    if opt.flag == "--notify":
        return f"--notify ({len(value)} URL{'s' if len(value) > 1 else ''})"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, float):
        value = f"{value:g}"
    return f"{opt.flag} {value}"


def stored_line(spec: BotSpec) -> str:
    """Which stored options a ``start NAME`` reuses, in one line."""
    shown = [_shown(opt, getattr(spec, f.name)) for f, opt in cli_fields()
             if getattr(spec, f.name) != f.default]
    if spec.args:
        shown.append(f"-- ({len(spec.args)} argument{'s' if len(spec.args) > 1 else ''})")
    what = " ".join(shown) if shown else "none beyond the defaults"
    return (f"{spec.name}: reusing its stored options: {what} (change them with "
            f"'wdbot restart {spec.name} --OPTION VALUE')")
