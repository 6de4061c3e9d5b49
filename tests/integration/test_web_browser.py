"""The dashboard in a real headless browser (Debian's Chromium through chromedriver and
selenium) on the demo bots: log in with the demo's link, see the bots, restart one and watch
its state change without a reload, follow its log, set a secret and see the bot read it,
and check that a request without the CSRF token changes nothing; and that a bot's hostile error
text (a CR before ``event: bot``) does not stop the overview's live updates. It takes the README's
screenshots on the way (into ``docs/`` when ``WDBOT_WEB_SHOTS`` names it: ``make screenshots``).

Skipped only where Chromium is missing outside CI; in CI (``CI`` set) a missing browser fails.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Wdbot, wait_for_line, wait_until, write_bot
from tests.integration.test_web_stream_text import HOSTILE_BOT

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]
VALUE = "demo-key-7f3a9c"
PHONE = {"width": 375, "height": 812, "deviceScaleFactor": 2, "mobile": True}

if not (CHROMIUM and DRIVER) and not os.environ.get("CI"):
    pytest.skip("chromium and chromium-driver are not installed (make test installs them as root)",
                allow_module_level=True)


def free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


@pytest.fixture
def demo(wd: Wdbot) -> Iterator[tuple[Wdbot, str]]:
    """The demo bots and the demo's dashboard; the login link."""
    env = {**wd.env, "DEMO_PAPER_PORT": free_port(), "DEMO_WEB_LISTEN": "127.0.0.1:0"}
    script = str(ROOT / "scripts" / "demo.py")
    try:
        done = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        link = re.search(r"login link: (\S+)", done.stdout)
        assert link, done.stdout
        yield wd, link.group(1)
    finally:
        subprocess.run([sys.executable, script, "--stop"], env=env, capture_output=True, timeout=120)


@pytest.fixture
def browser() -> Iterator[Any]:
    assert CHROMIUM and DRIVER, "chromium and chromium-driver must be installed in CI (see the Makefile)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="wdbot-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    try:
        driver.set_window_size(1280, 1000)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def shots_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("WDBOT_WEB_SHOTS") or tmp_path)


def text_of(driver: Any, css: str) -> str:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return str(driver.find_element("css selector", css).text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""  # between two live updates


def history_for_pictures(wd: Wdbot, names: tuple[str, ...], readings: int = 20) -> None:
    """For the README's pictures (``make screenshots``) only: charts with some history."""
    if os.environ.get("WDBOT_WEB_SHOTS"):
        wait_until(lambda: all(len(wd.bot(n).get("rss_history") or []) >= readings for n in names),
                   "some resource history", timeout_s=120)


def screenshot(driver: Any, path: Path, phone: bool, height: int = 1000) -> None:
    if phone:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    else:
        driver.set_window_size(1280, height)
    try:
        driver.refresh()
        wait_until(lambda: driver.execute_script("return document.body.dataset.liveReady") == "1",
                   "the page's live part")
        wait_until(lambda: "-" not in text_of(driver, "#running-count, #bot-state")[:1], "the page drawn")
        driver.save_screenshot(str(path))
    finally:
        if phone:
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.set_window_size(1280, 1000)


def test_the_dashboard_in_a_browser(demo: tuple[Wdbot, str], browser: Any, tmp_path: Path) -> None:
    wd, link = demo
    base = link.split("/login")[0]
    shots = shots_dir(tmp_path)
    # Log in with the demo's link: the page's script posts the secret after '#'.
    browser.get(link)
    wait_until(lambda: browser.current_url == base + "/", "the login to land on the overview")
    for name in ("heartbeat", "flaky", "paper_exchange", "paper_bot"):
        wait_until(lambda n=name: n in text_of(browser, "#live"), f"{name} on the overview")
    wait_until(lambda: wd.bot("paper_bot")["state"] == "running" and wd.bot("heartbeat")["rss_bytes"],
               "the demo bots running and sampled", timeout_s=90)
    history_for_pictures(wd, ("heartbeat", "paper_exchange"), readings=12)
    screenshot(browser, shots / "web-overview.png", phone=False, height=760)
    screenshot(browser, shots / "web-overview-phone.png", phone=True)

    # Restart heartbeat: its state and pid change on the page, which is never reloaded.
    browser.get(base + "/bot/heartbeat")
    wait_until(lambda: browser.execute_script("return document.body.dataset.liveReady") == "1", "live")
    browser.execute_script("window.notReloaded = true;")
    old_pid = wd.bot("heartbeat")["pid"]
    ups_before = text_of(browser, "#log").count("heartbeat bot up")
    browser.find_element("id", "do-restart").click()
    browser.switch_to.alert.accept()  # the confirmation
    wait_until(lambda: text_of(browser, "#bot-pid") not in ("", str(old_pid))
               and text_of(browser, "#bot-state") == "running", "the new pid on the page")
    assert browser.execute_script("return window.notReloaded === true"), "the page was reloaded"
    assert wd.bot("heartbeat")["restarts"] == 1
    assert [e["origin"] for e in wd.events("action", "heartbeat")] == ["web 127.0.0.1"]
    # Its log follows live: the restarted bot's first line arrives in the panel.
    wait_until(lambda: text_of(browser, "#log").count("heartbeat bot up") > ups_before, "the log following")

    # A secret set in the browser reaches the bot, which says so with a fingerprint.
    browser.get(base + "/bot/heartbeat/secrets")
    browser.find_element("id", "item").send_keys("demo.apiKey")
    browser.find_element("id", "value").send_keys(VALUE)
    browser.find_element("id", "set-secret").click()
    wait_until(lambda: "demo.apiKey" in text_of(browser, "ul.secrets"), "the secret's name listed")
    assert VALUE not in browser.page_source
    browser.get(base + "/bot/heartbeat")
    fingerprint = hashlib.sha256(VALUE.encode()).hexdigest()[:12]
    wait_until(lambda: f"apiKey sha256:{fingerprint}" in text_of(browser, "#log"), "the bot reading its key")

    # A request without the CSRF token, sent by the page itself, changes nothing.
    status = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/bot/heartbeat/stop', {method: 'POST', body: new URLSearchParams({confirm: 'yes'})})"
        ".then(r => done(r.status));")
    assert status == 403 and wd.bot("heartbeat")["state"] == "running"
    assert wd.bot("heartbeat")["restarts"] == 1

    history_for_pictures(wd, ("heartbeat",))
    screenshot(browser, shots / "web-bot.png", phone=False, height=1500)
    screenshot(browser, shots / "web-bot-phone.png", phone=True)
    assert all((shots / f"web-{p}.png").stat().st_size > 10_000
               for p in ("overview", "overview-phone", "bot", "bot-phone"))


