"""``python -m watchdog_runtime`` is the ``wdbot`` command."""

import sys

if sys.argv[1:2] == ["daemon"]:  # a long-lived supervisor: pathlib first, without urllib.parse
    from .supervisor.leanimports import import_pathlib_without_urllib

    import_pathlib_without_urllib()

from .cli.main import main  # noqa: E402 (after the supervisor's first import)

sys.exit(main())
