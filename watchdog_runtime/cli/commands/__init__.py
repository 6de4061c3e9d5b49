"""The ``wdbot`` subcommands, one module per topic, as pipx's ``commands/``.

Each module named in :data:`COMMAND_MODULES` has ``register(sub)``, which adds its
subcommands to ``sub`` (argparse's subparsers) and points each at its handler with
``set_defaults(func=handler)``; a handler takes ``(ns, home)`` and returns the exit status,
or raises :class:`~watchdog_runtime.cli.errors.UsageError` (exit 2) or
:class:`~watchdog_runtime.cli.errors.Failure` (exit 1), which ``main`` turns into one line
on stderr. A subcommand that takes the bot's arguments after ``--`` says so with
``set_defaults(takes_bot_args=True)``; a module may also define ``refuse_argv(args)``,
returning the line that refuses a command line before it is parsed (``secret set`` with a
value on it).

To add a command: write ``commands/NAME.py`` with ``register`` and its handlers (importing
asyncio, rich, psutil and the supervisor only inside the handlers), and add ``"NAME"`` to
:data:`COMMAND_MODULES`, where ``wdbot --help`` is to list it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # argparse only for the annotation: ``wdbot daemon`` runs without it (issue 29)
    import argparse
    from typing import Any, TypeAlias

    # argparse's subparsers (their parser class is main's, which prints one-line errors).
    Subcommands: TypeAlias = "argparse._SubParsersAction[Any]"

COMMAND_MODULES = (
    # In the order 'wdbot --help' lists their commands.
    "lifecycle",  # start, stop, restart, remove
    "status",     # status (ls)
    "logs",       # logs, flush, events
    "allow",
    "daemon",
    "run",
    "up",
    "secrets",    # secret
    "notify",
    "service",
    "web",
    "telegram",
    "shutdown",
    "modes",      # halt, reduce, resume
)


def command_modules() -> Iterator[ModuleType]:
    """The modules of :data:`COMMAND_MODULES`, imported (each light: argparse and its handlers)."""
    for name in COMMAND_MODULES:
        yield importlib.import_module(f"{__name__}.{name}")


def register_all(sub: Subcommands) -> None:
    """Every module's subcommands added to ``sub``, in the order of :data:`COMMAND_MODULES`."""
    for module in command_modules():
        module.register(sub)


def refused_argv(args: list[str]) -> str | None:
    """The line refusing ``args`` before they are parsed (a module's ``refuse_argv``), or None."""
    for module in command_modules():
        refuse = getattr(module, "refuse_argv", None)
        line = refuse(args) if refuse is not None else None
        if line is not None:
            return str(line)
    return None
