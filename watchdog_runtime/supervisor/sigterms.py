"""Who of a bot's processes had a SIGTERM, and until when each may take to go: one record,
which is also the ``treestop.Graces`` every stop of the bot asks (``graces``, ``sentmarks``).

A process keeps the deadline of its first SIGTERM across supervisors (the deadlines are in
the registry, the signals noted in the bot's ``sigterms`` file the instant they are sent),
so a supervisor killed mid-stop never grants a fresh grace, nor signals one twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ..common.leandataclass import dataclass
from ..spec import BotSpec
from . import graces, sentmarks
from .identity import Deadline, ProcessIdentity
from .treestop import Term

log = logging.getLogger(__name__)


class Sigterms:
    """The SIGTERMs of one bot. As ``treestop.Graces`` it grants the bot's stop timeout and
    sends its stop signal; :meth:`shorter` grants less (what a bot left behind)."""

    def __init__(self, signalled: tuple[graces.Signalled, ...], file: Path, spec: Callable[[], BotSpec],
                 alive: Callable[[ProcessIdentity], bool],
                 identify: Callable[[int], ProcessIdentity | None],
                 save: Callable[[], None], save_now: Callable[[], None]) -> None:
        self.signalled = signalled
        """The processes sent SIGTERM and their SIGKILL deadlines (in the registry)."""
        self._file = file
        self._spec = spec
        self._alive = alive
        self._identify = identify
        self._save, self._save_now = save, save_now
        self._about: dict[int, ProcessIdentity] = {}
        """The identities of the processes last about to be signalled (for :meth:`sent`)."""

    def before(self, pids: list[int], late: bool = False) -> Term:
        """``treestop.Graces``: the wait for ``pids``, with the bot's full stop timeout."""
        return self.grace(self._spec().stop_timeout_s, pids, late)

    def shorter(self, seconds: float) -> ShorterGrace:
        """The same record granting at most ``seconds`` (leftovers, strays)."""
        return ShorterGrace(self, min(self._spec().stop_timeout_s, seconds))

    def grace(self, seconds: float, pids: list[int], late: bool = False) -> Term:
        """The wait from SIGTERM to SIGKILL for ``pids``, about to be signalled: ``seconds``
        from each process's first SIGTERM, even when the supervisor that sent it was killed,
        and no second SIGTERM for those that had it. New deadlines go on disk first; a failed
        write only costs the next supervisor a fresh grace for those processes. ``late``:
        they joined the stop under way, and share its deadline."""
        idents = [i for i in map(self._identify, pids) if i is not None]
        self._about = {i.pid: i for i in idents}
        sentmarks.prepare(self._file)  # while there is room: a mark on a full disk goes there
        marks = sentmarks.read(self._file)
        wait = graces.grace(self.signalled, idents, seconds, Deadline.after, Deadline.remaining_now,
                            marks, late=late)
        if wait.added:
            self.signalled = graces.prune(self.signalled, self._alive) + wait.added
            try:
                self._save_now()
            except Exception:  # noqa: BLE001 - the supervisor's RegistryWriteError, already logged
                log.debug("%s: SIGKILL deadlines kept in memory only", self._file)
        # Every process noted is spared, also one these pids missed: a member of the bot's
        # process group that the marker walk cannot see (cleared environment, orphaned).
        return Term(wait.seconds, wait.spare | {m.pid for m in marks if self._alive(m)},
                    self._spec().stop_signal.signum)

    def sent(self, pids: list[int]) -> None:
        """``pids`` had their SIGTERM this instant: noted at once, so that a supervisor
        finishing this stop spares them (``sentmarks``)."""
        idents = [self._about.get(pid) or self._identify(pid) for pid in pids]
        try:
            sentmarks.note(self._file, [i for i in idents if i is not None])
        except OSError as exc:  # a full disk: a supervisor killed now would signal them again
            log.warning("cannot note the SIGTERMs sent (%s): %s", self._file, exc)

    def forget_the_gone(self) -> None:
        """Drop the deadlines of processes that are gone (after a stop or sweep, and at
        adoption): a new process is never held to another's deadline."""
        alive = graces.prune(self.signalled, self._alive)
        if alive != self.signalled:
            self.signalled = alive
            self._save()
        sentmarks.prune(self._file, self._alive)


@dataclass(frozen=True)
class ShorterGrace:
    """``Sigterms`` granting ``seconds`` (``treestop.Graces``)."""

    sigterms: Sigterms
    seconds: float

    def before(self, pids: list[int], late: bool = False) -> Term:
        return self.sigterms.grace(self.seconds, pids, late)

    def sent(self, pids: list[int]) -> None:
        self.sigterms.sent(pids)
