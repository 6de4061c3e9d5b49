"""Pure lifecycle decisions: what an exit means, and what the supervisor does next.

No processes and no clock in here: the runner feeds in what it observed (exit status, the
bootstrap's exit record, how long the bot stayed up) and gets back a :class:`Decision`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..common.leandataclass import dataclass
from ..records import Diagnosis, Pattern
from ..records import ExitInfo as ExitInfo  # kept in the registry, so it lives in records
from ..spec import BotSpec, RestartPolicy
from ..states import Event, ExitReason, StartReason
from .backoff import BackoffPolicy
from .tracebacks import mismatch_hint

SYNTAX_ERRORS = frozenset({"SyntaxError", "IndentationError", "TabError"})
PLANNED = frozenset({ExitReason.MEMORY_LIMIT, ExitReason.FD_LIMIT, ExitReason.HANG})
"""Restarts the supervisor itself decided on: they never escalate the crash backoff."""


def classify_exit(
    returncode: int | None, record: Mapping[str, Any] | None, bot_dir: Path, at: str,
    *, missing_module: bool = False, recovering: bool = False,
) -> ExitInfo:
    """Turn what was observed at exit into an :class:`ExitInfo`.

    ``returncode`` is ``Popen.returncode`` (negative for a signal) or None when the process
    was not our child (adopted); ``record`` is the bootstrap's exit record for this run, if
    it left one; ``missing_module`` is true when ``tracebacks.missing_module`` confirmed,
    from stderr and the record together, that the bot died of a missing module;
    ``recovering`` is true when the process ended before it reported its recovery done.
    """
    code: int | None
    sig: int | None = None
    if returncode is not None and returncode < 0:
        code, sig = None, -returncode
    elif returncode is not None:
        code = returncode
    else:
        code = record.get("code") if record else None
    error = _error_line(record)
    if sig is None and code == 0:
        reason = ExitReason.CLEAN_EXIT
    elif record and _is_syntax_error(record, bot_dir):
        reason = ExitReason.SYNTAX_ERROR
    elif missing_module:
        reason = ExitReason.MISSING_MODULE
    elif record.get("phase") == "recover" if record else recovering:
        # It raised in recover(), or was killed (no record) before reporting recovery done.
        reason = ExitReason.RECOVERY_FAILED
    elif code is None and sig is None:
        reason = ExitReason.UNKNOWN
    else:
        reason = ExitReason.CRASH
    return ExitInfo(code=code, signal=sig, reason=reason, error=error, at=at)


def _error_line(record: Mapping[str, Any] | None) -> str | None:
    if not record or not record.get("type"):
        return None
    # One line: a message in several lines (pandas' list of the dependencies it lacks)
    # would break the status table and the event's line.
    message = " ".join(part.strip() for part in str(record.get("message") or "").splitlines()
                       if part.strip())
    line = f"{record['type']}: {message}" if message else str(record["type"])
    hint = mismatch_hint(record)
    return f"{line} (hint: {hint})" if hint else line


def _is_syntax_error(record: Mapping[str, Any], bot_dir: Path) -> bool:
    """A syntax error in the bot file, or in a module of its own folder: no restart heals it.

    A ``SyntaxError`` raised while the bot runs from other code (``compile()`` of a payload,
    a broken third-party package) is a crash like any other.
    """
    if record.get("type") not in SYNTAX_ERRORS:
        return False
    if record.get("phase") == "compile":
        return True
    filename = record.get("filename")
    if not filename:
        return False
    try:
        return Path(filename).resolve().is_relative_to(bot_dir.resolve())
    except OSError:
        return False


@dataclass(frozen=True)
class Decision:
    """What to do after an exit: the lifecycle event, the restart delay, the new failure counts."""

    event: Event
    delay_s: float | None
    failures: int
    recovery_failures: int = 0


def decide_after_exit(
    spec: BotSpec, exit: ExitInfo, uptime_s: float, failures: int, uniform01: Callable[[], float],
    recovery_failures: int = 0,
) -> Decision:
    """Apply the restart policy and the backoff to one exit.

    ``failures`` counts consecutive short-lived runs; a run that stayed up ``min_uptime_s``
    resets it, so a bot that crashes once a day restarts at once every time.
    ``recovery_failures`` counts consecutive failed recoveries (a recovery that completes
    resets it); at ``spec.max_recovery_failures`` the bot is ``errored``. An exit diagnosed
    as rejected credentials waits the backoff's cap at once: hammering an exchange with a
    bad key risks a lockout.
    """
    decision = _decide(spec, exit, uptime_s, failures, uniform01, recovery_failures)
    if exit.credentials and decision.event is Event.EXIT_RESTART:
        return Decision(decision.event, spec.backoff_max_s, decision.failures, decision.recovery_failures)
    return decision


def _decide(spec: BotSpec, exit: ExitInfo, uptime_s: float, failures: int,
            uniform01: Callable[[], float], recovery_failures: int) -> Decision:
    if exit.reason is ExitReason.SYNTAX_ERROR:
        return Decision(Event.EXIT_FATAL, None, failures, recovery_failures)
    if exit.reason is ExitReason.RELOAD:  # new code, asked for with --watch: at once, whatever the policy
        return Decision(Event.EXIT_RESTART, 0.0, failures, recovery_failures)
    policy = BackoffPolicy(initial_s=spec.backoff_initial_s, max_s=spec.backoff_max_s)
    if exit.reason is ExitReason.RECOVERY_FAILED:
        recovery_failures += 1
        if spec.restart is RestartPolicy.NEVER or recovery_failures >= spec.max_recovery_failures:
            return Decision(Event.EXIT_FATAL, None, failures, recovery_failures)
        return Decision(Event.EXIT_RESTART, policy.delay_s(failures, uniform01), failures + 1,
                        recovery_failures)
    if exit.reason in PLANNED:
        if spec.restart is RestartPolicy.NEVER:
            return Decision(Event.EXIT_FATAL, None, failures, recovery_failures)
        if uptime_s >= spec.min_uptime_s:
            return Decision(Event.EXIT_RESTART, 0.0, 0, recovery_failures)
        # Over its limit again soon after a start: wait as the backoff says (no hot loop),
        # but do not count it as one more crash.
        return Decision(Event.EXIT_RESTART, policy.delay_s(failures, uniform01), failures,
                        recovery_failures)
    clean = exit.reason is ExitReason.CLEAN_EXIT
    if spec.restart is RestartPolicy.NEVER or (clean and spec.restart is RestartPolicy.ON_FAILURE):
        return Decision(Event.EXIT_DONE if clean else Event.EXIT_FATAL, None, failures,
                        recovery_failures)
    if uptime_s >= spec.min_uptime_s:
        # The first crash after a healthy run restarts at once (issue 29): the backoff starts
        # over from its second step, so a crash soon after still waits as a loop would.
        return Decision(Event.EXIT_RESTART, 0.0, 1, recovery_failures)
    return Decision(Event.EXIT_RESTART, policy.delay_s(failures, uniform01), failures + 1,
                    recovery_failures)


@dataclass(frozen=True)
class SetupFailure:
    """A preparation (venv, dependencies, the bot file, the write-ahead record) that failed,
    as the process layer saw it."""

    error: str
    permanent: bool
    """No retry heals it (a person must act): the bot ends ``errored``."""
    syntax: bool = False
    """The bot file does not compile."""
    module: str | None = None
    """A module the bot's file imports at its top level, which could not be installed."""
    refused: str | None = None
    """Why ``module`` was not installed."""
    detail: str | None = None


