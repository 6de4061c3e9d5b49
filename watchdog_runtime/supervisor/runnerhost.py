"""What a bot's runner, and the process layer beneath it, need from the supervisor: the one
boundary between a runner and the object that holds every runner (``supervisor``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from ..common.home import Home
from ..installs.repair import RepairHost
from ..redaction import Redactor
from . import cgroupplan


class ProcessHost(RepairHost, Protocol):
    """What the process layer needs from the supervisor."""

    home: Home
    containment: cgroupplan.Containment | None
    redact: Redactor
    """Hides the home's secret values in what the runner writes itself (its marks in the
    bot's log, the next run's ``WDBOT_CONTEXT``); events and the registry redact on their own."""

    def persist(self) -> None: ...

    def persist_now(self) -> None:
        """Write the registry at once; raise when it cannot be written."""
        ...

    def hold_soon(self) -> Callable[[], None]:
        """Hold back :meth:`persist`'s writes until the returned release (issue 29)."""
        ...


class RunnerHost(ProcessHost, Protocol):
    """What a runner needs from the supervisor."""

    uniform01: Callable[[], float]
    shutdown_requested: asyncio.Event
    """Set once the supervisor shuts down: no start goes ahead from then on."""

    def slept_recently(self) -> float | None:
        """Seconds the machine slept, if it woke a moment ago."""
        ...
