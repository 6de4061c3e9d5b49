"""The drift probe's sdist reader (issue 26): where uv looks, which release, and an
unpacking that refuses any member that would land outside its scratch folder."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from watchdog_runtime.installs.sdist import (
    PYPI,
    Places,
    SdistError,
    _from_links,
    fetch,
    newest_below,
    places,
    source_roots,
    unpack,
)


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("evil", ["../escaped.txt", "pkg-1.0/../../escaped.txt",
                                  "/tmp/wdbot-abs-escaped.txt"])
def test_a_tar_member_leaving_its_folder_refuses_the_sdist_and_writes_nothing(
        tmp_path: Path, evil: str) -> None:
    """Regression (issue 26): an sdist is read from an index anyone can publish to."""
    archive = _tar(tmp_path / "pkg-1.0.tar.gz", {"pkg-1.0/pkg/__init__.py": b"x = 1\n", evil: b"owned\n"})
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    with pytest.raises(SdistError, match="refused"):
        unpack(archive, work)
    assert list(work.iterdir()) == []
    assert not (tmp_path / "deep" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/wdbot-abs-escaped.txt").exists()


def test_a_zip_member_leaving_its_folder_and_a_tar_link_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "pkg-1.0.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pkg-1.0/ok.py", "x = 1\n")
        zf.writestr("../escaped.txt", "owned\n")
    (tmp_path / "a").mkdir()
    with pytest.raises(SdistError, match="refused"):
        unpack(archive, tmp_path / "a")
    assert list((tmp_path / "a").iterdir()) == [] and not (tmp_path / "escaped.txt").exists()
    linked = tmp_path / "pkg-2.0.tar.gz"
    with tarfile.open(linked, "w:gz") as tar:
        info = tarfile.TarInfo("pkg-2.0/passwd")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    (tmp_path / "b").mkdir()
    with pytest.raises(SdistError, match="link"):
        unpack(linked, tmp_path / "b")


def test_a_good_sdist_unpacks_to_its_top_folder(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "pkg-1.0.tar.gz", {"pkg-1.0/src/pkg/__init__.py": b"HTTP = 1\n"})
    (tmp_path / "w").mkdir()
    root = unpack(archive, tmp_path / "w")
    assert root == tmp_path / "w" / "pkg-1.0"
    assert source_roots(root) == [root, root / "src"]


def test_places_honour_the_options_and_the_uv_variables() -> None:
    assert places([], {}) == Places((PYPI,), ())
    assert places(["--index-url", "https://a/simple", "--find-links", "/w"], {"UV_INDEX_URL": "https://b"}) \
        == Places(("https://a/simple",), ("/w",))
    assert places([], {"UV_DEFAULT_INDEX": "https://d", "UV_EXTRA_INDEX_URL": "https://e",
                       "UV_FIND_LINKS": "/x /y"}) == Places(("https://e", "https://d"), ("/x", "/y"))
    assert places(["--no-index", "--find-links", "/w"], {}) == Places((), ("/w",))
    assert places([], {"UV_NO_INDEX": "1", "UV_FIND_LINKS": "/w"}) == Places((), ("/w",))


def test_the_newest_sdist_below_the_bound_is_chosen(tmp_path: Path) -> None:
    """pybit: 5.17.0 … 5.0.0 are wheels, 2.4.1 … 1.0.0 sdists; below 5 the newest is 2.4.1."""
    for name in ["pybit-2.4.1.tar.gz", "pybit-2.4.0.tar.gz", "pybit-1.0.0.tar.gz", "pybit-5.0.0.tar.gz",
                 "pybit-3.0.0rc1.tar.gz", "other-4.0.tar.gz", "pybit-5.17.0-py3-none-any.whl"]:
        (tmp_path / name).write_bytes(b"")
    found = newest_below("pybit", "<5", Places((), (str(tmp_path),)))
    assert found is not None and found.version == "2.4.1"
    assert newest_below("pybit", "<1", Places((), (str(tmp_path),))) is None


def test_an_index_page_lists_sdists_in_json_and_html() -> None:
    page = json.dumps({"files": [
        {"filename": "pybit-2.4.1.tar.gz", "url": "https://f/pybit-2.4.1.tar.gz", "hashes": {"sha256": "ab"}},
        {"filename": "pybit-2.4.2.tar.gz", "url": "https://f/pybit-2.4.2.tar.gz", "yanked": True},
        {"filename": "pybit-5.0.0-py3-none-any.whl", "url": "https://f/w.whl"}]}).encode()
    [one] = _from_links("pybit", "https://i/simple/pybit/", ("application/vnd.pypi.simple.v1+json", page))
    assert (one.version, one.location, one.sha256) == ("2.4.1", "https://f/pybit-2.4.1.tar.gz", "ab")
    html = b'<a href="../../f/pybit-2.4.1.tar.gz#sha256=cd">pybit-2.4.1.tar.gz</a>'
    [two] = _from_links("pybit", "https://i/simple/pybit/", ("text/html", html))
    assert (two.location, two.sha256) == ("https://i/f/pybit-2.4.1.tar.gz", "cd")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on localhost over ``tmp_path`` (PEP 503 pages are index.html files)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _index(root: Path, name: str, files: dict[str, bytes], digest: str | None = None) -> None:
    page = root / name / "pybit"
    page.mkdir(parents=True)
    links = []
    for filename, data in files.items():
        (page / filename).write_bytes(data)
        links.append(f'<a href="{filename}#sha256={digest or hashlib.sha256(data).hexdigest()}">x</a>')
    (page / "index.html").write_text("<html><body>" + "".join(links) + "</body></html>")


def test_the_first_index_that_has_the_project_is_read_as_uv_does(served: tuple[Path, str]) -> None:
    """uv's default (first-index): a newer sdist on a later index is not what uv would get."""
    root, url = served
    _index(root, "private", {"pybit-2.4.0.tar.gz": b"a"})
    _index(root, "public", {"pybit-2.4.1.tar.gz": b"b"})
    first = newest_below("pybit", "<5", places(["--index-url", f"{url}/public"],
                                               {"UV_EXTRA_INDEX_URL": f"{url}/missing {url}/private"}))
    assert first is not None and first.version == "2.4.0"
    merged = newest_below("pybit", "<5", places(["--index-url", f"{url}/public"],
                                                {"UV_EXTRA_INDEX_URL": f"{url}/private",
                                                 "UV_INDEX_STRATEGY": "unsafe-best-match"}))
    assert merged is not None and merged.version == "2.4.1"


