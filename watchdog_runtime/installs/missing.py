"""What auto-install repairs: a module a bot could not import (found in its traceback by the
supervisor's ``tracebacks``, acted on by ``autoinstall`` and ``repair``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MissingModule:
    """A bot died of an uncaught ``ModuleNotFoundError``, confirmed twice."""

    name: str
    """The module Python could not find (``yaml``, ``google.protobuf``), as the exception's
    ``name`` has it."""
    import_line: str | None
    """The failing statement (``from binance.client import Client``), when known."""
    filename: str | None
    """The file whose import failed."""
