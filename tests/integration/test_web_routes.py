"""``wdbot web``'s routes with Starlette's TestClient against a real supervisor: every page
and action, the login, what is refused (no session, another site, no CSRF token, read-only,
too many guesses, a foreign Host), and secrets that never come back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.helpers import Wdbot, write_bot
from watchdog_runtime.common.home import Home
from watchdog_runtime.web import auth
from watchdog_runtime.web.app import create_app
from watchdog_runtime.web.settings import WebSettings

BASE = "http://127.0.0.1:8377"
BOT = """\
import time
import watchdog_runtime as wd
print("ticker up", flush=True)
while not wd.wait(0.2):
    print("tick", flush=True)
"""
VALUE = "sk-live-NEVER-SHOWN-4242"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticker(wd: Wdbot, bots: Path) -> Wdbot:
    wd("start", str(write_bot(bots, "ticker.py", BOT)))
    wd.wait_state("ticker", "running")
    return wd


def make_client(home: Path, clock: Clock | None = None, **settings: object) -> TestClient:
    app = create_app(Home(home), WebSettings(refresh_s=0.05, **settings),  # type: ignore[arg-type]
                     clock=clock or Clock())
    base = "https://127.0.0.1:8377" if settings.get("cert") else BASE
    return TestClient(app, base_url=base, follow_redirects=False)


def login(client: TestClient, home: Path) -> str:
    """Log in; the page's CSRF token."""
    done = client.post("/login", data={"secret": auth.load_secret(home)})
    assert done.status_code == 303, done.text
    return csrf_of(client.get("/").text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture
def client(ticker: Wdbot) -> Iterator[TestClient]:
    with make_client(ticker.home) as c:
        yield c


def test_nothing_without_a_session(client: TestClient, ticker: Wdbot) -> None:
    page = client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert client.get("/bot/ticker", headers={"accept": "text/html"}).status_code == 303
    for path in ("/live/overview", "/live/bot/ticker", "/bot/ticker/secrets"):
        assert client.get(path, headers={"accept": "text/event-stream"}).status_code in (401, 303)
    for path in ("/bot/ticker/restart", "/bot/ticker/secrets", "/logout"):
        assert client.post(path, data={"confirm": "yes"}).status_code == 401
    assert client.get("/login").status_code == 200
    assert client.get("/static/app.js").status_code == 200
    assert ticker.bot("ticker")["restarts"] == 0


def test_login_sets_a_strict_http_only_cookie(client: TestClient, ticker: Wdbot) -> None:
    wrong = client.post("/login", data={"secret": "guess"})
    assert wrong.status_code == 403 and "set-cookie" not in wrong.headers
    right = client.post("/login", data={"secret": auth.load_secret(ticker.home)})
    cookie = right.headers["set-cookie"]
    assert right.status_code == 303 and cookie.startswith("wdbot_session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie


def test_under_tls_the_cookie_is_secure_and_host_bound(ticker: Wdbot) -> None:
    with make_client(ticker.home, cert="c.pem", key="k.pem") as c:
        cookie = c.post("/login", data={"secret": auth.load_secret(ticker.home)}).headers["set-cookie"]
        assert cookie.startswith("__Host-wdbot=") and "Secure" in cookie
        assert "strict-transport-security" in c.get("/login").headers


def test_every_page_and_stream(client: TestClient, ticker: Wdbot) -> None:
    login(client, ticker.home)
    overview = client.get("/")
    assert overview.status_code == 200 and "ticker" in overview.text and "running" in overview.text
    assert overview.headers["cache-control"] == "no-store"
    bot = client.get("/bot/ticker")
    assert bot.status_code == 200 and 'id="bot-pid"' in bot.text and "ticker up" in bot.text
    assert "Settings" in bot.text and "Recent exits" in bot.text
    assert client.get("/bot/nope").status_code == 404
    assert client.get("/bot/ticker/secrets").status_code == 200
    live = client.get("/live/overview?n=2")
    assert live.headers["content-type"].startswith("text/event-stream")
    assert live.text.count("event: overview\n") == 2 and "ticker" in live.text
    stream = client.get("/live/bot/ticker?n=3").text
    assert "event: logreset" in stream and "event: bot" in stream and "ticker up" in stream


def test_the_log_follows_live(client: TestClient, ticker: Wdbot) -> None:
    login(client, ticker.home)
    stream = client.get("/live/bot/ticker?n=40").text  # 40 ticks of 0.05 s: new lines arrive
    assert "event: log\n" in stream and '"tick"' in stream.split("event: log\n", 1)[1]


def test_an_action_needs_the_token_and_a_confirmation_and_names_its_origin(
        client: TestClient, ticker: Wdbot) -> None:
    csrf = login(client, ticker.home)
    assert client.post("/bot/ticker/restart", data={"confirm": "yes"}).status_code == 403
    assert client.post("/bot/ticker/restart", data={"confirm": "yes", "csrf": "x" + csrf}).status_code == 403
    asked = client.post("/bot/ticker/restart", data={"csrf": csrf})
    assert asked.status_code == 200 and "yes, restart" in asked.text
    assert ticker.bot("ticker")["restarts"] == 0, "neither a bad token nor the question changed anything"
    done = client.post("/bot/ticker/restart", data={"csrf": csrf, "confirm": "yes"},
                       headers={"accept": "application/json"})
    assert done.status_code == 200 and done.json()["ok"], done.text
    assert ticker.bot("ticker")["restarts"] == 1
    events = ticker.events("action", "ticker")
    assert [(e["op"], e["origin"], e["ok"]) for e in events] == [("restart", "web testclient", True)]
    stop = client.post("/bot/ticker/stop", data={"csrf": csrf, "confirm": "yes"})
    assert stop.status_code == 303 and ticker.bot("ticker")["state"] == "stopped"
    client.post("/bot/ticker/start", data={"csrf": csrf, "confirm": "yes"})
    assert ticker.bot("ticker")["state"] in ("starting", "running")
    assert client.post("/bot/ticker/reboot", data={"csrf": csrf, "confirm": "yes"}).status_code == 404


def test_cross_site_requests_are_refused(client: TestClient, ticker: Wdbot) -> None:
    csrf = login(client, ticker.home)
    for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"},
                    {"origin": "null"}):
        done = client.post("/bot/ticker/restart", data={"csrf": csrf, "confirm": "yes"}, headers=headers)
        assert done.status_code == 403, headers
        assert client.post("/login", data={"secret": "x"}, headers=headers).status_code == 403
    assert ticker.bot("ticker")["restarts"] == 0


def test_a_foreign_host_is_refused_on_loopback(client: TestClient) -> None:
    """DNS rebinding: evil.example resolved to 127.0.0.1 still sends its own Host."""
    assert client.get("/login", headers={"host": "evil.example:8377"}).status_code == 421
    assert client.get("/login", headers={"host": "localhost:8377"}).status_code == 200


def test_pages_carry_a_strict_policy_and_no_inline_script(client: TestClient, ticker: Wdbot) -> None:
    login(client, ticker.home)
    for path in ("/", "/bot/ticker", "/bot/ticker/secrets", "/login"):
        page = client.get(path)
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy and page.headers["x-frame-options"] == "DENY"
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), path
        assert not re.search(r"\son[a-z]+=|\sstyle=|javascript:", page.text), path