@dataclass(frozen=True)
class SetupDecision:
    """What a failed preparation leads to: its event, the wait before the next try (None:
    none), the new failure count, the exit to record, and the command's one-line answer."""

    event: Event
    delay_s: float | None
    failures: int
    exit: ExitInfo
    answer: str


def decide_after_setup_failure(spec: BotSpec, failure: SetupFailure, failures: int,
                               uniform01: Callable[[], float], at: str) -> SetupDecision:
    """A failure that may heal (a download, an index that is down, a full disk) backs off and
    tries again, like a crash; only what needs a person ends in ``errored``."""
    delay = None
    if not failure.permanent:
        policy = BackoffPolicy(initial_s=spec.backoff_initial_s, max_s=spec.backoff_max_s)
        delay = policy.delay_s(failures, uniform01)
        failures += 1
    retry = "" if delay is None else f" (retrying in {delay:.1f} s)"
    info = ExitInfo(None, None, ExitReason.SYNTAX_ERROR if failure.syntax else ExitReason.UNKNOWN,
                    f"{failure.error}{retry}", at)
    if failure.module is not None:
        info = ExitInfo(
            None, None, ExitReason.MISSING_MODULE,
            f"ModuleNotFoundError: No module named {failure.module!r}: {failure.refused}", at,
            Diagnosis(Pattern.DEPENDENCY, f"{failure.module} cannot be installed", str(failure.refused)),
            failure.detail)
    event = Event.PREPARE_FAILED if failure.permanent else Event.PREPARE_RETRY
    return SetupDecision(event, delay, failures, info, one_line(failure.error) + retry)


def one_line(text: str, limit: int = 400) -> str:
    """A multi-line error (uv's) as one line for a command's answer; the whole text stays in
    ``last_exit`` and ``wdbot status NAME``."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


_START_AFTER = {
    ExitReason.MEMORY_LIMIT: StartReason.MEMORY_LIMIT,
    ExitReason.FD_LIMIT: StartReason.FD_LIMIT,
    ExitReason.HANG: StartReason.HANG,
    ExitReason.RELOAD: StartReason.RELOAD,
    ExitReason.CLEAN_EXIT: StartReason.RESTART,
}


def start_reason_after(exit: ExitReason | None) -> StartReason:
    """Why the bot starts again after an exit for ``exit`` (``ctx.reason``); None: a crash.

    >>> start_reason_after(ExitReason.HANG), start_reason_after(ExitReason.SYNTAX_ERROR)
    (<StartReason.HANG: 'hang'>, <StartReason.CRASH: 'crash'>)
    """
    return _START_AFTER.get(exit or ExitReason.CRASH, StartReason.CRASH)
