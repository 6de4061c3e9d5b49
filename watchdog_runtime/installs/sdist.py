"""Source-only releases for the drift probe (issue 26): pybit before 5.15 exists only as an
sdist (2.4.1 is the last with a top-level ``HTTP``), so a wheels-only probe never sees it.

The sdist file itself is fetched from where uv looks (the same ``--index-url``,
``--extra-index-url``, ``--find-links``, ``--no-index`` options and ``UV_*`` variables),
unpacked into a scratch folder with every member checked (no absolute path, no ``..``, no
link, a bounded total size) and read, never built: none of its code runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import Protocol

from .modmap import normalize_dist

PYPI = "https://pypi.org/simple"
FETCH_TIMEOUT_S = 30.0
MAX_PAGE_BYTES = 16 * 1024 * 1024
MAX_SDIST_BYTES = 64 * 1024 * 1024
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_MEMBERS = 20_000
_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")
_FINAL = re.compile(r"^\d+(\.\d+)*$")


class SdistError(Exception):
    """An sdist could not be listed, fetched or unpacked safely; the text says which and why."""


@dataclass(frozen=True)
class Places:
    """Where uv looks for packages: simple indexes (URLs) and find-links places."""

    indexes: tuple[str, ...]
    find_links: tuple[str, ...]
    merge: bool = False
    """``UV_INDEX_STRATEGY`` unsafe-*: every index's releases count, not the first's only."""


@dataclass(frozen=True)
class Sdist:
    """One source release: its version and where its file is (a URL or a local path)."""

    version: str
    location: str
    sha256: str | None = None


def places(index_args: Sequence[str], env: Mapping[str, str] | None = None) -> Places:
    """The indexes and find-links of ``index_args`` (``IndexOptions.uv_args``) and of the
    ``UV_*`` variables uv reads, as uv combines them (options first; PyPI unless an index
    is given or ``--no-index``)."""
    env = os.environ if env is None else env
    opts: dict[str, list[str]] = {"--index-url": [], "--extra-index-url": [], "--find-links": []}
    no_index = bool(env.get("UV_NO_INDEX", "").strip().lower() in {"1", "true", "yes", "on"})
    args = list(index_args)
    for i, arg in enumerate(args):
        if arg == "--no-index":
            no_index = True
        elif arg in opts and i + 1 < len(args):
            opts[arg].append(args[i + 1])
    main = opts["--index-url"][:1] or [u for u in (env.get("UV_INDEX_URL"), env.get("UV_DEFAULT_INDEX"))
                                       if u][:1] or [PYPI]
    extra = opts["--extra-index-url"] + env.get("UV_EXTRA_INDEX_URL", "").split()
    named = [item.split("=", 1)[-1] for item in env.get("UV_INDEX", "").split()]
    links = opts["--find-links"] + env.get("UV_FIND_LINKS", "").replace(",", " ").split()
    indexes = () if no_index else tuple(dict.fromkeys([*extra, *named, *main]))
    merge = env.get("UV_INDEX_STRATEGY", "").startswith("unsafe-")
    return Places(indexes, tuple(dict.fromkeys(links)), merge)


def newest_below(dist: str, bound: str, where: Places) -> Sdist | None:
    """The newest final release of ``dist`` below ``bound`` (``<5``, ``<5.17``) that has an
    sdist in any of the places (uv merges them too); None when none does."""
    limit = _release(bound.lstrip("<"))
    below = [s for found in _listed(dist, where) for s in found if _release(s.version) < limit]
    return max(below, key=lambda s: _release(s.version)) if below else None


def _listed(dist: str, where: Places) -> list[list[Sdist]]:
    """The sdists of ``dist`` in each place; a place that cannot be read raises SdistError."""
    out: list[list[Sdist]] = []
    for place in where.find_links:
        out.append(_from_folder(dist, Path(_local(place))) if _is_local(place)
                   else _from_links(dist, place, _fetch_page(place)))
    for index in where.indexes:
        url = f"{index.rstrip('/')}/{normalize_dist(dist)}/"
        page = _fetch_page(url)
        out.append(_from_links(dist, url, page))
        if page[1].strip() and not where.merge:
            break  # uv's first-index strategy: the first index that has the project is the one
    return out


def _is_local(place: str) -> bool:
    return "://" not in place or place.startswith("file://")


def _local(place: str) -> str:
    return urllib.request.url2pathname(urllib.parse.urlparse(place).path) if place.startswith("file://") \
        else place


def _from_folder(dist: str, folder: Path) -> list[Sdist]:
    if not folder.is_dir():
        return []
    return [s for s in (_named(dist, p.name, str(p)) for p in folder.iterdir() if p.is_file()) if s]


def _named(dist: str, filename: str, location: str, sha256: str | None = None) -> Sdist | None:
    """The Sdist a file name stands for, when it is a final release of ``dist``."""
    suffix = next((s for s in _SUFFIXES if filename.lower().endswith(s)), None)
    if suffix is None or "-" not in filename:
        return None
    name, version = filename[: -len(suffix)].rsplit("-", 1)
    if normalize_dist(name) != normalize_dist(dist) or not _FINAL.match(version):
        return None
    return Sdist(version, location, sha256)


def _release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".") if p.isdigit()]
    while parts and parts[-1] == 0:
        parts.pop()  # 5.0 == 5 when compared
    return tuple(parts)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def _from_links(dist: str, base: str, page: tuple[str, bytes]) -> list[Sdist]:
    """The sdists a PEP 691 JSON or a PEP 503 HTML page lists."""
    kind, body = page
    if "json" in kind:
        try:
            files = json.loads(body).get("files", [])
        except (ValueError, AttributeError) as exc:
            raise SdistError(f"{base}: not a package list ({exc})") from None
        rows = [(str(f.get("url", "")), str(f.get("filename", "")), (f.get("hashes") or {}).get("sha256"))
                for f in files if isinstance(f, dict) and not f.get("yanked")]
    else:
        parser = _Links()
        parser.feed(body.decode("utf-8", errors="replace"))
        rows = []
        for href in parser.hrefs:
            link, _, fragment = href.partition("#")
            digest = fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None
            rows.append((link, urllib.parse.unquote(link.rsplit("/", 1)[-1]), digest))
    found = (_named(dist, name, urllib.parse.urljoin(base, url), digest) for url, name, digest in rows)
    return [s for s in found if s]


def _fetch_page(url: str) -> tuple[str, bytes]:
    """(content type, body) of an index page; a missing project is an empty list."""
    request = urllib.request.Request(url, headers={
        "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1", "User-Agent": "wdbot"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as answer:  # noqa: S310
            return answer.headers.get_content_type(), _bounded(answer, MAX_PAGE_BYTES, url)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return "text/html", b""
        raise SdistError(f"{url}: HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise SdistError(f"{url}: {exc}") from None


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def _bounded(stream: _Readable, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of ``stream``; more is an SdistError (a bomb, not an sdist)."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise SdistError(f"{what}: larger than {limit // (1024 * 1024)} MB")
    return data


def fetch(sdist: Sdist, folder: Path) -> Path:
    """The sdist's file, copied or downloaded into ``folder`` (size-bounded, hash-checked)."""
    name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlparse(sdist.location).path)).name \
        if not _is_local(sdist.location) else Path(_local(sdist.location)).name
    target = folder / (name or "sdist")
    if _is_local(sdist.location):
        source = Path(_local(sdist.location))
        if source.stat().st_size > MAX_SDIST_BYTES:
            raise SdistError(f"{source}: larger than {MAX_SDIST_BYTES // (1024 * 1024)} MB")
        shutil.copyfile(source, target)
    else:
        request = urllib.request.Request(sdist.location, headers={"User-Agent": "wdbot"})
        try:
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as answer:  # noqa: S310
                target.write_bytes(_bounded(answer, MAX_SDIST_BYTES, sdist.location))
        except (OSError, ValueError) as exc:
            raise SdistError(f"{sdist.location}: {exc}") from None
    if sdist.sha256 and hashlib.sha256(target.read_bytes()).hexdigest() != sdist.sha256.lower():
        raise SdistError(f"{sdist.location}: its sha256 is not the one the index lists")
    return target


