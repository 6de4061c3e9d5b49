"""The decisions of a failed preparation, pure (``lifecycle.decide_after_setup_failure``),
and how the process layer reads an exception into one (``botprocess.setup_failure``): one
test per branch (issue 25)."""

from __future__ import annotations

import pytest

from watchdog_runtime.installs.autoinstall import Budget
from watchdog_runtime.installs.repair import Outcome
from watchdog_runtime.installs.venvs import VenvError
from watchdog_runtime.spec import BotSpec
from watchdog_runtime.states import Event, ExitReason
from watchdog_runtime.supervisor.botfile import BotFileError
from watchdog_runtime.supervisor.botprocess import InstallFailed, setup_failure
from watchdog_runtime.supervisor.diagnosis import Pattern
from watchdog_runtime.supervisor.lifecycle import SetupDecision, SetupFailure, decide_after_setup_failure

SPEC = BotSpec(name="b", path="/bots/b.py", backoff_initial_s=2.0, backoff_max_s=10.0)
AT = "2026-01-01T00:00:00Z"


def decide(failure: SetupFailure, failures: int = 0) -> SetupDecision:
    return decide_after_setup_failure(SPEC, failure, failures, lambda: 0.5, AT)


def test_a_failure_that_may_heal_backs_off_and_counts() -> None:
    d = decide(SetupFailure("index down\n  Caused by: dns", permanent=False), failures=1)
    assert d.event is Event.PREPARE_RETRY and d.delay_s == 2.0 and d.failures == 2
    assert d.exit.reason is ExitReason.UNKNOWN
    assert d.exit.error == "index down\n  Caused by: dns (retrying in 2.0 s)"
    assert d.answer == "index down Caused by: dns (retrying in 2.0 s)"  # one line for the command


def test_a_failure_that_needs_a_person_gives_up_without_counting() -> None:
    d = decide(SetupFailure("no python 3.99", permanent=True), failures=3)
    assert (d.event, d.delay_s, d.failures, d.answer) == (Event.PREPARE_FAILED, None, 3, "no python 3.99")


def test_a_syntax_error_is_recorded_as_one() -> None:
    assert decide(SetupFailure("bad", permanent=True, syntax=True)).exit.reason is ExitReason.SYNTAX_ERROR


def test_a_module_that_cannot_be_installed_says_which_and_why() -> None:
    d = decide(SetupFailure("x", True, module="ccxt", refused="not allowed", detail="uv: ..."))
    assert d.exit.reason is ExitReason.MISSING_MODULE and d.exit.detail == "uv: ..."
    assert d.exit.error == "ModuleNotFoundError: No module named 'ccxt': not allowed"
    assert d.exit.diagnosis is not None and d.exit.diagnosis.pattern is Pattern.DEPENDENCY


@pytest.mark.parametrize(("exc", "permanent", "syntax"), [
    (VenvError("index down"), False, False),
    (VenvError("no python", permanent=True), True, False),
    (BotFileError("bot.py line 1: invalid syntax", syntax=True), True, True),
    (OSError(28, "No space left on device"), False, False),
])
def test_the_process_layer_reads_an_exception(exc: Exception, permanent: bool, syntax: bool) -> None:
    failure = setup_failure("b", exc)
    assert (failure.error, failure.permanent, failure.syntax) == (str(exc), permanent, syntax)


def test_a_refused_install_needs_a_person_and_says_which_module() -> None:
    failure = setup_failure("b", InstallFailed(Outcome(Budget(), refused="capped", module="ccxt")))
    assert failure.permanent and failure.module == "ccxt" and failure.refused == "capped"
