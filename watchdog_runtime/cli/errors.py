"""The two ways a ``wdbot`` command fails, mapped to exit statuses by ``main``."""

from __future__ import annotations


class UsageError(Exception):
    """A mistake in the command line: exit 2."""


class Failure(Exception):
    """The operation failed: exit 1."""
