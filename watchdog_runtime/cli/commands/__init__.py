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
from collections.abc import Iterator, Sequence
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


COMMANDS = {
    "start": "lifecycle", "stop": "lifecycle", "restart": "lifecycle", "remove": "lifecycle",
    "status": "status", "ls": "status", "logs": "logs", "flush": "logs", "events": "logs",
    "allow": "allow", "daemon": "daemon", "run": "run", "up": "up", "secret": "secrets",
    "notify": "notify", "service": "service", "web": "web", "telegram": "telegram",
    "shutdown": "shutdown", "halt": "modes", "reduce": "modes", "resume": "modes",
}
"""Each command's module: a command line that names one is parsed with that module's
subcommands alone, so ``wdbot status`` imports no other command's modules (issue 29: the
status call is a latency a probe pays every few seconds). A test checks it against what the
modules register."""


def module_of(args: Sequence[str]) -> str | None:
    """The module of the command ``args`` name, or None (no command: the whole parser)."""
    return COMMANDS.get(args[0]) if args else None


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
    only = module_of(args)
    modules = command_modules() if only is None else [importlib.import_module(f"{__name__}.{only}")]
    for module in modules:
        refuse = getattr(module, "refuse_argv", None)
        line = refuse(args) if refuse is not None else None
        if line is not None:
            return str(line)
    return None
