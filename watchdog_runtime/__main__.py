"""``python -m watchdog_runtime`` is the ``wdbot`` command."""

import sys

from .cli.main import main

sys.exit(main())
