"""``wdbot web``'s pure parts: the exposure rule, sessions, the login limiter (a fake clock),
the views of a status document, the origin audit; and their docstring examples."""

from __future__ import annotations

import asyncio
import doctest
import importlib
from pathlib import Path
from typing import Any

import pytest

from watchdog_runtime.events import EventLog
from watchdog_runtime.supervisor.argcheck import bind_error
from watchdog_runtime.supervisor.audit import audited
from watchdog_runtime.supervisor.supervisor import RequestError
from watchdog_runtime.web import auth, views
from watchdog_runtime.web.settings import WebUsageError, make_settings


@pytest.mark.parametrize("name", ["settings", "auth", "views", "security", "live"])
def test_web_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"watchdog_runtime.web.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted and result.failed == 0


@pytest.mark.parametrize("listen", ["0.0.0.0:8377", "192.168.1.5:8377", "[::]:8377", "myhost:8377"])
def test_an_exposed_address_needs_tls_or_a_proxy(listen: str) -> None:
    with pytest.raises(WebUsageError, match="refusing to serve on .*--cert and --key.*--behind-proxy"):
        make_settings(listen)
    assert make_settings(listen, cert="c.pem", key="k.pem").secure_cookies
    assert make_settings(listen, behind_proxy=True).secure_cookies


@pytest.mark.parametrize("listen", ["127.0.0.1:8377", "localhost:9000", "[::1]:8377", "127.0.0.2:1"])
def test_loopback_is_served_as_is(listen: str) -> None:
    settings = make_settings(listen)
    assert settings.loopback and not settings.secure_cookies


@pytest.mark.parametrize("args, problem", [
    (("8377",), "bad --listen"), (("127.0.0.1:99999",), "bad --listen"), ((":8377",), "bad --listen"),
    (("127.0.0.1:8377", "c.pem", None), "go together"),
    (("0.0.0.0:1", "c.pem", "k.pem", True), "not both"),
])
def test_bad_options_are_one_line(args: tuple[Any, ...], problem: str) -> None:
    with pytest.raises(WebUsageError, match=problem) as err:
        make_settings(*args)
    assert "\n" not in str(err.value)