def test_a_fetched_sdist_is_hash_checked(served: tuple[Path, str], tmp_path: Path) -> None:
    root, url = served
    _index(root, "good", {"pybit-2.4.1.tar.gz": b"real"})
    _index(root, "bad", {"pybit-2.4.1.tar.gz": b"swapped"}, digest=hashlib.sha256(b"real").hexdigest())
    (tmp_path / "f1").mkdir()
    (tmp_path / "f2").mkdir()
    good = newest_below("pybit", "<5", Places((f"{url}/good",), ()))
    assert good is not None and fetch(good, tmp_path / "f1").read_bytes() == b"real"
    bad = newest_below("pybit", "<5", Places((f"{url}/bad",), ()))
    assert bad is not None
    with pytest.raises(SdistError, match="sha256"):
        fetch(bad, tmp_path / "f2")


def test_an_sdist_over_the_file_count_bound_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("watchdog_runtime.installs.sdist.MAX_MEMBERS", 3)
    archive = _tar(tmp_path / "pkg-1.0.tar.gz", {f"pkg-1.0/m{i}.py": b"" for i in range(5)})
    (tmp_path / "w").mkdir()
    with pytest.raises(SdistError, match="more than 3 files"):
        unpack(archive, tmp_path / "w")
    assert list((tmp_path / "w").iterdir()) == []
