"""``wdbot daemon`` as a container's PID 1: a minimal init in front of the supervisor.

PID 1 inherits every orphan of the container and must reap it, or zombies pile up; it also
gets no default signal handling from the kernel. Reaping every child with ``waitpid(-1)``
inside the supervisor would steal the exit statuses it waits for (its bots, its uv calls).
So, as tini does, the process forks: the parent stays PID 1, reaps whatever exits and passes
SIGTERM, SIGINT, SIGHUP, SIGQUIT and SIGUSR1/2 on to the supervisor, which runs in the child,
unchanged; PID 1 exits with the supervisor's status.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def run_as_init(main: Callable[[], int]) -> int:
    """Run ``main()`` in a child; reap every child and forward signals until it exits."""
    child = os.fork()
    if child == 0:
        code = 1
        try:
            code = main()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def forward(signum: int, frame: object) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass  # already gone: the loop below collects its status

    for signum in FORWARDED:
        signal.signal(signum, forward)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)  # an orphan or the supervisor; EINTR is retried
        except ChildProcessError:
            return 0  # nothing left to wait for
        if pid == child:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
