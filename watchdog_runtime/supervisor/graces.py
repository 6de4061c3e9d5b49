"""One grace per process, from its first SIGTERM to its SIGKILL, whichever supervisor asks.

A stop (or a sweep of leftovers) sends SIGTERM and waits before SIGKILL. If the supervisor
is killed during that wait, the next one must not grant the same process a fresh grace:
supervisors killed every second would then never reach the SIGKILL of a process that
ignores SIGTERM. So each process signalled gets a :class:`Signalled` entry (its identity
and its SIGKILL deadline), stored in the registry before the signal. The entry belongs to
that process alone: a new run gets its own whole grace, and an entry whose process is gone
is dropped. A process that appears during a stop already under way (forked by a process
being stopped) shares that stop's deadline: with a whole grace of its own, each fork after
each supervisor kill would push the SIGKILL of a process that ignores SIGTERM further out.

Each process also gets one SIGTERM, never two: to many programs (the SDK's graceful
shutdown among them) a second SIGTERM means "stop cancelling orders, exit now". Those
already signalled (``sentmarks``, passed in as ``sent``) are spared; only their deadline is
waited out.

Pure: identities and deadlines come in, the liveness check is passed in.

    >>> from watchdog_runtime.supervisor.identity import Deadline, ProcessIdentity
    >>> old = ProcessIdentity(10, 1.0, 500, "b")
    >>> due = Signalled(old, Deadline(3.0, "b", boot_at=100.0, wall_at=0.0))
    >>> def later(s): return Deadline(s, "b", boot_at=99.0 + s, wall_at=0.0)
    >>> wait = grace([due], [old], 3.0, later, remaining=lambda d: max(0.0, d.boot_at - 99.0))
    >>> wait.seconds, wait.added                        # 1 s left of its first grace
    (1.0, ())
    >>> new = ProcessIdentity(11, 2.0, 600, "b")
    >>> both = grace([due], [old, new], 3.0, later, remaining=lambda d: max(0.0, d.boot_at - 99.0))
    >>> both.seconds, [(s.ident.pid, s.kill_at) for s in both.added] == [(11, due.kill_at)]
    (1.0, True)
    >>> grace([], [new], 3.0, later, remaining=lambda d: 3.0).seconds  # a stop begins
    3.0
    >>> grace([due], [old], 3.0, later, remaining=lambda d: 1.0, sent=[old]).spare
    frozenset({10})
    >>> joined = grace([due], [new], 3.0, later, remaining=lambda d: max(0.0, d.boot_at - 99.0), late=True)
    >>> joined.seconds, joined.added[0].kill_at == due.kill_at  # the stop's deadline, not a fresh one
    (1.0, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ..common.leandataclass import dataclass
from ..records import Deadline, ProcessIdentity
from ..records import Signalled as Signalled  # kept in the registry, so it lives in records


@dataclass(frozen=True)
class Wait:
    """How long to wait before SIGKILL, the entries to store before signalling, and the
    pids already sent their SIGTERM (``spare``: not to be sent another)."""

    seconds: float
    added: tuple[Signalled, ...]
    spare: frozenset[int] = frozenset()


def same_process(a: ProcessIdentity, b: ProcessIdentity) -> bool:
    """Two identities of one process (pid and start; create_time where ticks are missing)."""
    if a.pid != b.pid:
        return False
    if a.start_ticks is not None and b.start_ticks is not None:
        return a.start_ticks == b.start_ticks and a.boot_id == b.boot_id
    return abs(a.create_time - b.create_time) < 0.01


def grace(known: Sequence[Signalled], about_to_signal: Iterable[ProcessIdentity], seconds: float,
          new_deadline: Callable[[float], Deadline],
          remaining: Callable[[Deadline], float],
          sent: Sequence[ProcessIdentity] = (), *, late: bool = False) -> Wait:
    """The wait before SIGKILL for the processes ``about_to_signal``: what is left of each
    one's first grace, and for the batch the longest of these, never more than ``seconds``.
    A process never signalled gets an entry: a whole ``seconds`` when the batch is a new
    stop, else the deadline of the stop under way (the latest among the batch's). Those in
    ``sent`` (signalled already) are spared a second SIGTERM.

    ``late``: the batch joined a stop under way after its SIGTERMs went out (a helper an
    ``on_shutdown`` launched); it shares the latest deadline of all ``known``, even when the
    processes signalled before are gone by now (``known`` is then that stop's entries)."""
    batch = list(about_to_signal)
    entries = {ident: next((s for s in known if same_process(s.ident, ident)), None)
               for ident in batch}
    under_way = [e for e in entries.values() if e is not None] + (list(known) if late else [])
    latest = max(under_way, key=lambda e: remaining(e.kill_at), default=None)
    waits: list[float] = []
    added: list[Signalled] = []
    for ident, entry in entries.items():
        if entry is None:
            entry = Signalled(ident, latest.kill_at if latest else new_deadline(seconds))
            added.append(entry)
        waits.append(min(seconds, remaining(entry.kill_at)) if latest else seconds)
    spare = {i.pid for i in batch if any(same_process(i, done) for done in sent)}
    return Wait(max(waits, default=seconds), tuple(added), frozenset(spare))


def prune(known: Sequence[Signalled], alive: Callable[[ProcessIdentity], bool]) -> tuple[Signalled, ...]:
    """The entries whose process still runs."""
    return tuple(s for s in known if alive(s.ident))
