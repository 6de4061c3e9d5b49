"""Import names and distribution names, and the operator's pairs of them (``[allow]`` in
``config.toml``, ``wdbot allow``): validated alike by ``config`` and by the installs
(``installs.modmap``, which resolves them). Pure, standard library only.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping

from .common.leandataclass import dataclass

_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# PEP 508 (and the core metadata spec): a distribution name.
_DIST_RE = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def is_import_name(name: str) -> bool:
    """A dotted module path of plain ASCII identifiers (``yaml``, ``google.protobuf``).

    >>> is_import_name("google.protobuf"), is_import_name("--index-url=x"), is_import_name(".x")
    (True, False, False)
    """
    parts = name.split(".")
    return all(_IDENT_RE.fullmatch(p) and not keyword.iskeyword(p) for p in parts)


def is_dist_name(name: str) -> bool:
    """A valid PEP 508 distribution name (``PyYAML``, ``python-dateutil``).

    >>> is_dist_name("python-dateutil"), is_dist_name("x; rm -rf /"), is_dist_name("-x")
    (True, False, False)
    """
    return bool(_DIST_RE.fullmatch(name))


def normalize_dist(name: str) -> str:
    """The PEP 503 normal form: ``Python_Dateutil`` -> ``python-dateutil``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Entry:
    """One row of the table: ``module`` (with an imported ``name``, for ``mod:Name`` keys)."""

    module: str
    name: str | None
    dist: str
    spec: str = ""
    """A version bound the module needs (``pkg_resources setuptools <81``), or ""."""

    @property
    def key(self) -> str:
        return f"{self.module}:{self.name}" if self.name else self.module


class TableError(ValueError):
    """A malformed table line (a bug in the shipped table, or a bad operator pair)."""


def parse_key(key: str) -> tuple[str, str | None]:
    """``kucoin.client:Client`` -> (``kucoin.client``, ``Client``), both validated."""
    module, _, name = key.partition(":")
    if not is_import_name(module) or (name and not is_import_name(name)) or "." in name:
        raise TableError(f"bad import name {key!r}")
    return module, name or None


def pairs_to_entries(pairs: Mapping[str, str]) -> tuple[Entry, ...]:
    """Operator pairs (``{"mymod": "my-dist"}``) as entries; raises TableError when bad."""
    out = []
    for key, dist in pairs.items():
        module, name = parse_key(key)
        if not is_dist_name(dist):
            raise TableError(f"bad distribution name {dist!r} for {key}")
        out.append(Entry(module, name, dist))
    return tuple(out)
