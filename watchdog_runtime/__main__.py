"""``python -m watchdog_runtime`` is the ``wdbot`` command."""

import os
import sys

if sys.argv[1:2] == ["daemon"]:  # a long-lived supervisor
    # Not from the folder it was started in (``-m`` put it first): a bot's folder holding a
    # signal.py or a queue.py would stand in for the standard library's, and it crashed.
    if sys.path[:1] in ([""], [os.getcwd()]):
        del sys.path[0]
    from .supervisor.leanimports import import_pathlib_without_urllib

    import_pathlib_without_urllib()  # first, without urllib.parse (issue 29)

from .cli.main import main  # noqa: E402 (after the supervisor's first steps)

sys.exit(main())
