"""Build auto-install's generated module map from real wheels (issue 26).

For each distribution of the field (every one named in ``installs/data/modules.txt``, plus
``EXTRA``: exchanges, brokers, indicators, data, chat, web3, scheduling, config, HTTP), it
reads the newest wheel's ``top_level.txt`` and ``RECORD`` (the zip's own listing where those
are missing), records the import names it provides (the submodules too, for a top-level
package that several distributions share, such as ``binance`` or ``google``), and which
distributions write the same files. It writes ``installs/data/provides.txt``, which the
module map reads after the curated table (the curated line wins for the same key).

Wheels come from folders (``--wheels DIR``, searched recursively: a local mirror, a pip
cache, a download folder) and, with ``--index``, from the real index for what the folders
lack (``--only`` limits which names are asked for: no bulk look-ups of names).

    python scripts/build_modmap.py --wheels /path/to/wheels [--index --only lumibot rel]
"""

from __future__ import annotations

import argparse
import re
import sys
import urllib.parse
import urllib.request
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from watchdog_runtime.installs.modmap import (  # noqa: E402 - after the path is set
    is_import_name,
    normalize_dist,
    parse_table,
)

OUT = ROOT / "watchdog_runtime" / "installs" / "data" / "provides.txt"
EXTRA = ("lumibot", "rel", "setuptools", "websocket-client", "schedule", "APScheduler",
         "python-dotenv", "pydantic-settings", "binance-connector", "binance-futures-connector",
         "python-binance", "python-telegram-bot", "PyJWT", "google-cloud-storage", "protobuf")
_SKIP_TOPS = frozenset({"tests", "test", "testing", "docs", "doc", "examples", "example",
                        "benchmarks", "scripts", "bin", "build", "src", "tools", "samples",
                        "setup", "conftest", "py"})
