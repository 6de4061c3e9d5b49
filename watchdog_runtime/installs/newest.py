"""Never settle silently for an old release (issue 26).

A wheels-only resolution that meets a dependency with only an sdist backtracks, without a
word, to an ancient release that declares no dependencies (lumibot 0.0.3 for 4.6.30). After
each install round the versions installed are compared with the newest release uv sees
(``uv pip compile --no-deps``, one call for the round); an older one is replaced by the newest
when that can install (a source build for an allowlisted name), or kept with a note that
says why ("lumibot 0.0.3 instead of 4.6.30: ibapi has no wheel"), which the event, the
status and ``auto-requirements.txt`` show.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from .autoinstall import Installed
from .causes import why_not
from .modmap import normalize_dist
from .scratch import scratch
from .uvtool import UvError, run_uv

_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;]+)", re.MULTILINE)

Installer = Callable[[str, bool], Installed]
"""Install ``dist==version`` (the string), allowing a source build when True; raises UvError."""


def newest_releases(python: Path, dists: Sequence[str], index_args: Sequence[str],
                    timeout_s: float) -> dict[str, str]:
    """The newest release of each of ``dists`` that uv sees for ``python`` (normalised name ->
    version); empty when uv cannot say (offline without it in the cache, a bad index)."""
    if not dists:
        return {}
    with scratch("newest") as folder:
        wanted = folder / "requirements.in"
        wanted.write_text("".join(f"{d}\n" for d in dists), encoding="utf-8")
        try:
            out = run_uv(["pip", "compile", str(wanted), "--no-deps", "--quiet", "--no-header",
                          "--no-annotate", "--python", str(python), *index_args], timeout_s=timeout_s)
        except UvError:
            return {}
    return {normalize_dist(m.group(1)): m.group(2) for m in _PINNED.finditer(out)}


def settle(done: Sequence[Installed], bare: Sequence[str], newest: dict[str, str],
           install: Installer, source_ok: Callable[[str], bool]) -> list[Installed]:
    """``done`` with each installed release older than the newest replaced by the newest
    (``install``), or noted. Only ``bare`` distributions (asked for without a version) are
    looked at: a version the bot pinned is what it wants."""
    asked = {normalize_dist(d) for d in bare}
    out = []
    for item in done:
        latest = newest.get(normalize_dist(item.package))
        if normalize_dist(item.package) not in asked or not latest or not item.version \
                or latest == item.version:
            out.append(item)
            continue
        out.append(_newer_or_noted(item, latest, install, source_ok(item.package)))
    return out


def _newer_or_noted(item: Installed, latest: str, install: Installer, source: bool) -> Installed:
    try:
        newer = install(f"{item.package}=={latest}", source)
    except UvError as exc:
        cause = why_not(exc.detail or str(exc))
        return replace(item, note=f"{item.package} {item.version} instead of {latest}: {cause}")
    return replace(newer, module=item.module, from_source=newer.from_source or item.from_source)
