"""``wdbot daemon``'s command line read without argparse (issue 29, ``cli/daemonargs.py``): each
form it accepts gives argparse's namespace, and each it is not certain of falls back to the
real parser, so help and errors stay the command's own."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from watchdog_runtime.cli.commands.daemon import cmd_daemon
from watchdog_runtime.cli.daemonargs import parse_daemon_args
from watchdog_runtime.cli.main import build_parser

ACCEPTED = [
    [],
    ["--ready-fd", "5"], ["--ready-fd=5"], ["--ready-fd", "007"],
    ["--metrics", "127.0.0.1:9100"], ["--metrics=127.0.0.1:9100"], ["--metrics=-x"], ["--metrics=a=b"],
    ["--up", "bots.toml"], ["--up=bots.toml"], ["--up", "a b.toml"],
    ["--tee-logs"], ["--tee-logs", "--tee-logs"],
    ["--metrics", "a:1", "--metrics", "b:2"], ["--ready-fd=3", "--ready-fd", "4"],  # the last wins
    ["--tee-logs", "--up=u.toml", "--ready-fd", "9", "--metrics", "[::1]:9100"],
]

FALLS_BACK = [
    ["-h"], ["--help"], ["--version"], ["--bogus"], ["stray"], ["-"],
    ["--tee"], ["--met", "x:1"], ["--ready", "5"],  # abbreviations: argparse's to match
    ["--ready-fd"], ["--metrics"], ["--up"],  # no value
    ["--metrics", "--up"], ["--up", "-f.toml"], ["--ready-fd", "-1"],  # a value like an option
    ["--metrics="], ["--metrics", ""], ["--up="],  # empty
    ["--ready-fd", "x"], ["--ready-fd", "+5"], ["--ready-fd", " 5"], ["--ready-fd", "5_0"],
    ["--ready-fd", "\u0665"], ["--ready-fd", "5" * 5000], ["--ready-fd=5.0"],  # int() would differ or fail
    ["--tee-logs=1"], ["--tee-logs", "extra"],
]


def argparse_reads(args: list[str]) -> dict[str, Any]:
    """What the real parser makes of ``wdbot daemon ARGS``."""
    return vars(build_parser("daemon").parse_args(["daemon", *args]))


@pytest.mark.parametrize("args", ACCEPTED, ids=" ".join)
def test_each_accepted_form_reads_as_argparse_does(args: list[str]) -> None:
    ns = parse_daemon_args(args)
    assert ns is not None, f"{args} is well-formed"
    assert vars(ns) == argparse_reads(args)
    assert ns.func is cmd_daemon


@pytest.mark.parametrize("args", FALLS_BACK, ids=repr)
def test_each_form_it_is_not_sure_of_falls_back_to_argparse(args: list[str]) -> None:
    assert parse_daemon_args(args) is None


def test_an_option_added_to_the_daemon_is_read_or_falls_back() -> None:
    """The reader's options are the registered ones: a new option of ``register`` would be
    missing from the namespace the daemon gets (``ns.NEW``: an AttributeError)."""
    ns = parse_daemon_args([])
    assert ns is not None and vars(ns) == argparse_reads([])


def wdbot(*args: str, code: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code or "import sys\nfrom watchdog_runtime.cli.main "
                           "import main\nsys.exit(main(sys.argv[1:]))", *args],
                          capture_output=True, text=True, timeout=60)


def test_a_well_formed_daemon_line_never_imports_argparse() -> None:
    code = ("import sys\nfrom watchdog_runtime.cli.main import lean_command, parse_args\n"
            "args = ['daemon', '--ready-fd=7', '--tee-logs', '--metrics', 'h:1', '--up', 'u.toml']\n"
            "ns = parse_args(args, lean_command(args))\n"
            "print(ns.ready_fd, ns.tee_logs, ns.metrics, ns.up, 'argparse' in sys.modules,"
            " 'gettext' in sys.modules)\n")
    done = wdbot(code=code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["7", "True", "h:1", "u.toml", "False", "False"]


@pytest.mark.parametrize(("args", "line"), [
    (["--ready-fd", "x"], "wdbot daemon: error: argument --ready-fd: invalid int value: 'x' "
                          "(see 'wdbot daemon --help')"),
    (["--bogus"], "wdbot: error: unrecognized arguments: --bogus (see 'wdbot --help')"),
    (["--metrics"], "wdbot daemon: error: argument --metrics: expected one argument "
                    "(see 'wdbot daemon --help')"),
])
def test_a_malformed_daemon_line_gets_argparse_s_one_error_line(args: list[str], line: str) -> None:
    done = wdbot("daemon", *args)
    assert (done.returncode, done.stderr, done.stdout) == (2, line + "\n", "")


def test_daemon_help_is_argparse_s() -> None:
    done = wdbot("daemon", "-h")
    assert done.returncode == 0 and done.stdout.startswith("usage: wdbot daemon [-h]")
    assert "--tee-logs" in done.stdout and "--ready-fd" not in done.stdout  # hidden, as before