_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(?:-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
_MODULE_FILE = re.compile(r"^(?P<path>[A-Za-z_][\w/]*?)(?:/__init__)?\.(?:py|so|pyd|[\w.-]+\.so)$")


@dataclass(frozen=True)
class Provided:
    """What one wheel of ``dist`` installs: its module paths and its files."""

    dist: str
    version: str
    modules: frozenset[str]
    files: frozenset[str]
    packages: frozenset[str]
    """Module paths that are regular packages (an ``__init__.py``): their files are shared."""


def read_wheel(path: Path) -> Provided:
    """The import names and files of the wheel at ``path`` (nothing of it runs)."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        info = next((n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA")), "")
        meta = zf.read(f"{info}/METADATA").decode("utf-8", "replace") if info else ""
        tops_text = (zf.read(f"{info}/top_level.txt").decode("utf-8", "replace")
                     if f"{info}/top_level.txt" in names else "")
    dist = re.search(r"^Name: (.+)$", meta, re.MULTILINE)
    version = re.search(r"^Version: (.+)$", meta, re.MULTILINE)
    files = frozenset(_import_path(n) for n in names if _import_path(n))
    modules, packages = set(), set()
    for file in files:
        found = _MODULE_FILE.match(file)
        if found is None:
            continue
        module = found.group("path").replace("/", ".")
        if file.endswith("/__init__.py"):
            packages.add(module)
        parts = module.split(".")
        modules.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    declared = {t.strip() for t in tops_text.splitlines() if t.strip()}
    if declared:  # top_level.txt is the wheel's own word on its import names
        modules = {m for m in modules if m.split(".")[0] in declared} | {
            t.replace("/", ".") for t in declared}
    return Provided(dist.group(1).strip() if dist else path.name.split("-")[0],
                    version.group(1).strip() if version else "", frozenset(
                        m for m in modules if is_import_name(m) and _public(m)),
                    files, frozenset(packages))


def _import_path(member: str) -> str:
    """A wheel member as the path it installs to (``.data/purelib`` stripped); "" for metadata."""
    parts = member.split("/")
    if parts[0].endswith(".dist-info"):
        return ""
    if parts[0].endswith(".data"):
        return "/".join(parts[2:]) if len(parts) > 2 and parts[1] in ("purelib", "platlib") else ""
    return member


def _public(module: str) -> bool:
    parts = module.split(".")
    return parts[0] not in _SKIP_TOPS and not any(p.startswith("_") for p in parts)


def build(provided: Sequence[Provided]) -> list[str]:
    """The generated file's lines: top-level names of unshared packages, submodules of shared
    ones (one line per providing distribution), and the pairs that write the same files."""
    by_top: dict[str, list[Provided]] = defaultdict(list)
    for item in provided:
        for top in {m.split(".")[0] for m in item.modules}:
            by_top[top].append(item)
    lines: list[str] = []
    for top in sorted(by_top):
        owners = by_top[top]
        if len(owners) == 1 and _regular(top, owners[0]):
            lines.append(f"{top} {owners[0].dist}")
            continue
        if len(owners) == 1:  # a namespace package (google): its children tell what it is
            lines.extend(f"{m} {owners[0].dist}" for m in sorted(owners[0].modules)
                         if m.count(".") == 1 and m.startswith(top + "."))
            continue
        lines.extend(_shared(top, owners))
    return lines


def _regular(top: str, item: Provided) -> bool:
    """``top`` is a regular package or a plain module of ``item``, not a namespace."""
    return top in item.packages or any(f.split("/")[0].split(".")[0] == top and "/" not in f
                                       for f in item.files)


def _shared(top: str, owners: Sequence[Provided]) -> list[str]:
    """A top-level name several distributions provide: the submodules that tell them apart
    (down to two levels below it), and each pair that writes the same files."""
    lines = []
    for item in owners:
        subs = sorted(m for m in item.modules if m.startswith(top + ".") and m.count(".") <= 2)
        lines.extend(f"{m} {item.dist}" for m in subs)
    for i, one in enumerate(owners):
        for other in owners[i + 1:]:
            same = {f for f in one.files & other.files if f.startswith(top + "/")}
            if same:
                lines.append(f"!conflict {top} {one.dist} {other.dist}  # {len(same)} files, "
                             f"e.g. {sorted(same)[0]}")
    return lines


def newest_wheels(folders: Iterable[Path], wanted: set[str]) -> dict[str, Path]:
    """The newest wheel of each wanted distribution found in ``folders``."""
    best: dict[str, tuple[tuple[int, ...], Path]] = {}
    for folder in folders:
        for path in folder.rglob("*.whl"):
            found = _WHEEL.match(path.name)
            if not found or normalize_dist(found.group("name")) not in wanted:
                continue
            key = normalize_dist(found.group("name"))
            version = tuple(int(p) for p in re.findall(r"\d+", found.group("version"))[:4])
            if key not in best or version > best[key][0]:
                best[key] = (version, path)
    return {k: v[1] for k, v in best.items()}


def from_index(dist: str, cache: Path) -> Path | None:
    """The newest wheel of ``dist`` from the real index (its JSON API), cached."""
    import json

    with urllib.request.urlopen(f"https://pypi.org/pypi/{dist}/json", timeout=60) as resp:
        meta = json.load(resp)
        base = resp.geturl()
    for f in meta["urls"]:  # a mirror may answer with relative links
        f["url"] = urllib.parse.urljoin(base, f["url"])
    wheels = [f for f in meta["urls"] if f["filename"].endswith(".whl") and not f.get("yanked")]
    if not wheels:
        return None
    pick = min(wheels, key=lambda f: (("none-any" not in f["filename"]), f["size"]))
    local = cache / pick["filename"]
    if not local.exists():
        with urllib.request.urlopen(pick["url"], timeout=600) as resp:
            local.write_bytes(resp.read())
    return local


def _spellings() -> dict[str, str]:
    table = (ROOT / "watchdog_runtime" / "installs" / "data" / "modules.txt").read_text("utf-8")
    names = [e.dist for e in parse_table(table)] + list(EXTRA)
    return {normalize_dist(n): n for n in names}


def _spelled(item: Provided, spelled: dict[str, str]) -> Provided:
    """The name as the index and the curated table spell it (python-binance's wheel says
    ``python_binance``)."""
    from dataclasses import replace

    return replace(item, dist=spelled.get(normalize_dist(item.dist), item.dist))


def field() -> set[str]:
    """The distributions of the field: the curated table's and ``EXTRA``."""
    table = (ROOT / "watchdog_runtime" / "installs" / "data" / "modules.txt").read_text("utf-8")
    return {normalize_dist(e.dist) for e in parse_table(table)} | {normalize_dist(d) for d in EXTRA}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, action="append", default=[])
    parser.add_argument("--index", action="store_true", help="ask the real index for the rest")
    parser.add_argument("--only", nargs="*", default=None, help="names to ask the index for")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/wdbot-modmap-wheels"))
    parser.add_argument("--out", type=Path, default=OUT)
    ns = parser.parse_args(argv)
    wanted = field()
    found = newest_wheels(ns.wheels, wanted)
    if ns.index:
        ns.cache.mkdir(parents=True, exist_ok=True)
        for dist in sorted(set(ns.only or wanted) - set(found)):
            wheel = from_index(dist, ns.cache)
            if wheel is not None:
                found[normalize_dist(dist)] = wheel
    spelled = _spellings()
    provided = [_spelled(read_wheel(found[k]), spelled) for k in sorted(found)]
    lines = build(provided)
    header = ("# Generated by scripts/build_modmap.py from the wheels of "
              f"{len(provided)} distributions: do not edit, re-run it to refresh.\n"
              "# MODULE DISTRIBUTION (several lines for a module several distributions provide);\n"
              "# '!conflict TOP A B': A and B write the same files under TOP/ (never both).\n"
              + "".join(f"# {p.dist} {p.version}\n" for p in provided))
    ns.out.write_text(header + "".join(f"{line}\n" for line in lines), encoding="utf-8")
    print(f"{len(provided)} of {len(wanted)} distributions read; {len(lines)} lines in {ns.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
