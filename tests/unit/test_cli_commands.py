"""The shape of the ``wdbot`` command line (issue 25, step 4): ``cli/main.py`` keeps the
parser's frame and the exit mapping, and each command lives in a module of ``cli/commands/``
that adds its own subcommands (``register(sub)``) and holds their handlers, as pipx's
``commands/`` do. Adding a command is a module there plus its name in ``COMMAND_MODULES``;
these tests say which of the two is missing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from watchdog_runtime.cli import commands
from watchdog_runtime.cli.commands import COMMAND_MODULES, command_modules
from watchdog_runtime.cli.main import _Parser, build_parser

COMMANDS_DIR = Path(commands.__file__).parent


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's subcommands by name (aliases included)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the parser has no subcommands")


def _registered_by(module: object) -> dict[str, object]:
    """The subcommands one module adds to a parser of its own, with their handlers."""
    sub = _Parser(prog="wdbot").add_subparsers(dest="command", parser_class=_Parser)
    module.register(sub)  # type: ignore[attr-defined]
    return {name: parser.get_default("func") for name, parser in sub.choices.items()}


def test_every_module_of_commands_is_listed_once() -> None:
    on_disk = sorted(p.stem for p in COMMANDS_DIR.glob("*.py") if p.stem != "__init__")
    assert sorted(COMMAND_MODULES) == on_disk, (
        "each module of cli/commands/ is named once in COMMAND_MODULES (commands/__init__.py), "
        "where 'wdbot --help' lists its commands")


def test_each_command_is_registered_by_its_module_with_a_handler_there() -> None:
    seen: dict[str, str] = {}
    for module in command_modules():
        added = _registered_by(module)
        assert added, f"{module.__name__}.register adds no subcommand"
        for name, func in added.items():
            assert name not in seen, f"'{name}' is registered by {seen.get(name)} and {module.__name__}"
            seen[name] = module.__name__
            assert callable(func) and func.__module__ == module.__name__, (
                f"'wdbot {name}' is handled by {func!r}, not by a handler of {module.__name__}")
    assert sorted(_subcommands(build_parser())) == sorted(seen), "main adds no command of its own"


def test_every_commands_help_loads_no_heavy_module_nor_the_supervisor() -> None:
    """``wdbot CMD --help`` for every command, in a fresh interpreter: registering all the
    modules loads none of asyncio, rich, psutil, watchfiles, nor the supervisor's room."""
    code = ("import sys\nfrom watchdog_runtime.cli.main import build_parser, main\n"
            "names = [a for a in build_parser()._actions if a.dest == 'command'][0].choices\n"
            "for cmd in ['--help', *names]:\n"
            "    try:\n        main([cmd, '--help'] if cmd != '--help' else [cmd])\n"
            "    except SystemExit:\n        pass\n"
            "heavy = {'asyncio', 'rich', 'psutil', 'watchfiles', 'platformdirs', 'starlette', 'uvicorn'}\n"
            "loaded = {m.split('.')[0] for m in sys.modules} & heavy\n"
            "loaded |= {m for m in sys.modules if m.startswith(('watchdog_runtime.supervisor',\n"
            "                                                   'watchdog_runtime.installs'))}\n"
            "print('COMMANDS', len(names), 'LOADED', sorted(loaded))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    last = done.stdout.splitlines()[-1]
    assert last.endswith("LOADED []") and int(last.split()[1]) >= len(COMMAND_MODULES), last


def test_the_table_of_commands_names_what_each_module_registers() -> None:
    """``commands.COMMANDS`` (a command line naming a command is parsed with its module alone,
    issue 29) says, for every subcommand and alias, the module that registers it."""
    pairs = zip(COMMAND_MODULES, command_modules(), strict=True)
    registered = {name: module_name for module_name, module in pairs for name in _registered_by(module)}
    assert commands.COMMANDS == registered


def test_a_command_line_that_names_a_command_imports_its_module_alone() -> None:
    """``wdbot status --json``, which a probe runs every few seconds, parses with the status
    module's subcommands alone (it imported every command module: the web's and the chat's
    packages, the bot spec); a line naming no command still gets every command's help."""
    code = ("import sys\nfrom watchdog_runtime.cli.main import parse_args\n"
            "ns = parse_args(['status', '--json'], None)\nassert ns.json and ns.command == 'status'\n"
            "print(sorted(m for m in sys.modules if m.startswith(('watchdog_runtime.cli.commands.', "
            "'watchdog_runtime.web', 'watchdog_runtime.chat', 'watchdog_runtime.spec'))))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['watchdog_runtime.cli.commands.status']"
    helped = subprocess.run([sys.executable, "-m", "watchdog_runtime", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert all(f" {name}" in helped.stdout for name in ("start", "status", "telegram", "resume"))
