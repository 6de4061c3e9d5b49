"""Check the auto-install table against PyPI: every distribution exists and ships the module.

For each entry it downloads the smallest file of the distribution's latest release (a wheel
when there is one, else the sdist), lists what it contains, and checks that the module path
is there (``a/b/c/`` or ``a/b/c.py`` or an extension module), and for ``mod:Name`` keys that
the module's source defines or imports ``Name``. Needs the network (PyPI); not part of the
tests, which check the table's syntax offline.

    python scripts/verify_modmap.py [--cache DIR] [--max-mb 150] [--only KEY ...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tarfile
import urllib.parse
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from watchdog_runtime.installs.modmap import Entry, normalize_dist, shipped_table  # noqa: E402

_EXT_RE = re.compile(r"\.(py|pyc|so|pyd|abi3\.so|cpython-[^/]*\.so|cp[^/]*\.pyd)$")


def fetch_json(dist: str) -> dict:
    url = f"https://pypi.org/pypi/{dist}/json"
    with urllib.request.urlopen(url, timeout=60) as resp:
        meta = json.load(resp)
        base = resp.geturl()
    for f in meta["urls"]:  # a mirror may answer with relative links
        f["url"] = urllib.parse.urljoin(base, f["url"])
    return meta


def pick_file(meta: dict) -> dict | None:
    files = [f for f in meta["urls"] if not f.get("yanked")]
    wheels = [f for f in files if f["filename"].endswith(".whl")]
    sdists = [f for f in files if f["filename"].endswith((".tar.gz", ".zip"))]
    pool = wheels or sdists
    return min(pool, key=lambda f: f["size"]) if pool else None


def archive_names(path: Path) -> dict[str, bytes | None]:
    """Member paths, normalised to import layout (wheel .data and sdist root/src stripped);
    values are read lazily by ``read_member``."""
    names: list[str] = []
    if path.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    else:
        with tarfile.open(path) as tf:
            names = tf.getnames()
    return {n: None for n in names}


def normalise(name: str, is_sdist: bool) -> list[str]:
    parts = name.split("/")
    if is_sdist and len(parts) > 1:
        parts = parts[1:]
    if parts and parts[0].endswith(".data") and len(parts) > 2 and parts[1] in ("purelib", "platlib"):
        parts = parts[2:]
    out = ["/".join(parts)]
    if parts and parts[0] in ("src", "python", "lib") and len(parts) > 1:
        out.append("/".join(parts[1:]))
    return out


def read_member(path: Path, member: str) -> str:
    if path.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(path) as zf:
            return zf.read(member).decode("utf-8", "replace")
    with tarfile.open(path) as tf:
        fh = tf.extractfile(member)
        return fh.read().decode("utf-8", "replace") if fh else ""


def check(entry: Entry, cache: Path, max_mb: float) -> tuple[str, str]:
    try:
        meta = fetch_json(entry.dist)
    except Exception as exc:  # noqa: BLE001 - a report line, not a crash
        return "FAIL", f"PyPI: {exc}"
    canonical = meta["info"]["name"]
    if normalize_dist(canonical) != normalize_dist(entry.dist):
        return "FAIL", f"PyPI calls it {canonical}"
    f = pick_file(meta)
    if f is None:
        return "FAIL", "no files in the latest release"
    if f["size"] > max_mb * 1e6:
        return "SKIP", f"smallest file {f['filename']} is {f['size'] / 1e6:.0f} MB"
    local = cache / f["filename"]
    if not local.exists() or local.stat().st_size != f["size"]:
        with urllib.request.urlopen(f["url"], timeout=600) as resp:
            data = resp.read()
        local.write_bytes(data)
    is_sdist = not f["filename"].endswith(".whl")
    members: dict[str, str] = {}
    for raw in archive_names(local):
        for norm in normalise(raw, is_sdist):
            members.setdefault(norm, raw)
    mod_path = entry.module.replace(".", "/")
    hits = [m for m in members
            if m.startswith(mod_path + "/") or (m.startswith(mod_path + ".") and _EXT_RE.search(m)
                                               and "/" not in m[len(mod_path):])]
    if not hits:
        return "FAIL", f"{f['filename']} has no {mod_path}"
    if entry.name:
        source_files = [members[m] for m in (mod_path + ".py", mod_path + "/__init__.py") if m in members]
        text = "".join(read_member(local, s) for s in source_files)
        if not re.search(rf"\b{re.escape(entry.name)}\b", text):
            return "FAIL", f"{f['filename']}: {entry.module} does not mention {entry.name}"
    return "OK", f"{f['filename']} {meta['info']['version']}"


def _safe_check(entry: Entry, cache: Path, max_mb: float) -> tuple[str, str]:
    try:
        return check(entry, cache, max_mb)
    except Exception as exc:  # noqa: BLE001 - one bad download must not hide the others
        return "FAIL", f"{type(exc).__name__}: {exc}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/wdbot-modmap-cache"))
    parser.add_argument("--max-mb", type=float, default=150.0)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--workers", type=int, default=6)
    ns = parser.parse_args()
    ns.cache.mkdir(parents=True, exist_ok=True)
    entries = [e for e in shipped_table() if not ns.only or e.key in ns.only]
    with ThreadPoolExecutor(ns.workers) as pool:
        results = list(pool.map(lambda e: (e, *_safe_check(e, ns.cache, ns.max_mb)), entries))
    bad = 0
    for entry, verdict, detail in results:
        if verdict != "OK":
            bad += 1
        print(f"{verdict:4} {entry.key:32} {entry.dist:28} {detail}", flush=True)
    print(f"{len(results) - bad} of {len(results)} verified", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
