"""The alert policy: which events alert, crash-loop detection, de-duplication and the summary
of what was held back. Pure: events in, alerts out, a fake clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from watchdog_runtime.supervisor.alerts import AlertPolicy, AlertSettings

SETTINGS = AlertSettings(urls=("json://localhost/hook",), crashes=3, window_s=60, min_interval_s=300)


def crash(bot: str = "grid", **extra: Any) -> dict[str, Any]:
    return {"kind": "exit", "bot": bot, "reason": "crash", "error": "ConnectionError: reset",
            "next_state": "backoff", "diagnosis": {"hint": "wrap the call in wd.retry"}, **extra}


def test_a_crash_loop_sends_one_alert_then_a_summary() -> None:
    policy = AlertPolicy(SETTINGS)
    sent = {t: a for t in range(400) if (a := policy.on_event(crash(), float(t)))}  # one a second
    assert list(sent) == [2, 302]  # the third crash, then once per min_interval
    first, summary = sent[2], sent[302]
    assert first.title == "wdbot: grid is in a crash loop"
    assert "crashed 3 times in 1m00s" in first.body and "Fix: wrap the call in wd.retry" in first.body
    assert "(and 299 more like it in the last 5m00s, held back)" in summary.body


def test_crashes_spread_out_are_no_loop() -> None:
    policy = AlertPolicy(SETTINGS)
    assert all(policy.on_event(crash(), t * 61.0) is None for t in range(10))


def test_each_kind_that_alerts() -> None:
    policy = AlertPolicy(SETTINGS)
    events = [
        crash(next_state="errored", reason="syntax_error", error="SyntaxError: bad"),
        {"kind": "leak_suspected", "bot": "a", "detail": "RSS rising 600M/h"},
        {"kind": "limit_restart", "bot": "b", "reason": "memory_limit", "detail": "RSS 600M over 500M"},
        {"kind": "recovery_failed", "bot": "c", "error": "TimeoutError", "failures": 2},
        {"kind": "auto_install", "bot": "d", "module": "yaml", "package": "PyYAML", "version": "6.0"},
        {"kind": "auto_install_failed", "bot": "e", "error": "no such package"},
        {"kind": "supervisor_unclean", "bot": None, "message": "the previous supervisor was killed"},
    ]
    titles = [a.title for e in events if (a := policy.on_event(e, 0.0))]
    assert titles == ["wdbot: grid gave up (errored)", "wdbot: a is leaking",
                      "wdbot: b restarted (memory_limit)", "wdbot: c could not recover",
                      "wdbot: installed PyYAML for d", "wdbot: could not install for e",
                      "wdbot: the supervisor restarted after an unclean stop"]
    quiet = [{"kind": "start", "bot": "a"}, {"kind": "stopped", "bot": "a"},
             crash(reason="clean_exit", next_state="exited"), {"kind": "leak_cleared", "bot": "a"}]
    assert [policy.on_event(e, 1.0) for e in quiet] == [None] * 4


def test_no_urls_no_alert_and_a_bots_own_urls_are_added() -> None:
    assert AlertPolicy(AlertSettings()).on_event(crash(next_state="errored"), 0.0) is None
    policy = AlertPolicy(AlertSettings(), bot_urls=lambda bot: ["json://bot/hook"] if bot == "grid" else [])
    alert = policy.on_event(crash(next_state="errored"), 0.0)
    assert alert is not None and alert.urls == ("json://bot/hook",)
    assert policy.on_event(crash(bot="other", next_state="errored"), 0.0) is None


def test_the_uptime_ping_stops_once_a_bot_has_given_up(tmp_path: Path) -> None:
    from watchdog_runtime.common.home import Home
    from watchdog_runtime.registry import BotRecord
    from watchdog_runtime.spec import BotSpec
    from watchdog_runtime.states import BotState
    from watchdog_runtime.supervisor.runner import BotRunner
    from watchdog_runtime.supervisor.supervisor import Supervisor

    sup = Supervisor(Home(tmp_path))
    spec = BotSpec(name="a", path=str(tmp_path / "a.py"))
    sup.runners["a"] = BotRunner(sup, BotRecord(spec=spec, state=BotState.STOPPED))
    assert sup.healthy()
    sup.runners["b"] = BotRunner(sup, BotRecord(spec=spec, state=BotState.ERRORED))
    assert not sup.healthy()


def test_an_unreadable_registry_alerts_and_so_does_its_restore() -> None:
    policy = AlertPolicy(SETTINGS)
    line = "registry.json unreadable: line 2: Expecting value; fix it or restore registry.json.last-good"
    broke = policy.on_event({"kind": "registry_unreadable", "bot": None, "message": line}, 0.0)
    fixed = policy.on_event({"kind": "registry_readable", "bot": None, "message": "adopted"}, 1.0)
    assert broke is not None and broke.title == "wdbot: registry.json unreadable" and broke.body == line
    assert fixed is not None and fixed.title == "wdbot: registry.json readable again"
