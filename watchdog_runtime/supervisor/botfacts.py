"""What the registry keeps of one bot, as one object: its state, what it is meant to do, its
counts and its last exit. The runner changes these only through here; ``restarts`` changes in
:meth:`BotFacts.count_restart` and nowhere else."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from ..events import parse_wall_iso
from ..installs.autoinstall import Budget, Installed
from ..registry import BotRecord, RunRecord
from ..spec import BotSpec
from ..states import ACTIVE_STATES, BotState, Event, Hold, StartReason, transition
from .botenv import Launch
from .graces import Signalled
from .identity import Deadline
from .lifecycle import ExitInfo
from .repaired import Repaired

T = TypeVar("T")


class BotFacts:
    """One bot's persisted facts (``BotRecord``), plus the few the status reads beside them."""

    def __init__(self, record: BotRecord, redact: Callable[[Any], Any]) -> None:
        self._redact = redact
        waiting = record.state is BotState.BACKOFF and record.should_run and record.backoff is not None
        self.state = record.state if record.state not in ACTIVE_STATES or waiting else BotState.STOPPED
        self.should_run = record.should_run
        self.held = record.held
        """Meant to run, stopped with its supervisor; ``held_by`` says what starts it again."""
        self.held_by = record.held_by
        self.backoff_deadline = record.backoff if waiting else None
        """The pending restart's deadline, on clocks that outlive this supervisor."""
        self.next_start_at: float | None = None
        """The same on the supervisor's clock, while it waits."""
        self.restarts = record.restarts
        self.failures = record.failures
        self.recovery_failures = record.recovery_failures
        self.last_exit = record.last_exit
        self.start_reason: StartReason | None = None
        self.repaired: Repaired | None = None
        """The last repair (issue 26): what was installed; kept in memory only."""
        self.budget = Budget(record.installs, int(record.extra.get("install_rounds", 0)),
                             str(record.extra.get("install_basis", "")))
        self.saved_run = record.run
        """The run on disk, until this supervisor spawns or adopts one."""
        self.pending: RunRecord | None = record.pending_run
        """Write-ahead: the run about to be spawned (no pid yet), on disk before the fork."""
        self.extra = dict(record.extra)
        self.down_since: float | None = None
        """Wall-clock time of the last exit, for ``ctx.downtime_s``."""

    def repaired_by(self, module: str, previous: ExitInfo | None, before: Sequence[Installed],
                    after: Sequence[Installed]) -> None:
        """A repair, not a crash (issue 26): the exit before it stays the last exit (the table's
        LAST EXIT shows what was installed), and no restart is counted."""
        self.last_exit = previous
        self.repaired = Repaired.after(module, before, after)

    @property
    def last_exit(self) -> ExitInfo | None:
        """How the last run ended (or failed to start)."""
        return self._last_exit

    @last_exit.setter
    def last_exit(self, info: ExitInfo | None) -> None:
        # Redacted when recorded, not only when shown: a value replaced later (the rejected
        # key a person then changes) is no longer known to the redactor, yet the text quotes it.
        self._last_exit = None if info is None else ExitInfo.from_json(self._redact(info.to_json()))

    def keep_budget(self, budget: Budget) -> None:
        """Auto-install's budget after a round (from the preparation's thread, as it happens)."""
        self.budget = budget

    def to(self, event: Event) -> None:
        """The state after ``event`` (``states.transition``: an impossible move raises)."""
        self.state = transition(self.state, event)

    def count_restart(self) -> None:
        """One more start after the first (``status``' ``restarts``)."""
        self.restarts += 1

    def asked_to_start(self) -> None:
        """A person (or their command) starts the bot: it is meant to run, held no longer,
        and the next crash starts the backoff and recover()'s count over. Not auto-install's
        rounds: only new dependencies or a 'wdbot allow' give them back (``Budget.rebased``),
        so a plain restart cannot loop on a package that never installs."""
        self.should_run = True
        self.held = False
        self.failures = 0
        self.recovery_failures = 0

    def resume_holds(self, service: bool) -> None:
        """At a supervisor's start: ``wdbot daemon`` (``service``) starts a bot a signal held;
        any other hold wins over ``should_run`` (an older file, a hand edit)."""
        if self.held and service and self.held_by is Hold.SIGNAL:
            self.held, self.should_run = False, True
        elif self.held:
            self.should_run = False

    def hold(self, why: Hold) -> None:
        """A shutdown (``why``) is about to stop the bot: a bot meant to run is held, and a
        deliberate hold is never weakened."""
        if not (self.should_run or self.held):
            return
        deliberate = why is Hold.SHUTDOWN or (self.held and self.held_by is Hold.SHUTDOWN)
        self.held, self.held_by = True, Hold.SHUTDOWN if deliberate else Hold.SIGNAL
        # Not meant to run from now on, on disk before the first SIGTERM: a supervisor killed
        # mid-shutdown leaves a bot the next one stops (or leaves stopped), never restarts.
        self.should_run = False

    def waiting(self, delay_s: float, now: float) -> None:
        """A backoff of ``delay_s`` begins (``now`` on the supervisor's clock)."""
        self.next_start_at = now + delay_s
        self.backoff_deadline = Deadline.after(delay_s)

    def waited(self) -> None:
        self.next_start_at = None
        self.backoff_deadline = None

    def exited(self, info: ExitInfo) -> None:
        self.last_exit = info
        self.down_since = time.time()

    def launch(self, run_id: str, reason: StartReason) -> Launch:
        """What the next run is told of itself (``WDBOT_CONTEXT``): the last exit quotes the
        bot's error, so it is redacted (as ``last_exit`` is)."""
        return Launch(run_id, reason.value, self.restarts,
                      self._redact(self.last_exit.to_json()) if self.last_exit else None,
                      self.downtime_s())

    def downtime_s(self) -> float | None:
        """Seconds since the last exit (wall clock: a machine asleep counts as down)."""
        since = self.down_since
        if since is None and self.last_exit is not None:
            since = parse_wall_iso(self.last_exit.at)
        return None if since is None else max(0.0, time.time() - since)

    def attention(self) -> str | None:
        """What a person must look at, while the bot waits or has given up."""
        last = self.last_exit
        if last and last.credentials and last.diagnosis and self.state in (BotState.BACKOFF,
                                                                          BotState.ERRORED):
            return f"credentials rejected ({last.diagnosis.seen}): {last.diagnosis.hint}"
        return None

    def record(self, spec: BotSpec, run: RunRecord | None, signalled: tuple[Signalled, ...]) -> BotRecord:
        """What the registry keeps of the bot now (``run``: the live one, else the saved one)."""
        return BotRecord(spec=spec, should_run=self.should_run, state=self.state,
                         restarts=self.restarts, failures=self.failures,
                         last_exit=self.last_exit, run=run or self.saved_run, installs=self.budget.modules,
                         recovery_failures=self.recovery_failures, pending_run=self.pending,
                         held=self.held, held_by=self.held_by,
                         backoff=self.backoff_deadline if self.state is BotState.BACKOFF else None,
                         signalled=signalled,
                         extra={**self.extra, "install_rounds": self.budget.rounds,
                                "install_basis": self.budget.basis})


class Kept(Generic[T]):
    """An attribute of an object kept by one of its parts (``where``): read and written
    there, so each fact has one home while the object's names stay as they were."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> T:
        if obj is None:
            return self  # type: ignore[return-value]  # the descriptor itself, read on the class
        return getattr(getattr(obj, self.where), self.name)  # type: ignore[no-any-return]  # its own type

    def __set__(self, obj: Any, value: T) -> None:
        setattr(getattr(obj, self.where), self.name, value)