@pytest.fixture
def dashboard(wd: Wdbot) -> Iterator[str]:
    """``wdbot web`` on a free loopback port for ``wd``'s home; its login link."""
    web = subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "web", "--listen", "127.0.0.1:0"],
                           env=wd.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert web.stdout is not None
        port = re.search(r"127\.0\.0\.1:(\d+)", wait_for_line(web.stdout, "serving http://127.0.0.1:"))
        assert port, "the ready line names the port"
        yield wd("web", "--login-link", "--listen", f"127.0.0.1:{port.group(1)}").out.strip()
    finally:
        web.terminate()
        try:
            web.wait(30)
        except subprocess.TimeoutExpired:
            web.kill()
            web.wait(10)
        if web.stdout:
            web.stdout.close()


def test_a_hostile_error_does_not_freeze_the_live_page(wd: Wdbot, bots: Path, dashboard: str,
                                                       browser: Any) -> None:
    """Regression (issue 23, point 6): an error ending in ``\\revent: bot`` renamed the
    overview's server-sent event in the browser (a bare CR ends a line there); the page stopped
    updating and showed a stopped bot as running for as long as the error was listed."""
    wd("start", str(write_bot(bots, "hostile.py", HOSTILE_BOT)), "--backoff-initial", "0.2")
    # Its second run (the first one, seen running before it raised, has no last exit yet).
    wait_until(lambda: "up again" in wd.own_lines("hostile"), "the run after the hostile error")
    wd.wait_state("hostile", "running")
    assert "event: bot" in wd.bot("hostile")["last_exit"]["error"]
    base = dashboard.split("/login")[0]
    browser.get(dashboard)
    wait_until(lambda: browser.current_url == base + "/", "the login to land on the overview")
    wait_until(lambda: browser.execute_script("return document.body.dataset.liveReady") == "1", "live")
    browser.execute_script("window.notReloaded = true;")
    assert text_of(browser, "#bot-hostile .state") == "running"
    assert "event: bot" in text_of(browser, "ul.events"), "the hostile error is on the page"

    wd("stop", "hostile")
    wait_until(lambda: text_of(browser, "#bot-hostile .state") == "stopped", "the page to show the stop")
    assert browser.execute_script("return window.notReloaded === true"), "shown live, not by a reload"