def test_read_only_serves_views_only(ticker: Wdbot) -> None:
    with make_client(ticker.home, read_only=True) as c:
        csrf = login(c, ticker.home)
        bot = c.get("/bot/ticker")
        assert bot.status_code == 200 and "/restart" not in bot.text and "secrets" not in bot.text
        assert c.post("/bot/ticker/restart", data={"csrf": csrf, "confirm": "yes"}).status_code == 403
        assert c.get("/bot/ticker/secrets").status_code == 403
        refused = c.post("/bot/ticker/secrets", data={"csrf": csrf, "item": "a.b", "value": "v"})
        assert refused.status_code == 403
        assert c.post("/logout", data={"csrf": csrf}).status_code == 303
    assert ticker.bot("ticker")["restarts"] == 0 and not (ticker.home / "secrets").exists()


def test_login_is_rate_limited(ticker: Wdbot) -> None:
    clock = Clock()
    with make_client(ticker.home, clock) as c:
        for _ in range(5):
            assert c.post("/login", data={"secret": "guess"}).status_code == 403
        limited = c.post("/login", data={"secret": auth.load_secret(ticker.home)})
        assert limited.status_code == 429 and "too many attempts" in limited.text
        clock.now += 301
        assert c.post("/login", data={"secret": auth.load_secret(ticker.home)}).status_code == 303


