"""``python -m watchdog_runtime`` is the ``wdbot`` command."""

import sys

from watchdog_runtime.cli import main

sys.exit(main())
