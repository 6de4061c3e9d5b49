"""The exit classification and the restart decision, driven without processes or clocks."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest

from watchdog_runtime.spec import BotSpec, RestartPolicy
from watchdog_runtime.states import Event, ExitReason
from watchdog_runtime.supervisor.lifecycle import ExitInfo, classify_exit, decide_after_exit

SPEC = BotSpec(name="b", path="/bots/b.py")
BOT_DIR = Path("/bots")


def exit_of(reason: ExitReason, code: int | None = 1) -> ExitInfo:
    return ExitInfo(code=code, signal=None, reason=reason, error=None, at="t")


def test_clean_exit_and_signals_and_codes() -> None:
    assert classify_exit(0, None, BOT_DIR, "t").reason is ExitReason.CLEAN_EXIT
    killed = classify_exit(-9, None, BOT_DIR, "t")
    assert (killed.code, killed.signal, killed.reason) == (None, 9, ExitReason.CRASH)
    assert classify_exit(3, None, BOT_DIR, "t").reason is ExitReason.CRASH


def test_adopted_bot_exit_comes_from_the_bootstrap_record() -> None:
    info = classify_exit(None, {"code": 1, "type": "ValueError", "message": "bad payload"}, BOT_DIR, "t")
    assert (info.code, info.reason, info.error) == (1, ExitReason.CRASH, "ValueError: bad payload")
    unknown = classify_exit(None, None, BOT_DIR, "t")  # killed while no supervisor watched
    assert (unknown.code, unknown.reason) == (None, ExitReason.UNKNOWN)


def test_syntax_error_only_in_the_bot_or_its_own_modules() -> None:
    compile_err = {"code": 1, "type": "SyntaxError", "phase": "compile", "filename": "/bots/b.py"}
    assert classify_exit(1, compile_err, BOT_DIR, "t").reason is ExitReason.SYNTAX_ERROR
    local = {"code": 1, "type": "IndentationError", "phase": "run", "filename": "/bots/helper.py"}
    assert classify_exit(1, local, BOT_DIR, "t").reason is ExitReason.SYNTAX_ERROR
    # compile() of a bad payload somewhere else is an ordinary crash, worth a restart
    payload = {"code": 1, "type": "SyntaxError", "phase": "run", "filename": "<string>"}
    assert classify_exit(1, payload, BOT_DIR, "t").reason is ExitReason.CRASH


def test_missing_module_only_when_confirmed_from_stderr_and_the_record() -> None:
    record = {"code": 1, "type": "ModuleNotFoundError", "message": "No module named 'ccxt'"}
    assert classify_exit(1, record, BOT_DIR, "t", missing_module=True).reason is ExitReason.MISSING_MODULE
    # the record alone (stderr did not end with that traceback) is an ordinary crash
    assert classify_exit(1, record, BOT_DIR, "t").reason is ExitReason.CRASH


def test_a_mismatched_import_is_diagnosed_with_a_hint_not_fixed() -> None:
    record = {"code": 1, "type": "ImportError",
              "message": "cannot import name 'Spot' from 'binance' (/v/site-packages/binance/__init__.py)"}
    info = classify_exit(1, record, BOT_DIR, "t")
    assert info.reason is ExitReason.CRASH
    assert info.error is not None and info.error.startswith("ImportError: cannot import name 'Spot'")
    assert "hint: the installed 'binance' has no 'Spot'" in info.error and "pin" in info.error


@pytest.mark.parametrize("policy, reason, event", [
    (RestartPolicy.ON_FAILURE, ExitReason.CLEAN_EXIT, Event.EXIT_DONE),
    (RestartPolicy.ON_FAILURE, ExitReason.CRASH, Event.EXIT_RESTART),
    (RestartPolicy.ALWAYS, ExitReason.CLEAN_EXIT, Event.EXIT_RESTART),
    (RestartPolicy.ALWAYS, ExitReason.CRASH, Event.EXIT_RESTART),
    (RestartPolicy.NEVER, ExitReason.CLEAN_EXIT, Event.EXIT_DONE),
    (RestartPolicy.NEVER, ExitReason.CRASH, Event.EXIT_FATAL),
    (RestartPolicy.ALWAYS, ExitReason.SYNTAX_ERROR, Event.EXIT_FATAL),
])
def test_restart_policy(policy: RestartPolicy, reason: ExitReason, event: Event) -> None:
    spec = dataclasses.replace(SPEC, restart=policy)
    assert decide_after_exit(spec, exit_of(reason), 0.1, 0, lambda: 0.5).event is event


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_a_crash_loop_backs_off_exponentially_and_resets_after_min_uptime() -> None:
    """A scripted history: five fast crashes, then a long healthy run, then a crash."""
    clock = FakeClock()
    failures, delays = 0, []
    for uptime in (0.1, 0.1, 0.1, 0.1, 0.1):
        started = clock()
        clock.advance(uptime)
        d = decide_after_exit(SPEC, exit_of(ExitReason.CRASH), clock() - started, failures, lambda: 0.999)
        failures = d.failures
        assert d.delay_s is not None
        delays.append(round(d.delay_s))
        clock.advance(d.delay_s)
    assert delays == [1, 2, 4, 8, 16]
    started = clock()
    clock.advance(SPEC.min_uptime_s + 1)  # stayed up: the backoff starts over
    d = decide_after_exit(SPEC, exit_of(ExitReason.CRASH), clock() - started, failures, lambda: 0.999)
    assert d.delay_s == 0.0 and d.failures == 1  # issue 29: at once, after a healthy run
    d = decide_after_exit(SPEC, exit_of(ExitReason.CRASH), 0.1, d.failures, lambda: 0.999)
    assert round(d.delay_s or 0) == 2 and d.failures == 2  # a crash soon after: the backoff again


def test_backoff_is_capped_and_configurable() -> None:
    spec = dataclasses.replace(SPEC, backoff_initial_s=0.5, backoff_max_s=3.0)
    failures, delays = 0, []
    for _ in itertools.repeat(None, 6):
        d = decide_after_exit(spec, exit_of(ExitReason.CRASH), 0.0, failures, lambda: 1.0)
        failures, delays = d.failures, delays + [d.delay_s]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_exit_info_round_trips_and_describes_itself() -> None:
    info = ExitInfo(code=None, signal=9, reason=ExitReason.CRASH, error="boom", at="2026")
    assert ExitInfo.from_json(info.to_json()) == info
    assert info.describe() == "crash (signal SIGKILL): boom"


def test_recovery_failures_from_the_record_or_a_kill_while_recovering() -> None:
    raised = {"code": 1, "type": "ConnectionError", "message": "down", "phase": "recover"}
    assert classify_exit(1, raised, BOT_DIR, "t").reason is ExitReason.RECOVERY_FAILED
    assert classify_exit(-9, None, BOT_DIR, "t", recovering=True).reason is ExitReason.RECOVERY_FAILED
    # A crash of the module body (before recover was reached) is a crash; a clean exit is clean.
    body = {"code": 1, "type": "KeyError", "message": "x", "phase": "run"}
    assert classify_exit(1, body, BOT_DIR, "t", recovering=True).reason is ExitReason.CRASH
    assert classify_exit(0, None, BOT_DIR, "t", recovering=True).reason is ExitReason.CLEAN_EXIT
    # A missing module in recover() is repaired like any other.
    missing = {**raised, "type": "ModuleNotFoundError"}
    assert classify_exit(1, missing, BOT_DIR, "t", missing_module=True).reason is ExitReason.MISSING_MODULE


def test_repeated_recovery_failures_back_off_then_end_errored() -> None:
    failed = exit_of(ExitReason.RECOVERY_FAILED)
    counts, failures = 0, 0
    events = []
    for _ in range(5):
        decision = decide_after_exit(SPEC, failed, 0.1, failures, lambda: 1.0, counts)
        counts, failures = decision.recovery_failures, decision.failures
        events.append(decision.event)
    assert events == [Event.EXIT_RESTART] * 4 + [Event.EXIT_FATAL] and counts == 5
    three = dataclasses.replace(SPEC, max_recovery_failures=3)
    assert decide_after_exit(three, failed, 0.1, 0, lambda: 1.0, 2).event is Event.EXIT_FATAL
    never = dataclasses.replace(SPEC, restart=RestartPolicy.NEVER)
    assert decide_after_exit(never, failed, 0.1, 0, lambda: 1.0, 0).event is Event.EXIT_FATAL
    # Other exits leave the count as it is (only a completed recovery resets it).
    assert decide_after_exit(SPEC, exit_of(ExitReason.CRASH), 0.1, 0, lambda: 1.0, 2).recovery_failures == 2


def test_a_hang_is_a_planned_restart() -> None:
    hang = exit_of(ExitReason.HANG, code=None)
    healthy = decide_after_exit(SPEC, hang, 3600, 4, lambda: 1.0)
    assert (healthy.event, healthy.delay_s, healthy.failures) == (Event.EXIT_RESTART, 0.0, 0)
    soon = decide_after_exit(SPEC, hang, 1, 2, lambda: 1.0)
    assert soon.failures == 2 and soon.delay_s == 4.0  # waits, without counting a crash
