"""Trading modes from the web page and in ``/metrics`` (issue 27, point 1), against a real
supervisor and real bots: the page's buttons reach the bot's ``wd.mode()``, "halt all" asks
first, ``--read-only`` refuses, and ``wdbot_bot_mode`` follows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import Wdbot, free_port, scrape, wait_until, write_bot
from tests.integration.test_trading_modes import LISTENER, start_listener, wait_seen
from tests.integration.test_web_routes import csrf_of, login, make_client


def test_the_page_sets_the_mode_a_running_bot_reads(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 27): the web page had no way to stop a bot trading without killing it."""
    out = start_listener(wd, bots, tmp_path, "grid")
    with make_client(wd.home) as client:
        csrf = login(client, wd.home)
        page = client.get("/bot/grid").text
        assert 'action="/mode/halt"' in page and 'action="/mode/resume"' in page
        done = client.post("/mode/halt", data={"csrf": csrf, "bot": "grid"})
        assert done.status_code == 303 and done.headers["location"] == "/bot/grid"
        wait_seen(out, "seen halted may_open=False")
        event = wd.events("mode", "grid")[-1]
        assert event["mode"] == "halted" and event["source"].startswith("web ")
        assert "halted" in client.get("/").text

        done = client.post("/mode/reduce", data={"csrf": csrf, "bot": "grid"},
                           headers={"accept": "application/json"})
        assert done.json()["bots"] == [{"name": "grid", "mode": "reducing", "changed": True}]
        wait_seen(out, "seen reducing may_open=False")

        asked = client.post("/mode/halt", data={"csrf": csrf, "all": "yes"})  # no confirmation yet
        assert asked.status_code == 200 and 'name="confirm" value="yes"' in asked.text
        assert wd.bot("grid")["mode"] == "reducing"
        done = client.post("/mode/halt", data={"csrf": csrf, "all": "yes", "confirm": "yes"})
        assert done.status_code == 303
        wait_seen(out, "seen halted may_open=False")

        for bad in ({"csrf": csrf, "bot": "nosuch"}, {"csrf": csrf, "bot": "../x"},
                    {"csrf": "no", "bot": "grid"}):
            assert client.post("/mode/resume", data=bad).status_code in (403, 404, 502)
        assert client.post("/mode/explode", data={"csrf": csrf, "bot": "grid"}).status_code == 404
        assert wd.bot("grid")["mode"] == "halted"


def test_read_only_refuses_every_mode_button(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    start_listener(wd, bots, tmp_path, "grid")
    with make_client(wd.home, read_only=True) as client:
        login(client, wd.home)
        page = client.get("/").text
        csrf = csrf_of(page)
        assert "halt-all" not in page and 'action="/mode/' not in client.get("/bot/grid").text
        for op in ("halt", "reduce", "resume"):
            assert client.post(f"/mode/{op}", data={"csrf": csrf, "bot": "grid"}).status_code == 403
        everyone = {"csrf": csrf, "all": "yes", "confirm": "yes"}
        assert client.post("/mode/halt", data=everyone).status_code == 403
    assert wd.bot("grid")["mode"] == "active" and not wd.events("mode")


def test_the_mode_gauge(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    wd.home.mkdir(parents=True, exist_ok=True)
    (wd.home / "config.toml").write_text("[resources]\ninterval = 0.2\n")
    port = free_port()
    daemon = subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "daemon", "--metrics",
                               f"127.0.0.1:{port}"], env=wd.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: "wdbot_supervisor_uptime_seconds" in scrape(port), "the metrics endpoint")
        out = tmp_path / "g.seen"
        wd("start", str(write_bot(bots, "g.py", LISTENER)), "--env", f"SEEN={out}")
        wait_until(lambda: 'wdbot_bot_mode{bot="g"} 0.0' in scrape(port), "the gauge at active")
        wd("reduce", "g")
        wait_until(lambda: 'wdbot_bot_mode{bot="g"} 1.0' in scrape(port), "the gauge at reducing")
        wd("halt", "--all")
        wait_until(lambda: 'wdbot_bot_mode{bot="g"} 2.0' in scrape(port), "the gauge at halted")
    finally:
        daemon.terminate()
        assert daemon.wait(timeout=30) == 0
