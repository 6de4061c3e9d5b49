"""TOML parsing imported on first use (issue 29): ``tomllib`` brings ``datetime`` (about
0.4 MiB with its C part) into the supervisor for life, while a home without ``config.toml``
and bots without a ``# /// script`` block never parse any TOML."""

from __future__ import annotations

import sys
from typing import Any


class TomlError(ValueError):
    """Not valid TOML; the message is the parser's."""


def loads(text: str) -> dict[str, Any]:
    """``tomllib.loads(text)``, its ``TOMLDecodeError`` raised as :class:`TomlError`.

    >>> loads('a = 1')
    {'a': 1}
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found]  # 3.10 only, a declared dependency
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TomlError(str(exc)) from None
    return document
