"""What auto-install repairs: a module a bot could not import (found in its traceback by the
supervisor's ``tracebacks``, acted on by ``autoinstall`` and ``repair``)."""

from __future__ import annotations

from ..common.leandataclass import dataclass


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
    imported: str | None = None
    """For ``ImportError: cannot import name 'X' from 'Y'`` raised by an installed package at
    import time: X (and ``name`` is Y). A version drift, not a missing package (issue 26)."""
    error: str | None = None
    """For any other ``ImportError`` an installed package raised at import time: its message
    (``name`` is the package's top-level module). No restart heals it."""