def test_the_secret_is_private_made_once_and_replaceable(tmp_path: Path) -> None:
    first = auth.load_secret(tmp_path)
    assert len(first) >= 40 and auth.load_secret(tmp_path) == first
    path = auth.secret_file(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert auth.new_secret(tmp_path) != first
    assert auth.load_secret(tmp_path, create=False) != first


def test_sessions_end_with_their_secret_their_age_and_their_number() -> None:
    now = [0.0]
    sessions = auth.Sessions(clock=lambda: now[0], ttl_s=100, limit=3)
    sid = sessions.create("fp1")
    got = sessions.get(sid, "fp1")
    assert got is not None and len(got.csrf) >= 40
    assert sessions.get(sid, "fp2") is None, "a new secret ends the session"
    assert sessions.get(sid, "fp1") is None, "... for good"
    sid = sessions.create("fp1")
    now[0] = 101.0
    assert sessions.get(sid, "fp1") is None, "expired"
    ids = [sessions.create("fp1") for _ in range(5)]
    assert len(sessions) == 3 and sessions.get(ids[0], "fp1") is None and sessions.get(ids[-1], "fp1")
    assert sessions.get("forged", "fp1") is None and sessions.get(None, "fp1") is None


def test_the_login_limiter_slows_one_address_then_everyone() -> None:
    now = [0.0]
    lim = auth.LoginLimiter(clock=lambda: now[0], per_client=3, overall=5, window_s=60)
    for _ in range(3):
        assert lim.retry_after("a") == 0
        lim.fail("a")
    assert lim.retry_after("a") == pytest.approx(60)
    assert lim.retry_after("b") == 0
    lim.fail("b")
    lim.fail("c")
    assert lim.retry_after("d") == pytest.approx(60), "five failures in all: everyone waits"
    now[0] = 30.0
    assert lim.retry_after("a") == pytest.approx(30)
    now[0] = 60.5
    assert lim.retry_after("a") == 0 and lim.retry_after("d") == 0
    lim.fail("e")
    lim.succeed("e")
    assert lim.retry_after("e") == 0


def test_the_limiter_stays_bounded() -> None:
    lim = auth.LoginLimiter(clock=lambda: 0.0, per_client=3, overall=10**9, max_clients=100)
    for i in range(1000):
        lim.fail(f"10.0.{i // 256}.{i % 256}")
    assert len(lim._clients) == 100


BOT = {
    "name": "alpha", "path": "/b/alpha.py", "state": "backoff", "pid": None, "restarts": 3,
    "uptime_s": None, "next_start_in_s": 4.2, "rss_bytes": None, "rss_history": [10, 20, 30],
    "num_fds": None, "cpu_percent": None, "heartbeat_age_s": None, "leak": None,
    "last_exit": {"code": 1, "signal": None, "reason": "crash", "error": "KeyError: 'bids'",
                  "at": "2026-11-23T16:40:01+0000",
                  "diagnosis": {"pattern": "payload", "seen": "KeyError", "hint": "read fields with wd.num"}},
    "limits": {"max_memory_bytes": 100 * 1024**2, "max_fds": None, "heartbeat_timeout_s": None},
    "auto_installed": [], "logs": {"stdout": "/b/out.log"}, "venv": "/v",
}


def test_overview_view_of_a_status_document() -> None:
    doc = {"supervisor": {"pid": 7, "version": "1", "home": "/h", "uptime_s": 65.0, "warnings": []},
           "bots": [BOT]}
    view = views.overview(doc, [{"at": "2026-11-23T16:40:01+0000", "kind": "start", "bot": "alpha",
                                 "pid": 3}])
    row = view["bots"][0]
    assert (row["state"], row["next_start"], row["restarts"]) == ("backoff", "in 4s", 3)
    assert "KeyError" in row["last_exit"] and row["hint"] == "read fields with wd.num"
    assert view["attention"] == [{"text": "alpha: payload: read fields with wd.num", "level": "warn"}]
    assert view["supervisor"]["uptime"] == "1m05s" and view["events"][0].startswith("16:40:01 alpha")
    assert views.overview(None, [])["supervisor"] is None


def test_the_settings_view_hides_env_values_and_notify_urls() -> None:
    spec = {"name": "alpha", "path": "/b/alpha.py", "env": [["API_TOKEN", "s3cr3t"]],
            "notify": ["tgram://TOKEN/1"], "restart": "always", "args": ["--x", "1"]}
    text = repr(views.bot_page(BOT, [], [], spec))
    assert "API_TOKEN" in text and "s3cr3t" not in text and "TOKEN/1" not in text
    assert "always" in text and "--x 1" in text


def test_the_chart_draws_a_limit_within_reach() -> None:
    c = views.chart([50, 60], width=100, height=100, limit=90)
    assert c.limit_y is not None and 0 <= c.limit_y < 10
    assert views.chart([50, 60], limit=10_000).limit_y is None
    assert views.chart([5]).line == ""


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_an_origin_makes_an_action_event_and_the_signature_still_checks(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    seen: list[dict[str, Any]] = []
    log.listeners.append(seen.append)

    async def restart(names: list[str] | None = None, all: bool = False) -> list[str]:
        if names == ["bad"]:
            raise RequestError("no bot named 'bad'", usage=True)
        return names or []

    async def status(name: str | None = None) -> dict[str, Any]:
        return {}

    ops = audited({"restart": restart, "status": status}, log)
    # The control server's check (supervisor.argcheck): the handler's arguments, and origin=.
    assert bind_error(ops["restart"], {"names": ["a"], "origin": "web 1.2.3.4"}) is None
    assert bind_error(ops["restart"], {"nope": 1}) == "got an unexpected keyword argument 'nope'"
    assert _run(ops["restart"](names=["a"], origin="web 1.2.3.4")) == ["a"]
    assert _run(ops["restart"](names=["b"])) == ["b"], "no origin: no event (the CLI)"
    _run(ops["status"](origin="web 1.2.3.4"))
    with pytest.raises(RequestError):
        _run(ops["restart"](names=["bad"], origin="web 1.2.3.4"))
    assert [(e["bot"], e["op"], e["origin"], e["ok"]) for e in seen] == [
        ("a", "restart", "web 1.2.3.4", True), ("bad", "restart", "web 1.2.3.4", False)]
    with pytest.raises(RequestError, match="origin"):
        _run(ops["restart"](names=["a"], origin="web\nforged line"))


def test_note_records_secret_changes_by_name_only(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    ops = audited({}, log)
    _run(ops["note"](action="secret_set", bot="alpha", item="binance.apiKey", origin="web ::1"))
    with pytest.raises(RequestError):
        _run(ops["note"](action="shutdown", bot="alpha", origin="web ::1"))
    text = (tmp_path / "events.jsonl").read_text()
    assert '"op": "secret_set"' in text and '"item": "binance.apiKey"' in text and "shutdown" not in text


def test_the_web_unit_runs_the_dashboard_beside_the_supervisor() -> None:
    from watchdog_runtime.cli import service

    spec = service.ServiceSpec(Path("/srv/bots"), "0123456789abcdef", "/usr/bin/python3", metrics="x:1")
    web = spec.web_unit("127.0.0.1:8377")
    text = service.systemd_unit(web)
    assert "ExecStart=/usr/bin/python3 -m watchdog_runtime web --listen 127.0.0.1:8377" in text
    assert "After=wdbot-01234567.service" in text and "Type=simple" in text
    assert "KillMode" not in text and "Watchdog" not in text and "metrics" not in text
    path = service.unit_path(web, "linux", Path("/h"), Path("/h/.config"))
    assert path.name == "wdbot-01234567-web.service"
    import plistlib

    job = plistlib.loads(service.launchd_plist(web))
    assert job["Label"] == "io.wdbot.01234567.web" and not job["AbandonProcessGroup"]
    same = service.ServiceSpec(Path("/srv/bots"), "0123456789abcdef", "/usr/bin/python3", metrics="x:1")
    assert service.systemd_unit(spec) == service.systemd_unit(same), "the daemon's unit is unchanged"


def test_the_web_draws_its_advice_without_the_terminal_renderer() -> None:
    """Issue 25: ``views.attention`` imported ``cli.render`` to colour its advice, loading rich
    (and the terminal side) into the web process. The advice comes from ``common.advice`` now:
    the same lines, and a fresh interpreter that draws them has loaded neither."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from watchdog_runtime.web import app, views\n"
            "bots = [{'name': 'a', 'state': 'errored', 'attention': 'gave up'},\n"
            "        {'name': 'b', 'state': 'running', 'reload_error': 'bad file'},\n"
            "        {'name': 'c', 'state': 'backoff', 'last_exit': {'diagnosis':\n"
            "         {'pattern': 'network', 'hint': 'check the network'}}}]\n"
            "print(views.attention(bots))\n"
            "print(sorted(m for m in sys.modules if m == 'rich' or m.startswith('watchdog_runtime.cli')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    advice, loaded = done.stdout.splitlines()
    assert advice == str([{"text": "a: gave up", "level": "bad"}, {"text": "b: bad file", "level": "warn"},
                          {"text": "c: network: check the network", "level": "warn"}])
    assert loaded == "[]"