def unpack(archive: Path, folder: Path) -> Path:
    """Unpack ``archive`` into ``folder`` (which must be empty) and return the source
    root: the one top folder an sdist has, or ``folder``. A member with an absolute path,
    a ``..``, a link or a device, or more than the size bound in all, refuses the whole
    archive (SdistError) and nothing is written outside ``folder``."""
    if archive.name.lower().endswith(".zip"):
        _unzip(archive, folder)
    else:
        _untar(archive, folder)
    tops = [p for p in folder.iterdir()]
    return tops[0] if len(tops) == 1 and tops[0].is_dir() else folder


def _safe_name(name: str, archive: Path) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if not name or path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        raise SdistError(f"{archive.name}: refused, a member's path leaves its folder ({name!r})")
    return path


def _untar(archive: Path, folder: Path) -> None:
    try:
        with tarfile.open(archive) as tar:
            members = []
            for member in tar:  # one by one: a bomb of empty headers stops at the count bound
                members.append(member)
                if len(members) > MAX_MEMBERS:
                    break
            _check_sizes(archive, [(m.name, m.size if m.isfile() else 0) for m in members])
            for member in members:
                _safe_name(member.name, archive)
                if not (member.isfile() or member.isdir()):
                    raise SdistError(f"{archive.name}: refused, {member.name!r} is a link or device")
            tar.extractall(folder, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SdistError(f"{archive.name}: not a readable sdist ({exc})") from None


def _unzip(archive: Path, folder: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            _check_sizes(archive, [(i.filename, i.file_size) for i in infos])
            for info in infos:
                path = folder.joinpath(*_safe_name(info.filename, archive).parts)
                if info.is_dir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as source:
                    path.write_bytes(_bounded(source, info.file_size, info.filename))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise SdistError(f"{archive.name}: not a readable sdist ({exc})") from None


def _check_sizes(archive: Path, members: list[tuple[str, int]]) -> None:
    for name, _ in members:
        _safe_name(name, archive)
    if len(members) > MAX_MEMBERS or sum(size for _, size in members) > MAX_UNPACKED_BYTES:
        raise SdistError(f"{archive.name}: refused, more than {MAX_MEMBERS} files or "
                         f"{MAX_UNPACKED_BYTES // (1024 * 1024)} MB unpacked")


def source_roots(root: Path) -> list[Path]:
    """Where an unpacked sdist keeps its modules: its top folder, or ``src/`` (src layout)."""
    return [root, *([root / "src"] if (root / "src").is_dir() else [])]