def test_a_new_secret_logs_everyone_out(client: TestClient, ticker: Wdbot) -> None:
    login(client, ticker.home)
    assert client.get("/").status_code == 200
    auth.new_secret(ticker.home)
    assert client.get("/", headers={"accept": "text/html"}).status_code == 303
    assert client.get("/live/overview?n=1").status_code == 401


def test_secrets_are_set_listed_removed_and_never_rendered(client: TestClient, ticker: Wdbot) -> None:
    csrf = login(client, ticker.home)
    done = client.post("/bot/ticker/secrets", data={"csrf": csrf, "item": "demo.apiKey", "value": VALUE})
    assert done.status_code == 303
    page = client.get("/bot/ticker/secrets").text
    assert "demo.apiKey" in page
    bad = client.post("/bot/ticker/secrets", data={"csrf": csrf, "item": "no dot", "value": "v"})
    assert bad.status_code == 400 and "bad secret name" in bad.text
    assert client.post("/bot/ticker/secrets", data={"item": "demo.x", "value": "v"}).status_code == 403
    seen = [client.get(p).text for p in ("/", "/bot/ticker", "/bot/ticker/secrets", "/live/overview?n=1",
                                         "/live/bot/ticker?n=1")]
    assert not any(VALUE in text for text in seen)
    noted = ticker.events("action", "ticker")
    assert [(e["op"], e["item"], e["origin"]) for e in noted] == [
        ("secret_set", "demo.apiKey", "web testclient")]
    assert VALUE not in (ticker.home / "events.jsonl").read_text()
    ask = client.post("/bot/ticker/secrets/remove", data={"csrf": csrf, "item": "demo.apiKey"})
    assert ask.status_code == 200 and "yes, remove" in ask.text
    gone = client.post("/bot/ticker/secrets/remove",
                       data={"csrf": csrf, "item": "demo.apiKey", "confirm": "yes"})
    assert gone.status_code == 303 and "demo.apiKey" not in client.get("/bot/ticker/secrets").text
    assert ticker.events("action", "ticker")[-1]["op"] == "secret_removed"


def test_without_a_supervisor_pages_say_so_and_start_nothing(wd: Wdbot) -> None:
    with make_client(wd.home) as c:
        csrf = login(c, wd.home)
        assert "No supervisor is running" in c.get("/").text
        done = c.post("/bot/x/start", data={"csrf": csrf, "confirm": "yes"})
        assert done.status_code == 502 and "no supervisor is running" in done.text
    assert not (wd.home / "supervisor.lock").exists()


def test_logout_ends_the_session(client: TestClient, ticker: Wdbot) -> None:
    csrf = login(client, ticker.home)
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    assert client.get("/", headers={"accept": "text/html"}).status_code == 303


def test_the_command_refuses_bad_options_in_one_line(wd: Wdbot) -> None:
    for args, words in ((("--listen", "0.0.0.0:8377"), "refusing to serve on 0.0.0.0"),
                        (("--listen", "nonsense"), "bad --listen"),
                        (("--listen", "10.0.0.1:8377", "--cert", "c.pem"), "go together"),
                        (("--listen", "10.0.0.1:8377", "--cert", "c.pem", "--key", "k.pem"),
                         "not a readable file")):
        done = wd("web", *args, check=False)
        assert done.code == 2 and words in done.err and len(done.err.strip().splitlines()) == 1, done.err
        assert "Traceback" not in done.err
    assert not (wd.home / "web").exists(), "bad input changed nothing"
    refused = wd("service", "print", "--web", "0.0.0.0:8377", check=False)
    assert refused.code == 2 and "refusing" in refused.err
    units = wd("service", "print", "--web").out
    assert "watchdog_runtime daemon" in units and "watchdog_runtime web --listen 127.0.0.1:8377" in units


