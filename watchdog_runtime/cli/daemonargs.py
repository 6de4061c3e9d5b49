"""``wdbot daemon``'s command line without argparse (issue 29).

The supervisor is long-lived, and argparse with gettext stays in its memory for life (about
0.4 MiB) once imported, for one command line read at start. That line is nearly always one
a program wrote (the launcher's ``--ready-fd N``, a service unit's, a container's CMD), so a
strict reader of exactly the daemon's options takes it; anything it is not certain of
(``-h``, an unknown or abbreviated option, a value it would read otherwise than argparse)
returns None, and the caller parses with the real parser, whose help and errors are the
command's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

# The options of ``commands/daemon.py``'s ``register``: option, its dest, how its value is read.
VALUED: dict[str, tuple[str, Callable[[str], Any]]] = {
    "--ready-fd": ("ready_fd", int),
    "--metrics": ("metrics", str),
    "--up": ("up", str),
}
FLAGS = {"--tee-logs": "tee_logs"}


def parse_daemon_args(args: Sequence[str]) -> SimpleNamespace | None:
    """What argparse makes of ``wdbot daemon ARGS`` (the words after ``daemon``), or None
    where this reader is not certain it would read them alike.

    >>> ns = parse_daemon_args(["--ready-fd", "5", "--metrics=127.0.0.1:9100"])
    >>> ns.ready_fd, ns.metrics, ns.up, ns.tee_logs
    (5, '127.0.0.1:9100', None, False)
    >>> parse_daemon_args(["--help"]) is None, parse_daemon_args(["--ready-fd", "x"]) is None
    (True, True)
    """
    from .commands.daemon import cmd_daemon

    values: dict[str, Any] = {dest: None for dest, _ in VALUED.values()}
    values.update((dest, False) for dest in FLAGS.values())
    words = list(args)
    while words:
        word = words.pop(0)
        if word in FLAGS:
            values[FLAGS[word]] = True
            continue
        option, equals, value = word.partition("=")
        if option not in VALUED:
            return None  # -h, an unknown or abbreviated option, a stray word
        if not equals:
            if not words or words[0].startswith("-"):
                return None  # no value, or one argparse might take for an option
            value = words.pop(0)
        read = _read(option, value)
        if read is None:
            return None
        values[VALUED[option][0]] = read  # repeated: the last one wins, as with argparse
    return SimpleNamespace(command="daemon", **values, func=cmd_daemon)


def _read(option: str, value: str) -> Any:
    """The option's value as argparse would store it, or None when this reader is unsure."""
    if not value:
        return None  # empty: the real parser says what it makes of it
    if VALUED[option][1] is int:
        # ASCII digits only: int() also takes signs, spaces, underscores and other scripts' digits.
        if not (value.isascii() and value.isdigit()):
            return None
        try:
            return int(value)
        except ValueError:  # more digits than int() reads (sys.get_int_max_str_digits)
            return None
    return value
