"""What happens to a bot, recorded in one step each: its facts change (``botfacts``), the
event is written, the exit is marked in its log, and the registry is saved. The runner says
what happened; this keeps the four in step, in the order a reader of any of them expects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from ..events import EventLog
from ..states import BotState, Event, ExitReason, StartReason
from .botfacts import BotFacts
from .lifecycle import Decision, ExitInfo, SetupDecision
from .logmarks import exit_mark
from .resources import Breach


class JournalHost(Protocol):
    events: EventLog

    def redact(self, value: Any, /) -> Any: ...

    def persist(self) -> None: ...


class Journal:
    """The record of one bot (``name``); ``mark`` appends a line to its stdout log."""

    def __init__(self, name: str, facts: BotFacts, host: JournalHost, mark: Callable[[str], None]) -> None:
        self.name = name
        self.facts = facts
        self._host = host
        self._mark = mark

    def _write(self, kind: str, **fields: Any) -> None:
        self._host.events.write(kind, self.name, **fields)

    def save(self) -> None:
        self._host.persist()

    def begin(self, reason: StartReason) -> None:
        """A start (or the next try of one) begins."""
        if self.facts.state is BotState.BACKOFF:
            self.facts.to(Event.BACKOFF_ELAPSED)
        elif self.facts.state is not BotState.STARTING:  # STARTING: right after a repair
            self.facts.to(Event.START)
        self.facts.start_reason = reason
        self.save()

    def started(self, pid: int, reason: StartReason, recovering: bool) -> None:
        self.facts.to(Event.RECOVERY_STARTED if recovering else Event.SPAWNED)
        self._write("start", pid=pid, reason=reason.value)
        self.save()

    def adopted(self, pid: int) -> None:
        self.facts.to(Event.ADOPTED)
        self._write("adopt", pid=pid)
        self.save()

    def recovered(self, pid: int, seconds: float) -> None:
        self.facts.to(Event.RECOVERED)
        self.facts.recovery_failures = 0
        self._write("recovered", pid=pid, seconds=round(seconds, 3))
        self.save()

    def setup_failed(self, decision: SetupDecision, error: str) -> None:
        """A preparation failed: retried after ``decision.delay_s``, or given up."""
        self.facts.failures = decision.failures
        self.facts.last_exit = decision.exit
        if decision.event is Event.PREPARE_FAILED:
            self.facts.should_run = False
        self.facts.to(decision.event)
        self._write("prepare_failed", error=error, retry_in_s=decision.delay_s)
        self.save()

    def decided(self, info: ExitInfo, uptime_s: float, decision: Decision) -> None:
        """An exit and what the lifecycle decided of it (saved at once when nothing follows)."""
        self.facts.failures = decision.failures
        self.facts.recovery_failures = decision.recovery_failures
        if info.reason is ExitReason.RECOVERY_FAILED:
            self._write("recovery_failed", error=info.error, failures=decision.recovery_failures,
                        gives_up=decision.delay_s is None)
        if decision.event is not Event.EXIT_RESTART:
            self.facts.should_run = False
        self.exited(info, uptime_s, decision.event, decision.delay_s)
        if decision.delay_s is None:
            self.save()

    def exited(self, info: ExitInfo, uptime_s: float, event: Event, delay_s: float | None,
               mark: bool = True) -> None:
        """Record an exit: ``last_exit``, the state it leads to, and one ``exit`` event (and
        the log's exit mark unless ``mark`` is False: the caller writes it once it knows the
        state the exit really leads to)."""
        self.facts.exited(info)
        self.facts.to(event)
        self._write("exit", **info.to_json(), uptime_s=round(uptime_s, 3),
                    next_state=self.facts.state.value, delay_s=delay_s)
        if mark:
            self.mark_exit(info, self.facts.state.value, delay_s)

    def mark_exit(self, info: ExitInfo, next_state: str, delay_s: float | None = None) -> None:
        # The error redacted alone first: a value cut short at its end is found only there.
        self._mark(exit_mark(info.at, self._host.redact(info.describe()), next_state, delay_s))

    def repair_refused(self, info: ExitInfo, refused: str, detail: str | None) -> None:
        """The module the bot died for is not installed (``refused`` says why): ``errored``,
        the hint saying what wdbot did (refused, capped, failed) and the command to run."""
        hint = replace(info.diagnosis, hint=refused) if info.diagnosis else None
        self.facts.last_exit = replace(info, error=f"{info.error}: {refused}", detail=detail,
                                       diagnosis=hint)
        self.facts.should_run = False
        self.facts.to(Event.PREPARE_FAILED)
        self.save()

    def stopping(self, pid: int, breach: Breach | None = None) -> None:
        """The live tree is about to be stopped: on request, or for ``breach`` (a limit)."""
        self.facts.to(Event.STOP)
        if breach is not None and breach.reason is not ExitReason.RELOAD:  # a reload has its own
            self._write("limit_restart", pid=pid, reason=breach.reason.value, detail=breach.detail)
        self.save()

    def stopped(self, pid: int, info: ExitInfo) -> None:
        """The tree stopped on request is gone: the bot ends ``stopped``."""
        self.facts.last_exit = info
        self.facts.to(Event.STOPPED)
        self._write("stopped", pid=pid, signal=info.signal)
        self.mark_exit(info, "stopped")
        self.save()

    def stopped_idle(self) -> None:
        """Stop a bot that has no process (exited, errored, backing off, or not yet spawned)."""
        self.facts.to(Event.STOP)
        self.facts.to(Event.STOPPED)
        self.save()