def test_login_link_and_new_secret(wd: Wdbot) -> None:
    link = wd("web", "--login-link", "--listen", "127.0.0.1:9999").out.strip()
    secret = auth.load_secret(wd.home, create=False)
    assert link == f"http://127.0.0.1:9999/login#{secret}"
    assert wd("web", "--login-link").out.strip() == f"http://127.0.0.1:8377/login#{secret}", "made once"
    fresh = wd("web", "--new-secret").out.strip()
    assert fresh.endswith(auth.load_secret(wd.home, create=False)) and secret not in fresh
    assert (wd.home / "web" / "secret").stat().st_mode & 0o777 == 0o600


def test_the_port_taken_is_one_line(wd: Wdbot) -> None:
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        done = wd("web", "--listen", f"127.0.0.1:{port}", check=False)
    assert done.code == 1 and "cannot listen on" in done.err and "Traceback" not in done.err


def test_text_from_bots_and_events_is_escaped_everywhere(client: TestClient, ticker: Wdbot) -> None:
    evil = "<img src=x onerror=alert(1)>"
    with open(ticker.home / "events.jsonl", "a") as log:
        log.write('{"at": "2026-11-23T16:40:01+0000", "kind": "exit", "bot": "ticker", "reason": "crash", '
                  f'"code": 1, "error": "{evil}"}}\n')
    login(client, ticker.home)
    for path in ("/", "/bot/ticker", "/live/overview?n=1", "/live/bot/ticker?n=1"):
        text = client.get(path).text
        assert evil not in text and "&lt;img src=x" in text, path


def test_a_huge_body_is_refused_unread(client: TestClient, ticker: Wdbot) -> None:
    done = client.post("/login", content=b"secret=" + b"x" * 100_000,
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert done.status_code == 413


def test_the_real_process_serves_and_stops_cleanly_with_a_stream_open(ticker: Wdbot) -> None:
    """``wdbot web`` itself: the ready line names the address; SIGTERM ends live streams at
    their next tick, so the process exits without cutting them off (uvicorn re-raises the
    signal after its graceful exit, as a service manager expects)."""
    import http.client
    import signal
    import subprocess
    import sys
    import urllib.parse

    from tests.helpers import wait_for_line

    web = subprocess.Popen([sys.executable, "-m", "watchdog_runtime", "web", "--listen", "127.0.0.1:0"],
                           env=ticker.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert web.stdout is not None and web.stderr is not None
        ready = wait_for_line(web.stdout, "serving http://127.0.0.1:")
        port = int(re.search(r"127\.0\.0\.1:(\d+)", ready).group(1))  # type: ignore[union-attr]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/login", urllib.parse.urlencode({"secret": auth.load_secret(ticker.home)}),
                     {"content-type": "application/x-www-form-urlencoded"})
        reply = conn.getresponse()
        reply.read()
        cookie = reply.getheader("set-cookie", "").split(";")[0]
        assert reply.status == 303 and cookie
        stream = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        stream.request("GET", "/live/overview", headers={"cookie": cookie})
        live = stream.getresponse()
        assert live.status == 200 and live.readline() == b"event: overview\n"
        web.send_signal(signal.SIGTERM)
        live.read()  # the stream ends properly (a cut one raises IncompleteRead)
        assert web.wait(timeout=20) in (0, -signal.SIGTERM)
        assert "ERROR" not in web.stderr.read()
        conn.close()
        stream.close()
    finally:
        if web.poll() is None:
            web.kill()
            web.wait(10)
        web.stdout.close()  # type: ignore[union-attr]  # a pipe: set above
        web.stderr.close()  # type: ignore[union-attr]
