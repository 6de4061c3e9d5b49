"""``wdbot daemon``: the supervisor in the foreground (or as a container's init), with its
metrics and probes, an up-file to apply once serving, and its bots' lines teed out."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from ...common.home import Home
from ..errors import UsageError

if TYPE_CHECKING:  # argparse only when the real parser is built (cli/daemonargs.py, issue 29)
    import argparse

    from . import Subcommands


def register(sub: Subcommands) -> None:
    """Add ``daemon`` to the subcommands ``sub`` (``cli/daemonargs.py`` reads the same options
    without argparse: keep the two alike)."""
    import argparse

    p = sub.add_parser("daemon", help="run the supervisor in the foreground")
    p.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    p.add_argument("--metrics", metavar="HOST:PORT",
                   help="serve Prometheus metrics there, and the probes /livez and /readyz (off by default)")
    p.add_argument("--up", metavar="FILE.toml",
                   help="once serving, start or update the bots of this up-file (see 'wdbot up')")
    p.add_argument("--tee-logs", action="store_true",
                   help="also write every bot's lines to this daemon's stdout, as 'NAME | line'")
    p.set_defaults(func=cmd_daemon)


def check_metrics(listen: str | None) -> None:
    """``--metrics HOST:PORT`` (of ``daemon`` and ``service``): one error line when malformed."""
    if listen:
        from ...supervisor.metrics import MetricsError, parse_listen

        try:
            parse_listen(listen)
        except MetricsError as exc:
            raise UsageError(str(exc)) from None


def cmd_daemon(ns: argparse.Namespace, home: Home) -> int:
    from ...supervisor.leanimports import import_asyncio_without_ssl

    import_asyncio_without_ssl()  # first: nothing has imported asyncio yet
    from ...supervisor.daemon import AlreadyRunning, run_daemon

    check_metrics(ns.metrics)
    refused: tuple[type[Exception], ...] = ()
    if ns.metrics:  # the metrics module only when they are served (issue 29)
        from ...supervisor.metrics import MetricsError

        refused = (MetricsError,)
    up = None
    if ns.up is not None:  # imported only then: the up-file's reader brings the client's modules
        from .up import read_up_file

        up = read_up_file(ns.up)  # a bad file: exit 2 before anything runs

    under_init = os.getpid() == 1

    def serve(ready_fd: int | None = ns.ready_fd) -> int:
        try:
            # boot: not launched by a command (--ready-fd), whether a person, a service
            # manager or the PID-1 init (which passes its own ready pipe) runs it.
            return run_daemon(home, ready_fd, metrics=ns.metrics, boot=ns.ready_fd is None,
                              under_init=under_init, up=up, tee_logs=ns.tee_logs)
        except AlreadyRunning as exc:
            print(f"wdbot daemon: error: {exc}", file=sys.stderr)
            return 1
        except refused as exc:  # the metrics' port is taken, say
            print(f"wdbot daemon: error: {exc}", file=sys.stderr)
            return 1

    if under_init:  # a container's init: reap orphans, forward signals, restart (pid1.py)
        from ...supervisor.pid1 import run_as_init

        return run_as_init(serve)
    return serve()
