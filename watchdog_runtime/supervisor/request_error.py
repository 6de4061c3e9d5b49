"""The one error a control operation raises for anything the user must correct."""

from __future__ import annotations


class RequestError(Exception):
    """A request that cannot be carried out; ``usage`` marks the user's mistake (exit 2).
    The control server turns it into an error reply (``server``)."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage
