"""A first start no slower than ``uv run`` (issue 26): a bot's venv is built from uv's cache
alone when it has everything, and the index is asked only once the bot is up; a newer
release is said, and installed by the next start, never under the running bot."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Wdbot, build_wheel, wait_until, write_bot


class _Index(http.server.SimpleHTTPRequestHandler):
    """Pages that must be revalidated (as an index's are once their max-age is past): an
    online resolution sees a new release at once, uv's cache alone does not."""

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "max-age=0, must-revalidate")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture
def index(tmp_path: Path, wd: Wdbot) -> Iterator[Path]:
    """A real PEP 503 index over HTTP on localhost, the only one the supervisor's uv asks
    (online: no UV_OFFLINE); its pages are written by ``_publish``."""
    root = tmp_path / "index"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Index, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    del wd.env["UV_OFFLINE"]
    wd.env["UV_INDEX_URL"] = f"http://127.0.0.1:{server.server_address[1]}/simple"
    try:
        yield root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _publish(root: Path, dist: str, version: str) -> None:
    """Add a release of ``dist`` (one module, which says its version) to the index."""
    module = dist.replace("-", "_")
    wheel = build_wheel(root / "files", dist, version, {f"{module}/__init__.py": f"V = {version!r}\n"})
    page = root / "simple" / dist / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    links = "".join(f'<a href="../../files/{w.name}">{w.name}</a>\n'
                    for w in sorted((root / "files").glob(f"{module}-*.whl")))
    page.write_text(f"<html><body>\n{links}</body></html>\n")
    assert wheel.exists()


BOT = """
    # /// script
    # dependencies = ["wdtest-fresh"]
    # ///
    import time
    import wdtest_fresh
    print("version", wdtest_fresh.V, flush=True)
    time.sleep(600)
"""


def test_the_first_start_resolves_from_the_cache_and_asks_the_index_after_the_bots_first_line(
        wd: Wdbot, bots: Path, index: Path) -> None:
    """Regression (issue 26, first start no slower than 'uv run'): every venv build resolved
    against the index before the bot's first line (ccxt and pandas: 0.5 s on a quiet
    machine, 2 s on a busy one) although uv's cache had it all. Now the cache's answer
    starts the bot, the index is asked after its first line (the event log's order), the
    newer release is said, and the next start installs it."""
    _publish(index, "wdtest-fresh", "1.0")
    wd("start", str(write_bot(bots, "prime.py", BOT)))  # uv's cache now knows 1.0
    wait_until(lambda: "version 1.0" in wd.stdout("prime"), "the first bot's first line")
    _publish(index, "wdtest-fresh", "2.0")

    wd("start", str(write_bot(bots, "fresh.py", BOT)), "--min-uptime", "1")
    wait_until(lambda: "version" in wd.stdout("fresh"), "the bot's first line")
    assert "version 1.0" in wd.stdout("fresh"), "the cache's release, the index not asked first"
    [newer] = wait_until(lambda: wd.events("newer_releases", "fresh"), "the check after the start", 120)
    assert newer["packages"] == "wdtest-fresh 1.0 -> 2.0"
    assert "'wdbot restart fresh'" in newer["message"]
    kinds = [e["kind"] for e in _events(wd) if e["bot"] == "fresh"]
    kinds = [k for k in kinds if k in ("start", "newer_releases")]
    assert kinds == ["start", "newer_releases"], "the index asked after the bot started"
    assert wd.bot("fresh")["state"] == "running" and wd.bot("fresh")["restarts"] == 0

    # The newer release cannot be fetched now: the venv it has still runs the bot, and the
    # index is asked again once the bot is up.
    wheel = next((index / "files").glob("wdtest_fresh-2.0-*.whl"))
    wheel.rename(wheel.with_suffix(".away"))
    wd("restart", "fresh")
    wait_until(lambda: wd.stdout("fresh").count("version 1.0") == 2, "the restart on the venv it had")
    wheel.with_suffix(".away").rename(wheel)
    wait_until(lambda: len(wd.events("newer_releases", "fresh")) == 2, "the check of the next run", 120)

    wd("restart", "fresh")
    wait_until(lambda: "version 2.0" in wd.stdout("fresh"), "the restart with the newer release")
    assert wd.bot("fresh")["state"] == "running"


def _events(wd: Wdbot) -> list[dict[str, Any]]:
    """Every event, in the order written."""
    return [json.loads(line) for line in (wd.home / "events.jsonl").read_text().splitlines()]
